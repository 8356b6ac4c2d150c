//! Why a [`MemoryLog`](super::MemoryLog) refused a change.

use crate::v2::MAX_PARTITION_ID;

/// Why [`MemoryLog::append`](super::MemoryLog::append) refused an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The event's partition does not exist.
    #[error(transparent)]
    UnknownPartition(#[from] UnknownPartition),
    /// The event's partition is closed.
    #[error("partition {partition_id} is closed: no event can be appended to it")]
    Closed {
        /// The event's partition.
        partition_id: u32,
    },
    /// The event's partition was split by
    /// [`split_redistributing`](super::MemoryLog::split_redistributing): its
    /// events go to its children now.
    #[error(
        "partition {partition_id} was split and its events redistributed: append to its children"
    )]
    Redistributed {
        /// The event's partition.
        partition_id: u32,
    },
}

/// Why [`MemoryLog::split`](super::MemoryLog::split) or
/// [`split_redistributing`](super::MemoryLog::split_redistributing) refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// The parent does not exist.
    #[error(transparent)]
    UnknownPartition(#[from] UnknownPartition),
    /// The parent's events were redistributed already: it is no longer
    /// listed.
    #[error("partition {partition_id} was split and its events redistributed already")]
    Redistributed {
        /// The parent.
        partition_id: u32,
    },
    /// A split into no partition.
    #[error("a split needs at least one child partition")]
    NoChildren,
    /// The children's ids would pass the highest id version 2 allows.
    #[error("{children} more partitions would pass the highest partition id, {max}", max = MAX_PARTITION_ID)]
    TooManyPartitions {
        /// How many children were asked for.
        children: u32,
    },
}

/// An event for a partition the log does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("partition {partition_id} is outside 0..{partition_count}")]
pub struct UnknownPartition {
    /// The event's partition.
    pub partition_id: u32,
    /// The log's partition count.
    pub partition_count: u32,
}
