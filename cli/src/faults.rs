//! `cloudnet faults`: the fault suite (see the `cloudnet-faults` crate). `list` names the
//! scenarios; `run` runs some by name (or all) and prints one row per scenario as a Markdown
//! table, optionally writing it and the JSON rows to files.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use cloudnet_faults::{ALL, Cloud, Options, report};

#[derive(Debug, Clone, clap::Subcommand)]
pub enum FaultsCommand {
    /// The scenarios built, with their fault.
    List,
    /// Runs scenarios by name (`--all`: every one), each in its own world.
    Run(RunArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Scenario names (see `cloudnet faults list`).
    pub names: Vec<String>,
    /// Run every scenario.
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
        FaultsCommand::List => {
            for s in ALL {
                println!("{:<40} {:<8} {}", s.name, s.group, s.fault);
            }
            Ok(())
        }
        FaultsCommand::Run(args) => {
            let chosen: Vec<_> = if args.all {
                ALL.iter().collect()
            } else {
                let mut v = Vec::new();
                for n in &args.names {
                    match cloudnet_faults::scenarios::find(n) {
                        Some(s) => v.push(s),
                        None => bail!("no scenario {n:?} (see `cloudnet faults list`)"),
                    }
                }
                v
            };
            if chosen.is_empty() {
                bail!("name scenarios to run, or --all");
            }
            let mut options = Options::short();
            options.cloud = Cloud::Aws;
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
            let table = report::markdown(&rows);
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
