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
}

/// Shared between the gRPC service, the sync loop and the introspection endpoint.
#[derive(Debug, Clone)]
pub struct Core {
    inner: Arc<Mutex<Inner>>,
    pub metrics: Arc<Metrics>,
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
            })),
            metrics,
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
        if !self.lock().synced {
            return Err(Error::NotSynced);
        }
        let r = self.change(|s| s.allocate(req, now_ms()));
        if matches!(r, Err(Error::PoolExhausted { .. })) {
            self.metrics.no_address.inc();
        }
        r
    }

    /// Frees by key, or for a pod whose address was rebuilt from the API, by pod.
    pub fn release(&self, key: &AllocKey, pod: Option<(&str, &str)>) -> Result<Option<Allocation>> {
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
        self.change(|s| Ok(s.gc(valid, now_ms())))
    }

    pub fn counts(&self) -> (bool, Counts) {
        let g = self.lock();
        (g.synced, g.state.counts(now_ms()))
    }

    /// Takes a new agreement, the allocator's releases and the warm target; returns the
    /// offers and the in-use count the NodeNetwork spec should now carry.
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
}
