//! The core's tests: allocation against the checkpoint on disk, waiting allocates, and the
//! group commit of journal records.

use super::*;
use crate::checkpoint;
use crate::pool::PoolInterface;
use crate::state::{AllocKey, PodRef};
use futures::FutureExt;
use futures::executor::block_on;

fn req(c: &str) -> AllocRequest {
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
fn pool(cidrs: &[&str]) -> Agreement {
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

mod group_commit {
    use std::ops::Range;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    use futures::executor::block_on;

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
