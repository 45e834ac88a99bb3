//! The daemon's state behind one lock: every change is checkpointed before it is answered,
//! and undone if the checkpoint cannot be written (an address handed out but not on disk
//! could be handed out again after a crash).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use ipnet::Ipv4Net;

use crate::checkpoint::Writer;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::pool::Agreement;
use crate::state::{AllocKey, AllocRequest, Allocation, Counts, Offer, State};

/// How long a refused allocation counts as demand. A runtime asks again within seconds while
/// the pod waits; a request not repeated for this long (the pod is gone) stops counting.
pub const WAITING_TTL_MS: u64 = 60_000;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Debug)]
pub struct Inner {
    pub state: State,
    writer: Writer,
    /// Both sources have been read at least once.
    pub synced: bool,
    pub agreement: Agreement,
    /// Allocations refused for want of an address (or before the pool was synced), with the
    /// time last asked: pods waiting, reported in `spec.inUse` so the allocator grows the
    /// pool for them at once instead of one warm target at a time.
    waiting: BTreeMap<AllocKey, u64>,
}

/// Shared between the gRPC service, the sync loop and the introspection endpoint.
#[derive(Debug, Clone)]
pub struct Core {
    inner: Arc<Mutex<Inner>>,
    pub metrics: Arc<Metrics>,
    /// Woken when a pod starts waiting: the sync loop reports the demand without waiting for
    /// its tick.
    demand: Arc<tokio::sync::Notify>,
}

