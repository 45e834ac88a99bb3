//! `cloudnet-ipamd-bench`: the latency of the CNI ADD's ipamd step from a warm pool —
//! `Client::allocate` over the unix socket, the checkpoint written and fsync'd before the
//! answer — in a steady state of pod churn (each new pod past `--live` deletes the oldest).
//! With `--clients N`, N clients call at once and concurrent changes share a flush (group
//! commit). Prints p50/p99/max, the checkpoint's changes per flush, the directory's file
//! system (tmpfs or a disk) and the bare `fdatasync` latency there; exits non-zero on any
//! failed call, an address held twice, or a lost allocation (a live pod's address missing
//! from ipamd's state or from the checkpoint read back from the directory after the run).
//!
//! Each client runs as the CNI plugin does, on a current-thread runtime of its own thread;
//! the server on a runtime of its own (`--server-threads`). Prints where the calls' time
//! went ([`cloudnet_ipamd::timing`]): the transport (the client's call less the server's
//! handler: encoding, the socket, the wake-ups of both sides), the state's lock and change,
//! the wait for the checkpoint's leader, its write and flush, and the wake-up after it; and
//! the same split of the slowest 1 % of the calls.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use cloudnet_crds::node_network::{BlockStatus, InterfaceStatus, NodeNetworkStatus};
use cloudnet_ipamd::checkpoint::{self, Writer};
use cloudnet_ipamd::core::{Core, now_ms};
use cloudnet_ipamd::metrics::Metrics;
use cloudnet_ipamd::pool::{MetadataInterface, agree};
use cloudnet_ipamd::recovery::recover;
use cloudnet_ipamd::timing::{ChangeTiming, Trace};
use cloudnet_ipamd::{Client, PodRef, rpc};
use ipnet::Ipv4Net;

