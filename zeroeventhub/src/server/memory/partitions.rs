//! Changing a [`MemoryLog`]'s partitions as version 2 allows: closing one,
//! and splitting one by either method. Each change makes a new token.

use super::{MemoryLog, Partition, SplitError, State, Stored, UnknownPartition};
use crate::{Event, v2::MAX_PARTITION_ID};

impl MemoryLog {
    /// Closes `partition_id`: no event can be appended to it any more, and
    /// the discovery says so (with a new token).
    ///
    /// # Errors
    ///
    /// The partition does not exist.
    pub fn close(&self, partition_id: u32) -> Result<(), UnknownPartition> {
        let mut state = self.write_lock();
        state.partition_mut(partition_id)?.info.closed = true;
        state.changed();
        drop(state);
        self.changes.notify(partition_id);
        Ok(())
    }

    /// Splits `parent` by version 2's method 1: closes it and adds
    /// `children` new partitions, with the next free ids (returned), each
    /// listed as starting after it (`startsAfterPartition`); the token
    /// changes. The parent keeps its events; new events go to the
    /// children.
    ///
    /// # Errors
    ///
    /// The parent does not exist or is no longer listed, there are no
    /// children, or their ids would pass 32767.
    pub fn split(&self, parent: u32, children: u32) -> Result<Vec<u32>, SplitError> {
        let mut state = self.write_lock();
        let ids = state.new_children(parent, children)?;
        for &id in &ids {
            let mut child = Partition::open(id);
            child.info.starts_after_partition = Some(parent);
            state.partitions.push(child);
        }
        state.partitions[parent as usize].info.closed = true;
        state.changed();
        drop(state);
        self.changes.notify_all();
        Ok(ids)
    }

    /// Splits `parent` by version 2's method 2: adds `children` new
    /// partitions, with the next free ids (returned), and gives each
    /// event of the parent to the child `route` picks for it (an index
    /// taken modulo `children`, as a hash of the event's key would be).
    /// The parent leaves the discovery; each child lists it as the
    /// ancestor whose cursor it takes (`cursorFromPartitions`, nearest
    /// first, then the parent's own ancestors). The token changes.
    ///
    /// An event keeps on its child the position it had in the parent, and
    /// new events of a child come after the parent's last: a consumer that
    /// goes on from the parent's cursor on each child gets every event
    /// exactly once. A version 1 request can still read the parent.
    ///
    /// ```
    /// use zeroeventhub::{Event, server::MemoryLog};
    ///
    /// let log = MemoryLog::new(1);
    /// for n in 0..4 {
    ///     log.append(Event::from_data(0, &n).unwrap()).unwrap();
    /// }
    /// // Even numbers to the first child, odd ones to the second.
    /// let children = log
    ///     .split_redistributing(0, 2, |event| event.data_json().parse::<u32>().unwrap() % 2)
    ///     .unwrap();
    /// assert_eq!(children, [1, 2]);
    /// assert_eq!((log.len(1), log.len(2)), (2, 2));
    /// let cursor = log.append(Event::from_data(1, &4).unwrap()).unwrap();
    /// assert_eq!(cursor.as_str(), "5");
    /// ```
    ///
    /// # Errors
    ///
    /// As [`split`](MemoryLog::split).
    pub fn split_redistributing(
        &self,
        parent: u32,
        children: u32,
        mut route: impl FnMut(&Event) -> u32,
    ) -> Result<Vec<u32>, SplitError> {
        let mut state = self.write_lock();
        let ids = state.new_children(parent, children)?;
        let from = &state.partitions[parent as usize];
        let mut ancestors = vec![parent];
        ancestors.extend_from_slice(&from.info.cursor_from_partitions);
        let mut made: Vec<Partition> = ids
            .iter()
            .map(|&id| {
                let mut child = Partition::open(id);
                child.end = from.end;
                child.info.cursor_from_partitions.clone_from(&ancestors);
                child
            })
            .collect();
        // Copied, not moved: a read of the parent in flight keeps its
        // events, and version 1 can still read them.
        for stored in &from.events {
            let child = &mut made[(route(&stored.event) % children) as usize];
            let mut event = stored.event.clone();
            event.partition_id = child.info.id;
            child.events.push(Stored {
                position: stored.position,
                event,
                event_type: stored.event_type.clone(),
            });
        }
        state.partitions[parent as usize].listed = false;
        state.partitions.extend(made);
        state.changed();
        drop(state);
        self.changes.notify_all();
        Ok(ids)
    }
}