impl Core {
    pub fn new(state: State, mut writer: Writer, metrics: Arc<Metrics>) -> Result<Self> {
        writer.write(state.persisted())?;
        Ok(Core {
            inner: Arc::new(Mutex::new(Inner {
                state,
                writer,
                synced: false,
                agreement: Agreement::default(),
                waiting: BTreeMap::new(),
            })),
            metrics,
            demand: Arc::new(tokio::sync::Notify::new()),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the state half-changed in a way the
        // checkpoint does not also show: every change is written before the lock is let go.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a change and writes the checkpoint. If the write fails, the state goes back to
    /// what it was before the change (which is what the checkpoint on disk holds: a failed
    /// write leaves at most a torn journal line, dropped on load), so nothing is answered
    /// that a restart would not know.
    fn change<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let mut g = self.lock();
        let now = now_ms();
        g.state.prune_cooled(now);
        let out = f(&mut g.state)?;
        let persisted = g.state.persisted();
        if let Err(e) = g.writer.write(persisted) {
            let blocks = g.state.blocks().clone();
            let cooldown = g.state.cooldown_ms();
            match g.writer.written().map(|p| State::restore(cooldown, p)) {
                Some(Ok(mut s)) => {
                    s.set_pool(blocks);
                    g.state = s;
                }
                Some(Err(error)) => tracing::error!(%error, "Written state is inconsistent"),
                None => tracing::error!("Nothing written yet; keeping memory state"),
            }
            return Err(e);
        }
        self.metrics
            .observe(&g.state.counts(now_ms()), g.agreement.interfaces.len());
        Ok(out)
    }

    pub fn allocate(&self, req: &AllocRequest) -> Result<Allocation> {
        let r = if self.lock().synced {
            self.change(|s| s.allocate(req, now_ms()))
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

    /// Frees by key, or for a pod whose address was rebuilt from the API, by pod.
    pub fn release(&self, key: &AllocKey, pod: Option<(&str, &str)>) -> Result<Option<Allocation>> {
        // A DEL after a refused ADD: the pod no longer waits.
        self.lock().waiting.remove(key);
        self.change(|s| {
            let now = now_ms();
            Ok(s.release(key, now)
                .or_else(|| pod.and_then(|(ns, n)| s.release_recovered(ns, n, now))))
        })
    }

    pub fn check(&self, key: &AllocKey) -> Option<Allocation> {
        self.lock().state.get(key).cloned()
    }

    pub fn gc(&self, valid: &BTreeSet<AllocKey>) -> Result<Vec<Allocation>> {
        self.lock().waiting.retain(|k, _| valid.contains(k));
        self.change(|s| Ok(s.gc(valid, now_ms())))
    }

    pub fn counts(&self) -> (bool, Counts) {
        let g = self.lock();
        (g.synced, g.state.counts(now_ms()))
    }

    /// Takes a new agreement, the allocator's releases and the warm target; returns the
    /// offers and the in-use count the NodeNetwork spec should now carry: addresses held
    /// plus pods waiting for one.
    pub fn sync(
        &self,
        agreement: Agreement,
        released: &[Ipv4Net],
        keep_free: Option<usize>,
    ) -> Result<(Vec<Offer>, u32)> {
        let blocks: BTreeMap<Ipv4Net, String> = agreement.blocks();
        let out = self.change(|s| {
            s.set_pool(blocks);
            s.apply_released(released);
            if let Some(k) = keep_free {
                s.offer_excess(k, now_ms());
            }
            Ok((
                s.offered().cloned().collect::<Vec<_>>(),
                s.allocations().count() as u32,
            ))
        })?;
        let out = (out.0, out.1 + self.waiting() as u32);
        let mut g = self.lock();
        self.metrics
            .observe(&g.state.counts(now_ms()), agreement.interfaces.len());
        g.agreement = agreement;
        g.synced = true;
        Ok(out)
    }

    pub fn forget_recovered_except(
        &self,
        running: &BTreeSet<(String, String)>,
    ) -> Result<Vec<Allocation>> {
        self.change(|s| Ok(s.forget_recovered_except(running, now_ms())))
    }

    pub fn has_recovered(&self) -> bool {
        self.lock()
            .state
            .allocations()
            .any(|a| a.key.is_recovered())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint;
    use crate::pool::PoolInterface;
    use crate::state::AllocKey;
    use futures::FutureExt;

    fn req(c: &str) -> AllocRequest {
        AllocRequest {
            key: AllocKey::new(c, "eth0"),
            pod_namespace: "ns".into(),
            pod_name: c.into(),
        }
    }

    #[test]
    fn an_allocation_that_cannot_be_written_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        let core = Core::new(
            State::new(30_000),
            Writer::new(&path).unwrap(),
            Arc::new(Metrics::default()),
        )
        .unwrap();
        let agreement = Agreement {
            interfaces: vec![PoolInterface {
                id: "eni-a".into(),
                blocks: vec!["10.0.0.0/30".parse().unwrap()],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(matches!(
            core.allocate(&req("early")),
            Err(Error::NotSynced)
        ));
        core.sync(agreement, &[], None).unwrap();
        let first = core.allocate(&req("a")).unwrap();

        // The journal's path is taken: the append fails.
        let journal = checkpoint::journal_path(&path);
        std::fs::remove_file(&journal).unwrap();
        std::fs::create_dir(&journal).unwrap();
        assert!(matches!(core.allocate(&req("b")), Err(Error::Io { .. })));
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
        assert!(matches!(core.allocate(&req("b")), Err(Error::Io { .. })));
        assert_eq!(core.counts().1.assigned, 1);
        std::fs::remove_dir(dir.path().join("ipam.json.tmp")).unwrap();
        let b = core.allocate(&req("b")).unwrap();
        assert_ne!(b.address, first.address);
        let on_disk = checkpoint::load(&path).unwrap().unwrap();
        assert_eq!(on_disk.allocations.len(), 2);
    }

    #[test]
    fn pods_refused_an_address_count_in_use_until_served_or_gone() {
        let dir = tempfile::tempdir().unwrap();
        let core = Core::new(
            State::new(30_000),
            Writer::new(dir.path().join("ipam.json")).unwrap(),
            Arc::new(Metrics::default()),
        )
        .unwrap();
        let pool = |cidr: &str| Agreement {
            interfaces: vec![PoolInterface {
                id: "eni-a".into(),
                blocks: vec![cidr.parse().unwrap()],
                ..Default::default()
            }],
            ..Default::default()
        };
        // Before the first sync: waiting, and the sync loop is woken.
        assert!(matches!(
            core.allocate(&req("early")),
            Err(Error::NotSynced)
        ));
        assert!(core.demand_changed().now_or_never().is_some());
        // Two addresses; four pods ask.
        assert_eq!(core.sync(pool("10.0.0.0/31"), &[], None).unwrap().1, 1);
        for c in ["early", "b", "c", "d"] {
            let _ = core.allocate(&req(c));
        }
        assert_eq!(core.counts().1.assigned, 2);
        assert_eq!(core.waiting(), 2);
        assert_eq!(
            core.sync(pool("10.0.0.0/31"), &[], None).unwrap().1,
            4,
            "2 held + 2 waiting"
        );
        // Asking again does not count twice; a DEL after the refused ADD stops the wait.
        let _ = core.allocate(&req("c"));
        core.release(&AllocKey::new("d", "eth0"), None).unwrap();
        assert_eq!(core.sync(pool("10.0.0.0/31"), &[], None).unwrap().1, 3);
        // The pool grows: the waiting pod is served and counted once.
        core.sync(pool("10.0.0.0/30"), &[], None).unwrap();
        core.allocate(&req("c")).unwrap();
        assert_eq!(core.waiting(), 0);
        assert_eq!(core.sync(pool("10.0.0.0/30"), &[], None).unwrap().1, 3);
    }
}
