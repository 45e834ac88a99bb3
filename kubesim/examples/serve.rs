//! Serves an empty embedded API until Ctrl-C and writes an admin kubeconfig.
//!
//! `cargo run -p cloudnet-kubesim --example serve -- /tmp/kubesim.kubeconfig`

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
    handle.write_kubeconfig(std::path::Path::new(&path), ADMIN)?;
    println!("API at {}; kubeconfig written to {path}", handle.url());
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(())
}
