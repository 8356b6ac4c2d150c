//! Sharing the partitions among the processes of one consumer name.
//!
//! Each process knows how many partitions it holds, and, from the last
//! heartbeat, how many live members the group has and the fewest
//! partitions one of them holds. With N partitions and K members, a fair
//! share is between `floor(N/K)` and `ceil(N/K)`:
//!
//! - a process claims a free partition only while it holds fewer than
//!   `ceil(N/K)`;
//! - it gives one up when it holds more than `ceil(N/K)`, or more than
//!   `floor(N/K)` while some member holds fewer than `floor(N/K)` (a
//!   newcomer, or one left short).
//!
//! So a process that started alone and took everything gives partitions
//! up as others join, and the others take over what a dead member held
//! once its leases lapse, as a Kafka consumer group rebalances.
//!
//! The rule assumes every member consumes the same N partitions: the
//! shares of members with different sets need not cover them all.

use std::sync::{
    Mutex,
    atomic::{AtomicU32, Ordering},
};

use tokio::sync::{Notify, futures::Notified};

use super::Member;

/// What this process knows of its group.
#[derive(Debug)]
pub(crate) struct Group {
    /// The partitions the group shares (those this process consumes);
    /// version 2 sets them anew at each discovery.
    partitions: AtomicU32,
    /// How many of them this process holds now.
    held: AtomicU32,
    view: Mutex<View>,
    /// Wakes the workers when the view changes: one held in a long-poll
    /// looks at the shares again instead of waiting for its answer.
    regrouped: Notify,
}

/// The group as the last heartbeat saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct View {
    members: u32,
    fewest_held: u32,
}

impl Group {
    /// A group of one (until a heartbeat says more) sharing `partitions`.
    pub(crate) fn new(partitions: u32) -> Self {
        Group {
            partitions: AtomicU32::new(partitions),
            held: AtomicU32::new(0),
            view: Mutex::new(View {
                members: 1,
                fewest_held: 0,
            }),
            regrouped: Notify::new(),
        }
    }

    /// Version 2: the group shares `partitions` partitions from now on
    /// (those of the latest discovery that are not finished).
    pub(crate) fn set_partitions(&self, partitions: u32) {
        if self.partitions.swap(partitions, Ordering::AcqRel) != partitions {
            self.regrouped.notify_waiters();
        }
    }

    /// Takes in a heartbeat's members (none: the store knows no groups,
    /// and this process is alone as far as sharing goes).
    pub(crate) fn observe(&self, members: &[Member]) {
        let view = View {
            members: u32::try_from(members.len()).unwrap_or(u32::MAX).max(1),
            fewest_held: members.iter().map(|m| m.partitions).min().unwrap_or(0),
        };
        let old = std::mem::replace(
            &mut *self
                .view
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()),
            view,
        );
        if old != view {
            self.regrouped.notify_waiters();
        }
    }

    /// Completes at the next change of the group's view: create it before
    /// looking at the shares, and `enable` it, so that no change is missed.
    pub(crate) fn regrouped(&self) -> Notified<'_> {
        self.regrouped.notified()
    }

    fn view(&self) -> View {
        *self
            .view
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// `floor(N/K)` and `ceil(N/K)`.
    fn shares(&self) -> (u32, u32) {
        let members = self.view().members;
        let partitions = self.partitions.load(Ordering::Acquire);
        (partitions / members, partitions.div_ceil(members))
    }

    /// How many partitions this process may hold at most now.
    pub(crate) fn fair_share(&self) -> u32 {
        self.shares().1
    }

    /// Whether this process may claim one more partition.
    pub(crate) fn may_claim(&self) -> bool {
        self.held.load(Ordering::SeqCst) < self.fair_share()
    }

    /// Counts a partition taken.
    pub(crate) fn claimed(&self) {
        self.held.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a partition lost or given up.
    pub(crate) fn lost(&self) {
        let _ = self
            .held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                held.checked_sub(1)
            });
    }

    /// Whether this process holds more than its share now; if so, counts
    /// one partition as given up (the caller then releases it). Atomic, so
    /// that of several workers only as many give up as need to.
    pub(crate) fn give_up_one(&self) -> bool {
        let (floor, ceil) = self.shares();
        let fewest = self.view().fewest_held;
        self.held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                let too_many = held > ceil || (held > floor && fewest < floor);
                too_many.then(|| held - 1)
            })
            .is_ok()
    }

    /// How many partitions this process holds.
    pub(crate) fn held(&self) -> u32 {
        self.held.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(held: &[u32]) -> Vec<Member> {
        held.iter()
            .enumerate()
            .map(|(i, &partitions)| Member {
                owner: format!("m{i}"),
                partitions,
            })
            .collect()
    }

    fn holding(group: &Group, count: u32) {
        for _ in 0..count {
            group.claimed();
        }
    }

    #[test]
    fn alone_a_process_takes_every_partition() {
        let group = Group::new(4);
        holding(&group, 3);
        assert!(group.may_claim());
        group.claimed();
        assert!(!group.may_claim());
        assert!(!group.give_up_one());
    }

    #[test]
    fn a_newcomer_makes_the_first_give_partitions_up_to_half() {
        let group = Group::new(4);
        holding(&group, 4);
        group.observe(&members(&[4, 0]));
        assert!(group.give_up_one());
        assert!(group.give_up_one());
        assert!(!group.give_up_one(), "down to its share of 2");
        assert_eq!(group.held(), 2);
        assert!(!group.may_claim());
    }

    #[test]
    fn a_member_left_short_makes_others_give_up_down_to_the_floor() {
        // 4 partitions, 3 members: shares of 1 or 2; 2, 2, 0 must move.
        let group = Group::new(4);
        holding(&group, 2);
        group.observe(&members(&[2, 2, 0]));
        assert!(group.give_up_one());
        assert!(!group.give_up_one());
        // Once nobody is short, 2 is a fair share again.
        group.observe(&members(&[1, 2, 1]));
        assert!(group.may_claim());
        group.claimed();
        assert!(!group.give_up_one());
    }

    #[test]
    fn when_a_member_dies_the_others_may_take_its_share() {
        let group = Group::new(6);
        holding(&group, 2);
        group.observe(&members(&[2, 2, 2]));
        assert!(!group.may_claim());
        group.observe(&members(&[2, 2]));
        assert!(group.may_claim());
        assert_eq!(group.fair_share(), 3);
    }

    #[test]
    fn a_store_without_groups_leaves_the_process_alone() {
        let group = Group::new(3);
        group.observe(&[]);
        holding(&group, 3);
        assert!(!group.give_up_one());
        group.lost();
        assert_eq!(group.held(), 2);
    }
}
