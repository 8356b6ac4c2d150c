//! Version 2's discovery document (network input): `Discovery::parse`
//! never panics on any bytes; a document it accepts keeps the promises of
//! its docs (ids in `0..=32767` and unique, every `startsAfterPartition`
//! naming a listed closed partition, `validate` agreeing), and what
//! `serde_json` writes of it parses back to the same document and writes
//! the same text again (the canonical form is a fixed point).
//!
//! Input: the response body, whole.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use zeroeventhub::v2::{Discovery, DiscoveryError, MAX_PARTITION_ID};

fuzz_target!(|body: &[u8]| {
    let discovery = match Discovery::parse(body) {
        Ok(discovery) => discovery,
        Err(error) => {
            // The message is printable, and a malformed document's holds
            // at most the first 256 characters of serde_json's (then "...").
            let shown = error.to_string();
            if let DiscoveryError::Malformed(message) = &error {
                let chars = message.chars().count();
                assert!(chars <= 256 + 3, "{chars} characters: {shown}");
            }
            return;
        }
    };

    // The rules parse checks.
    let mut by_id = BTreeMap::new();
    for partition in &discovery.partitions {
        assert!(partition.id <= MAX_PARTITION_ID, "{discovery:?}");
        assert!(
            by_id.insert(partition.id, partition).is_none(),
            "{} listed twice in {discovery:?}",
            partition.id
        );
        // Every id read goes through the same reader, range included.
        for &id in partition
            .starts_after_partition
            .iter()
            .chain(&partition.cursor_from_partitions)
        {
            assert!(id <= MAX_PARTITION_ID, "{discovery:?}");
        }
    }
    for partition in &discovery.partitions {
        if let Some(parent) = partition.starts_after_partition {
            assert!(
                by_id.get(&parent).is_some_and(|parent| parent.closed),
                "{} starts after {parent}, not a listed closed partition: {discovery:?}",
                partition.id
            );
        }
        let found = discovery.partition(partition.id);
        assert_eq!(found, Some(partition), "partition({})", partition.id);
    }
    if let Err(error) = discovery.validate() {
        panic!("parse accepted what validate refuses ({error}): {discovery:?}");
    }

    // Round trip through the canonical form.
    let written = serde_json::to_string(&discovery)
        .unwrap_or_else(|error| panic!("{discovery:?} must serialize: {error}"));
    let again = Discovery::parse(written.as_bytes()).unwrap_or_else(|error| {
        panic!("{written} (written from {discovery:?}) must parse: {error}")
    });
    assert_eq!(again, discovery, "{written}");
    let rewritten = serde_json::to_string(&again).unwrap();
    assert_eq!(rewritten, written);
});
