//! `cloudnet faults`: the fault suite (see the `cloudnet-faults` crate). `list` names the
//! scenarios of a cloud (and those not applicable there, with the reason); `run` runs some
//! by name (or all that apply) on a cloud and prints one row per scenario as a Markdown
//! table, optionally writing it and the JSON rows to files.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use cloudnet_faults::support::{Support, analogue, support};
use cloudnet_faults::{ALL, Cloud, Options, report};

#[derive(Debug, Clone, clap::Subcommand)]
pub enum FaultsCommand {
    /// The scenarios on a cloud, with their fault (and those that do not run there, with
    /// why).
    List(ListArgs),
    /// Runs scenarios by name (`--all`: every one), each in its own world.
    Run(RunArgs),
}

/// `aws`, `gcp` or `azure`.
fn cloud(s: &str) -> Result<Cloud, String> {
    Cloud::parse(s)
}

#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// The cloud: aws, gcp or azure.
    #[arg(long, value_parser = cloud, default_value = "aws")]
    pub cloud: Cloud,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The cloud: aws, gcp or azure.
    #[arg(long, value_parser = cloud, default_value = "aws")]
    pub cloud: Cloud,
    /// Scenario names (see `cloudnet faults list`).
    pub names: Vec<String>,
    /// Run every scenario that applies to the cloud.
    #[arg(long)]
    pub all: bool,
    /// Fault durations as a fraction of the (1.0: the full form; the CI test runs 0.1).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// The controller's Service/Ingress resync (seconds): bounds how soon drift by hand is found.
    #[arg(long, default_value_t = 5)]
    pub resync_secs: u64,
    /// Write the Markdown table here.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Write the rows as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub async fn run(cmd: FaultsCommand) -> Result<()> {
    match cmd {
        FaultsCommand::List(args) => {
            print!("{}", list(args.cloud));
            Ok(())
        }
        FaultsCommand::Run(args) => {
            let chosen: Vec<_> = if args.all {
                ALL.iter()
                    .filter(|s| {
                        matches!(
                            support(s.name, args.cloud),
                            Support::Runs | Support::KnownFailure(_)
                        )
                    })
                    .collect()
            } else {
                let mut v = Vec::new();
                for n in &args.names {
                    match cloudnet_faults::scenarios::find(n) {
                        Some(s) => match support(s.name, args.cloud) {
                            Support::Runs | Support::KnownFailure(_) => v.push(s),
                            Support::NotApplicable(why) => {
                                bail!("{n} is not applicable on {}: {why}", args.cloud)
                            }
                            Support::NotBuilt(what) => {
                                bail!("{n} is not built on {} (its analogue: {what})", args.cloud)
                            }
                        },
                        None => bail!("no scenario {n:?} (see `cloudnet faults list`)"),
                    }
                }
                v
            };
            if chosen.is_empty() {
                bail!("name scenarios to run, or --all");
            }
            let mut options = Options::short();
            options.cloud = args.cloud;
            options.scale = args.scale;
            options.resync = Duration::from_secs(args.resync_secs.max(1));
            let mut rows = Vec::new();
            for s in chosen {
                eprintln!("running {} ...", s.name);
                let row = cloudnet_faults::scenarios::run(s, options.clone()).await;
                eprintln!(
                    "{}: {} in {:.1} s",
                    row.scenario,
                    if row.passed { "pass" } else { "FAIL" },
                    row.seconds
                );
                rows.push(row);
            }
            let mut table = report::markdown(&rows);
            if args.all {
                table.push_str(&cloudnet_faults::scenarios::not_run(args.cloud));
            }
            println!("{table}");
            if let Some(p) = &args.markdown {
                std::fs::write(p, &table)?;
            }
            if let Some(p) = &args.json {
                std::fs::write(p, report::json(&rows))?;
            }
            let failed = rows.iter().filter(|r| !r.passed).count();
            if failed > 0 {
                bail!("{failed} scenario(s) failed");
            }
            Ok(())
        }
    }
}

/// The scenarios on `cloud`: those that run (with the cloud's version of the fault), then
/// those that do not, with why.
pub fn list(cloud: Cloud) -> String {
    let mut out = String::new();
    let mut not_run = Vec::new();
    for s in ALL {
        match support(s.name, cloud) {
            Support::Runs => out.push_str(&format!(
                "{:<40} {:<8} {}\n",
                s.name,
                s.group,
                analogue(s.name, cloud).unwrap_or(s.fault)
            )),
            Support::KnownFailure(why) => out.push_str(&format!(
                "{:<40} {:<8} {} [fails: {why}]\n",
                s.name,
                s.group,
                analogue(s.name, cloud).unwrap_or(s.fault)
            )),
            Support::NotApplicable(why) => {
                not_run.push(format!("{:<40} not applicable: {why}\n", s.name))
            }
            Support::NotBuilt(what) => {
                not_run.push(format!("{:<40} not built (its analogue: {what})\n", s.name))
            }
        }
    }
    if !not_run.is_empty() {
        out.push_str(&format!("\nNot run on {cloud}:\n"));
        out.extend(not_run);
    }
    out
}
