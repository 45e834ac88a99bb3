//! Fault injection: latency, throttling with a token bucket, 5xx errors, dropped connections
//! and eventual consistency, per service and action, each firing always, once, every Nth
//! matching call, or with a probability drawn from a seeded generator (so a run can be
//! replayed exactly).
//!
//! A rule in a world file or in `POST /_mockcloud/faults`:
//!
//! ```yaml
//! - service: ec2                 # ec2 | elbv2 | * (default *)
//!   action: AssignPrivateIpAddresses   # an action, or a pattern with * and ? (default *)
//!   kind: error                  # latency | throttle | error | drop | eventual_consistency
//!   status: 503                  # error: 500 or 503 (code defaults to the service's own)
//!   trigger: {every_nth: 3}      # always | once | {every_nth: N} | {probability: {p: 0.2, seed: 7}}
//! - {kind: latency, ms: 200}
//! - {service: ec2, kind: throttle, rate_per_sec: 5, burst: 10}
//! - {action: CreateNetworkInterface, kind: eventual_consistency, ms: 1500}
//! - {action: DescribeInstances, kind: drop, trigger: once}
//! ```

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::awserror::AwsError;
use crate::ids::splitmix64;
use crate::query::wildcard_match;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    #[serde(default = "any")]
    pub service: String,
    #[serde(default = "any")]
    pub action: String,
    #[serde(flatten)]
    pub kind: FaultKind,
    #[serde(default)]
    pub trigger: Trigger,
}

