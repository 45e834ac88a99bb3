//! `cloudnet-controller`: every cloudnet controller in one process (today the pod address
//! allocator; the route, Service and Ingress controllers join the `controllers` list), with
//! `/metrics`, `/healthz` and `/readyz`.
//!
//! The pool knobs take the VPC CNI's environment variable names, so an `aws-node` config
//! carries over unchanged.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider};
use cloudnet_controllers::ipam::metrics::AllocatorMetrics;
use cloudnet_controllers::ipam::{Allocator, AllocatorConfig, PoolKnobs};
use cloudnet_controllers::server::{Health, serve};
use cloudnet_core::BudgetConfig;
use futures::future::BoxFuture;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

#[derive(Debug, Parser)]
#[command(name = "cloudnet-controller", version, about)]
struct Args {
    /// The cluster's name: the ownership tags of everything the suite creates.
    #[arg(long, env = "CLUSTER_NAME")]
    cluster_name: String,
    /// The cloud's API endpoint (the mock cloud, a VPC endpoint); default: the cloud's own.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    cloud_endpoint: Option<String>,
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
    /// The cluster's VPC; default: the one of the instance the controller runs on.
    #[arg(long, env = "VPC_ID")]
    vpc_id: Option<String>,
    /// Rate budget overrides, e.g. `compute:mutate=2:10,compute:describe=10:50`.
    #[arg(long, env = "CLOUD_RATE_BUDGET")]
    rate_budget: Option<String>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    #[arg(long, env = "METRICS_BIND_ADDRESS", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// `json` in clusters, `text` at a terminal.
    #[arg(long, env = "LOG_FORMAT", default_value = "json")]
    log_format: String,

    /// Whole interfaces' worth of free addresses to keep per node.
    #[arg(long, env = "WARM_ENI_TARGET", default_value_t = 1)]
    warm_eni_target: u32,
    /// Free addresses to keep per node (0: unset); wins over WARM_ENI_TARGET and
    /// WARM_PREFIX_TARGET.
    #[arg(long, env = "WARM_IP_TARGET", default_value_t = 0)]
    warm_ip_target: u32,
    /// Addresses to hold per node at least (0: unset).
    #[arg(long, env = "MINIMUM_IP_TARGET", default_value_t = 0)]
    minimum_ip_target: u32,
    /// Whole free /28 prefixes to keep per node, with prefix delegation.
    #[arg(long, env = "WARM_PREFIX_TARGET", default_value_t = 1)]
    warm_prefix_target: u32,
    /// Interfaces per node at most, below the instance type's limit.
    #[arg(long, env = "MAX_ENI")]
    max_eni: Option<u32>,
    /// Hand out /28 prefixes instead of single secondary addresses.
    #[arg(long, env = "ENABLE_PREFIX_DELEGATION", default_value_t = false, action = clap::ArgAction::Set)]
    enable_prefix_delegation: bool,
    /// The node label whose value names the node's InterfaceConfig (like the VPC CNI's
    /// ENI_CONFIG_LABEL_DEF, e.g. `topology.kubernetes.io/zone`).
    #[arg(long, env = "ENI_CONFIG_LABEL_DEF")]
    interface_config_label: Option<String>,
    /// Node rounds in progress at most.
    #[arg(long, env = "IPAM_PARALLELISM", default_value_t = 16)]
    ipam_parallelism: usize,
    /// Each node is described again at least this often (seconds).
    #[arg(long, env = "IPAM_RESYNC_SECONDS", default_value_t = 300)]
    ipam_resync_seconds: u64,
    /// An interface of ours left unattached this long is deleted (seconds).
    #[arg(long, env = "ORPHAN_ENI_GRACE_SECONDS", default_value_t = 600)]
    orphan_grace_seconds: u64,
}

impl Args {
    fn allocator(&self) -> anyhow::Result<AllocatorConfig> {
        if self.ipam_parallelism == 0 {
            anyhow::bail!("IPAM_PARALLELISM must be at least 1");
        }
        if self.max_eni == Some(0) {
            anyhow::bail!("MAX_ENI must be at least 1 (the primary interface)");
        }
        Ok(AllocatorConfig {
            knobs: PoolKnobs {
                warm_eni_target: self.warm_eni_target,
                warm_ip_target: self.warm_ip_target,
                minimum_ip_target: self.minimum_ip_target,
                warm_prefix_target: self.warm_prefix_target,
                max_eni: self.max_eni,
                prefix_delegation: self.enable_prefix_delegation,
            },
            parallelism: self.ipam_parallelism,
            resync: Duration::from_secs(self.ipam_resync_seconds.max(1)),
            orphan_grace: Duration::from_secs(self.orphan_grace_seconds),
            interface_config_label: self.interface_config_label.clone(),
            ..AllocatorConfig::default()
        })
    }
}

/// One controller of the process: its name (for `/readyz`), its readiness, its run.
struct Controller {
    name: &'static str,
    ready: Arc<AtomicBool>,
    run: BoxFuture<'static, anyhow::Result<()>>,
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        b.json().init();
    } else {
        b.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !matches!(args.log_format.as_str(), "json" | "text") {
        anyhow::bail!("LOG_FORMAT must be json or text, not {:?}", args.log_format);
    }
    init_logs(&args.log_format);
    let alloc_config = args.allocator()?;

    let mut registry = Registry::default();
    let aws_metrics = AwsMetrics::register(&mut registry);
    let mut aws = AwsConfig::new(args.cluster_name.clone());
    aws.endpoint_url = args.cloud_endpoint.clone();
    aws.region = args.region.clone();
    aws.vpc_id = args.vpc_id.clone();
    if let Some(b) = &args.rate_budget {
        aws.budget = b.parse::<BudgetConfig>()?;
    }
    let provider = AwsProvider::connect(aws, aws_metrics)
        .await
        .context("setting up the AWS provider")?;
    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };

    let allocator = Allocator::new(
        client.clone(),
        Arc::new(provider.clone()),
        alloc_config,
        AllocatorMetrics::register(&mut registry),
    );
    let controllers = vec![Controller {
        name: "ipam-allocator",
        ready: allocator.readiness(),
        run: Box::pin({
            let stop = stopped();
            async move { allocator.run(stop).await.map_err(anyhow::Error::from) }
        }),
    }];

    let health = Health::new(
        registry,
        controllers
            .iter()
            .map(|c| (c.name.to_string(), c.ready.clone()))
            .collect(),
    );
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(async move {
        serve(args.metrics_addr, health, stopped())
            .await
            .map_err(anyhow::Error::from)
            .map(|()| "http")
    });
    for c in controllers {
        let name = c.name;
        tasks.spawn(async move { c.run.await.map(|()| name) });
    }
    tokio::select! {
        r = tokio::signal::ctrl_c() => {
            r.context("waiting for a signal")?;
            tracing::info!("Stopping");
            let _ = stop_tx.send(true);
        }
        Some(done) = tasks.join_next() => {
            let _ = stop_tx.send(true);
            match done? {
                Ok(name) => anyhow::bail!("{name} stopped unexpectedly"),
                Err(e) => return Err(e),
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}
