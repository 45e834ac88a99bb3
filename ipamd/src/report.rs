//! Reporting a lasting disagreement between the `NodeNetwork` status and the instance
//! metadata: besides the `cloudnet_ipamd_disagreements{side}` gauge, a Kubernetes Event on
//! the node's `NodeNetwork` and a condition on the `Node`, each written when the set of
//! disagreeing blocks changes, never on every pass. Nothing is resolved here: the blocks stay
//! out of the pool until both sources agree.
//!
//! ```text
//!  findings (past the lag allowance) --changed?--> Event  Warning AddressSourcesDisagree  (NodeNetwork)
//!                                                         Normal  AddressSourcesAgree     (when it clears)
//!                                              --> Node status.conditions[PodAddressSourcesAgree]
//! ```
//!
//! The condition goes on the `Node` (strategic merge by `type`, as node-problem-detector
//! writes its conditions) because the allocator owns the `NodeNetwork` status and rewrites
//! its conditions on every round.

use std::collections::BTreeSet;

use cloudnet_crds::node_network::NodeNetwork;
use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// The Node condition: `True` while both sources agree on every block.
pub const CONDITION: &str = "PodAddressSourcesAgree";
/// The Event reason when blocks disagree past the lag allowance.
pub const DISAGREE: &str = "AddressSourcesDisagree";
/// The Event reason when a disagreement has cleared.
pub const AGREE: &str = "AddressSourcesAgree";

/// One disagreement: the side that has the block (`status_only`, `metadata_only`), the
/// interface and the block.
pub type Finding = (&'static str, String, Ipv4Net);

/// `status only: eni-a 10.0.2.0/28; metadata only: eni-b 10.0.1.20/32`.
pub fn describe(findings: &BTreeSet<Finding>) -> String {
    let mut parts = Vec::new();
    for (side, label) in [
        ("status_only", "in the NodeNetwork status only"),
        ("metadata_only", "in the instance metadata only"),
    ] {
        let blocks: Vec<String> = findings
            .iter()
            .filter(|(s, _, _)| *s == side)
            .map(|(_, iface, block)| format!("{iface} {block}"))
            .collect();
        if !blocks.is_empty() {
            parts.push(format!("{label}: {}", blocks.join(", ")));
        }
    }
    parts.join("; ")
}

/// The strategic merge patch of the Node's status for `findings`; the transition time is
/// set only when the condition's status changes.
pub fn condition_patch(findings: &BTreeSet<Finding>, transition: bool, now: &str) -> Value {
    let mut condition = if findings.is_empty() {
        json!({"type": CONDITION, "status": "True", "reason": "SourcesAgree",
               "message": "the NodeNetwork status and the instance metadata agree on every address block"})
    } else {
        json!({"type": CONDITION, "status": "False", "reason": "SourcesDisagree",
               "message": format!("blocks not handed out until both sources agree: {}", describe(findings))})
    };
    condition["lastHeartbeatTime"] = json!(now);
    if transition {
        condition["lastTransitionTime"] = json!(now);
    }
    json!({"status": {"conditions": [condition]}})
}

/// Writes the Event and the condition when the findings change.
pub struct DisagreementReporter {
    client: kube::Client,
    node: String,
    recorder: Recorder,
    /// What the last Event said (`None`: nothing reported yet).
    evented: Option<BTreeSet<Finding>>,
    /// What the condition says (`None`: not written yet).
    conditioned: Option<BTreeSet<Finding>>,
}

impl DisagreementReporter {
    pub fn new(client: kube::Client, node: &str) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "cloudnet-ipamd".into(),
                instance: Some(node.to_string()),
            },
        );
        DisagreementReporter {
            client,
            node: node.to_string(),
            recorder,
            evented: None,
            conditioned: None,
        }
    }

    /// Reports `findings` if they differ from what was reported; a failed write is tried
    /// again on the next pass.
    pub async fn report(&mut self, nn: &NodeNetwork, findings: &[Finding]) -> Result<()> {
        let now: BTreeSet<Finding> = findings.iter().cloned().collect();
        if self.evented.as_ref() != Some(&now) {
            let cleared = self.evented.as_ref().is_some_and(|e| !e.is_empty());
            let event = if !now.is_empty() {
                Some(Event {
                    type_: EventType::Warning,
                    reason: DISAGREE.into(),
                    note: Some(
                        format!(
                            "NodeNetwork status and instance metadata disagree; not handed out: {}",
                            describe(&now)
                        )
                        .chars()
                        .take(1000)
                        .collect(),
                    ),
                    action: "SyncPool".into(),
                    secondary: None,
                })
            } else if cleared {
                Some(Event {
                    type_: EventType::Normal,
                    reason: AGREE.into(),
                    note: Some("NodeNetwork status and instance metadata agree again".into()),
                    action: "SyncPool".into(),
                    secondary: None,
                })
            } else {
                None
            };
            if let Some(event) = event {
                self.recorder.publish(&event, &nn.object_ref(&())).await?;
            }
            self.evented = Some(now.clone());
        }
        if self.conditioned.as_ref() != Some(&now) {
            let transition = self
                .conditioned
                .as_ref()
                .is_none_or(|c| c.is_empty() != now.is_empty());
            let stamp = serde_json::to_value(Time(Timestamp::now())).map_err(Error::Encode)?;
            let stamp = stamp.as_str().unwrap_or_default();
            let api: Api<Node> = Api::all(self.client.clone());
            api.patch_status(
                &self.node,
                &PatchParams::default(),
                &Patch::Strategic(condition_patch(&now, transition, stamp)),
            )
            .await?;
            self.conditioned = Some(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_described_by_side_and_the_condition_flips() {
        let b = |s: &str| s.parse::<Ipv4Net>().unwrap();
        let f: BTreeSet<Finding> = [
            ("status_only", "eni-a".to_string(), b("10.0.2.0/28")),
            ("metadata_only", "eni-b".to_string(), b("10.0.1.20/32")),
            ("status_only", "eni-a".to_string(), b("10.0.0.13/32")),
        ]
        .into();
        assert_eq!(
            describe(&f),
            "in the NodeNetwork status only: eni-a 10.0.0.13/32, eni-a 10.0.2.0/28; \
             in the instance metadata only: eni-b 10.0.1.20/32"
        );
        let p = condition_patch(&f, true, "2026-12-01T00:00:00Z");
        let c = &p["status"]["conditions"][0];
        assert_eq!(c["type"], CONDITION);
        assert_eq!(c["status"], "False");
        assert_eq!(c["lastTransitionTime"], "2026-12-01T00:00:00Z");
        let p = condition_patch(&BTreeSet::new(), false, "2026-12-01T00:00:05Z");
        let c = &p["status"]["conditions"][0];
        assert_eq!(c["status"], "True");
        assert!(c.get("lastTransitionTime").is_none());
    }
}
