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
mod tests {
    use super::*;
    use crate::checkpoint;
    use crate::pool::PoolInterface;
    use crate::state::{AllocKey, PodRef};
    use futures::FutureExt;
    use futures::executor::block_on;

    pub(super) fn req(c: &str) -> AllocRequest {
        AllocRequest::new(AllocKey::new(c, "eth0"), &PodRef::new("ns", c, ""))
    }

    /// A core with an empty state whose checkpoint is written at `path`.
    fn core_at(path: &std::path::Path) -> Core {
        Core::new(
            State::new(30_000),
            Writer::new(path).unwrap(),
            Arc::new(Metrics::default()),
        )
        .unwrap()
    }

    /// A pool of one interface, `eni-a`, holding `cidrs`.
    pub(super) fn pool(cidrs: &[&str]) -> Agreement {
        Agreement {
            interfaces: vec![PoolInterface {
                id: "eni-a".into(),
                blocks: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn an_allocation_that_cannot_be_written_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        let core = core_at(&path);
        let agreement = pool(&["10.0.0.0/30"]);
        assert!(matches!(
            block_on(core.allocate(&req("early"))),
            Err(Error::NotSynced)
        ));
        block_on(core.sync(agreement, &[], None)).unwrap();
        let first = block_on(core.allocate(&req("a"))).unwrap();

        // The journal's path is taken: the append fails.
        let journal = checkpoint::journal_path(&path);
        std::fs::remove_file(&journal).unwrap();
        std::fs::create_dir(&journal).unwrap();
        assert!(matches!(
            block_on(core.allocate(&req("b"))),
            Err(Error::Io { .. })
        ));
        assert!(
            core.check(&AllocKey::new("b", "eth0")).is_none(),
            "not kept in memory"
        );
        assert_eq!(core.check(&first.key), Some(first.clone()));
        assert_eq!(core.counts().1.assigned, 1);

        // The next write starts a new snapshot and journal; the temporary file's path taken
        // makes that fail too, and the state stays as it was.
        std::fs::remove_dir(&journal).unwrap();
        std::fs::create_dir(dir.path().join("ipam.json.tmp")).unwrap();
        assert!(matches!(
            block_on(core.allocate(&req("b"))),
            Err(Error::Io { .. })
        ));
        assert_eq!(core.counts().1.assigned, 1);
        std::fs::remove_dir(dir.path().join("ipam.json.tmp")).unwrap();
        let b = block_on(core.allocate(&req("b"))).unwrap();
        assert_ne!(b.address, first.address);
        let on_disk = checkpoint::load(&path).unwrap().unwrap();
        assert_eq!(on_disk.allocations.len(), 2);
    }

    /// An Allocate the pool cannot serve waits for the pool to grow and is answered by the
    /// sync that brings an address, not by a poll; one still unserved at its deadline is
    /// refused as before; a sync that changes nothing wakes no one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_allocates_are_served_when_the_pool_grows() {
        let dir = tempfile::tempdir().unwrap();
        let core = core_at(&dir.path().join("ipam.json"));
        let wait = Duration::from_secs(5);
        // Not synced yet: waits, served by the first sync.
        let early = tokio::spawn({
            let core = core.clone();
            async move { core.allocate_within(&req("early"), wait).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!early.is_finished());
        core.sync(pool(&["10.0.0.0/32"]), &[], None).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), early)
            .await
            .expect("answered once synced")
            .unwrap()
            .unwrap();
        assert_eq!(got.address.to_string(), "10.0.0.0");

        // Full: three wait; a sync that changes nothing does not serve them; the pool
        // grows by two and two are served at once, the third still waits.
        let waiting: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|c| {
                let core = core.clone();
                tokio::spawn(async move {
                    let began = std::time::Instant::now();
                    let r = core
                        .allocate_within(&req(c), Duration::from_millis(1500))
                        .await;
                    (r, began.elapsed(), std::time::Instant::now())
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(core.waiting(), 3, "counted as pods waiting");
        core.sync(pool(&["10.0.0.0/32"]), &[], None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(waiting.iter().all(|t| !t.is_finished()));
        let grown = std::time::Instant::now();
        core.sync(
            pool(&["10.0.0.0/32", "10.0.0.1/32", "10.0.0.2/32"]),
            &[],
            None,
        )
        .await
        .unwrap();
        let mut served = Vec::new();
        let mut refused = 0;
        for t in waiting {
            let (r, took, at) = t.await.unwrap();
            match r {
                Ok(a) => served.push((a.address, at)),
                Err(Error::PoolExhausted { .. }) => {
                    refused += 1;
                    assert!(took >= Duration::from_millis(1500), "{took:?}");
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(served.len(), 2);
        assert_eq!(refused, 1);
        assert_ne!(served[0].0, served[1].0);
        for (_, at) in &served {
            let after = at.duration_since(grown);
            assert!(
                after < Duration::from_millis(300),
                "served at the sync, not later: {after:?}"
            );
        }
    }

    #[test]
    fn pods_refused_an_address_count_in_use_until_served_or_gone() {
        let dir = tempfile::tempdir().unwrap();
        let core = core_at(&dir.path().join("ipam.json"));
        // Before the first sync: waiting, and the sync loop is woken.
        assert!(matches!(
            block_on(core.allocate(&req("early"))),
            Err(Error::NotSynced)
        ));
        assert!(core.demand_changed().now_or_never().is_some());
        // Two addresses; four pods ask.
        assert_eq!(
            block_on(core.sync(pool(&["10.0.0.0/31"]), &[], None))
                .unwrap()
                .1,
            1
        );
        for c in ["early", "b", "c", "d"] {
            let _ = block_on(core.allocate(&req(c)));
        }
        assert_eq!(core.counts().1.assigned, 2);
        assert_eq!(core.waiting(), 2);
        assert_eq!(
            block_on(core.sync(pool(&["10.0.0.0/31"]), &[], None))
                .unwrap()
                .1,
            4,
            "2 held + 2 waiting"
        );
        // Asking again does not count twice; a DEL after the refused ADD stops the wait.
        let _ = block_on(core.allocate(&req("c")));
        block_on(core.release(&AllocKey::new("d", "eth0"), "")).unwrap();
        assert_eq!(
            block_on(core.sync(pool(&["10.0.0.0/31"]), &[], None))
                .unwrap()
                .1,
            3
        );
        // The pool grows: the waiting pod is served and counted once.
        block_on(core.sync(pool(&["10.0.0.0/30"]), &[], None)).unwrap();
        block_on(core.allocate(&req("c"))).unwrap();
        assert_eq!(core.waiting(), 0);
        assert_eq!(
            block_on(core.sync(pool(&["10.0.0.0/30"]), &[], None))
                .unwrap()
                .1,
            3
        );
    }
}

#[cfg(test)]
mod group_commit {
    use std::ops::Range;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    use futures::executor::block_on;

    use super::tests::{pool, req};
    use super::*;
    use crate::checkpoint::{self, BeforeSync, journal_path};

    const N: usize = 16;

    /// What the disk held when the process died between a record's write and its flush.
    struct Crash {
        snapshot: Vec<u8>,
        journal: Vec<u8>,
        record: Range<usize>,
        answered: Vec<Allocation>,
    }

    /// Loads a checkpoint made of `snapshot` and `journal` from a directory of its own.
    fn load(snapshot: &[u8], journal: &[u8]) -> State {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        std::fs::write(&path, snapshot).unwrap();
        std::fs::write(journal_path(&path), journal).unwrap();
        let p = checkpoint::load(&path)
            .unwrap()
            .expect("a usable checkpoint");
        State::restore(30_000, p).expect("no address held twice")
    }

    /// [`N`] threads allocate at once (keys `<prefix><i>`); returns who got what. With
    /// `held`, the first thread goes alone and the others start once its record is being
    /// written (`held` set by the writer's hook).
    fn burst(
        core: &Core,
        prefix: &str,
        started: &AtomicUsize,
        held: Option<&AtomicBool>,
        answered: &Mutex<Vec<Allocation>>,
    ) -> Vec<Result<Allocation>> {
        std::thread::scope(|s| {
            let threads: Vec<_> = (0..N)
                .map(|i| {
                    if let (1, Some(held)) = (i, held) {
                        while !held.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                    s.spawn(move || {
                        started.fetch_add(1, Ordering::SeqCst);
                        let r = block_on(core.allocate(&req(&format!("{prefix}{i}"))));
                        if let Ok(a) = &r {
                            answered.lock().unwrap().push(a.clone());
                        }
                        r
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        })
    }

    /// Concurrent allocations share a flush, none is answered before its record is flushed,
    /// and a crash between a record's write and its `fdatasync` (the process killed: the
    /// record stays in the page cache; power lost: it is gone or half there) loses nothing
    /// that was answered and never gives an address twice.
    #[test]
    fn a_crash_between_write_and_flush_loses_nothing_answered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        let started = Arc::new(AtomicUsize::new(0));
        let held = Arc::new(AtomicBool::new(false));
        let answered: Arc<Mutex<Vec<Allocation>>> = Arc::default();
        let crash: Arc<Mutex<Option<Crash>>> = Arc::default();
        let mut writer = Writer::new(&path).unwrap();
        let mut appends = 0;
        writer.before_sync = Some(BeforeSync(Box::new({
            let (started, held, answered, crash) = (
                started.clone(),
                held.clone(),
                answered.clone(),
                crash.clone(),
            );
            let snapshot = path.clone();
            move |journal: &Path, record: Range<usize>| {
                appends += 1;
                match appends {
                    // The first record of each burst waits until the burst has queued
                    // behind it, so the rest share the next record.
                    2 | 4 => {
                        held.store(true, Ordering::SeqCst);
                        while started.load(Ordering::SeqCst) < N {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        std::thread::sleep(Duration::from_millis(150));
                        Ok(())
                    }
                    // The rest of the first burst: the process dies before the flush.
                    3 => {
                        *crash.lock().unwrap() = Some(Crash {
                            snapshot: std::fs::read(&snapshot).unwrap(),
                            journal: std::fs::read(journal).unwrap(),
                            record,
                            answered: answered.lock().unwrap().clone(),
                        });
                        Err(std::io::Error::other("killed before fdatasync"))
                    }
                    _ => Ok(()),
                }
            }
        })));
        let core = Core::new(State::new(30_000), writer, Arc::new(Metrics::default())).unwrap();
        block_on(core.sync(pool(&["10.0.0.0/26"]), &[], None)).unwrap();
        let one = block_on(core.allocate(&req("one"))).unwrap();
        answered.lock().unwrap().push(one.clone());

        let first = burst(&core, "a", &started, Some(&held), &answered);
        let c = crash
            .lock()
            .unwrap()
            .take()
            .expect("crashed at the third record");
        let (ok, failed): (Vec<_>, Vec<_>) = first.iter().partition(|r| r.is_ok());
        assert!(!ok.is_empty(), "the held record's changes were answered");
        assert!(failed.iter().all(|r| matches!(r, Err(Error::Io { .. }))));
        assert!(
            c.answered.len() <= 1 + ok.len(),
            "answered before the crash: {:?}",
            c.answered
        );

        // The process killed: the record reached the page cache and survives.
        let kept = load(&c.snapshot, &c.journal);
        // Power lost before the flush: the record is gone, or its first half is there.
        let mut lost = c.journal.clone();
        lost[c.record.clone()].fill(0);
        let lost = load(&c.snapshot, &lost);
        let mut half = c.journal.clone();
        half[c.record.start + c.record.len() / 2..c.record.end].fill(0);
        let half = load(&c.snapshot, &half);
        assert_eq!(
            lost.persisted(),
            half.persisted(),
            "a torn record is dropped"
        );
        let shared = kept.allocations().count() - lost.allocations().count();
        assert!(
            (2..=failed.len()).contains(&shared),
            "the unflushed record held {shared} changes ({} failed)",
            failed.len()
        );
        for s in [&kept, &lost, &half] {
            for a in &c.answered {
                assert_eq!(s.get(&a.key), Some(a), "answered {} is on disk", a.address);
            }
        }

        // The failed changes were undone in memory; the runtime's retries get addresses no
        // one holds, and the next burst shares flushes.
        assert_eq!(core.counts().1.assigned, 1 + ok.len());
        let flushes = core.metrics.checkpoint_flushes.get();
        let changes = core.metrics.checkpoint_changes.get();
        started.store(0, Ordering::SeqCst);
        let second = burst(&core, "a", &started, None, &answered);
        assert!(second.iter().all(Result::is_ok));
        let flushes = core.metrics.checkpoint_flushes.get() - flushes;
        let changes = core.metrics.checkpoint_changes.get() - changes;
        assert_eq!(changes, N as u64);
        assert!(
            flushes <= 3,
            "{N} concurrent changes took {flushes} flushes"
        );
        drop(core);
        let on_disk = State::restore(30_000, checkpoint::load(&path).unwrap().unwrap()).unwrap();
        assert_eq!(on_disk.allocations().count(), 1 + N);
        for a in answered.lock().unwrap().iter() {
            assert_eq!(on_disk.get(&a.key).map(|d| d.address), Some(a.address));
        }
    }
}