fn any() -> String {
    "*".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer after this long.
    Latency { ms: u64 },
    /// A token bucket: `burst` calls at once, refilled at `rate_per_sec`; beyond it the
    /// service's throttling error (EC2 `RequestLimitExceeded` with HTTP 503, ELBv2
    /// `Throttling` with HTTP 400). The trigger does not apply: the bucket decides.
    Throttle { rate_per_sec: f64, burst: u32 },
    /// A server error; `code` defaults to the service's own for the status.
    Error {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
    /// Close the connection without answering.
    Drop,
    /// What the call creates or assigns stays invisible to `Describe*` for this long.
    EventualConsistency { ms: u64 },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TriggerRepr", into = "TriggerRepr")]
pub enum Trigger {
    #[default]
    Always,
    Once,
    EveryNth(u64),
    Probability {
        p: f64,
        seed: u64,
    },
}

/// The written form of a trigger, the same in YAML and JSON: `always`, `once`,
/// `{every_nth: 3}`, `{probability: {p: 0.2, seed: 7}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum TriggerRepr {
    Word(String),
    EveryNth { every_nth: u64 },
    Probability { probability: Probability },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Probability {
    p: f64,
    seed: u64,
}

impl TryFrom<TriggerRepr> for Trigger {
    type Error = String;
    fn try_from(r: TriggerRepr) -> Result<Trigger, String> {
        match r {
            TriggerRepr::Word(w) if w == "always" => Ok(Trigger::Always),
            TriggerRepr::Word(w) if w == "once" => Ok(Trigger::Once),
            TriggerRepr::Word(w) => Err(format!(
                "unknown trigger '{w}': expected always, once, {{every_nth: N}} or {{probability: {{p, seed}}}}"
            )),
            TriggerRepr::EveryNth { every_nth } => Ok(Trigger::EveryNth(every_nth)),
            TriggerRepr::Probability { probability } => {
                if (0.0..=1.0).contains(&probability.p) {
                    Ok(Trigger::Probability {
                        p: probability.p,
                        seed: probability.seed,
                    })
                } else {
                    Err(format!("probability {} is not within 0..=1", probability.p))
                }
            }
        }
    }
}

impl From<Trigger> for TriggerRepr {
    fn from(t: Trigger) -> TriggerRepr {
        match t {
            Trigger::Always => TriggerRepr::Word("always".into()),
            Trigger::Once => TriggerRepr::Word("once".into()),
            Trigger::EveryNth(every_nth) => TriggerRepr::EveryNth { every_nth },
            Trigger::Probability { p, seed } => TriggerRepr::Probability {
                probability: Probability { p, seed },
            },
        }
    }
}

/// What the faults decided for one call.
#[derive(Debug, Default)]
pub struct Outcome {
    pub latency: Duration,
    pub error: Option<AwsError>,
    pub drop: bool,
    pub hide_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActiveRule {
    pub id: u64,
    pub rule: FaultRule,
    /// Calls the rule matched.
    pub matched: u64,
    /// Times it fired.
    pub fired: u64,
    #[serde(skip)]
    rng: u64,
    #[serde(skip)]
    bucket: Option<(f64, Instant)>,
}

impl ActiveRule {
    fn next_f64(&mut self) -> f64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn triggered(&mut self) -> bool {
        match self.rule.trigger.clone() {
            Trigger::Always => true,
            Trigger::Once => self.fired == 0,
            Trigger::EveryNth(n) => n > 0 && self.matched.is_multiple_of(n),
            Trigger::Probability { p, .. } => self.next_f64() < p,
        }
    }

    /// Takes a token; false when the bucket is empty.
    fn take_token(&mut self, rate: f64, burst: u32, now: Instant) -> bool {
        let cap = f64::from(burst);
        let (tokens, last) = self.bucket.unwrap_or((cap, now));
        let elapsed = now.saturating_duration_since(last).as_secs_f64();
        let tokens = (tokens + elapsed * rate.max(0.0)).min(cap);
        if tokens >= 1.0 {
            self.bucket = Some((tokens - 1.0, now));
            true
        } else {
            self.bucket = Some((tokens, now));
            false
        }
    }
}

/// The throttling error of a service.
pub fn throttled(service: &str) -> AwsError {
    match service {
        "ec2" => AwsError::server(503, "RequestLimitExceeded", "Request limit exceeded."),
        _ => AwsError::client("Throttling", "Rate exceeded"),
    }
}

fn server_error(service: &str, status: u16, code: Option<&str>) -> AwsError {
    let code = code.map(str::to_string).unwrap_or_else(|| {
        match (service, status) {
            ("ec2", 503) => "Unavailable",
            (_, 503) => "ServiceUnavailable",
            ("ec2", _) => "InternalError",
            _ => "InternalFailure",
        }
        .to_string()
    });
    AwsError::server(
        status,
        code,
        "The service failed to process the request (injected fault).",
    )
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Faults {
    rules: Vec<ActiveRule>,
    next_id: u64,
}

impl Faults {
    pub fn new(rules: &[FaultRule]) -> Faults {
        let mut f = Faults::default();
        for r in rules {
            f.add(r.clone());
        }
        f
    }

    pub fn add(&mut self, rule: FaultRule) -> u64 {
        self.next_id += 1;
        let seed = match rule.trigger {
            Trigger::Probability { seed, .. } => seed,
            _ => self.next_id,
        };
        self.rules.push(ActiveRule {
            id: self.next_id,
            rule,
            matched: 0,
            fired: 0,
            rng: splitmix64(seed) | 1,
            bucket: None,
        });
        self.next_id
    }

    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        self.rules.len() != before
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn rules(&self) -> &[ActiveRule] {
        &self.rules
    }

    /// Decides the faults of one call to `service`'s `action`.
    pub fn evaluate(&mut self, service: &str, action: &str, now: Instant) -> Outcome {
        let mut out = Outcome::default();
        for r in &mut self.rules {
            let service_ok = r.rule.service == "*" || r.rule.service == service;
            if !service_ok || !wildcard_match(&r.rule.action, action) {
                continue;
            }
            r.matched += 1;
            if let FaultKind::Throttle {
                rate_per_sec,
                burst,
            } = r.rule.kind
            {
                if !r.take_token(rate_per_sec, burst, now) {
                    r.fired += 1;
                    out.error.get_or_insert_with(|| throttled(service));
                }
                continue;
            }
            if !r.triggered() {
                continue;
            }
            r.fired += 1;
            match &r.rule.kind {
                FaultKind::Latency { ms } => out.latency += Duration::from_millis(*ms),
                FaultKind::Error { status, code } => {
                    out.error
                        .get_or_insert_with(|| server_error(service, *status, code.as_deref()));
                }
                FaultKind::Drop => out.drop = true,
                FaultKind::EventualConsistency { ms } => out.hide_ms = out.hide_ms.max(*ms),
                FaultKind::Throttle { .. } => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: FaultKind, trigger: Trigger) -> FaultRule {
        FaultRule {
            service: "*".into(),
            action: "Describe*".into(),
            kind,
            trigger,
        }
    }

    #[test]
    fn every_nth_once_and_patterns() {
        let now = Instant::now();
        let mut f = Faults::new(&[rule(FaultKind::Drop, Trigger::EveryNth(3))]);
        let drops: Vec<bool> = (0..6)
            .map(|_| f.evaluate("ec2", "DescribeVpcs", now).drop)
            .collect();
        assert_eq!(drops, [false, false, true, false, false, true]);
        assert!(!f.evaluate("ec2", "CreateVpc", now).drop);
        let mut f = Faults::new(&[rule(
            FaultKind::Error {
                status: 500,
                code: None,
            },
            Trigger::Once,
        )]);
        assert_eq!(
            f.evaluate("ec2", "DescribeVpcs", now).error.unwrap().code,
            "InternalError"
        );
        assert!(f.evaluate("ec2", "DescribeVpcs", now).error.is_none());
    }

    #[test]
    fn probability_is_reproducible_from_the_seed() {
        let now = Instant::now();
        let run = |seed| {
            let mut f =
                Faults::new(&[rule(FaultKind::Drop, Trigger::Probability { p: 0.5, seed })]);
            (0..64)
                .map(|_| f.evaluate("ec2", "DescribeVpcs", now).drop)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let hits = run(7).iter().filter(|d| **d).count();
        assert!((16..48).contains(&hits), "{hits}");
    }

    #[test]
    fn the_bucket_throttles_in_each_services_format() {
        let now = Instant::now();
        let mut f = Faults::new(&[rule(
            FaultKind::Throttle {
                rate_per_sec: 1.0,
                burst: 2,
            },
            Trigger::Always,
        )]);
        assert!(f.evaluate("ec2", "DescribeVpcs", now).error.is_none());
        assert!(f.evaluate("ec2", "DescribeVpcs", now).error.is_none());
        let e = f.evaluate("ec2", "DescribeVpcs", now).error.unwrap();
        assert_eq!((e.code.as_str(), e.status), ("RequestLimitExceeded", 503));
        let e = f.evaluate("elbv2", "DescribeTags", now).error.unwrap();
        assert_eq!((e.code.as_str(), e.status), ("Throttling", 400));
        let later = now + Duration::from_millis(1500);
        assert!(f.evaluate("ec2", "DescribeVpcs", later).error.is_none());
    }

    #[test]
    fn rules_parse_from_yaml() {
        let rules: Vec<FaultRule> = serde_yaml::from_str(
            "- {service: ec2, action: AssignPrivateIpAddresses, kind: error, status: 503, trigger: {every_nth: 3}}\n\
             - {kind: latency, ms: 200}\n\
             - {kind: drop, trigger: {probability: {p: 0.2, seed: 7}}}\n\
             - {kind: throttle, rate_per_sec: 5, burst: 10}\n\
             - {action: CreateNetworkInterface, kind: eventual_consistency, ms: 1500, trigger: once}\n",
        )
        .unwrap();
        assert_eq!(rules.len(), 5);
        assert_eq!(rules[0].trigger, Trigger::EveryNth(3));
        assert_eq!(rules[1].service, "*");
    }
}
