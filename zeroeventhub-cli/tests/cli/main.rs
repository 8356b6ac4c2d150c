//! Tests of the `zeh` binary, run as a process: `serve` on the fixture,
//! `fetch` and `follow` against it or against a hand-made HTTP server for
//! broken responses, `follow --store`, `append` and `serve` on SQLite and
//! PostgreSQL databases (PostgreSQL when `ZEH_PG_URL` answers), argument
//! errors and help.

mod args;
mod auth;
mod db;
mod db_faults;
mod event_log;
mod fetch;
mod fetch_faults;
mod follow;
mod follow_version_2;
mod group;
mod hardening;
mod hostile;
mod kill;
mod kill_version_2;
mod long_poll;
mod metrics;
mod serve;
mod store;
mod support;
mod tls;
mod version_2;
