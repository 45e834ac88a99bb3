//! Device indexes for interfaces being attached, so several attaches to one instance can run
//! at once.
//!
//! ```text
//!  describe the instance ──observe──▶ seen indexes (with the time they were read)
//!  attach ──reserve──▶ lowest index neither seen nor held by another attach in this process
//!         ──AttachNetworkInterface(index)──▶ ok: mark used, let the reservation go
//!                                          └─ index taken by someone else: describe, next index
//! ```
//!
//! The book is in-process: another client (a second controller, a person with the console)
//! can still take an index after our last describe. The cloud refuses that attach, and the
//! caller describes again and retries with the same interface at the next free index
//! ([`crate::addresses`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A poisoned book only means a panic elsewhere mid-update of plain sets.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long a describe's view of an instance's indexes is trusted for picking one. Our own
/// attaches are in the book the moment they succeed; this bounds how stale a view of other
/// clients' attaches may be before an attach describes again.
pub const VIEW_TTL: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct InstanceIndexes {
    /// Indexes in use as last described, plus our attaches since.
    seen: BTreeSet<u32>,
    seen_at: Option<Instant>,
    /// Held by attaches in flight.
    reserved: BTreeSet<u32>,
}

/// Every instance's indexes. Clones share the book.
#[derive(Debug, Clone, Default)]
pub struct IndexBook {
    instances: Arc<Mutex<HashMap<String, InstanceIndexes>>>,
}

/// What [`IndexBook::reserve`] found.
#[derive(Debug)]
pub enum Pick {
    Got(Reservation),
    /// No view of the instance, or one older than asked: describe it first.
    Stale,
    /// Every index below the limit is in use or held.
    Full {
        in_use: usize,
        held: usize,
    },
}

/// An index held for one attach; let go when dropped (also when the attach is cancelled).
#[derive(Debug)]
pub struct Reservation {
    book: IndexBook,
    instance: String,
    index: u32,
}

impl Reservation {
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The attach succeeded: the index is in use from now on.
    pub fn attached(self) {
        let mut m = lock(&self.book.instances);
        if let Some(e) = m.get_mut(&self.instance) {
            e.seen.insert(self.index);
        }
        // Drop takes it out of `reserved`.
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(e) = lock(&self.book.instances).get_mut(&self.instance) {
            e.reserved.remove(&self.index);
        }
    }
}

impl IndexBook {
    /// A describe's view: the indexes in use on the instance now.
    pub fn observe(&self, instance: &str, indexes: impl IntoIterator<Item = u32>) {
        let mut m = lock(&self.instances);
        let e = m.entry(instance.to_string()).or_default();
        e.seen = indexes.into_iter().collect();
        e.seen_at = Some(Instant::now());
    }

    /// An interface of ours at `index` is gone from the instance.
    pub fn freed(&self, instance: &str, index: u32) {
        if let Some(e) = lock(&self.instances).get_mut(instance) {
            e.seen.remove(&index);
        }
    }

    /// Holds the lowest free index below `max_interfaces`, when the view is younger than
    /// `max_age` (`None`: any view will do).
    pub fn reserve(&self, instance: &str, max_interfaces: u32, max_age: Option<Duration>) -> Pick {
        let mut m = lock(&self.instances);
        let Some(e) = m.get_mut(instance) else {
            return Pick::Stale;
        };
        let fresh = e
            .seen_at
            .is_some_and(|at| max_age.is_none_or(|age| at.elapsed() < age));
        if !fresh {
            return Pick::Stale;
        }
        let Some(index) =
            (0..max_interfaces).find(|i| !e.seen.contains(i) && !e.reserved.contains(i))
        else {
            return Pick::Full {
                in_use: e.seen.len(),
                held: e.reserved.len(),
            };
        };
        e.reserved.insert(index);
        Pick::Got(Reservation {
            book: self.clone(),
            instance: instance.to_string(),
            index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn got(p: Pick) -> Reservation {
        match p {
            Pick::Got(r) => r,
            other => panic!("expected an index, got {other:?}"),
        }
    }

    #[test]
    fn no_view_or_an_old_one_asks_for_a_describe() {
        let book = IndexBook::default();
        assert!(matches!(book.reserve("i-1", 8, None), Pick::Stale));
        book.observe("i-1", [0]);
        assert!(matches!(
            book.reserve("i-1", 8, Some(Duration::ZERO)),
            Pick::Stale
        ));
        assert_eq!(got(book.reserve("i-1", 8, Some(VIEW_TTL))).index(), 1);
    }

    #[test]
    fn concurrent_reservations_get_distinct_indexes_and_drop_gives_them_back() {
        let book = IndexBook::default();
        book.observe("i-1", [0, 2]);
        let a = got(book.reserve("i-1", 5, None));
        let b = got(book.reserve("i-1", 5, None));
        let c = got(book.reserve("i-1", 5, None));
        assert_eq!((a.index(), b.index(), c.index()), (1, 3, 4));
        assert!(matches!(
            book.reserve("i-1", 5, None),
            Pick::Full { in_use: 2, held: 3 }
        ));
        // A failed attach lets its index go; a successful one keeps it in use.
        drop(b);
        a.attached();
        assert_eq!(got(book.reserve("i-1", 5, None)).index(), 3);
        let again = got(book.reserve("i-1", 5, None));
        assert_eq!(
            again.index(),
            3,
            "the dropped reservation above freed 3 again"
        );
        drop(again);
        book.freed("i-1", 1);
        assert_eq!(got(book.reserve("i-1", 5, None)).index(), 1);
    }

    #[test]
    fn instances_do_not_share_indexes() {
        let book = IndexBook::default();
        book.observe("i-1", [0]);
        book.observe("i-2", [0]);
        let a = got(book.reserve("i-1", 3, None));
        let b = got(book.reserve("i-2", 3, None));
        assert_eq!((a.index(), b.index()), (1, 1));
    }
}
