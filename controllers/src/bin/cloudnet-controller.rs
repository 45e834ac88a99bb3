//! `cloudnet-controller`: every cloudnet controller in one process (the pod address allocator,
//! the Service controller and its garbage collector, the Ingress controller,
//! TargetGroupBindings and VPC routes, composed in `cloudnet_controllers::app`, which the
//! sandbox runs too), with `/metrics`, `/healthz` and `/readyz`, and Lease leader election so that of
//! several replicas only one writes. This file is the provider, the API client and the signal;
//! the flags are `cloudnet_controllers::flags`.
//!
//! Every replica serves health and waits; the leader runs the allocator, and the Service
//! controller checks the lease before each reconcile. A leader that cannot renew its lease
//! exits (before any other replica may take over), as client-go's controllers do, and is
//! restarted by its Deployment.
//!
//! The pool knobs take the VPC CNI's environment variable names, so an `aws-node` config
//! carries over unchanged.

use anyhow::Context as _;
use clap::Parser;
use cloudnet_aws::config::RouteTableSelector;
use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider};
use cloudnet_controllers::app;
use cloudnet_controllers::flags::Args;
use cloudnet_core::BudgetConfig;
use prometheus_client::registry::Registry;

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
    // The workspace builds rustls with both ring and aws-lc-rs (the AWS SDK's); with two
    // providers rustls cannot pick one itself, and the kube client would panic.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let settings = args.settings()?;
    init_logs(&args.log_format);

    let mut registry = Registry::default();
    let aws_metrics = AwsMetrics::register(&mut registry);
    let mut aws = AwsConfig::new(args.cluster_name.clone());
    aws.endpoint_url = args.cloud_endpoint.clone();
    aws.region = args.region.clone();
    aws.vpc_id = args.vpc_id.clone();
    aws.pod_cidrs = args.cluster_cidr.clone();
    if !args.route_table_ids.is_empty() {
        aws.route_tables = RouteTableSelector::Ids(args.route_table_ids.clone());
    }
    if let Some(b) = &args.rate_budget {
        aws.budget = b.parse::<BudgetConfig>()?;
    }
    let provider = AwsProvider::connect(aws, aws_metrics)
        .await
        .context("setting up the AWS provider")?;
    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;

    let shutdown = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => tracing::info!("Stopping"),
            Err(error) => tracing::error!(%error, "Cannot wait for a signal; stopping"),
        }
    };
    app::run(client, provider.cloud(), settings, registry, shutdown).await?;
    Ok(())
}