#[derive(Parser, Debug)]
#[command(about = "Latency of ipamd's Allocate from a warm pool, checkpoint fsync included")]
struct Args {
    /// Allocate calls to time.
    #[arg(long, default_value_t = 10_000)]
    calls: usize,
    /// Pods alive on the node at once (a busy node's max-pods).
    #[arg(long, default_value_t = 110)]
    live: usize,
    /// The warm pool: one block the node already holds, larger than the calls so no
    /// address is reused within its cooldown.
    #[arg(long, default_value = "10.128.0.0/18")]
    pool: Ipv4Net,
    /// IP_COOLDOWN_PERIOD for the run, in milliseconds. The churn here is far faster than a
    /// node's, so the default keeps the cooling set near a real node's size.
    #[arg(long, default_value_t = 1_000)]
    cooldown_ms: u64,
    /// Concurrent clients, each on its own connection (a node's runtime starting several
    /// pods at once); the calls and the live pods are split between them.
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Bare `pwrite` + `fdatasync` samples timed after the run in the same directory: the
    /// disk's floor under one durable change (0: none).
    #[arg(long, default_value_t = 2_000)]
    fsync_samples: usize,
    /// Where the socket and the checkpoint go (a temporary directory under it); ipamd's
    /// default checkpoint is under /run (tmpfs on a node).
    #[arg(long, default_value = "/run/cloudnet")]
    dir: PathBuf,
    /// The gRPC server's runtime, apart from the clients': N a multi-thread runtime of N
    /// workers (the daemon's, one per core: 2 on the build machine), 0 a current-thread one.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// A runtime of `threads` workers, or a current-thread one for 0.
fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

/// What one client saw: its calls in order (Allocate or not, how long), and the pods it
/// still holds.
struct ClientRun {
    calls: Vec<(bool, Duration)>,
    live: VecDeque<(String, Ipv4Addr, PodRef)>,
}

/// One client's share of the run, as the CNI plugin makes its calls: a current-thread
/// runtime of its own on its own thread (the plugin is a process per ADD).
fn client_run(
    socket: PathBuf,
    c: usize,
    calls: usize,
    live_max: usize,
    holders: Arc<Mutex<BTreeMap<Ipv4Addr, String>>>,
    start: Arc<std::sync::Barrier>,
) -> anyhow::Result<ClientRun> {
    runtime(0)?.block_on(async move {
        let mut client = Client::connect(&socket, Duration::from_secs(2)).await?;
        start.wait();
        let mut live: VecDeque<(String, Ipv4Addr, PodRef)> = VecDeque::new();
        let mut out = Vec::with_capacity(calls * 2);
        for i in 0..calls {
            let container = format!("bench-{c:03}-{i:08}");
            let pod = PodRef::new("bench", &container, &container);
            let t = Instant::now();
            let got = client
                .allocate_pod(&container, "eth0", &pod)
                .await
                .with_context(|| format!("allocate {container}"))?;
            out.push((true, t.elapsed()));
            let addr: Ipv4Addr = got.address.parse().context("address")?;
            if let Some(other) = holders.lock().unwrap().insert(addr, container.clone()) {
                bail!("{addr} handed to {container} while {other} holds it");
            }
            live.push_back((container, addr, pod));
            if live.len() > live_max
                && let Some((old, old_addr, old_pod)) = live.pop_front()
            {
                // Forgotten before the call: once freed, the address may go to another
                // client as soon as it cools.
                holders.lock().unwrap().remove(&old_addr);
                let t = Instant::now();
                let r = client
                    .release_pod(&old, "eth0", &old_pod)
                    .await
                    .with_context(|| format!("release {old}"))?;
                out.push((false, t.elapsed()));
                if r.map(|r| r.address) != Some(old_addr.to_string()) {
                    bail!("release of {old} did not free {old_addr}");
                }
            }
        }
        anyhow::Ok(ClientRun { calls: out, live })
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let dir = tempfile_dir(&a.dir)?;
    let socket = dir.join("run/ipamd.sock");
    let checkpoint = dir.join("lib/ipam.json");

    let startup = recover(&checkpoint, a.cooldown_ms, &[], now_ms())?;
    let trace = Arc::new(Trace::default());
    let core = Core::new(
        startup.state,
        Writer::new(&checkpoint)?,
        Arc::new(Metrics::default()),
    )?
    .traced(trace.clone());
    let status = NodeNetworkStatus {
        interfaces: vec![InterfaceStatus {
            id: "eni-bench".into(),
            index: 1,
            subnet_id: "subnet-bench".into(),
            blocks: vec![BlockStatus {
                cidr: a.pool.into(),
                kind: "prefix".into(),
                primary: false,
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let md = MetadataInterface {
        mac: "02:00:00:00:00:01".into(),
        interface_id: "eni-bench".into(),
        device_number: Some(1),
        local_ipv4s: vec![],
        ipv4_prefixes: vec![a.pool],
    };
    core.sync(agree(&status, &[md]), &[], None).await?;
    trace.take();
    let listener = rpc::bind(&socket).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let rt = runtime(a.server_threads)?;
    let listener = listener.into_std()?;
    let listener = {
        let _in = rt.enter();
        tokio::net::UnixListener::from_std(listener)?
    };
    let server = std::thread::spawn({
        let core = core.clone();
        move || rt.block_on(rpc::serve(listener, core, shutdown))
    });

    // Each client keeps its share of the live pods: a new pod past it releases its oldest.
    let per_client_live = a.live.div_ceil(a.clients).max(1);
    let per_client_calls = a.calls.div_ceil(a.clients);
    let holders: Arc<Mutex<BTreeMap<Ipv4Addr, String>>> = Arc::default();
    let start = Arc::new(std::sync::Barrier::new(a.clients + 1));
    let clients: Vec<_> = (0..a.clients)
        .map(|c| {
            let (socket, holders, start) = (socket.clone(), holders.clone(), start.clone());
            std::thread::spawn(move || {
                client_run(socket, c, per_client_calls, per_client_live, holders, start)
            })
        })
        .collect();
    start.wait();
    let started = Instant::now();
    let (mut alloc, mut release, mut in_order) = (Vec::new(), Vec::new(), Vec::new());
    let mut live: BTreeMap<String, Ipv4Addr> = BTreeMap::new();
    for c in clients {
        let run = c
            .join()
            .map_err(|_| anyhow::anyhow!("client thread panicked"))??;
        for &(is_alloc, d) in &run.calls {
            if is_alloc { &mut alloc } else { &mut release }.push(d);
        }
        in_order.extend(run.calls);
        live.extend(run.live.into_iter().map(|(c, addr, _)| (c, addr)));
    }
    let wall = started.elapsed();
    let _ = stop.send(());
    server
        .join()
        .map_err(|_| anyhow::anyhow!("server thread panicked"))??;
    let (changes_timed, handlers) = trace.take();
    let flushes = core.metrics.checkpoint_flushes.get();
    let changes = core.metrics.checkpoint_changes.get();
    // Every live pod's address is held for it, in memory and in the checkpoint on disk
    // (read back as a restarted ipamd would), and nothing else is.
    let in_memory: BTreeMap<String, Ipv4Addr> = core
        .lock()
        .state
        .allocations()
        .map(|a| (a.key.container_id.clone(), a.address))
        .collect();
    drop(core);
    let size = std::fs::metadata(&checkpoint).map(|m| m.len()).unwrap_or(0);
    let on_disk: BTreeMap<String, Ipv4Addr> = match checkpoint::load(&checkpoint)? {
        Ok(p) => p
            .allocations
            .into_iter()
            .map(|a| (a.key.container_id, a.address))
            .collect(),
        Err(problem) => bail!("the checkpoint does not load after the run: {problem}"),
    };
    for (what, held) in [("ipamd's state", &in_memory), ("the checkpoint", &on_disk)] {
        if *held != live {
            let lost = live.iter().filter(|(c, a)| held.get(*c) != Some(a)).count();
            let extra = held.keys().filter(|c| !live.contains_key(*c)).count();
            bail!(
                "{what} does not hold the live pods' addresses: {lost} lost or changed, {extra} not released ({} live)",
                live.len()
            );
        }
    }
    let fs = filesystem(&dir);
    let fsync = bare_fdatasync(&dir, a.fsync_samples)?;
    let _ = std::fs::remove_dir_all(&dir);

    alloc.sort();
    release.sort();
    println!(
        "calls={} clients={} live={} pool={} cooldown_ms={} wall_s={:.2} dir={} fs={fs}",
        alloc.len(),
        a.clients,
        a.live,
        a.pool,
        a.cooldown_ms,
        wall.as_secs_f64(),
        a.dir.display(),
    );
    println!(
        "allocate_ms p50={} p99={} max={}",
        ms(pct(&alloc, 0.50)),
        ms(pct(&alloc, 0.99)),
        ms(pct(&alloc, 1.0))
    );
    println!(
        "release_ms  p50={} p99={} max={}",
        ms(pct(&release, 0.50)),
        ms(pct(&release, 0.99)),
        ms(pct(&release, 1.0))
    );
    println!(
        "checkpoint flushes={flushes} changes={changes} changes_per_flush={:.2}",
        changes as f64 / flushes.max(1) as f64
    );
    if !fsync.is_empty() {
        println!(
            "bare_fdatasync_ms p50={} p99={} max={} (one {}-byte pwrite + fdatasync into a preallocated file, {} samples, same directory, after the run)",
            ms(pct(&fsync, 0.50)),
            ms(pct(&fsync, 0.99)),
            ms(pct(&fsync, 1.0)),
            RECORD_BYTES,
            fsync.len()
        );
    }
    println!(
        "checkpoint_bytes={size} live_checked={} (in ipamd's state and in the checkpoint read back)",
        live.len()
    );
    phases(&in_order, &handlers, &changes_timed);
    println!(
        "target p99<2ms: {}",
        if pct(&alloc, 0.99) < Duration::from_millis(2) {
            "met"
        } else {
            "missed"
        }
    );
    Ok(())
}

/// Where the calls' time went: each phase's p50/p99/max over every call, and with one
/// client (calls, handlers and changes then line up one to one, in order) the phases of the
/// slowest 1 % of calls, summed over them and as a share of their time.
fn phases(calls: &[(bool, Duration)], handlers: &[Duration], changes: &[ChangeTiming]) {
    let show = |name: &str, mut v: Vec<Duration>| {
        v.sort();
        println!(
            "phase {name:<9} p50={} p99={} max={}",
            ms(pct(&v, 0.50)),
            ms(pct(&v, 0.99)),
            ms(pct(&v, 1.0))
        );
    };
    let aligned = calls.len() == handlers.len() && calls.len() == changes.len();
    type Phase = (
        &'static str,
        fn(Duration, Duration, &ChangeTiming) -> Duration,
    );
    let split: [Phase; 7] = [
        ("call", |c, _, _| c),
        ("transport", |c, h, _| c.saturating_sub(h)),
        ("handler", |_, h, ch| h.saturating_sub(ch.total())),
        ("apply", |_, _, ch| ch.apply),
        ("queued", |_, _, ch| ch.queued),
        ("write", |_, _, ch| ch.write),
        ("wake", |_, _, ch| ch.wake),
    ];
    if !aligned {
        println!(
            "phases: {} calls, {} handlers, {} changes (several clients: per phase only)",
            calls.len(),
            handlers.len(),
            changes.len()
        );
        show("handler", handlers.to_vec());
        show("change", changes.iter().map(ChangeTiming::total).collect());
        for (name, f) in &split[3..] {
            show(
                name,
                changes
                    .iter()
                    .map(|ch| f(Duration::ZERO, Duration::ZERO, ch))
                    .collect(),
            );
        }
        return;
    }
    let rows: Vec<(Duration, Duration, &ChangeTiming)> = calls
        .iter()
        .zip(handlers)
        .zip(changes)
        .map(|((c, h), ch)| (c.1, *h, ch))
        .collect();
    for (name, f) in &split {
        show(name, rows.iter().map(|(c, h, ch)| f(*c, *h, ch)).collect());
    }
    let mut slow = rows.clone();
    slow.sort_by_key(|r| std::cmp::Reverse(r.0));
    slow.truncate(rows.len().div_ceil(100));
    let total: Duration = slow.iter().map(|r| r.0).sum();
    let parts: Vec<String> = split[1..]
        .iter()
        .map(|(name, f)| {
            let sum: Duration = slow.iter().map(|(c, h, ch)| f(*c, *h, ch)).sum();
            format!(
                "{name}={:.0}%",
                100.0 * sum.as_secs_f64() / total.as_secs_f64().max(1e-9)
            )
        })
        .collect();
    println!(
        "slowest {} calls (>= {} ms): {}",
        slow.len(),
        ms(slow.last().map_or(Duration::ZERO, |r| r.0)),
        parts.join(" ")
    );
}

/// About the size of one allocation's journal record.
const RECORD_BYTES: usize = 320;

/// The floor under any durable change on this disk: `samples` times, one record-sized
/// `pwrite` into a file written whole beforehand, then `fdatasync`, as the journal does.
fn bare_fdatasync(dir: &std::path::Path, samples: usize) -> anyhow::Result<Vec<Duration>> {
    use std::os::unix::fs::FileExt;
    if samples == 0 {
        return Ok(Vec::new());
    }
    let path = dir.join("fdatasync-probe");
    std::fs::write(&path, vec![0u8; RECORD_BYTES * samples])?;
    let f = std::fs::OpenOptions::new().write(true).open(&path)?;
    f.sync_all()?;
    let line = vec![b'x'; RECORD_BYTES];
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples {
        let t = Instant::now();
        f.write_all_at(&line, (i * RECORD_BYTES) as u64)?;
        f.sync_data()?;
        out.push(t.elapsed());
    }
    out.sort();
    std::fs::remove_file(&path)?;
    Ok(out)
}

/// The file system type of the mount holding `dir` (`tmpfs`, `ext4`, ...), from
/// /proc/self/mounts.
fn filesystem(dir: &std::path::Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, at, fs) = (f.next()?, f.next()?, f.next()?);
            dir.starts_with(at).then(|| (at.len(), fs.to_string()))
        })
        .max()
        .map_or_else(|| "unknown".into(), |(_, fs)| fs)
}

/// A fresh directory under `base`, removed at the end of the run.
fn tempfile_dir(base: &std::path::Path) -> anyhow::Result<PathBuf> {
    let d = base.join(format!("cloudnet-ipamd-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).with_context(|| format!("create {}", d.display()))?;
    Ok(d)
}
