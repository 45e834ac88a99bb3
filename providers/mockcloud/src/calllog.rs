//! Who called what: every query-protocol call with its caller, the access key id of its SigV4
//! `Authorization` header (`Credential=AKID/date/region/service/aws4_request`), or
//! `anonymous` for an unsigned call.
//!
//! Two views, both served on the control endpoint:
//! - counts per caller and `service:Action`, kept whole for the cloud's life (`GET calls?by=caller`);
//! - the calls in order (`GET call-log`), the newest [`CallLog::CAPACITY`] of them: older ones
//!   are dropped and counted, so a long run cannot grow the mock cloud without bound.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

/// The caller of an unsigned call.
pub const ANONYMOUS: &str = "anonymous";

/// The caller a request's `Authorization` header names.
pub fn caller_of(authorization: Option<&str>) -> String {
    authorization
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|cred| cred.split([',', ' ']).next())
        .and_then(|cred| cred.split('/').next())
        .filter(|akid| !akid.is_empty())
        .unwrap_or(ANONYMOUS)
        .to_string()
}

/// One call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    /// 1 for the first call since the start or the last reset.
    pub seq: u64,
    /// Milliseconds since the mock cloud started.
    pub at_ms: u64,
    pub caller: String,
    /// `service:Action`, as in the call counters.
    pub call: String,
    /// Refused by IAM (see [`crate::iam`]): the call did nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub denied: bool,
}

#[derive(Debug, Default)]
pub struct CallLog {
    recent: VecDeque<CallRecord>,
    last_seq: u64,
    dropped: u64,
    by_caller: BTreeMap<String, BTreeMap<String, u64>>,
    denied_by_caller: BTreeMap<String, BTreeMap<String, u64>>,
}

/// `GET call-log`'s answer.
#[derive(Debug, Serialize)]
pub struct CallLogPage {
    /// Calls with a `seq` above the one asked for, oldest first.
    pub calls: Vec<CallRecord>,
    /// The `seq` of the newest call (ask `since=` this next time).
    pub last_seq: u64,
    /// Calls no longer kept (older than the newest [`CallLog::CAPACITY`]).
    pub dropped: u64,
}

impl CallLog {
    /// Calls kept in order.
    pub const CAPACITY: usize = 100_000;

    pub fn record(&mut self, at_ms: u64, caller: &str, call: &str) {
        self.record_outcome(at_ms, caller, call, false);
    }

    /// Records a call, `denied` when IAM refused it.
    pub fn record_outcome(&mut self, at_ms: u64, caller: &str, call: &str, denied: bool) {
        self.last_seq += 1;
        if denied {
            *self
                .denied_by_caller
                .entry(caller.to_string())
                .or_default()
                .entry(call.to_string())
                .or_insert(0) += 1;
        }
        *self
            .by_caller
            .entry(caller.to_string())
            .or_default()
            .entry(call.to_string())
            .or_insert(0) += 1;
        if self.recent.len() == Self::CAPACITY {
            self.recent.pop_front();
            self.dropped += 1;
        }
        self.recent.push_back(CallRecord {
            seq: self.last_seq,
            at_ms,
            caller: caller.to_string(),
            call: call.to_string(),
            denied,
        });
    }

    /// Marks the newest call of `caller` to `call` (already recorded) as refused by the
    /// cloud's permission check, and counts it as denied.
    pub fn mark_denied(&mut self, caller: &str, call: &str) {
        if let Some(r) = self
            .recent
            .iter_mut()
            .rev()
            .find(|r| r.caller == caller && r.call == call)
        {
            r.denied = true;
        }
        *self
            .denied_by_caller
            .entry(caller.to_string())
            .or_default()
            .entry(call.to_string())
            .or_insert(0) += 1;
    }

    /// Calls per caller, then per `service:Action`.
    pub fn by_caller(&self) -> &BTreeMap<String, BTreeMap<String, u64>> {
        &self.by_caller
    }

    /// Calls IAM refused, per caller, then per `service:Action` (kept whole).
    pub fn denied_by_caller(&self) -> &BTreeMap<String, BTreeMap<String, u64>> {
        &self.denied_by_caller
    }

    /// The callers that made a call matching `is`, e.g. every call but reads.
    pub fn callers_of(&self, is: impl Fn(&str) -> bool) -> Vec<String> {
        self.by_caller
            .iter()
            .filter(|(_, calls)| calls.keys().any(|c| is(c)))
            .map(|(caller, _)| caller.clone())
            .collect()
    }

    /// The kept calls after `since`.
    pub fn page(&self, since: u64) -> CallLogPage {
        CallLogPage {
            calls: self
                .recent
                .iter()
                .filter(|r| r.seq > since)
                .cloned()
                .collect(),
            last_seq: self.last_seq,
            dropped: self.dropped,
        }
    }

    pub fn clear(&mut self) {
        *self = CallLog::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caller_is_the_access_key_id_of_the_credential_scope() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDA/20261125/us-west-2/ec2/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(caller_of(Some(auth)), "AKIDA");
        assert_eq!(caller_of(None), ANONYMOUS);
        assert_eq!(caller_of(Some("Bearer x")), ANONYMOUS);
        assert_eq!(caller_of(Some("AWS4-HMAC-SHA256 Credential=/x")), ANONYMOUS);
    }

    #[test]
    fn counts_stay_whole_while_the_ordered_log_keeps_the_newest() {
        let mut log = CallLog::default();
        for i in 0..CallLog::CAPACITY + 5 {
            let caller = if i % 2 == 0 { "A" } else { "B" };
            log.record(i as u64, caller, "ec2:DescribeVpcs");
        }
        let total: u64 = log.by_caller().values().flat_map(|m| m.values()).sum();
        assert_eq!(total, CallLog::CAPACITY as u64 + 5);
        let page = log.page(0);
        assert_eq!(page.calls.len(), CallLog::CAPACITY);
        assert_eq!(page.dropped, 5);
        assert_eq!(page.calls[0].seq, 6);
        assert_eq!(log.page(page.last_seq - 1).calls.len(), 1);
        assert_eq!(log.callers_of(|c| c.ends_with("Vpcs")), ["A", "B"]);
        assert!(log.callers_of(|c| c.starts_with("elbv2:")).is_empty());
        log.record_outcome(1, "C", "ec2:CreateVpc", true);
        assert!(log.page(0).calls.last().unwrap().denied);
        assert_eq!(log.denied_by_caller()["C"]["ec2:CreateVpc"], 1);
        assert_eq!(log.by_caller()["C"]["ec2:CreateVpc"], 1);
        log.clear();
        assert!(log.page(0).calls.is_empty() && log.by_caller().is_empty());
        assert!(log.denied_by_caller().is_empty());
    }
}
