//! `cloudnet-ipamd`: the node daemon. See the crate README.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use cloudnet_ipamd::daemon::{self, Config};
use cloudnet_ipamd::metadata::Imds;

#[derive(Parser, Debug)]
#[command(version, about = "cloudnet's node IPAM daemon")]
struct Args {
    /// This node's name (the NodeNetwork and the pods' spec.nodeName).
    #[arg(long, env = "NODE_NAME")]
    node_name: String,
    #[arg(
        long,
        env = "IPAMD_SOCKET",
        default_value = "/run/cloudnet/ipamd/ipamd.sock"
    )]
    socket: PathBuf,
    #[arg(
        long,
        env = "IPAMD_CHECKPOINT",
        default_value = "/var/lib/cloudnet/ipamd/ipam.json"
    )]
    checkpoint: PathBuf,
    /// Introspection, /metrics and health.
    #[arg(long, env = "IPAMD_INTROSPECTION", default_value = "127.0.0.1:61679")]
    introspection: SocketAddr,
    /// Seconds a freed address cools before reuse or offer.
    #[arg(long, env = "IP_COOLDOWN_PERIOD", default_value_t = 30)]
    ip_cooldown_period: u64,
    /// WARM_IP_TARGET used when the NodeNetwork's pool policy sets none.
    #[arg(long, env = "WARM_IP_TARGET")]
    warm_ip_target: Option<u32>,
    /// The instance metadata service.
    #[arg(long, env = "IMDS_ENDPOINT", default_value = "http://169.254.169.254")]
    imds_endpoint: String,
    /// Names the instance to a mock metadata service that serves several.
    #[arg(long, env = "IMDS_INSTANCE_ID")]
    imds_instance_id: Option<String>,
    #[arg(long, default_value_t = 5)]
    sync_interval_seconds: u64,
    /// Emit JSON logs.
    #[arg(long, env = "IPAMD_JSON_LOGS")]
    json_logs: bool,
}

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
    let running = daemon::start(
        cfg,
        client,
        Imds::new(args.imds_endpoint, args.imds_instance_id),
    )
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
