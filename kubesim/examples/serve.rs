//! Serves the embedded API with the simulated components and one node until Ctrl-C, and
//! writes an admin kubeconfig.
//!
//! `cargo run -p cloudnet-kubesim --example serve -- /tmp/kubesim.kubeconfig`

use std::sync::Arc;

use cloudnet_kubesim::sim::{self, kubelet::RangeAddressSource, node::NodeRegistration};
use cloudnet_kubesim::{ADMIN, Config, KubeSim};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "kubesim.kubeconfig".into());
    let handle = KubeSim::start(Config::default()).await?;
    let simulation = sim::start(handle.store(), Arc::new(RangeAddressSource::default()));
    sim::node::register_node(
        handle.store(),
        &NodeRegistration {
            name: "node-a".into(),
            provider_id: "aws:///us-west-2a/i-0123456789abcdef0".into(),
            internal_ip: "192.168.1.10".into(),
            zone: "us-west-2a".into(),
            instance_type: "m5.large".into(),
            max_pods: 29,
        },
    )?;
    handle.write_kubeconfig(std::path::Path::new(&path), ADMIN)?;
    println!("API at {}; kubeconfig written to {path}", handle.url());
    tokio::signal::ctrl_c().await?;
    drop(simulation);
    handle.shutdown().await;
    Ok(())
}
