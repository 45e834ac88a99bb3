//! Fault injection: latency, throttling with a token bucket, 5xx errors, dropped connections
//! and eventual consistency, per service and action, each firing always, once, every Nth
//! matching call, or with a probability drawn from a seeded generator (so a run can be
//! replayed exactly).
//!
//! A rule in a world file or in `POST /_mockcloud/faults`:
//!
//! ```yaml
//! - service: ec2                 # ec2 | elbv2 | compute | arm | * (default *)
//!   action: AssignPrivateIpAddresses   # an action, or a pattern with * and ? (default *)
//!   kind: error                  # latency | throttle | error | drop | eventual_consistency | operation_running
//!   status: 503                  # error: 500 or 503 (code defaults to the service's own), or
//!                                #   429: the service's own throttling answer
//!   trigger: {every_nth: 3}      # always | once | {every_nth: N} | {probability: {p: 0.2, seed: 7}}
//! - {kind: latency, ms: 200}
//! - {service: ec2, kind: throttle, rate_per_sec: 5, burst: 10}
//! - {action: CreateNetworkInterface, kind: eventual_consistency, ms: 1500}
//! - {action: DescribeInstances, kind: drop, trigger: once}
//! - {service: compute, action: "instances.*", kind: throttle, rate_per_sec: 2, burst: 4}
//! - {service: compute, action: "*.insert", kind: operation_running, ms: 3000}
//! ```
//!
//! Compute Engine's actions are its API methods (`instances.updateNetworkInterface`,
//! `zoneOperations.get`); its throttling is 429 `rateLimitExceeded`, its server errors
//! 500 `backendError` and 503 `unavailable`, and `operation_running` keeps the operations
//! of matching calls `RUNNING` for `ms`.
//!
//! Azure Resource Manager's actions (`arm`) are RBAC operations
//! (`Microsoft.Network/virtualNetworks/subnets/write`); its throttling is 429
//! `TooManyRequests` with `Retry-After`, its server errors 500 `InternalServerError` and 503
//! `ServiceUnavailable`, and `operation_running` keeps matching writes `InProgress` for `ms`.
//!
//! A key the format does not know, or one that does not belong to the rule's kind (`ms` on an
//! `error` rule), is refused and named: a misspelled `trigger:` must not leave a rule firing
//! on every call.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::awserror::AwsError;
use crate::ids::splitmix64;
use crate::query::wildcard_match;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "FaultRuleRepr")]
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

/// The written form of a rule: every key of every kind in one flat map, so unknown keys are
/// refused (`deny_unknown_fields` does not work through `#[serde(flatten)]`), then checked
/// against the kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRuleRepr {
    #[serde(default = "any")]
    service: String,
    #[serde(default = "any")]
    action: String,
    kind: KindName,
    #[serde(default)]
    trigger: Trigger,
    ms: Option<u64>,
    rate_per_sec: Option<f64>,
    burst: Option<u32>,
    status: Option<u16>,
    code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindName {
    Latency,
    Throttle,
    Error,
    Drop,
    EventualConsistency,
    OperationRunning,
}

impl KindName {
    fn as_str(self) -> &'static str {
        match self {
            KindName::Latency => "latency",
            KindName::Throttle => "throttle",
            KindName::Error => "error",
            KindName::Drop => "drop",
            KindName::EventualConsistency => "eventual_consistency",
            KindName::OperationRunning => "operation_running",
        }
    }
}

