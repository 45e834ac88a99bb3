//! `cloudnet`: the suite's command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cloudnet_cli::plan::{self, PlanArgs};
use cloudnet_cli::sandbox::{self, SandboxArgs};

#[derive(Debug, Parser)]
#[command(
    name = "cloudnet",
    version,
    about = "Cloud networking for Kubernetes on AWS, GCP and Azure"
)]
struct Cli {
    /// Log filter (tracing's EnvFilter syntax), e.g. `info,cloudnet_mockcloud=debug`.
    #[arg(long, global = true, env = "CLOUDNET_LOG", default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole suite on one machine: the mock cloud, an embedded Kubernetes API, simulated
    /// nodes, and every controller that exists, with the given manifests applied.
    Sandbox(SandboxArgs),
    /// The mock cloud alone (AWS EC2, ELBv2 and instance metadata on one port).
    Mockcloud(cloudnet_mockcloud::Args),
    /// What the controllers would change in the cloud for these objects, changing nothing.
    /// Exit code 0: no change, 2: changes, 1: an error.
    Plan(PlanArgs),
    /// The fault suite: scenarios that kill the controller or an ipamd, fault the API or
    /// the cloud, or change the world, with invariants checked throughout and the four
    /// availability metrics per scenario.
    #[command(subcommand)]
    Faults(cloudnet_cli::faults::FaultsCommand),
}

fn init_logging(filter: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(args) => {
            init_logging(&cli.log, false);
            return match plan::run(args).await {
                Ok(code) => ExitCode::from(code),
                Err(error) => {
                    eprintln!("cloudnet: {error:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Faults(cmd) => {
            init_logging(&cli.log, false);
            cloudnet_cli::faults::run(cmd).await
        }
        Command::Sandbox(args) => {
            init_logging(&cli.log, false);
            sandbox::run(args).await
        }
        Command::Mockcloud(args) => {
            // The mock cloud alone is a server: its request log is what users look at.
            let filter = if cli.log == "warn" { "info" } else { &cli.log };
            init_logging(
                filter,
                args.log_format == cloudnet_mockcloud::LogFormat::Json,
            );
            cloudnet_mockcloud::run(args)
                .await
                .map_err(anyhow::Error::from)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cloudnet: {error:#}");
            ExitCode::FAILURE
        }
    }
}
