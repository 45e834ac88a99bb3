//! `cloudnet-ipamd` put together: recover, bind the socket, serve gRPC and introspection,
//! and keep the pool in sync with the `NodeNetwork` and the instance metadata.
//!
//! ```text
//!  start: pods on this node (API) + checkpoint --recover--> State
//!  loop:  NodeNetwork watch event | tick --> metadata --> agree --> State.sync
//!                                           --> spec.inUse / spec.release (patch if changed)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cloudnet_crds::node_network::NodeNetwork;
use futures::{FutureExt, StreamExt};
use ipnet::{IpNet, Ipv4Net};
use kube::Api;
use kube::runtime::watcher;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::Instrument;

use crate::checkpoint::Writer;
use crate::core::{Core, now_ms};
use crate::error::{Error, Result};
use crate::metadata::MetadataSource;
use crate::metrics::{DisagreementLabels, Metrics};
use crate::pool::{Agreement, agree};
use crate::recovery::recover;
use crate::report::DisagreementReporter;
use crate::{http, node, orphans, rpc};

/// How the daemon runs. Defaults match the DaemonSet.
#[derive(Debug, Clone)]
pub struct Config {
    pub node_name: String,
    /// The gRPC socket; its directory is made 0700.
    pub socket: PathBuf,
    pub checkpoint: PathBuf,
    /// Introspection, metrics and health; keep it on loopback.
    pub introspection: SocketAddr,
    /// `IP_COOLDOWN_PERIOD`.
    pub cooldown: Duration,
    /// How often both sources are read when nothing changes.
    pub sync_interval: Duration,
    /// How long a block may be in the status and not yet in the metadata before it counts
    /// as a disagreement.
    pub lag_allowance: Duration,
    /// `WARM_IP_TARGET` when the NodeNetwork's pool policy sets none; unset: no offers.
    pub warm_ip_target: Option<u32>,
    /// How old an allocation must be before its pod's absence from the API frees it (a pod
    /// is in the API before the runtime's ADD; the grace covers a watch that lags the ADD).
    pub orphan_grace: Duration,
}

impl Config {
    pub fn new(node_name: impl Into<String>) -> Self {
        Config {
            node_name: node_name.into(),
            socket: PathBuf::from("/run/cloudnet/ipamd/ipamd.sock"),
            // tmpfs, as the VPC CNI's /var/run/aws-node: it outlives an ipamd restart, not a
            // reboot, and a reboot ends every pod's sandbox anyway (see the README).
            checkpoint: PathBuf::from("/run/cloudnet/checkpoint/ipam.json"),
            introspection: SocketAddr::from(([127, 0, 0, 1], 61679)),
            cooldown: Duration::from_secs(30),
            sync_interval: Duration::from_secs(5),
            lag_allowance: Duration::from_secs(60),
            warm_ip_target: None,
            orphan_grace: Duration::from_secs(10),
        }
    }
}

