//! Tests of the `zeh` binary, run as a process: `serve` on the fixture,
//! `fetch` and `follow` against it or against a hand-made HTTP server for
//! broken responses, argument errors and help.

mod args;
mod fetch;
mod fetch_faults;
mod follow;
mod serve;
mod support;
