//! One scenario's world: the mock cloud and the embedded Kubernetes API in this process (the
//! API cannot run alone: it has no binary, and its simulated cluster components share its
//! store), `cloudnet-controller` and a `cloudnet-ipamd` per node as processes, and the
//! simulated kubelet asking the ipamds over their sockets.
//!
//! The cloud is a parameter ([`Cloud`]): the world, the Nodes, the controller's and each
//! ipamd's settings come from its module under [`crate::clouds`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use cloudnet_kubesim::sim::node::register_node;

pub use crate::clouds::Cloud;

use crate::addresses::IpamdSockets;
use crate::procs::{Binaries, Proc, free_port};

pub use crate::clouds::CLUSTER;
pub use crate::clouds::aws::CONTROLLER_KEY;
/// The controller's API identity.
pub const CONTROLLER_IDENTITY: &str = "system:serviceaccount:kube-system:cloudnet-controller";
/// Every ipamd's API identity.
pub const NODE_IDENTITY: &str = "system:serviceaccount:kube-system:cloudnet-node";
/// The operator's key: edits "by hand" (drift, foreign resources) are made with it.
pub const OPERATOR_KEY: &str = "AKIDOPERATOR";
/// The identity that applies the workloads.
pub const ADMIN: &str = "cloudnet-faults";
/// The controller replica's name in its Lease.
pub const REPLICA: &str = "cloudnet-controller-0";

/// How a run is shaped.
#[derive(Debug, Clone)]
pub struct Options {
    pub cloud: Cloud,
    /// Fault durations are the times this factor (1.0: the full form).
    pub scale: f64,
    /// The controller's Service/Ingress resync, which bounds how soon drift by hand is
    /// found.
    pub resync: Duration,
    /// How long a target may stay registered for a pod that is gone.
    pub target_grace: Duration,
    /// Where logs, sockets and checkpoints go (a fresh temporary directory when `None`).
    pub dir: Option<PathBuf>,
}

impl Options {
    /// The short form CI runs: fault durations a tenth of the issue's.
    pub fn short() -> Options {
        Options {
            cloud: Cloud::Aws,
            scale: 0.1,
            resync: Duration::from_secs(5),
            target_grace: Duration::from_secs(15),
            dir: None,
        }
    }

    /// A duration of the scenario, scaled.
    pub fn scaled(&self, full: Duration) -> Duration {
        full.mul_f64(self.scale).max(Duration::from_millis(500))
    }
}

/// One node: its instance, and where its ipamd keeps its socket and checkpoint.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    /// The instance's ID (AWS) or name (GCP, Azure): the last part of its providerID.
    pub instance: String,
    pub zone: String,
    pub socket: PathBuf,
    pub checkpoint: PathBuf,
    pub introspection: SocketAddr,
}

/// A running scenario world.
pub struct Env {
    pub options: Options,
    pub cloud: cloudnet_mockcloud::Handle,
    pub api: cloudnet_kubesim::server::Handle,
    /// The workloads' client (in system:masters).
    pub client: kube::Client,
    pub nodes: Vec<NodeInfo>,
    /// AWS: the region and the VPC (empty on the other clouds).
    pub region: String,
    pub vpc: String,
    /// The controller's settings for the cloud (its endpoint, location and credentials).
    cloud_env: Vec<(String, String)>,
    controller: Option<Proc>,
    ipamds: BTreeMap<String, Option<Proc>>,
    bins: Binaries,
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    _simulation: cloudnet_kubesim::sim::Simulation,
}