impl TryFrom<FaultRuleRepr> for FaultRule {
    type Error = String;
    fn try_from(r: FaultRuleRepr) -> Result<FaultRule, String> {
        let kind_name = r.kind.as_str();
        let given = [
            ("ms", r.ms.is_some()),
            ("rate_per_sec", r.rate_per_sec.is_some()),
            ("burst", r.burst.is_some()),
            ("status", r.status.is_some()),
            ("code", r.code.is_some()),
        ];
        let allowed: &[&str] = match r.kind {
            KindName::Latency | KindName::EventualConsistency | KindName::OperationRunning => {
                &["ms"]
            }
            KindName::Throttle => &["rate_per_sec", "burst"],
            KindName::Error => &["status", "code"],
            KindName::Drop => &[],
        };
        if let Some((key, _)) = given
            .iter()
            .find(|(key, set)| *set && !allowed.contains(key))
        {
            return Err(format!(
                "unknown field `{key}` for kind {kind_name}, expected {}",
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            ));
        }
        let need = |key: &str| format!("missing field `{key}` for kind {kind_name}");
        let kind = match r.kind {
            KindName::Latency => FaultKind::Latency {
                ms: r.ms.ok_or_else(|| need("ms"))?,
            },
            KindName::EventualConsistency => FaultKind::EventualConsistency {
                ms: r.ms.ok_or_else(|| need("ms"))?,
            },
            KindName::Throttle => FaultKind::Throttle {
                rate_per_sec: r.rate_per_sec.ok_or_else(|| need("rate_per_sec"))?,
                burst: r.burst.ok_or_else(|| need("burst"))?,
            },
            KindName::Error => {
                let status = r.status.ok_or_else(|| need("status"))?;
                if !matches!(status, 429 | 500 | 503) {
                    return Err(format!("status {status} is not 429, 500 or 503"));
                }
                if status == 429 && r.code.is_some() {
                    return Err(
                        "status 429 answers the service's own throttling error; it takes no code"
                            .to_string(),
                    );
                }
                FaultKind::Error {
                    status,
                    code: r.code,
                }
            }
            KindName::Drop => FaultKind::Drop,
            KindName::OperationRunning => FaultKind::OperationRunning {
                ms: r.ms.ok_or_else(|| need("ms"))?,
            },
        };
        Ok(FaultRule {
            service: r.service,
            action: r.action,
            kind,
            trigger: r.trigger,
        })
    }
}

