//! Where a durable change's time goes, for the latency bench (`cloudnet-ipamd-bench`): each
//! change made through [`crate::core::Core`] and each RPC handled by [`crate::rpc::Service`]
//! is recorded when a [`Trace`] is attached, in the order they complete. Off by default (the
//! daemon attaches none); one uncontended lock and a push per change when on.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When the writer took a batch and when it was durable.
#[derive(Debug, Clone, Copy)]
pub struct Flushed {
    pub taken: Instant,
    pub written: Instant,
}

/// One change, from the caller's side.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChangeTiming {
    /// Waiting for the state's lock and the change in memory.
    pub apply: Duration,
    /// Queued until the writer took it (the writer's wake-up, or a flush in flight).
    pub queued: Duration,
    /// The writer's record written and flushed (shared by the batch).
    pub write: Duration,
    /// From the writer's answer until the caller ran again.
    pub wake: Duration,
}

impl ChangeTiming {
    pub fn new(began: Instant, applied: Instant, f: Flushed, resumed: Instant) -> Self {
        ChangeTiming {
            apply: applied.saturating_duration_since(began),
            queued: f.taken.saturating_duration_since(applied),
            write: f.written.saturating_duration_since(f.taken),
            wake: resumed.saturating_duration_since(f.written),
        }
    }

    pub fn total(&self) -> Duration {
        self.apply + self.queued + self.write + self.wake
    }
}

/// The recorded changes and RPC handler times.
#[derive(Debug, Default)]
pub struct Trace {
    changes: Mutex<Vec<ChangeTiming>>,
    handlers: Mutex<Vec<Duration>>,
}

impl Trace {
    pub fn change(&self, t: ChangeTiming) {
        self.changes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(t);
    }

    /// An RPC handler's time, from the request decoded to the reply built.
    pub fn handler(&self, d: Duration) {
        self.handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(d);
    }

    /// Everything recorded so far, emptied.
    pub fn take(&self) -> (Vec<ChangeTiming>, Vec<Duration>) {
        (
            std::mem::take(&mut *self.changes.lock().unwrap_or_else(|p| p.into_inner())),
            std::mem::take(&mut *self.handlers.lock().unwrap_or_else(|p| p.into_inner())),
        )
    }
}
