//! The daemon's state behind one lock, made durable by group commit: a change is applied in
//! memory under the lock and queued. The change that finds no flush in flight leads: it lets
//! the tasks ready on its thread run first (they queue behind it), then takes the state as
//! it stands, writes it (one journal record, one `fdatasync`) and only then answers every
//! change queued before it took the state; it goes on with what queued meanwhile until the
//! queue is empty. Changes that arrive while a flush is in flight wait for the next one, so
//! N concurrent changes cost about one flush, not N. Nothing is answered before it is on
//! disk (an address handed out but not durable could be handed out again after a crash).
//!
//! The leader writes on its own thread: no hand-off to a writer thread and back, two
//! wake-ups that each wait for a core when the node is busy (they were most of the
//! Allocate's tail, see docs/benchmarks.md). The write blocks that thread for one small
//! record and a flush: microseconds on the tmpfs the checkpoint lives on by default.
//!
//! A change sees the changes before it, durable or not; the journal keeps their order, and
//! a record covers whole changes, so a crash leaves a prefix of them. If a write fails, the
//! state goes back to what the checkpoint holds and every change not yet durable (the
//! failed batch and those queued behind it) is answered with the error.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ipnet::Ipv4Net;
use tokio::sync::oneshot;

use crate::checkpoint::Writer;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::pool::Agreement;
use crate::state::{AllocKey, AllocRequest, Allocation, Counts, Offer, State};
use crate::timing::{ChangeTiming, Flushed, Trace};

/// How long a refused allocation counts as demand. A runtime asks again within seconds while
/// the pod waits; a request not repeated for this long (the pod is gone) stops counting.
pub const WAITING_TTL_MS: u64 = 60_000;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Answers a change once it is durable (or not).
type Durable = oneshot::Sender<Result<Flushed>>;

#[derive(Debug)]
pub struct Inner {
    pub state: State,
    /// Both sources have been read at least once.
    pub synced: bool,
    pub agreement: Agreement,
    /// Allocations refused for want of an address (or before the pool was synced), with the
    /// time last asked: pods waiting, reported in `spec.inUse` so the allocator grows the
    /// pool for them at once instead of one warm target at a time.
    waiting: BTreeMap<AllocKey, u64>,
    /// Changes applied in memory since a leader last took the state.
    unflushed: Vec<Durable>,
    /// A leader is flushing: changes queued now are its to write.
    flushing: bool,
    /// A write panicked: changes are refused.
    writer_gone: bool,
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    /// The checkpoint, written by the leader alone.
    writer: Mutex<Writer>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the state half-changed in a way the
        // checkpoint does not also show: the writer only answers what it wrote.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The leader's duty: flushes everything queued when it goes, also when the leading
/// change's future is dropped before it got there (a cancelled RPC), so no queued change is
/// left without a writer.
struct Lead<'a> {
    shared: &'a Shared,
    metrics: &'a Metrics,
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        flush(self.shared, self.metrics);
    }
}

/// Shared between the gRPC service, the sync loop and the introspection endpoint.
#[derive(Debug, Clone)]
pub struct Core {
    shared: Arc<Shared>,
    pub metrics: Arc<Metrics>,
    /// Woken when a pod starts waiting: the sync loop reports the demand without waiting for
    /// its tick.
    demand: Arc<tokio::sync::Notify>,
    /// Bumped when a sync changes the pool (or first syncs it): wakes the Allocates waiting
    /// for an address ([`Core::allocate_within`]).
    pool_changed: Arc<tokio::sync::watch::Sender<u64>>,
    /// Records where each change's time went (the latency bench); none in the daemon.
    trace: Option<Arc<Trace>>,
}

