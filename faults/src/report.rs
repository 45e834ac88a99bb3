//! One row per scenario (the four metrics, the invariants, the cloud calls), as a Markdown
//! table and as JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::clouds::Cloud;
use crate::invariants::NAMES;
use crate::run::{Metrics, Run};

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub group: String,
    pub fault: String,
    pub cloud: Cloud,
    pub passed: bool,
    /// Why the scenario failed to run or recover.
    pub error: Option<String>,
    pub metrics: Metrics,
    /// Invariant -> its violations (empty: held).
    pub invariants: BTreeMap<String, Vec<String>>,
    pub leftovers: Vec<String>,
    /// Cloud calls made during the scenario, and how many of them changed something.
    pub cloud_calls: u64,
    pub mutating_calls: u64,
    pub samples: usize,
    pub seconds: f64,
    pub notes: Vec<String>,
}

impl Row {
    /// An empty row for the scenario `name` of `group`, whose fault is `fault`.
    pub fn new(name: &str, group: &str, fault: &str, cloud: Cloud) -> Row {
        Row {
            scenario: name.into(),
            group: group.into(),
            fault: fault.into(),
            cloud,
            passed: false,
            error: None,
            metrics: Metrics::default(),
            invariants: BTreeMap::new(),
            leftovers: Vec::new(),
            cloud_calls: 0,
            mutating_calls: 0,
            samples: 0,
            seconds: 0.0,
            notes: Vec::new(),
        }
    }

    pub fn finish(&mut self, r: &Run, took: Duration) {
        for name in NAMES {
            self.invariants.insert(
                name.to_string(),
                r.checker.violations.get(name).cloned().unwrap_or_default(),
            );
        }
        self.cloud_calls = r.calls;
        self.mutating_calls = r.mutating_calls;
        self.samples = r.checker.samples;
        self.seconds = (took.as_secs_f64() * 10.0).round() / 10.0;
        self.notes = r.notes.clone();
        if self.error.is_none() && self.metrics.recovery_ms.is_none() {
            self.error = Some("did not recover within the scenario's limit".into());
        }
        self.passed = self.error.is_none() && r.checker.passed();
    }

    /// The invariants that broke.
    pub fn broken(&self) -> Vec<&str> {
        self.invariants
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, _)| k.as_str())
            .collect()
    }
}

fn secs(ms: Option<u64>) -> String {
    ms.map_or("—".into(), |ms| format!("{:.1}", ms as f64 / 1000.0))
}

/// The rows as a Markdown table, with what each failure was under it.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | group | cloud | reaction s | repair s | recovery s | downtime s | invariants | cloud calls (mutating) | result |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let broken = r.broken();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.1} | {} | {} ({}) | {} |\n",
            r.scenario,
            r.group,
            r.cloud.name(),
            secs(r.metrics.reaction_ms),
            secs(r.metrics.repair_ms),
            secs(r.metrics.recovery_ms),
            r.metrics.downtime_ms as f64 / 1000.0,
            if broken.is_empty() {
                format!("{}/{} held", NAMES.len(), NAMES.len())
            } else {
                format!("broken: {}", broken.join(", "))
            },
            r.cloud_calls,
            r.mutating_calls,
            if r.passed { "pass" } else { "FAIL" },
        ));
    }
    for r in rows.iter().filter(|r| !r.passed) {
        out.push_str(&format!("\n**{}** failed:", r.scenario));
        if let Some(e) = &r.error {
            let first = e.lines().next().unwrap_or_default();
            out.push_str(&format!(" {first}."));
        }
        for (name, v) in r.invariants.iter().filter(|(_, v)| !v.is_empty()) {
            out.push_str(&format!(" `{name}`: {}.", v.join("; ")));
        }
        out.push('\n');
    }
    out
}

pub fn json(rows: &[Row]) -> String {
    serde_json::to_string_pretty(rows).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
