//! Version 2's discovery of an event log: every partition, open, and a
//! token that only the partition count decides.

use std::{fmt, sync::Arc};

use zeroeventhub::v2::{Discovery, MAX_PARTITION_ID, PartitionInfo};

/// A log's discovery, made once and shared by its clones; its `Debug`
/// shows the token, not thousands of partitions.
#[derive(Clone)]
pub(super) struct Shared(Option<Arc<Discovery>>);

impl Shared {
    /// The discovery of a log of `partition_count` partitions.
    pub(super) fn new(partition_count: u32) -> Self {
        Shared(of(partition_count).map(Arc::new))
    }

    /// The discovery, if the log has one.
    pub(super) fn get(&self) -> Option<Arc<Discovery>> {
        self.0.clone()
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(discovery) => f
                .debug_struct("Discovery")
                .field("token", &discovery.token)
                .field("partitions", &discovery.partitions.len())
                .finish(),
            None => f.write_str("None"),
        }
    }
}

/// The discovery of a log of `partition_count` partitions, or `None` when
/// version 2 cannot list them (ids above [`MAX_PARTITION_ID`]).
///
/// The token is `p` and the count: every replica of a log, and every
/// restart, gives the same one, with no query; another count gives
/// another token, so consumers of the old partitions get 409 and discover
/// again.
fn of(partition_count: u32) -> Option<Discovery> {
    if u64::from(partition_count) > u64::from(MAX_PARTITION_ID) + 1 {
        return None;
    }
    Some(Discovery {
        token: format!("p{partition_count}"),
        exactly_once: true,
        partitions: (0..partition_count).map(PartitionInfo::open).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_partition_is_listed_open_with_a_token_of_the_count() {
        let discovery = of(3).unwrap();
        assert_eq!(discovery.token, "p3");
        assert!(discovery.exactly_once);
        assert_eq!(
            discovery.partitions,
            [
                PartitionInfo::open(0),
                PartitionInfo::open(1),
                PartitionInfo::open(2)
            ]
        );
        assert_eq!(discovery.validate(), Ok(()));
        assert_ne!(of(4).unwrap().token, discovery.token);
    }

    #[test]
    fn more_partitions_than_version_2_can_name_is_version_1_only() {
        let most = MAX_PARTITION_ID + 1;
        assert_eq!(of(most).unwrap().partitions.len(), most as usize);
        assert_eq!(of(most + 1), None);
    }
}