impl Core {
    /// Writes `state` (synchronously).
    pub fn new(state: State, mut writer: Writer, metrics: Arc<Metrics>) -> Result<Self> {
        writer.write(state.persisted())?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                state,
                synced: false,
                agreement: Agreement::default(),
                waiting: BTreeMap::new(),
                unflushed: Vec::new(),
                flushing: false,
                writer_gone: false,
            }),
            writer: Mutex::new(writer),
        });
        Ok(Core {
            shared,
            metrics,
            demand: Arc::new(tokio::sync::Notify::new()),
            pool_changed: Arc::new(tokio::sync::watch::Sender::new(0)),
            trace: None,
        })
    }

    /// Records every change's timing from now on in `trace`.
    pub fn traced(mut self, trace: Arc<Trace>) -> Self {
        self.trace = Some(trace);
        self
    }

    pub fn trace(&self) -> Option<&Trace> {
        self.trace.as_deref()
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.lock()
    }

    /// Runs a change in memory and queues it; the receiver answers once it is durable. With
    /// no flush in flight, the change leads the next one.
    #[allow(clippy::type_complexity)]
    fn apply<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T>,
    ) -> Result<(
        T,
        oneshot::Receiver<Result<Flushed>>,
        Instant,
        Option<Lead<'_>>,
    )> {
        let mut g = self.lock();
        if g.writer_gone {
            return Err(Error::Task("checkpoint writer"));
        }
        let now = now_ms();
        g.state.prune_cooled(now);
        let out = f(&mut g.state)?;
        let (tx, rx) = oneshot::channel();
        self.metrics
            .observe(&g.state.counts(now), g.agreement.interfaces.len());
        g.unflushed.push(tx);
        let applied = Instant::now();
        let lead = (!g.flushing).then(|| {
            g.flushing = true;
            Lead {
                shared: &self.shared,
                metrics: &self.metrics,
            }
        });
        Ok((out, rx, applied, lead))
    }

    /// Runs a change and returns once it is durable. If the write fails, the state goes back
    /// to what the checkpoint on disk holds (a failed write leaves at most a torn journal
    /// line, dropped on load), so nothing is answered that a restart would not know.
    async fn change<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let began = Instant::now();
        let (out, durable, applied, lead) = self.apply(f)?;
        if let Some(lead) = lead {
            // The changes ready on this thread queue behind this one and share its flush.
            tokio::task::yield_now().await;
            drop(lead);
        }
        let flushed = durable
            .await
            .unwrap_or(Err(Error::Task("checkpoint writer")))?;
        if let Some(t) = &self.trace {
            t.change(ChangeTiming::new(began, applied, flushed, Instant::now()));
        }
        Ok(out)
    }

    pub async fn allocate(&self, req: &AllocRequest) -> Result<Allocation> {
        let synced = self.lock().synced;
        let r = if synced {
            self.change(|s| s.allocate(req, now_ms())).await
        } else {
            Err(Error::NotSynced)
        };
        match &r {
            Ok(_) => {
                self.lock().waiting.remove(&req.key);
            }
            Err(e @ (Error::PoolExhausted { .. } | Error::NotSynced)) => {
                if matches!(e, Error::PoolExhausted { .. }) {
                    self.metrics.no_address.inc();
                }
                let first = {
                    let mut g = self.lock();
                    let first = g.waiting.insert(req.key.clone(), now_ms()).is_none();
                    self.metrics.pods_waiting.set(g.waiting.len() as i64);
                    first
                };
                if first {
                    self.demand.notify_one();
                }
            }
            Err(_) => {}
        }
        r
    }

    /// Like [`Core::allocate`], but a request the pool cannot serve yet (no free address,
    /// not synced) waits up to `wait` for the pool to change and is served as soon as a
    /// sync brings an address, instead of being refused and asked again. It counts as a pod
    /// waiting meanwhile, so the allocator hears of it at once.
    pub async fn allocate_within(&self, req: &AllocRequest, wait: Duration) -> Result<Allocation> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut pool = self.pool_changed.subscribe();
        let began = std::time::Instant::now();
        let mut waited = false;
        loop {
            pool.borrow_and_update();
            let r = self.allocate(req).await;
            if !matches!(r, Err(Error::PoolExhausted { .. } | Error::NotSynced)) {
                if waited && r.is_ok() {
                    self.metrics
                        .allocate_waited
                        .observe(began.elapsed().as_secs_f64());
                }
                return r;
            }
            match tokio::time::timeout_at(deadline, pool.changed()).await {
                Ok(Ok(())) => waited = true,
                _ => return r,
            }
        }
    }

    /// Completes when a pod has started waiting since the last call (or before the first).
    pub async fn demand_changed(&self) {
        self.demand.notified().await;
    }

    /// Pods waiting for an address, those not asking again within [`WAITING_TTL_MS`] dropped.
    pub fn waiting(&self) -> usize {
        let now = now_ms();
        let mut g = self.lock();
        g.waiting
            .retain(|_, at| now.saturating_sub(*at) < WAITING_TTL_MS);
        self.metrics.pods_waiting.set(g.waiting.len() as i64);
        g.waiting.len()
    }

    /// Frees by key, or for a pod whose address was rebuilt from the API, by the pod's UID
    /// (empty: none given).
    pub async fn release(&self, key: &AllocKey, pod_uid: &str) -> Result<Option<Allocation>> {
        // A DEL after a refused ADD: the pod no longer waits.
        self.lock().waiting.remove(key);
        self.change(|s| {
            let now = now_ms();
            Ok(s.release(key, now)
                .or_else(|| s.release_recovered(pod_uid, now)))
        })
        .await
    }

    /// Frees the attachments of pods gone from the API without a DEL (see
    /// [`crate::orphans`]); they cool as after a DEL. Keys already freed are skipped.
    pub async fn release_gone(&self, keys: &[AllocKey]) -> Result<Vec<Allocation>> {
        self.change(|s| {
            let now = now_ms();
            Ok(keys.iter().filter_map(|k| s.release(k, now)).collect())
        })
        .await
    }

    pub fn check(&self, key: &AllocKey) -> Option<Allocation> {
        self.lock().state.get(key).cloned()
    }

    pub async fn gc(&self, valid: &BTreeSet<AllocKey>) -> Result<Vec<Allocation>> {
        self.lock().waiting.retain(|k, _| valid.contains(k));
        self.change(|s| Ok(s.gc(valid, now_ms()))).await
    }

    pub fn counts(&self) -> (bool, Counts) {
        let g = self.lock();
        (g.synced, g.state.counts(now_ms()))
    }

    /// Takes a new agreement, the allocator's releases and the warm target; returns the
    /// offers and the in-use count the NodeNetwork spec should now carry: addresses held
    /// plus pods waiting for one.
    pub async fn sync(
        &self,
        agreement: Agreement,
        released: &[Ipv4Net],
        keep_free: Option<usize>,
    ) -> Result<(Vec<Offer>, u32)> {
        let blocks: BTreeMap<Ipv4Net, String> = agreement.blocks();
        let out = self
            .change(|s| {
                s.set_pool(blocks);
                s.apply_released(released);
                if let Some(k) = keep_free {
                    s.offer_excess(k, now_ms());
                }
                Ok((
                    s.offered().cloned().collect::<Vec<_>>(),
                    s.allocations().count() as u32,
                ))
            })
            .await?;
        let out = (out.0, out.1 + self.waiting() as u32);
        let grew = {
            let mut g = self.lock();
            self.metrics
                .observe(&g.state.counts(now_ms()), agreement.interfaces.len());
            let grew = !g.synced || g.agreement.blocks() != agreement.blocks();
            g.agreement = agreement;
            g.synced = true;
            grew
        };
        if grew {
            self.pool_changed.send_modify(|v| *v += 1);
        }
        Ok(out)
    }

    pub async fn forget_recovered_except(
        &self,
        running_uids: &BTreeSet<String>,
    ) -> Result<Vec<Allocation>> {
        self.change(|s| Ok(s.forget_recovered_except(running_uids, now_ms())))
            .await
    }

    pub fn has_recovered(&self) -> bool {
        self.lock()
            .state
            .allocations()
            .any(|a| a.key.is_recovered())
    }
}

