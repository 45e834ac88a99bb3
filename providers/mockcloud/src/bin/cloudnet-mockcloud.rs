//! `cloudnet-mockcloud`: serves the offline cloud (EC2, ELBv2, instance metadata) on the AWS
//! wire protocols. `cloudnet-mockcloud --listen 127.0.0.1:4566 --world worlds/default.yaml`

use clap::Parser;
use cloudnet_mockcloud::{Args, LogFormat};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "cloudnet-mockcloud",
    version,
    about = "An offline cloud (AWS EC2, ELBv2, GCP Compute Engine, Azure Resource Manager, instance metadata) on the real wire protocols"
)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match cli.args.log_format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init(),
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
    }
    cloudnet_mockcloud::run(cli.args).await?;
    Ok(())
}
