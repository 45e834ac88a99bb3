//! The short form of the fault suite (fault durations a tenth of the issue's) on every
//! cloud: every scenario that applies to the cloud runs in its own world, and the cloud's
//! test fails when one breaks an invariant or does not recover; two scenarios run at a
//! time. One test per cloud, so a failure names its cloud.
//!
//! A scenario that fails on a cloud for a known reason
//! ([`cloudnet_faults::support::Support::KnownFailure`]) is left out with the reason printed
//! (`cloudnet faults run` runs it and reports the failure).
//!
//! `CLOUDNET_FAULTS=<name>[,<name>]` runs only those; `CLOUDNET_FAULTS_CLOUD=<cloud>[,<cloud>]`
//! only those clouds (the other clouds' tests pass at once, saying so); the rows are written
//! to `$CLOUDNET_FAULTS_OUT` (JSON; with the cloud's name before the extension) when it is
//! set.
//!
//! The controller and ipamd binaries must be built first (`scripts/test.sh` does; by hand:
//! `cargo build --workspace --bins`).

use cloudnet_faults::support::{Support, support};
use cloudnet_faults::{ALL, Cloud, Options, report};
use futures::StreamExt;

async fn every_scenario_recovers_on(cloud: Cloud) {
    if let Ok(clouds) = std::env::var("CLOUDNET_FAULTS_CLOUD") {
        let chosen: Vec<Cloud> = clouds
            .split(',')
            .map(|c| Cloud::parse(c).expect("CLOUDNET_FAULTS_CLOUD"))
            .collect();
        if !chosen.contains(&cloud) {
            eprintln!("{cloud}: not in CLOUDNET_FAULTS_CLOUD={clouds}");
            return;
        }
    }
    let only: Option<Vec<String>> = std::env::var("CLOUDNET_FAULTS")
        .ok()
        .map(|s| s.split(',').map(str::to_string).collect());
    let named = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|n| n == name));
    for s in ALL.iter().filter(|s| named(s.name)) {
        if let Support::KnownFailure(why) = support(s.name, cloud) {
            eprintln!(
                "{cloud} {}: left out, it fails for a known reason: {why}",
                s.name
            );
        }
    }
    let chosen: Vec<_> = ALL
        .iter()
        .filter(|s| named(s.name) && support(s.name, cloud) == Support::Runs)
        .collect();
    if chosen.is_empty() && only.is_some() {
        eprintln!("{cloud}: none of CLOUDNET_FAULTS runs on {cloud}");
        return;
    }
    // Two at a time: each world is mostly waiting, and the machine has two cores. The
    // published numbers (docs/reliability.md) come from a run of one at a time.
    let rows: Vec<_> = futures::stream::iter(chosen)
        .map(|s| async move {
            let options = Options {
                cloud,
                ..Options::short()
            };
            let row = cloudnet_faults::scenarios::run(s, options).await;
            eprintln!(
                "{cloud} {}: {} in {:.1} s",
                row.scenario,
                if row.passed { "pass" } else { "FAIL" },
                row.seconds
            );
            row
        })
        .buffered(2)
        .collect()
        .await;
    eprintln!(
        "{}{}",
        report::markdown(&rows),
        cloudnet_faults::scenarios::not_run(cloud)
    );
    if let Ok(path) = std::env::var("CLOUDNET_FAULTS_OUT") {
        let path = std::path::Path::new(&path);
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("rows");
        let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("json");
        let out = path.with_file_name(format!("{stem}-{cloud}.{ext}"));
        std::fs::write(&out, report::json(&rows)).expect("the JSON report");
    }
    assert!(!rows.is_empty(), "no scenario runs on {cloud}");
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("{}: {:?} {:?}", r.scenario, r.error, r.broken()))
        .collect();
    assert!(
        failed.is_empty(),
        "failed scenarios on {cloud}:\n{}",
        failed.join("\n")
    );
}

/// The clouds run one after another (a failure of one does not stop the next): six worlds
/// at once would not fit the machine.
static ONE_CLOUD_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(cloud: Cloud) {
    let _one = ONE_CLOUD_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(every_scenario_recovers_on(cloud));
}

#[test]
fn every_scenario_recovers_with_every_invariant_held() {
    run(Cloud::Aws);
}

#[test]
fn every_gcp_scenario_recovers_with_every_invariant_held() {
    run(Cloud::Gcp);
}

#[test]
fn every_azure_scenario_recovers_with_every_invariant_held() {
    run(Cloud::Azure);
}