impl State {
    /// The ids of `count` new children of `parent`: the next free ones.
    fn new_children(&mut self, parent: u32, count: u32) -> Result<Vec<u32>, SplitError> {
        if !self.partition_mut(parent)?.listed {
            return Err(SplitError::Redistributed {
                partition_id: parent,
            });
        }
        if count == 0 {
            return Err(SplitError::NoChildren);
        }
        let first = self.partitions.len() as u32;
        if u64::from(first) + u64::from(count) > u64::from(MAX_PARTITION_ID) + 1 {
            return Err(SplitError::TooManyPartitions { children: count });
        }
        Ok((first..first + count).collect())
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;
    use crate::{
        Cursor, FeedLine, FeedRequest,
        server::{DataReader, Feed, FeedResponse},
    };

    async fn lines(log: &MemoryLog, cursor: Cursor) -> Vec<String> {
        let count = log.partition_count();
        log.read(FeedRequest::new(count, vec![cursor]))
            .map(|line| match line.unwrap() {
                FeedLine::Event(event) => event.data_json().to_owned(),
                FeedLine::Checkpoint(cursor) => format!("@{}", cursor.as_str()),
            })
            .collect()
            .await
    }

    fn numbers(count: u32) -> MemoryLog {
        let log = MemoryLog::new(1);
        for n in 0..count {
            log.append(Event::from_data(0, &n).unwrap()).unwrap();
        }
        log
    }

    fn parity(event: &Event) -> u32 {
        event.data_json().parse::<u32>().unwrap() % 2
    }

    #[tokio::test]
    async fn a_parents_cursor_resumes_each_redistributed_child_after_it() {
        let log = numbers(6);
        let children = log.split_redistributing(0, 2, parity).unwrap();
        assert_eq!(children, [1, 2]);
        log.append(Event::from_data(1, &6).unwrap()).unwrap();
        // A consumer that had seen the parent up to "3" (0, 1, 2).
        assert_eq!(
            lines(&log, Cursor::new(1, "3").unwrap()).await,
            ["4", "@5", "6", "@7", "@7"]
        );
        assert_eq!(
            lines(&log, Cursor::new(2, "3").unwrap()).await,
            ["3", "@4", "5", "@6", "@6"]
        );
        assert_eq!(lines(&log, Cursor::first(2)).await[0], "1");
        assert_eq!(lines(&log, Cursor::last(1)).await, ["@7"]);
    }

    #[tokio::test]
    async fn the_discovery_drops_the_parent_and_lists_the_ancestors() {
        let log = numbers(2);
        log.split_redistributing(0, 2, parity).unwrap();
        let grandchildren = log.split_redistributing(2, 1, |_| 0).unwrap();
        assert_eq!(grandchildren, [3]);
        let discovery = log.discovery().unwrap();
        assert_eq!(discovery.token, "3");
        let listed: Vec<(u32, Vec<u32>)> = discovery
            .partitions
            .iter()
            .map(|p| (p.id, p.cursor_from_partitions.clone()))
            .collect();
        assert_eq!(listed, [(1, vec![0]), (3, vec![2, 0])]);
        let refused = log.append(Event::from_data(0, &9).unwrap()).unwrap_err();
        assert!(refused.to_string().contains("redistributed"), "{refused}");
        let FeedResponse::Refused { status, message } = Feed::from(log.clone())
            .respond_events("token=3&partition=0&cursor=_first")
            .await
        else {
            panic!("a partition no longer listed is refused")
        };
        assert_eq!(status, 400, "{message}");
        // Version 1 still reads the parent's history.
        assert_eq!(
            lines(&log, Cursor::first(0)).await,
            ["0", "@1", "1", "@2", "@2"]
        );
    }

    #[test]
    fn splits_refuse_what_cannot_be_split() {
        let log = numbers(1);
        assert!(matches!(log.split(0, 0), Err(SplitError::NoChildren)));
        assert!(matches!(
            log.split(5, 1),
            Err(SplitError::UnknownPartition(_))
        ));
        assert!(matches!(
            log.split(0, MAX_PARTITION_ID + 1),
            Err(SplitError::TooManyPartitions { .. })
        ));
        log.split_redistributing(0, 1, |_| 0).unwrap();
        let again = log.split(0, 1).unwrap_err();
        assert!(matches!(
            again,
            SplitError::Redistributed { partition_id: 0 }
        ));
        assert_eq!(log.token(), "2", "a refused split changes nothing");
    }
}
