//! `cloudnet-ipamd`: the node daemon. See the crate README.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use cloudnet_ipamd::azure_metadata::AzureImds;
use cloudnet_ipamd::daemon::{self, Config};
use cloudnet_ipamd::flags::Args;
use cloudnet_ipamd::gce_metadata::{GceMetadata, NodeMetadata};
use cloudnet_ipamd::metadata::Imds;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The workspace builds rustls with both ring and aws-lc-rs (the AWS SDK's); with two
    // providers rustls cannot pick one itself, and the kube client would panic.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if args.json_logs {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let client = kube::Client::try_default()
        .await
        .context("kubernetes client (in-cluster or KUBECONFIG)")?;
    let cfg = Config {
        socket: args.socket,
        checkpoint: args.checkpoint,
        introspection: args.introspection,
        cooldown: Duration::from_secs(args.ip_cooldown_period),
        sync_interval: Duration::from_secs(args.sync_interval_seconds.max(1)),
        warm_ip_target: args.warm_ip_target,
        ..Config::new(args.node_name)
    };
    let socket = cfg.socket.clone();
    let metadata = match args.provider.as_str() {
        "gcp" => NodeMetadata::Gce(GceMetadata::new(
            format!("http://{}", args.gce_metadata_host),
            args.imds_instance_id,
        )),
        "azure" => NodeMetadata::Azure(AzureImds::new(
            args.azure_imds_endpoint,
            args.imds_instance_id,
        )),
        _ => NodeMetadata::Aws(Imds::new(args.imds_endpoint, args.imds_instance_id)),
    };
    let running = daemon::start(cfg, client, metadata)
        .await
        .context("start ipamd")?;
    tracing::info!(socket = %socket.display(), introspection = %running.introspection, "Serving");
    let stop = running.shutdown_handle();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(error) => {
                    tracing::error!(%error, "No SIGTERM handler");
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let _ = stop.send(true);
    });
    running.wait().await.context("gRPC server")?;
    let _ = std::fs::remove_file(&socket);
    Ok(())
}