/// The leader's flush: takes the state with the changes queued so far, makes it durable and
/// answers them, again until nothing is queued; on a failed write, puts the state back to
/// what the checkpoint holds and answers every change not yet durable with the error.
fn flush(shared: &Shared, metrics: &Metrics) {
    /// Refuses new changes and drops the queued ones' senders (answered as failed) if a
    /// write panics.
    struct Gone<'a>(&'a Shared);
    impl Drop for Gone<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let mut g = self.0.lock();
                g.writer_gone = true;
                g.flushing = false;
                g.unflushed.clear();
            }
        }
    }
    let _gone = Gone(shared);
    let mut writer = shared.writer.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let (persisted, batch, taken) = {
            let mut g = shared.lock();
            if g.unflushed.is_empty() {
                g.flushing = false;
                return;
            }
            let taken = Instant::now();
            (g.state.persisted(), std::mem::take(&mut g.unflushed), taken)
        };
        let flushes = writer.flushes();
        match writer.write(persisted) {
            Ok(()) => {
                if writer.flushes() != flushes {
                    metrics.checkpoint_flushes.inc();
                }
                metrics.checkpoint_changes.inc_by(batch.len() as u64);
                let flushed = Flushed {
                    taken,
                    written: Instant::now(),
                };
                for d in batch {
                    let _ = d.send(Ok(flushed));
                }
            }
            Err(e) => {
                let later = {
                    let mut g = shared.lock();
                    let blocks = g.state.blocks().clone();
                    let cooldown = g.state.cooldown_ms();
                    match writer.written().map(|p| State::restore(cooldown, p)) {
                        Some(Ok(mut s)) => {
                            s.set_pool(blocks);
                            g.state = s;
                        }
                        Some(Err(error)) => {
                            tracing::error!(%error, "Written state is inconsistent")
                        }
                        None => tracing::error!("Nothing written yet; keeping memory state"),
                    }
                    std::mem::take(&mut g.unflushed)
                };
                tracing::warn!(error = %e, changes = batch.len() + later.len(), "Checkpoint write failed; changes not yet durable are undone");
                for d in batch.into_iter().chain(later) {
                    let _ = d.send(Err(e.duplicate()));
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
