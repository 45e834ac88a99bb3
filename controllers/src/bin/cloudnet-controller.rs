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
//!
//! `--provider gcp` (`CLOUD_PROVIDER=gcp`) runs the same controllers on Compute Engine
//! ([`cloudnet_gcp::GcpCloud`]); project, region and network come from `GCP_*` or the GCE
//! metadata server (see `cloudnet_controllers::cloud_flags`).
//!
//! `--provider azure` (`CLOUD_PROVIDER=azure`) runs them on Azure Resource Manager
//! ([`cloudnet_azure::AzureCloud`]); subscription, resource group and location come from
//! `AZURE_*` or IMDS, the VNet, subnet and route table from `AZURE_*` (see
//! `cloudnet_controllers::azure_flags`). On Azure Ingresses are served in AGIC's dialect
//! (class `azure-application-gateway`), each becoming an Application Gateway v2.

use anyhow::Context as _;
use clap::Parser;
use cloudnet_aws::config::RouteTableSelector;
use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider};
use cloudnet_controllers::app;
use cloudnet_controllers::cloud_flags::{
    CloudProvider, GcpCredentials, GcpSettings, METADATA_TIMEOUT,
};
use cloudnet_controllers::flags::Args;
use cloudnet_core::{BudgetConfig, Cloud};
use cloudnet_gcp::{CredentialsChoice, GcpCloud, GcpConfig};
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
    let cloud = match args.cloud.provider {
        CloudProvider::Aws => aws(&args, &mut registry).await?,
        CloudProvider::Gcp => gcp(&args).await?,
        CloudProvider::Azure => azure(&args).await?,
    };
    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;

    let shutdown = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => tracing::info!("Stopping"),
            Err(error) => tracing::error!(%error, "Cannot wait for a signal; stopping"),
        }
    };
    app::run(client, cloud, settings, registry, shutdown).await?;
    Ok(())
}

async fn aws(args: &Args, registry: &mut Registry) -> anyhow::Result<Cloud> {
    let aws_metrics = AwsMetrics::register(registry);
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
    Ok(provider.cloud())
}

/// The GCP backend's config from the checked settings.
fn gcp_config(cluster: &str, s: GcpSettings, budget: Option<&str>) -> anyhow::Result<GcpConfig> {
    let mut c = GcpConfig::new(cluster);
    c.project = s.project;
    c.region = s.region;
    c.network = s.network;
    c.endpoint = s.compute_endpoint;
    c.metadata_endpoint = s.metadata_endpoint;
    c.credentials = match s.credentials {
        GcpCredentials::Default => CredentialsChoice::Default,
        GcpCredentials::MetadataServer => CredentialsChoice::MetadataServer,
        GcpCredentials::Anonymous => CredentialsChoice::Anonymous,
    };
    c.pod_range_name = s.pod_range_name;
    c.node_prefix_len = s.node_prefix_len;
    c.metadata_timeout = METADATA_TIMEOUT;
    if let Some(b) = budget {
        c.budget = b.parse::<BudgetConfig>()?;
    }
    Ok(c)
}

async fn gcp(args: &Args) -> anyhow::Result<Cloud> {
    let settings = args.cloud.gcp_settings(&args.cluster_name)?;
    let config = gcp_config(&args.cluster_name, settings, args.rate_budget.as_deref())?;
    let metadata = config.metadata_root();
    let undiscovered = args.cloud.undiscovered();
    let connected = GcpCloud::connect(config).await.with_context(|| {
        if undiscovered.is_empty() {
            "setting up the GCP provider".to_string()
        } else {
            format!(
                "setting up the GCP provider: {} not set, and the metadata server at {metadata} \
                 is where they are found (off GCE, set them)",
                undiscovered.join(", ")
            )
        }
    })?;
    Ok(connected.cloud())
}

async fn azure(args: &Args) -> anyhow::Result<Cloud> {
    let settings = args
        .cloud
        .azure
        .settings(&args.cluster_name, |v| std::env::var(v).ok())?;
    let config = cloudnet_controllers::azure_flags::resolve(
        &settings,
        &args.cluster_name,
        args.rate_budget.as_deref(),
        &args.cloud.azure.undiscovered(),
    )
    .await?;
    let connected =
        cloudnet_azure::AzureCloud::connect(config).context("setting up the Azure provider")?;
    Ok(connected.cloud())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn the_gcp_flags_become_the_config() {
        let args = Args::try_parse_from([
            "cloudnet-controller",
            "--cluster-name",
            "c1",
            "--provider",
            "gcp",
            "--gcp-project",
            "p",
            "--gcp-credentials",
            "anonymous",
            "--gcp-compute-endpoint",
            "http://127.0.0.1:1",
        ])
        .expect("parses");
        let s = args.cloud.gcp_settings("c1").expect("settings");
        let c = gcp_config("c1", s, Some("compute:mutate=2:10")).expect("config");
        assert_eq!(c.cluster_name, "c1");
        assert_eq!(c.project.as_deref(), Some("p"));
        assert_eq!(c.region, None);
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(c.credentials, CredentialsChoice::Anonymous);
        assert_eq!(c.metadata_timeout, METADATA_TIMEOUT);
        assert!(
            gcp_config(
                "c1",
                args.cloud.gcp_settings("c1").unwrap(),
                Some("nonsense")
            )
            .is_err()
        );
    }

    #[test]
    fn on_azure_services_speak_aks_and_ingresses_agic() {
        let args = Args::try_parse_from([
            "cloudnet-controller",
            "--cluster-name",
            "demo",
            "--provider",
            "azure",
            "--leader-election",
            "false",
        ])
        .expect("parses");
        let s = args.settings().expect("settings");
        let service = s.service.expect("the Service controller runs");
        assert!(service.cloud_provider_azure && service.serve_classless);
        let ingress = s.ingress.expect("the Ingress controller runs");
        assert!(ingress.agic);
        assert_eq!(ingress.class_names, ["azure-application-gateway"]);
    }

    fn pool_knobs(extra: &[&str]) -> cloudnet_controllers::ipam::PoolKnobs {
        let base = ["cloudnet-controller", "--cluster-name", "demo"];
        let args = Args::try_parse_from(base.iter().chain(extra)).expect("parses");
        args.allocator().expect("allocator").knobs
    }

    #[test]
    fn azure_pools_default_to_azure_cnis_batch_and_given_knobs_win() {
        // The VPC CNI's defaults elsewhere.
        let aws = pool_knobs(&[]);
        assert_eq!((aws.warm_eni_target, aws.warm_ip_target), (1, 0));
        assert_eq!(pool_knobs(&["--provider", "gcp"]).warm_ip_target, 0);
        // On Azure, 16 free addresses, not a whole NIC (255) per node.
        let azure = pool_knobs(&["--provider", "azure"]);
        assert_eq!(azure.warm_ip_target, cloudnet_crds::AZURE_WARM_IP_TARGET);
        assert_eq!(azure.warm_ip_target, 16);
        // Any pool knob given: the user's, as given.
        for (flag, value) in [
            ("--warm-ip-target", "4"),
            ("--minimum-ip-target", "30"),
            ("--warm-eni-target", "1"),
        ] {
            let k = pool_knobs(&["--provider", "azure", flag, value]);
            let expected_warm_ip = if flag == "--warm-ip-target" { 4 } else { 0 };
            assert_eq!(k.warm_ip_target, expected_warm_ip, "{flag}");
        }
    }
}