/// What a rule does. Written through [`FaultRule`]'s flat form, which checks the keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer after this long.
    Latency { ms: u64 },
    /// A token bucket: `burst` calls at once, refilled at `rate_per_sec`; beyond it the
    /// service's throttling error (EC2 `RequestLimitExceeded` with HTTP 503, ELBv2
    /// `Throttling` with HTTP 400). The trigger does not apply: the bucket decides.
    Throttle { rate_per_sec: f64, burst: u32 },
    /// A server error; `code` defaults to the service's own for the status. Status 429 is
    /// the service's throttling answer as [`throttled`] gives it (EC2 503
    /// `RequestLimitExceeded`, Compute Engine 429 `rateLimitExceeded`, ARM 429
    /// `TooManyRequests` with `Retry-After`), fired by the trigger rather than a bucket, so
    /// a share of all calls can be throttled.
    Error {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
    /// Close the connection without answering.
    Drop,
    /// What the call creates or assigns stays invisible to `Describe*` for this long.
    EventualConsistency { ms: u64 },
    /// Compute Engine: the call's operation stays `RUNNING` for this long.
    OperationRunning { ms: u64 },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TriggerForm", into = "TriggerRepr")]
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
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
enum TriggerRepr {
    Word(String),
    EveryNth { every_nth: u64 },
    Probability { probability: Probability },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Probability {
    p: f64,
    seed: u64,
}

/// A trigger as read: a word or a map. Read by hand rather than `#[serde(untagged)]`, whose
/// one error ("did not match any variant") would hide which key was wrong.
enum TriggerForm {
    Word(String),
    Map(TriggerMap),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerMap {
    every_nth: Option<u64>,
    probability: Option<Probability>,
}

impl<'de> Deserialize<'de> for TriggerForm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TriggerForm;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("always, once, {every_nth: N} or {probability: {p, seed}}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TriggerForm, E> {
                Ok(TriggerForm::Word(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<TriggerForm, A::Error> {
                TriggerMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(TriggerForm::Map)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl TryFrom<TriggerForm> for Trigger {
    type Error = String;
    fn try_from(r: TriggerForm) -> Result<Trigger, String> {
        match r {
            TriggerForm::Word(w) => TriggerRepr::Word(w).try_into(),
            TriggerForm::Map(TriggerMap {
                every_nth: Some(every_nth),
                probability: None,
            }) => TriggerRepr::EveryNth { every_nth }.try_into(),
            TriggerForm::Map(TriggerMap {
                every_nth: None,
                probability: Some(probability),
            }) => TriggerRepr::Probability { probability }.try_into(),
            TriggerForm::Map(_) => {
                Err("a trigger map holds exactly one of every_nth and probability".to_string())
            }
        }
    }
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

/// Rules from a JSON body (`POST /_mockcloud/faults`): one rule or a list. An error names
/// `source`, the line and column, and an unknown key.
pub fn rules_from_json(body: &[u8], source: &str) -> crate::error::Result<Vec<FaultRule>> {
    let list = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let parsed = if list {
        serde_json::from_slice(body)
    } else {
        serde_json::from_slice(body).map(|r| vec![r])
    };
    parsed.map_err(|e| crate::error::Error::json(source, &e))
}

/// Rules from YAML (a list, as under `faults:` in a world file), errors naming `source`.
pub fn rules_from_yaml(text: &str, source: &str) -> crate::error::Result<Vec<FaultRule>> {
    serde_yaml::from_str(text).map_err(|e| crate::error::Error::yaml(source, &e))
}

/// What the faults decided for one call.
#[derive(Debug, Default)]
pub struct Outcome {
    pub latency: Duration,
    pub error: Option<AwsError>,
    pub drop: bool,
    pub hide_ms: u64,
    /// How long the call's Compute Engine operation stays `RUNNING`.
    pub running_ms: u64,
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
        "compute" => AwsError::server(
            429,
            "rateLimitExceeded",
            "Rate Limit Exceeded: compute.googleapis.com per-minute requests",
        ),
        "arm" => AwsError::server(
            429,
            "TooManyRequests",
            "The request is being throttled (injected fault).",
        ),
        _ => AwsError::client("Throttling", "Rate exceeded"),
    }
}

fn server_error(service: &str, status: u16, code: Option<&str>) -> AwsError {
    let code = code.map(str::to_string).unwrap_or_else(|| {
        match (service, status) {
            ("ec2", 503) => "Unavailable",
            ("compute", 503) => "unavailable",
            ("compute", _) => "backendError",
            ("arm", 503) => "ServiceUnavailable",
            ("arm", _) => "InternalServerError",
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
                FaultKind::Error { status: 429, .. } => {
                    out.error.get_or_insert_with(|| throttled(service));
                }
                FaultKind::Error { status, code } => {
                    out.error
                        .get_or_insert_with(|| server_error(service, *status, code.as_deref()));
                }
                FaultKind::Drop => out.drop = true,
                FaultKind::EventualConsistency { ms } => out.hide_ms = out.hide_ms.max(*ms),
                FaultKind::OperationRunning { ms } => out.running_ms = out.running_ms.max(*ms),
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
    fn a_429_error_rule_throttles_in_each_services_own_format() {
        let now = Instant::now();
        let rule: Vec<FaultRule> = rules_from_json(
            br#"{"kind": "error", "status": 429, "trigger": {"every_nth": 2}}"#,
            "test",
        )
        .unwrap();
        let mut f = Faults::new(&rule);
        assert!(f.evaluate("compute", "instances.get", now).error.is_none());
        let e = f.evaluate("compute", "instances.get", now).error.unwrap();
        assert_eq!((e.status, e.code.as_str()), (429, "rateLimitExceeded"));
        f.evaluate("arm", "Microsoft.Network/networkInterfaces/read", now);
        let e = f
            .evaluate("arm", "Microsoft.Network/networkInterfaces/read", now)
            .error
            .unwrap();
        assert_eq!((e.status, e.code.as_str()), (429, "TooManyRequests"));
        f.evaluate("ec2", "DescribeInstances", now);
        let e = f.evaluate("ec2", "DescribeInstances", now).error.unwrap();
        assert_eq!((e.status, e.code.as_str()), (503, "RequestLimitExceeded"));
        let refused = rules_from_json(
            br#"{"kind": "error", "status": 429, "code": "Throttling"}"#,
            "test",
        );
        assert!(refused.unwrap_err().to_string().contains("takes no code"));
        assert!(
            rules_from_json(br#"{"kind": "error", "status": 404}"#, "test")
                .unwrap_err()
                .to_string()
                .contains("not 429, 500 or 503")
        );
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
        let e = f.evaluate("compute", "DescribeX", now).error.unwrap();
        assert_eq!((e.code.as_str(), e.status), ("rateLimitExceeded", 429));
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

    fn yaml_err(text: &str) -> crate::Error {
        rules_from_yaml(text, "faults.yaml").unwrap_err()
    }

    #[test]
    fn a_misspelled_trigger_is_refused_naming_file_line_and_key() {
        let e = yaml_err(
            "- {kind: latency, ms: 10}\n\
             - kind: drop\n  action: DescribeVpcs\n  triger: once\n",
        );
        assert_eq!(e.unknown_key(), Some("triger"));
        let crate::Error::Config { file, line, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(file, "faults.yaml");
        // The rule is the second item, lines 2-4; the parser reports it within them.
        assert!(matches!(line, Some(2..=4)), "{e}");
        let text = e.to_string();
        assert!(text.starts_with("faults.yaml:"), "{text}");
        assert!(text.contains("`triger`"), "{text}");
    }

    #[test]
    fn a_key_of_another_kind_is_refused() {
        let e = yaml_err("- {kind: error, status: 500, ms: 10}\n");
        assert_eq!(e.unknown_key(), Some("ms"), "{e}");
        assert!(e.to_string().contains("for kind error"), "{e}");
        let e = yaml_err("- {kind: drop, burst: 3}\n");
        assert_eq!(e.unknown_key(), Some("burst"), "{e}");
    }

    #[test]
    fn missing_keys_unknown_kinds_and_bad_values_are_refused() {
        for (text, want) in [
            ("- {kind: latency}\n", "missing field `ms`"),
            (
                "- {kind: throttle, rate_per_sec: 1}\n",
                "missing field `burst`",
            ),
            (
                "- {kind: error, status: 404}\n",
                "status 404 is not 429, 500 or 503",
            ),
            ("- {kind: slow, ms: 1}\n", "unknown variant `slow`"),
            ("- {kind: drop, trigger: sometimes}\n", "unknown trigger"),
            (
                "- {kind: drop, trigger: {every_nht: 3}}\n",
                "unknown field `every_nht`",
            ),
            (
                "- {kind: drop, trigger: {probability: {p: 0.5, seed: 1, q: 2}}}\n",
                "unknown field `q`",
            ),
            (
                "- {kind: drop, trigger: {every_nth: 2, probability: {p: 0.5, seed: 1}}}\n",
                "exactly one of",
            ),
            (
                "- {kind: drop, trigger: {probability: {p: 1.5, seed: 1}}}\n",
                "not within 0..=1",
            ),
            ("- {action: X}\n", "missing field `kind`"),
        ] {
            let e = yaml_err(text);
            assert!(e.to_string().contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn json_rules_name_the_line_and_key() {
        let body = b"[{\"kind\": \"drop\"},\n {\"kind\": \"drop\", \"trigger\": \"once\",\n  \"servise\": \"ec2\"}]";
        let e = rules_from_json(body, "request").unwrap_err();
        assert_eq!(e.unknown_key(), Some("servise"), "{e}");
        let crate::Error::Config { line, column, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*line, Some(3), "{e}");
        assert!(column.is_some());
        let one = rules_from_json(b"  {\"kind\": \"drop\", \"trigger\": \"once\"}", "r").unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].trigger, Trigger::Once);
        let two = rules_from_json(
            b"[{\"kind\":\"drop\"},{\"kind\":\"latency\",\"ms\":5}]",
            "r",
        )
        .unwrap();
        assert_eq!(two[1].kind, FaultKind::Latency { ms: 5 });
    }

    #[test]
    fn rules_survive_a_round_trip_through_json() {
        let rules = rules_from_yaml(
            "- {service: ec2, action: A*, kind: error, status: 503, code: Boom, trigger: {every_nth: 3}}\n\
             - {kind: throttle, rate_per_sec: 2.5, burst: 4}\n\
             - {kind: eventual_consistency, ms: 9, trigger: {probability: {p: 0.25, seed: 3}}}\n",
            "r",
        )
        .unwrap();
        let json = serde_json::to_vec(&rules).unwrap();
        assert_eq!(rules_from_json(&json, "r").unwrap(), rules);
    }
}
