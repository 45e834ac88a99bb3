//! cloudnet-mockcloud: an offline cloud on the clouds' real wire protocols, so the real SDKs
//! can be tested end to end without an account (like LocalStack, but keeping each cloud's own
//! limits and error codes): AWS (EC2, ELBv2, instance metadata) and GCP (Compute Engine REST v1
//! in [`gcp`] behind [`gce`], and the GCE metadata server in [`gcemeta`]) and Azure (Resource
//! Manager's Network and Compute providers in [`azure`] behind [`arm`], over HTTPS with the
//! mock's own CA from [`tls`], and the instance metadata service in [`azimds`]).
//!
//! ```text
//!  aws-sdk / aws CLI ──HTTP──▶ server ──┬─ query protocol ─▶ Cloud { ec2, elbv2 } (one lock)
//!   (--endpoint-url)                    ├─ /latest/...    ─▶ imds (IMDSv2)
//!  google clients, gcloud ──▶           ├─ /compute/v1/.. ─▶ gce ─▶ Cloud { gcp } (same lock)
//!                                       ├─ /computeMetadata/v1/.. ─▶ gcemeta
//!                                       ├─ /metadata/..  ─▶ azimds (Azure IMDS)
//!                                       └─ /_mockcloud/.. ─▶ control (state, calls, call log, faults, reset)
//!                    faults (latency, throttling, 5xx, drops, eventual consistency) ─┘
//!  Azure SDKs ──HTTPS (--arm-listen, own CA)──▶ arm ─▶ azure ─▶ Cloud { azure } (same lock)
//! ```
//!
//! Start one with [`MockCloud::start`] (tests) or [`run`] (the `cloudnet-mockcloud` binary
//! and `cloudnet mockcloud`). The world it starts from is a [`World`] (YAML; the default is
//! `worlds/default.yaml`).

pub mod arm;
pub mod authz;
pub mod awserror;
pub mod azimds;
pub mod azure;
pub mod calllog;
pub mod cloud;
mod control;
pub mod ec2;
pub mod elbv2;
pub mod error;
pub mod faults;
pub mod gce;
pub mod gcemeta;
pub mod gcp;
pub mod grants;
pub mod iam;
pub mod ids;
pub mod imds;
pub mod query;
pub mod server;
pub mod service;
pub mod tls;
mod wire;
pub mod xml;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use ec2::World;
pub use error::{Error, Result};
pub use server::{Config, Handle, MockCloud};

/// Command-line options of the mock cloud (the `cloudnet-mockcloud` binary and
/// `cloudnet mockcloud` share them).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = server::DEFAULT_LISTEN, env = "MOCKCLOUD_LISTEN")]
    pub listen: SocketAddr,
    /// Address of the Azure Resource Manager endpoint (HTTPS, the mock's own CA).
    #[arg(long, default_value = server::DEFAULT_ARM_LISTEN, env = "MOCKCLOUD_ARM_LISTEN")]
    pub arm_listen: SocketAddr,
    /// World file (YAML); the built-in default world when absent.
    #[arg(long, env = "MOCKCLOUD_WORLD")]
    pub world: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// Serves until Ctrl-C (or SIGTERM on Unix). Logging is the caller's to set up.
pub async fn run(args: Args) -> Result<()> {
    let world = match &args.world {
        Some(path) => World::load(path)?,
        None => World::default(),
    };
    let handle = MockCloud::start(Config {
        listen: args.listen,
        arm_listen: Some(args.arm_listen),
        world,
        ..Config::default()
    })
    .await?;
    tracing::info!(
        endpoint = %handle.endpoint_url(),
        arm_endpoint = %handle.arm_endpoint_url(),
        ca = %format!("{}/_mockcloud/ca.pem", handle.endpoint_url()),
        "Mock cloud ready"
    );
    shutdown_signal().await;
    tracing::info!("Mock cloud stopping");
    handle.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
