//! The allocator's work queue: which node to serve next. Synchronous and clock-free (the
//! caller passes `now`), so its order is table-tested.
//!
//! A node is queued by name at most once. A ready entry (its time has come) with the largest
//! priority goes first — the allocator passes the node's address deficit, so a node whose pods
//! wait is served before one topping up its warm pool — ties by the time it was queued. A node
//! being served is never handed out twice; queued again meanwhile, it comes back once the
//! round is done. A node held back after a failure (its backoff) does not become ready
//! before the hold ends, whatever queues it meanwhile: its own status write, for one, must not
//! turn a backoff into a hot loop.

use std::collections::{BTreeMap, BTreeSet};

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
struct Entry {
    not_before: Instant,
    queued_at: Instant,
}

#[derive(Debug, Default)]
pub struct WorkQueue {
    pending: BTreeMap<String, Entry>,
    in_flight: BTreeSet<String>,
    /// Queued while in flight: the earliest time asked for.
    again: BTreeMap<String, Instant>,
    /// Backoffs: not ready before this.
    holds: BTreeMap<String, Instant>,
}

impl WorkQueue {
    pub fn new() -> WorkQueue {
        WorkQueue::default()
    }

    /// Queues a node for `at` (now, or later for a backoff or a resync); an earlier time
    /// asked for already wins.
    pub fn add(&mut self, name: &str, at: Instant, now: Instant) {
        let at = self.holds.get(name).map_or(at, |h| at.max(*h));
        if self.in_flight.contains(name) {
            let e = self.again.entry(name.to_string()).or_insert(at);
            *e = (*e).min(at);
            return;
        }
        let e = self.pending.entry(name.to_string()).or_insert(Entry {
            not_before: at,
            queued_at: now,
        });
        e.not_before = e.not_before.min(at);
    }

    /// Drops a node (gone from the cluster).
    pub fn remove(&mut self, name: &str) {
        self.pending.remove(name);
        self.again.remove(name);
        self.holds.remove(name);
    }

    /// Holds a node back until `until` (a backoff); `None` lifts the hold.
    pub fn hold(&mut self, name: &str, until: Option<Instant>) {
        match until {
            Some(u) => {
                self.holds.insert(name.to_string(), u);
                if let Some(e) = self.pending.get_mut(name) {
                    e.not_before = e.not_before.max(u);
                }
            }
            None => {
                self.holds.remove(name);
            }
        }
    }

    /// The next node to serve: ready, highest priority, then first queued. It is in flight
    /// until [`WorkQueue::done`].
    pub fn pop(&mut self, now: Instant, priority: impl Fn(&str) -> u64) -> Option<String> {
        let name = self
            .pending
            .iter()
            .filter(|(_, e)| e.not_before <= now)
            .max_by(|(a, ea), (b, eb)| {
                priority(a)
                    .cmp(&priority(b))
                    .then(eb.queued_at.cmp(&ea.queued_at))
                    .then(b.cmp(a))
            })
            .map(|(n, _)| n.clone())?;
        self.pending.remove(&name);
        self.in_flight.insert(name.clone());
        Some(name)
    }

    /// The round of `name` is over; `next` queues it again (a resync or a backoff).
    pub fn done(&mut self, name: &str, next: Option<Instant>, now: Instant) {
        self.in_flight.remove(name);
        let again = self.again.remove(name);
        let at = match (again, next) {
            (Some(a), Some(n)) => Some(a.min(n)),
            (a, n) => a.or(n),
        };
        if let Some(at) = at {
            self.add(name, at, now);
        }
    }

    /// When the earliest waiting entry becomes ready.
    pub fn next_ready(&self) -> Option<Instant> {
        self.pending.values().map(|e| e.not_before).min()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_largest_deficit_goes_first_then_the_oldest() {
        let t0 = Instant::now();
        let mut q = WorkQueue::new();
        for (i, n) in ["a", "b", "c", "d"].iter().enumerate() {
            let at = t0 + Duration::from_millis(i as u64);
            q.add(n, at, at);
        }
        let deficit = |n: &str| match n {
            "c" => 27,
            "b" | "d" => 9,
            _ => 0,
        };
        let now = t0 + Duration::from_secs(1);
        let order: Vec<String> = std::iter::from_fn(|| q.pop(now, deficit)).collect();
        assert_eq!(order, vec!["c", "b", "d", "a"]);
    }

    #[test]
    fn later_entries_wait_and_a_node_is_queued_once() {
        let t0 = Instant::now();
        let mut q = WorkQueue::new();
        q.add("a", t0 + Duration::from_secs(10), t0);
        q.add("a", t0 + Duration::from_secs(5), t0);
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop(t0, |_| 0), None);
        assert_eq!(q.next_ready(), Some(t0 + Duration::from_secs(5)));
        assert_eq!(
            q.pop(t0 + Duration::from_secs(5), |_| 0).as_deref(),
            Some("a")
        );
    }

    #[test]
    fn a_node_in_flight_is_not_handed_out_twice_and_comes_back_after() {
        let t0 = Instant::now();
        let mut q = WorkQueue::new();
        q.add("a", t0, t0);
        assert_eq!(q.pop(t0, |_| 0).as_deref(), Some("a"));
        q.add("a", t0, t0);
        assert_eq!(q.pop(t0, |_| 0), None, "still in flight");
        assert_eq!(q.in_flight(), 1);
        q.done("a", Some(t0 + Duration::from_secs(60)), t0);
        assert_eq!(
            q.pop(t0, |_| 0).as_deref(),
            Some("a"),
            "the change seen meanwhile wins over the resync"
        );
        q.done("a", None, t0);
        assert!(q.is_empty());
        q.add("b", t0, t0);
        q.remove("b");
        assert_eq!(q.pop(t0, |_| 0), None);
    }

    #[test]
    fn a_held_node_waits_out_its_backoff_whatever_queues_it() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(4);
        let mut q = WorkQueue::new();
        q.add("a", t0, t0);
        assert_eq!(q.pop(t0, |_| 0).as_deref(), Some("a"));
        // Its own status write queues it while in flight; then the round fails.
        q.add("a", t0, t0);
        q.hold("a", Some(later));
        q.done("a", Some(later), t0);
        q.add("a", t0, t0);
        assert_eq!(q.pop(t0 + Duration::from_secs(3), |_| 0), None);
        assert_eq!(q.pop(later, |_| 0).as_deref(), Some("a"));
        q.hold("a", None);
        q.done("a", None, later);
        q.add("a", later, later);
        assert_eq!(q.pop(later, |_| 0).as_deref(), Some("a"));
    }
}
