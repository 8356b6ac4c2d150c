//! Version 2 of the protocol (FeedAPI): discovery and the one-partition
//! events request. Lines are read by the same decoder
//! ([`Decoder::for_partition`](crate::ndjson::Decoder::for_partition)) and
//! written by the same encoder as version 1.
//!
//! A producer answers `GET {feed}` without parameters with its
//! [`Discovery`], and `GET {feed}/events?token=..&partition=..&cursor=..`
//! ([`EventsRequest`]) with the lines of that partition, ending with a
//! checkpoint. When its partitions change, so does its token, and every
//! request with the old one gets 409.

mod discovery;
mod request;

pub use discovery::{Discovery, DiscoveryError, MAX_PARTITION_ID, PartitionInfo};
pub use request::EventsRequest;

/// The path, below the feed's, of version 2's events requests.
pub const EVENTS_PATH: &str = "events";