/// Tracks how long each disagreement has lasted, so lag is waited out and only what stays
/// is reported.
#[derive(Debug, Default)]
pub struct LagTracker {
    first_seen: BTreeMap<(&'static str, String, Ipv4Net), u64>,
}

impl LagTracker {
    /// Returns the disagreements older than `allowance_ms`, by side.
    pub fn update(
        &mut self,
        a: &Agreement,
        now_ms: u64,
        allowance_ms: u64,
    ) -> Vec<(&'static str, String, Ipv4Net)> {
        let current: BTreeSet<(&'static str, String, Ipv4Net)> = a
            .status_only
            .iter()
            .map(|(i, b)| ("status_only", i.clone(), *b))
            .chain(
                a.metadata_only
                    .iter()
                    .map(|(i, b)| ("metadata_only", i.clone(), *b)),
            )
            .collect();
        self.first_seen.retain(|k, _| current.contains(k));
        for k in &current {
            self.first_seen.entry(k.clone()).or_insert(now_ms);
        }
        self.first_seen
            .iter()
            .filter(|(_, t)| now_ms.saturating_sub(**t) >= allowance_ms)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// A running daemon's handles, for tests and the binary.
pub struct Running {
    pub core: Core,
    pub introspection: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    grpc: tokio::task::JoinHandle<Result<()>>,
}

impl Running {
    /// Stops serving and waits for the tasks.
    pub async fn stop(self) -> Result<()> {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            t.abort();
        }
        self.grpc.await.map_err(|_| Error::Task("gRPC"))?
    }

    /// Waits until the gRPC server ends (on shutdown or error).
    pub async fn wait(self) -> Result<()> {
        let r = self.grpc.await.map_err(|_| Error::Task("gRPC"));
        for t in self.tasks {
            t.abort();
        }
        r?
    }

    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Recovers, binds and starts serving; returns once the socket is bound.
pub async fn start<M: MetadataSource>(
    cfg: Config,
    client: kube::Client,
    metadata: M,
) -> Result<Running> {
    let pods = node::pods_on_node(&client, &cfg.node_name).await?;
    let cooldown_ms = cfg.cooldown.as_millis() as u64;
    let startup = recover(&cfg.checkpoint, cooldown_ms, &pods, now_ms())?;
    tracing::info!(
        node = %cfg.node_name,
        pods = pods.len(),
        adopted = startup.adopted,
        migrated = startup.migration.named,
        migrated_freed = startup.migration.freed.len(),
        allocations = startup.state.allocations().count(),
        "Recovered state"
    );
    let metrics = Arc::new(Metrics::default());
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let core = Core::new(startup.state, Writer::new(&cfg.checkpoint)?, metrics)?;

    let listener = rpc::bind(&cfg.socket).await?;
    let http_listener = tokio::net::TcpListener::bind(cfg.introspection)
        .await
        .map_err(|e| Error::io("bind introspection", cfg.introspection.to_string(), e))?;
    let introspection = http_listener
        .local_addr()
        .map_err(|e| Error::io("bind introspection", cfg.introspection.to_string(), e))?;
    let (tx, rx) = watch::channel(false);

    let mut tasks = Vec::new();
    let app = http::router(core.clone(), Arc::new(registry));
    tasks.push(tokio::spawn(
        async move {
            if let Err(error) = axum::serve(http_listener, app).await {
                tracing::error!(%error, "Introspection server ended");
            }
        }
        .instrument(tracing::info_span!("introspection")),
    ));
    tasks.push(tokio::spawn(
        orphans::run(
            orphans::Settings {
                node_name: cfg.node_name.clone(),
                interval: cfg.sync_interval,
                grace: cfg.orphan_grace,
            },
            client.clone(),
            core.clone(),
        )
        .instrument(tracing::info_span!("orphans", node = %cfg.node_name)),
    ));
    tasks.push(tokio::spawn(
        sync_loop(cfg.clone(), client, metadata, core.clone())
            .instrument(tracing::info_span!("sync", node = %cfg.node_name)),
    ));
    let mut stop = rx.clone();
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let grpc = tokio::spawn(
        rpc::serve(listener, core.clone(), shutdown).instrument(tracing::info_span!("grpc")),
    );
    Ok(Running {
        core,
        introspection,
        shutdown: tx,
        tasks,
        grpc,
    })
}

async fn sync_loop<M: MetadataSource>(cfg: Config, client: kube::Client, metadata: M, core: Core) {
    let api: Api<NodeNetwork> = Api::all(client.clone());
    let wc = watcher::Config::default().fields(&format!("metadata.name={}", cfg.node_name));
    let mut events = watcher::watcher(api, wc).boxed();
    let mut latest: Option<NodeNetwork> = None;
    let mut tracker = LagTracker::default();
    let mut reporter = DisagreementReporter::new(client.clone(), &cfg.node_name);
    let mut tick = tokio::time::interval(cfg.sync_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Blocks in the status and not yet in the metadata: read the metadata again soon (10 ms,
    // doubling up to the sync interval) rather than at the next tick; pods may be waiting.
    let mut lag = Backoff::new(LAG_FIRST_RETRY, cfg.sync_interval);
    loop {
        let retry_at = lag.next_at();
        tokio::select! {
            _ = tokio::time::sleep_until(retry_at.unwrap_or_else(far_future)), if retry_at.is_some() => {}
            ev = events.next() => match ev {
                Some(Ok(watcher::Event::Apply(nn) | watcher::Event::InitApply(nn))) => latest = Some(nn),
                Some(Ok(watcher::Event::Delete(_))) => latest = None,
                Some(Ok(watcher::Event::Init | watcher::Event::InitDone)) => continue,
                Some(Err(error)) => {
                    tracing::warn!(%error, "NodeNetwork watch failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                None => return,
            },
            _ = tick.tick() => {}
            // A pod is waiting for an address: report the demand now.
            _ = core.demand_changed() => {}
        }
        // Drain queued events so a burst of status updates costs one sync.
        while let Some(Some(Ok(ev))) = events.next().now_or_never() {
            match ev {
                watcher::Event::Apply(nn) | watcher::Event::InitApply(nn) => latest = Some(nn),
                watcher::Event::Delete(_) => latest = None,
                _ => {}
            }
        }
        let Some(nn) = latest.clone() else {
            tracing::debug!("No NodeNetwork for this node yet");
            continue;
        };
        match sync_once(
            &cfg,
            &client,
            &metadata,
            &core,
            &nn,
            &mut tracker,
            &mut reporter,
        )
        .await
        {
            Ok(pass) => {
                // Until the watch brings the patched object back, compare with what was written.
                if let (Some(spec), Some(l)) = (pass.written, latest.as_mut()) {
                    l.spec.in_use = spec.0;
                    l.spec.release = spec.1;
                }
                lag.set(pass.lagging);
            }
            Err(error) => {
                lag.set(false);
                tracing::warn!(error = %DisplayErr(&error), "Sync failed")
            }
        }
    }
}

/// The first re-read of the metadata while it lags the status.
const LAG_FIRST_RETRY: Duration = Duration::from_millis(10);

fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400)
}

/// When to read again while the metadata lags the status: soon, then less often.
#[derive(Debug)]
struct Backoff {
    first: Duration,
    max: Duration,
    next: Option<(tokio::time::Instant, Duration)>,
}

impl Backoff {
    fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            first,
            max,
            next: None,
        }
    }

    fn next_at(&self) -> Option<tokio::time::Instant> {
        self.next.map(|(at, _)| at)
    }

    /// After a pass: still lagging schedules the next read (the delay doubling), else none.
    fn set(&mut self, lagging: bool) {
        self.next = lagging.then(|| {
            let delay = self.next.map_or(self.first, |(_, d)| (d * 2).min(self.max));
            (tokio::time::Instant::now() + delay, delay)
        });
    }
}

struct DisplayErr<'a>(&'a Error);

impl std::fmt::Display for DisplayErr<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut s = std::error::Error::source(self.0);
        while let Some(e) = s {
            write!(f, ": {e}")?;
            s = e.source();
        }
        Ok(())
    }
}

type SpecWritten = (u32, Vec<cloudnet_crds::node_network::ReleaseOffer>);

/// What a pass did.
struct Pass {
    /// The spec fields written, if they changed.
    written: Option<SpecWritten>,
    /// Blocks the status lists that the metadata does not show yet.
    lagging: bool,
}

/// One pass: read the metadata, agree, update the pool, write the spec if it changed.
async fn sync_once<M: MetadataSource>(
    cfg: &Config,
    client: &kube::Client,
    metadata: &M,
    core: &Core,
    nn: &NodeNetwork,
    tracker: &mut LagTracker,
    reporter: &mut DisagreementReporter,
) -> Result<Pass> {
    let began = std::time::Instant::now();
    let md = metadata.interfaces().await?;
    core.metrics.phase("metadata", began.elapsed());
    let status = nn.status.clone().unwrap_or_default();
    let released: Vec<Ipv4Net> = status
        .released
        .iter()
        .filter_map(|n| match n {
            IpNet::V4(v) => Some(v.trunc()),
            IpNet::V6(_) => None,
        })
        .collect();
    let mut agreement = agree(&status, &md);
    // A block the allocator lists as released is gone from the cloud, whatever a stale
    // interface list still says.
    for i in &mut agreement.interfaces {
        i.blocks.retain(|b| !released.contains(b));
    }
    let reported = tracker.update(&agreement, now_ms(), cfg.lag_allowance.as_millis() as u64);
    for side in ["status_only", "metadata_only"] {
        let n = reported.iter().filter(|(s, _, _)| *s == side).count();
        core.metrics
            .disagreements
            .get_or_create(&DisagreementLabels { side })
            .set(n as i64);
    }
    for (side, iface, block) in &reported {
        tracing::warn!(side, interface = %iface, %block, "NodeNetwork status and instance metadata disagree");
    }
    // Reported, not resolved: the blocks stay out of the pool either way.
    if let Err(error) = reporter.report(nn, &reported).await {
        tracing::warn!(error = %DisplayErr(&error), "Disagreement not reported; trying again next pass");
    }
    let keep_free = nn
        .spec
        .pool
        .warm_ip_target
        .or(cfg.warm_ip_target)
        .map(|v| v as usize);
    let lagging = !agreement.status_only.is_empty();
    let pool_began = std::time::Instant::now();
    let (offers, in_use) = core.sync(agreement, &released, keep_free).await?;
    core.metrics.phase("pool", pool_began.elapsed());
    tracing::debug!(took = ?began.elapsed(), lagging, "Pool synced");

    if core.has_recovered() {
        let pods = node::pods_on_node(client, &cfg.node_name).await?;
        let running = pods.into_iter().map(|p| p.uid).collect();
        for a in core.forget_recovered_except(&running).await? {
            tracing::info!(pod = %format!("{}/{}", a.pod_namespace, a.pod_name), address = %a.address, "Pod gone; its recovered address cools down");
        }
    }

    if node::spec_matches(nn, in_use, &offers) {
        return Ok(Pass {
            written: None,
            lagging,
        });
    }
    let spec_began = std::time::Instant::now();
    node::write_spec(client, &cfg.node_name, in_use, &offers).await?;
    core.metrics.phase("spec", spec_began.elapsed());
    let release = offers
        .iter()
        .map(|o| cloudnet_crds::node_network::ReleaseOffer {
            interface: o.interface.clone(),
            block: o.block.into(),
        })
        .collect();
    Ok(Pass {
        written: Some((in_use, release)),
        lagging,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lagging_metadata_is_read_again_soon_then_less_often() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(50));
        assert_eq!(b.next_at(), None);
        let mut delays = Vec::new();
        for _ in 0..5 {
            let before = tokio::time::Instant::now();
            b.set(true);
            let (at, delay) = b.next.unwrap();
            assert!(at >= before + delay);
            delays.push(delay.as_millis());
        }
        assert_eq!(delays, vec![10, 20, 40, 50, 50]);
        b.set(false);
        assert_eq!(b.next_at(), None);
        b.set(true);
        assert_eq!(b.next.unwrap().1, Duration::from_millis(10));
    }

    #[test]
    fn lag_is_waited_out_and_lasting_disagreement_reported() {
        let mut t = LagTracker::default();
        let b: Ipv4Net = "10.0.0.5/32".parse().unwrap();
        let a = Agreement {
            status_only: vec![("eni-a".into(), b)],
            ..Default::default()
        };
        assert!(t.update(&a, 0, 1_000).is_empty());
        assert!(t.update(&a, 999, 1_000).is_empty());
        assert_eq!(
            t.update(&a, 1_000, 1_000),
            vec![("status_only", "eni-a".to_string(), b)]
        );
        // Resolved, then back: the clock starts again.
        assert!(t.update(&Agreement::default(), 1_500, 1_000).is_empty());
        assert!(t.update(&a, 2_000, 1_000).is_empty());
    }
}
