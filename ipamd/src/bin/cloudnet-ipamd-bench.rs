//! `cloudnet-ipamd-bench`: the latency of the CNI ADD's ipamd step from a warm pool —
//! `Client::allocate` over the unix socket, the checkpoint written and fsync'd before the
//! answer — in a steady state of pod churn (each new pod past `--live` deletes the oldest).
//! With `--clients N`, N clients call at once and concurrent changes share a flush (group
//! commit). Prints p50/p99/max, the checkpoint's changes per flush, the directory's file
//! system (tmpfs or a disk) and the bare `fdatasync` latency there; exits non-zero on any
//! failed call, an address held twice, or a lost allocation (a live pod's address missing
//! from ipamd's state or from the checkpoint read back from the directory after the run).

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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let dir = tempfile_dir(&a.dir)?;
    let socket = dir.join("run/ipamd.sock");
    let checkpoint = dir.join("lib/ipam.json");

    let startup = recover(&checkpoint, a.cooldown_ms, &[], now_ms())?;
    let core = Core::new(
        startup.state,
        Writer::new(&checkpoint)?,
        Arc::new(Metrics::default()),
    )?;
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
    let listener = rpc::bind(&socket).await?;
    let server = tokio::spawn(rpc::serve(listener, core.clone(), std::future::pending()));

    // Each client keeps its share of the live pods: a new pod past it releases its oldest.
    let per_client_live = a.live.div_ceil(a.clients).max(1);
    let per_client_calls = a.calls.div_ceil(a.clients);
    let holders: Arc<Mutex<BTreeMap<Ipv4Addr, String>>> = Arc::default();
    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..a.clients {
        let mut client = Client::connect(&socket, Duration::from_secs(2)).await?;
        let holders = holders.clone();
        clients.push(tokio::spawn(async move {
            let mut live: VecDeque<(String, Ipv4Addr, PodRef)> = VecDeque::new();
            let (mut alloc, mut release) = (Vec::new(), Vec::new());
            for i in 0..per_client_calls {
                let container = format!("bench-{c:03}-{i:08}");
                let pod = PodRef::new("bench", &container, &container);
                let t = Instant::now();
                let got = client
                    .allocate_pod(&container, "eth0", &pod)
                    .await
                    .with_context(|| format!("allocate {container}"))?;
                alloc.push(t.elapsed());
                let addr: Ipv4Addr = got.address.parse().context("address")?;
                if let Some(other) = holders.lock().unwrap().insert(addr, container.clone()) {
                    bail!("{addr} handed to {container} while {other} holds it");
                }
                live.push_back((container, addr, pod));
                if live.len() > per_client_live
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
                    release.push(t.elapsed());
                    if r.map(|r| r.address) != Some(old_addr.to_string()) {
                        bail!("release of {old} did not free {old_addr}");
                    }
                }
            }
            anyhow::Ok((alloc, release, live))
        }));
    }
    let (mut alloc, mut release) = (Vec::new(), Vec::new());
    let mut live: BTreeMap<String, Ipv4Addr> = BTreeMap::new();
    for c in clients {
        let (a, r, l) = c.await.context("client task")??;
        alloc.extend(a);
        release.extend(r);
        live.extend(l.into_iter().map(|(c, addr, _)| (c, addr)));
    }
    let wall = started.elapsed();
    server.abort();
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