impl Env {
    /// Starts the world: the mock cloud from `world` under deploy/iam's policies, the API,
    /// the Nodes, the CRDs, the controller and every ipamd, and the simulation.
    pub async fn start(options: Options, mut world: cloudnet_mockcloud::World) -> Result<Env> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bins = Binaries::locate()?;
        let (tmp, dir) = match &options.dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                (None, d.clone())
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("cloudnet-faults-")
                    .tempdir()?;
                let d = t.path().to_path_buf();
                (Some(t), d)
            }
        };
        world.iam.get_or_insert_with(|| {
            cloudnet_mockcloud::iam::IamSpec::shipped(&[CONTROLLER_KEY], &[OPERATOR_KEY])
        });
        let elbv2 = world.elbv2.get_or_insert_with(Default::default);
        elbv2.health_check_delay_ms = 1_000;
        let cloud =
            cloudnet_mockcloud::MockCloud::start(cloudnet_mockcloud::Config::ephemeral(world))
                .await
                .context("cannot start the mock cloud")?;
        let (region, vpc) = match options.cloud {
            Cloud::Aws => cloud.with_cloud(|c| {
                (
                    c.ec2.region.clone(),
                    c.ec2.vpcs.keys().next().cloned().unwrap_or_default(),
                )
            }),
            Cloud::Gcp | Cloud::Azure => Default::default(),
        };

        let config = cloudnet_kubesim::server::Config::default()
            .with_identity(CONTROLLER_IDENTITY)
            .with_identity(NODE_IDENTITY)
            .with(cloudnet_kubesim::Identity::master(ADMIN));
        let api = cloudnet_kubesim::server::KubeSim::start(config)
            .await
            .context("cannot start the Kubernetes API")?;
        let registrations = options.cloud.nodes(&cloud);
        let host = registrations
            .first()
            .context("the world has no running instance for the controller to run on")?;
        let cloud_env =
            crate::clouds::controller_env(options.cloud, &cloud, host, &region, &vpc, &dir)?;
        for node in &registrations {
            register_node(api.store(), node)
                .map_err(|e| anyhow::anyhow!("cannot register node {}: {e}", node.name))?;
        }
        let client = api.client_for(ADMIN).await?;
        cloudnet_crds::install_crds(&client, ADMIN).await?;
        api.write_kubeconfig(&dir.join("controller.kubeconfig"), CONTROLLER_IDENTITY)?;
        api.write_kubeconfig(&dir.join("node.kubeconfig"), NODE_IDENTITY)?;

        let mut nodes = Vec::new();
        for r in &registrations {
            let home = dir.join(&r.name);
            std::fs::create_dir_all(home.join("run"))?;
            std::fs::create_dir_all(home.join("lib"))?;
            nodes.push(NodeInfo {
                name: r.name.clone(),
                instance: r
                    .provider_id
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                zone: r.zone.clone(),
                socket: home.join("run").join("ipamd.sock"),
                checkpoint: home.join("lib").join("ipam.json"),
                introspection: SocketAddr::from(([127, 0, 0, 1], free_port()?)),
            });
        }
        let sockets = IpamdSockets::new(nodes.iter().map(|n| (n.name.clone(), n.socket.clone())));
        let simulation = cloudnet_kubesim::sim::start(api.store(), Arc::new(sockets));
        let mut env = Env {
            options,
            cloud,
            api,
            client,
            nodes,
            region,
            vpc,
            cloud_env,
            controller: None,
            ipamds: BTreeMap::new(),
            bins,
            dir,
            _tmp: tmp,
            _simulation: simulation,
        };
        env.start_controller()?;
        for n in env.nodes.clone() {
            env.start_ipamd(&n.name)?;
        }
        Ok(env)
    }

    /// The mock cloud's control endpoint.
    pub fn control(&self) -> SocketAddr {
        self.cloud
            .endpoint_url()
            .trim_start_matches("http://")
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Starts `cloudnet-controller` as the chart's Deployment runs it.
    pub fn start_controller(&mut self) -> Result<()> {
        let resync = self.options.resync.as_secs().max(1).to_string();
        let mut env: Vec<(String, String)> = [
            (
                "KUBECONFIG",
                self.dir.join("controller.kubeconfig").display().to_string(),
            ),
            ("CLUSTER_NAME", CLUSTER.to_string()),
            ("SERVE_CLASSLESS_SERVICES", "true".to_string()),
            ("SERVICE_RESYNC_SECONDS", resync.clone()),
            ("INGRESS_RESYNC_SECONDS", resync.clone()),
            ("IPAM_RESYNC_SECONDS", resync),
            ("ORPHAN_ENI_GRACE_SECONDS", "5".to_string()),
            ("ORPHAN_ENI_INTERVAL_SECONDS", "2".to_string()),
            ("POD_NAME", REPLICA.to_string()),
            ("POD_NAMESPACE", "kube-system".to_string()),
            ("LOG_FORMAT", "text".to_string()),
            ("RUST_LOG", "info".to_string()),
            ("NO_COLOR", "1".to_string()),
            (
                "METRICS_BIND_ADDRESS",
                format!("127.0.0.1:{}", free_port()?),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.extend(self.cloud_env.iter().cloned());
        let proc = Proc::spawn(
            "cloudnet-controller",
            &self.bins.controller,
            &[],
            &env,
            &self.dir.join("controller.log"),
        )?;
        self.controller = Some(proc);
        Ok(())
    }

    /// `SIGKILL`s the controller (it cannot release its Lease or finish a call).
    pub async fn kill_controller(&mut self) -> Result<()> {
        if let Some(p) = self.controller.take() {
            p.kill().await?;
        }
        Ok(())
    }

    /// Waits up to `timeout` for the controller to exit on its own (a leader that lost its
    /// Lease does); answers how long it took, and forgets the process.
    pub async fn wait_controller_exit(&mut self, timeout: Duration) -> Result<Duration> {
        let start = std::time::Instant::now();
        loop {
            let controller = self.controller.as_mut().context("no controller runs")?;
            if controller.exited().is_some() {
                let said = controller.own_log();
                self.controller = None;
                anyhow::ensure!(
                    said.contains(crate::procs::LOST_LEASE),
                    "the controller exited without saying {:?}:\n{}",
                    crate::procs::LOST_LEASE,
                    said.lines()
                        .skip(said.lines().count().saturating_sub(20))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                anyhow::bail!("the controller still runs {timeout:?} after losing its Lease");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the controller process has exited on its own (a leader that cannot renew its
    /// Lease does); forgets it when it has, as its Deployment would before starting another.
    pub fn controller_exited(&mut self) -> bool {
        let exited = self
            .controller
            .as_mut()
            .is_some_and(|c| c.exited().is_some());
        if exited {
            self.controller = None;
        }
        exited
    }

    /// Starts the controller again when it exited because it lost its Lease (a leader that
    /// cannot renew in time stops, so that one replica writes), as its Deployment would;
    /// answers whether it did. Any other exit is left for [`Env::check_processes`] to report.
    pub fn restart_if_lease_lost(&mut self) -> Result<bool> {
        let lost = self.controller.as_mut().is_some_and(|c| {
            c.exited().is_some() && c.own_log().contains(crate::procs::LOST_LEASE)
        });
        if lost {
            self.controller = None;
            self.start_controller()?;
        }
        Ok(lost)
    }

    /// Whether a controller process runs (or should: it has not been found exited).
    pub fn controller_started(&self) -> bool {
        self.controller.is_some()
    }

    /// Fails with a log when an ipamd that should run has exited.
    pub fn check_ipamds(&mut self) -> Result<()> {
        for p in self.ipamds.values_mut().flatten() {
            p.check_running()?;
        }
        Ok(())
    }

    /// Starts `node`'s ipamd as the chart's DaemonSet runs it, on the same socket, checkpoint
    /// and introspection address as before.
    pub fn start_ipamd(&mut self, node: &str) -> Result<()> {
        let n = self
            .node(node)
            .with_context(|| format!("no node {node}"))?
            .clone();
        let mut env: Vec<(String, String)> = [
            (
                "KUBECONFIG",
                self.dir.join("node.kubeconfig").display().to_string(),
            ),
            ("NODE_NAME", n.name.clone()),
            ("IPAMD_SOCKET", n.socket.display().to_string()),
            ("IPAMD_CHECKPOINT", n.checkpoint.display().to_string()),
            ("IPAMD_INTROSPECTION", n.introspection.to_string()),
            ("RUST_LOG", "info".to_string()),
            ("NO_COLOR", "1".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.extend(crate::clouds::ipamd_env(
            self.options.cloud,
            &self.cloud.endpoint_url(),
            &n.name,
            &n.zone,
            &n.instance,
        ));
        let proc = Proc::spawn(
            &format!("cloudnet-ipamd {node}"),
            &self.bins.ipamd,
            &["--sync-interval-seconds", "1"],
            &env,
            &self.dir.join(format!("ipamd-{node}.log")),
        )?;
        self.ipamds.insert(node.to_string(), Some(proc));
        Ok(())
    }

    /// `SIGKILL`s `node`'s ipamd: its socket file stays behind, as after a crash.
    pub async fn kill_ipamd(&mut self, node: &str) -> Result<()> {
        if let Some(p) = self.ipamds.get_mut(node).and_then(Option::take) {
            p.kill().await?;
        }
        Ok(())
    }

    /// Forgets `node`, whose machine is gone: its ipamd (which went down with it) is
    /// `SIGKILL`ed and its sources are no longer read.
    pub async fn remove_node(&mut self, node: &str) -> Result<NodeInfo> {
        self.kill_ipamd(node).await?;
        self.ipamds.remove(node);
        let i = self
            .nodes
            .iter()
            .position(|n| n.name == node)
            .with_context(|| format!("no node {node}"))?;
        Ok(self.nodes.remove(i))
    }

    /// Fails with a log when a process that should run has exited.
    pub fn check_processes(&mut self) -> Result<()> {
        if let Some(c) = self.controller.as_mut() {
            c.check_running()?;
        }
        self.check_ipamds()
    }

    /// The controller's log, for a failure's report.
    pub fn controller_log(&self, lines: usize) -> String {
        self.controller
            .as_ref()
            .map(|p| p.log_tail(lines))
            .unwrap_or_default()
    }

    /// Stops the simulation, the controller (it releases its Lease), every ipamd, the API
    /// and the cloud.
    pub async fn shutdown(mut self) {
        // The simulated kubelet first: it must not call ipamds that are going away.
        drop(self._simulation);
        if let Some(c) = self.controller.take() {
            let _ = c.terminate(Duration::from_secs(10)).await;
        }
        for p in std::mem::take(&mut self.ipamds).into_values().flatten() {
            let _ = p.terminate(Duration::from_secs(5)).await;
        }
        self.api.shutdown().await;
        self.cloud.shutdown().await;
    }
}

/// A Node for every running AWS instance (see [`crate::clouds::aws::nodes_from_cloud`]).
pub use crate::clouds::aws::nodes_from_cloud;
