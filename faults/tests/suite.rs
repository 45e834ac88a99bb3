//! The short form of the fault suite (fault durations a tenth of the issue's): every
//! scenario built runs in its own world, and the test fails when one breaks an invariant or
//! does not recover; two scenarios run at a time. `CLOUDNET_FAULTS=<name>[,<name>]` runs only those; the rows are written
//! to `$CLOUDNET_FAULTS_OUT` (JSON) when it is set.
//!
//! The controller and ipamd binaries must be built first (`scripts/test.sh` does; by hand:
//! `cargo build -p cloudnet-controllers --bin cloudnet-controller -p cloudnet-ipamd --bin cloudnet-ipamd`).

use cloudnet_faults::{ALL, Options, report};
use futures::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_recovers_with_every_invariant_held() {
    let only: Option<Vec<String>> = std::env::var("CLOUDNET_FAULTS")
        .ok()
        .map(|s| s.split(',').map(str::to_string).collect());
    let chosen: Vec<_> = ALL
        .iter()
        .filter(|s| only.as_ref().is_none_or(|o| o.iter().any(|n| n == s.name)))
        .collect();
    // Two at a time: each world is mostly waiting, and the machine has two cores. The
    // published numbers (docs/reliability.md) come from a run of one at a time.
    let rows: Vec<_> = futures::stream::iter(chosen)
        .map(|s| async move {
            let row = cloudnet_faults::scenarios::run(s, Options::short()).await;
            eprintln!(
                "{}: {} in {:.1} s",
                row.scenario,
                if row.passed { "pass" } else { "FAIL" },
                row.seconds
            );
            row
        })
        .buffered(2)
        .collect()
        .await;
    eprintln!("{}", report::markdown(&rows));
    if let Ok(path) = std::env::var("CLOUDNET_FAULTS_OUT") {
        std::fs::write(&path, report::json(&rows)).expect("the JSON report");
    }
    assert!(!rows.is_empty(), "no scenario matched CLOUDNET_FAULTS");
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("{}: {:?} {:?}", r.scenario, r.error, r.broken()))
        .collect();
    assert!(
        failed.is_empty(),
        "failed scenarios:\n{}",
        failed.join("\n")
    );
}
