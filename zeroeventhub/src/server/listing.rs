//! The partitions of the discovery a feed serves, indexed once per
//! discovery: each version 2 request then checks its partition in
//! constant time, whatever the number of partitions.

use std::sync::{Arc, Mutex, PoisonError};

use crate::v2::{Discovery, MAX_PARTITION_ID};

/// The index of the discovery last seen, shared by a feed's clones. A
/// reader that makes a new [`Discovery`] only when its partitions change
/// (as [`DataReader::discovery`](super::DataReader::discovery) asks) is
/// indexed once per change.
#[derive(Debug, Default)]
pub(super) struct Listings(Mutex<Option<Arc<Listing>>>);

/// Which ids a discovery lists, and the partition count a version 2
/// request is handed to the reader with.
#[derive(Debug)]
pub(super) struct Listing {
    of: Arc<Discovery>,
    /// Indexed by id; ids are at most [`MAX_PARTITION_ID`].
    listed: Vec<bool>,
    /// One more than the highest listed id.
    partition_count: u32,
}

impl Listing {
    fn new(discovery: &Arc<Discovery>) -> Self {
        let ids = discovery.partitions.iter().map(|partition| partition.id);
        let partition_count = ids.clone().max().map_or(0, |highest| highest + 1);
        let mut listed = vec![false; partition_count.min(MAX_PARTITION_ID + 1) as usize];
        for id in ids {
            if let Some(slot) = listed.get_mut(id as usize) {
                *slot = true;
            }
        }
        Listing {
            of: Arc::clone(discovery),
            listed,
            partition_count,
        }
    }

    /// Whether the discovery lists partition `id`.
    pub(super) fn lists(&self, id: u32) -> bool {
        self.listed.get(id as usize).copied().unwrap_or(false)
    }

    /// One more than the highest listed id (0 when none is listed).
    pub(super) fn partition_count(&self) -> u32 {
        self.partition_count
    }
}

impl Listings {
    /// The index of `discovery`: the one kept when it is the discovery
    /// indexed last, a new one otherwise (kept for the next request).
    pub(super) fn of(&self, discovery: &Arc<Discovery>) -> Arc<Listing> {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(listing) = kept.as_ref().filter(|l| Arc::ptr_eq(&l.of, discovery)) {
            return Arc::clone(listing);
        }
        let listing = Arc::new(Listing::new(discovery));
        *kept = Some(Arc::clone(&listing));
        listing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2::PartitionInfo;

    fn discovery(ids: &[u32]) -> Arc<Discovery> {
        Arc::new(Discovery {
            token: "t".into(),
            exactly_once: true,
            partitions: ids.iter().copied().map(PartitionInfo::open).collect(),
        })
    }

    #[test]
    fn an_index_says_which_ids_are_listed_and_the_count_past_the_highest() {
        let listings = Listings::default();
        let listing = listings.of(&discovery(&[4, 1, MAX_PARTITION_ID]));
        assert!(listing.lists(1) && listing.lists(4) && listing.lists(MAX_PARTITION_ID));
        assert!(!listing.lists(0) && !listing.lists(2) && !listing.lists(MAX_PARTITION_ID + 1));
        assert_eq!(listing.partition_count(), MAX_PARTITION_ID + 1);
        let empty = listings.of(&discovery(&[]));
        assert!(!empty.lists(0));
        assert_eq!(empty.partition_count(), 0);
    }

    #[test]
    fn the_same_discovery_is_indexed_once_and_a_new_one_again() {
        let listings = Listings::default();
        let first = discovery(&[0, 1]);
        let indexed = listings.of(&first);
        assert!(Arc::ptr_eq(&indexed, &listings.of(&first)));
        // Equal content, but a new discovery: indexed anew, and right.
        let second = discovery(&[0, 2]);
        let reindexed = listings.of(&second);
        assert!(!Arc::ptr_eq(&indexed, &reindexed));
        assert!(reindexed.lists(2) && !reindexed.lists(1));
    }
}
