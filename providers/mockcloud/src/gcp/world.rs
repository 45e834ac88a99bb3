//! The `gcp:` section of a world file: the project, its regions and zones, quotas, and the
//! networks, subnetworks and instances it starts with. Unknown keys are refused. Without the
//! section, the built-in GKE-like world below (equal to `worlds/gcp.yaml`).
//!
//! ```yaml
//! gcp:
//!   project: cloudnet-sandbox
//!   project_number: 123456789012
//!   regions: [{name: us-central1, zones: [us-central1-a, us-central1-b, us-central1-c]}]
//!   quotas: {SUBNETWORKS: 100}        # Compute Engine quota metrics; built-in defaults otherwise
//!   networks:
//!     - name: cloudnet
//!       subnetworks:
//!         - name: cloudnet-nodes
//!           region: us-central1
//!           ip_cidr_range: 10.0.0.0/20
//!           secondary_ranges: [{name: pods, ip_cidr_range: 10.4.0.0/14}]
//!   instances:
//!     - {name: gke-node-1, zone: us-central1-a, subnetwork: cloudnet-nodes, machine_type: e2-standard-4}
//! ```
//!
//! Everything is created through the same checks as the API's inserts, so a world cannot
//! hold what the API would refuse.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Call, GcpState, Quotas, Scope};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcpWorld {
    pub project: String,
    #[serde(default = "default_project_number")]
    pub project_number: u64,
    pub regions: Vec<RegionSpec>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quotas: Quotas,
    #[serde(default)]
    pub networks: Vec<NetworkSpec>,
    #[serde(default)]
    pub instances: Vec<GceInstanceSpec>,
    /// Roles and who acts as which (see [`crate::grants`]); every call allowed without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam: Option<crate::grants::GrantSpec>,
}

fn default_project_number() -> u64 {
    123_456_789_012
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    pub name: String,
    pub zones: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub name: String,
    #[serde(default)]
    pub subnetworks: Vec<SubnetworkSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetworkSpec {
    pub name: String,
    pub region: String,
    pub ip_cidr_range: Ipv4Net,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secondary_ranges: Vec<SecondaryRangeSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondaryRangeSpec {
    pub name: String,
    pub ip_cidr_range: Ipv4Net,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GceInstanceSpec {
    pub name: String,
    pub zone: String,
    /// A subnetwork name (in the zone's region) or reference.
    pub subnetwork: String,
    #[serde(default = "default_machine_type")]
    pub machine_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_ip: Option<std::net::Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alias_ranges: Vec<AliasRangeSpec>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The instance's service account; the project's default compute one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
}

fn default_machine_type() -> String {
    "e2-standard-4".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasRangeSpec {
    /// A secondary range name; the primary range when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    /// A CIDR, an address, or a netmask such as `/24`.
    pub ip_cidr_range: String,
}

impl Default for GcpWorld {
    /// A GKE-like VPC-native project: network `cloudnet`, subnetwork `cloudnet-nodes`
    /// (10.0.0.0/20) in us-central1 with secondary ranges `pods` (10.4.0.0/14) and
    /// `services` (10.8.0.0/20), and two nodes in us-central1-a and us-central1-b.
    fn default() -> GcpWorld {
        let net = |s: &str| s.parse::<Ipv4Net>().unwrap_or_default();
        GcpWorld {
            project: "cloudnet-sandbox".into(),
            project_number: default_project_number(),
            regions: vec![
                RegionSpec {
                    name: "us-central1".into(),
                    zones: ["a", "b", "c", "f"]
                        .iter()
                        .map(|z| format!("us-central1-{z}"))
                        .collect(),
                },
                RegionSpec {
                    name: "europe-west1".into(),
                    zones: ["b", "c", "d"]
                        .iter()
                        .map(|z| format!("europe-west1-{z}"))
                        .collect(),
                },
            ],
            quotas: BTreeMap::new(),
            networks: vec![NetworkSpec {
                name: "cloudnet".into(),
                subnetworks: vec![SubnetworkSpec {
                    name: "cloudnet-nodes".into(),
                    region: "us-central1".into(),
                    ip_cidr_range: net("10.0.0.0/20"),
                    secondary_ranges: vec![
                        SecondaryRangeSpec {
                            name: "pods".into(),
                            ip_cidr_range: net("10.4.0.0/14"),
                        },
                        SecondaryRangeSpec {
                            name: "services".into(),
                            ip_cidr_range: net("10.8.0.0/20"),
                        },
                    ],
                }],
            }],
            instances: ["a", "b"]
                .iter()
                .enumerate()
                .map(|(i, z)| GceInstanceSpec {
                    name: format!("gke-cloudnet-node-{}", i + 1),
                    zone: format!("us-central1-{z}"),
                    subnetwork: "cloudnet-nodes".into(),
                    machine_type: default_machine_type(),
                    network_ip: None,
                    alias_ranges: Vec::new(),
                    labels: BTreeMap::from([("goog-gke-node".to_string(), String::new())]),
                    service_account: None,
                })
                .collect(),
            iam: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaScope {
    Global,
    Regional,
}

/// (scope, collection, metric) of the quotas enforced.
pub const QUOTA_METRICS: &[(QuotaScope, &str, &str)] = &[
    (QuotaScope::Global, "networks", "NETWORKS"),
    (QuotaScope::Global, "routes", "ROUTES"),
    (QuotaScope::Global, "firewalls", "FIREWALLS"),
    (QuotaScope::Global, "addresses", "STATIC_ADDRESSES_GLOBAL"),
    (QuotaScope::Global, "healthChecks", "HEALTH_CHECKS"),
    (QuotaScope::Global, "backendServices", "BACKEND_SERVICES"),
    (QuotaScope::Global, "urlMaps", "URL_MAPS"),
    (
        QuotaScope::Global,
        "targetHttpProxies",
        "TARGET_HTTP_PROXIES",
    ),
    (
        QuotaScope::Global,
        "targetHttpsProxies",
        "TARGET_HTTPS_PROXIES",
    ),
    (QuotaScope::Global, "sslCertificates", "SSL_CERTIFICATES"),
    (
        QuotaScope::Global,
        "forwardingRules",
        "GLOBAL_EXTERNAL_MANAGED_FORWARDING_RULES",
    ),
    (QuotaScope::Regional, "subnetworks", "SUBNETWORKS"),
    (QuotaScope::Regional, "addresses", "STATIC_ADDRESSES"),
    (QuotaScope::Regional, "forwardingRules", "FORWARDING_RULES"),
    (
        QuotaScope::Regional,
        "backendServices",
        "REGIONAL_BACKEND_SERVICES",
    ),
    (QuotaScope::Regional, "instances", "INSTANCES"),
    (
        QuotaScope::Regional,
        "networkEndpointGroups",
        "NETWORK_ENDPOINT_GROUPS",
    ),
    (QuotaScope::Regional, "instanceGroups", "INSTANCE_GROUPS"),
];

/// The quota metric counting (scope, collection), if any.
pub fn quota_metric(scope: &Scope, coll: &str) -> Option<&'static str> {
    let want = if matches!(scope, Scope::Global) {
        QuotaScope::Global
    } else {
        QuotaScope::Regional
    };
    QUOTA_METRICS
        .iter()
        .find(|(s, c, _)| *s == want && *c == coll)
        .map(|(_, _, m)| *m)
}

/// Limits of a new project (Compute Engine's usual defaults).
pub fn default_quotas() -> Quotas {
    [
        ("NETWORKS", 15),
        ("ROUTES", 250),
        ("FIREWALLS", 200),
        ("STATIC_ADDRESSES_GLOBAL", 64),
        ("HEALTH_CHECKS", 150),
        ("BACKEND_SERVICES", 100),
        ("URL_MAPS", 100),
        ("TARGET_HTTP_PROXIES", 100),
        ("TARGET_HTTPS_PROXIES", 100),
        ("SSL_CERTIFICATES", 100),
        ("GLOBAL_EXTERNAL_MANAGED_FORWARDING_RULES", 150),
        ("SUBNETWORKS", 275),
        ("STATIC_ADDRESSES", 100),
        ("FORWARDING_RULES", 150),
        ("REGIONAL_BACKEND_SERVICES", 150),
        ("INSTANCES", 1000),
        ("NETWORK_ENDPOINT_GROUPS", 1000),
        ("INSTANCE_GROUPS", 500),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn post(
    state: &mut GcpState,
    segments: &[&str],
    body: Value,
) -> std::result::Result<Value, super::GcpError> {
    state.handle(&Call {
        method: "POST".into(),
        segments: segments.iter().map(|s| s.to_string()).collect(),
        query: BTreeMap::new(),
        body: Some(body),
        now_ms: 0,
        user: "world".into(),
        running_ms: 0,
    })
}

/// Creates the world's resources through the API's own checks.
pub(super) fn build(state: &mut GcpState, w: &GcpWorld) -> Result<()> {
    let invalid = |what: String| Error::InvalidWorld(format!("gcp: {what}"));
    let known: Vec<&str> = QUOTA_METRICS.iter().map(|(_, _, m)| *m).collect();
    if let Some(k) = w.quotas.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(format!(
            "unknown quota metric '{k}' (known: {})",
            known.join(", ")
        )));
    }
    for n in &w.networks {
        post(
            state,
            &["global", "networks"],
            json!({"name": n.name, "autoCreateSubnetworks": false}),
        )
        .map_err(|e| invalid(format!("network {}: {e}", n.name)))?;
        for s in &n.subnetworks {
            let body = json!({
                "name": s.name,
                "network": format!("global/networks/{}", n.name),
                "ipCidrRange": s.ip_cidr_range.to_string(),
                "secondaryIpRanges": s.secondary_ranges.iter().map(|r| json!({"rangeName": r.name, "ipCidrRange": r.ip_cidr_range.to_string()})).collect::<Vec<_>>(),
            });
            post(state, &["regions", &s.region, "subnetworks"], body)
                .map_err(|e| invalid(format!("subnetwork {}: {e}", s.name)))?;
        }
    }
    for i in &w.instances {
        let region = state
            .region_of_zone(&i.zone)
            .ok_or_else(|| {
                invalid(format!(
                    "instance {}: zone {} is in no region",
                    i.name, i.zone
                ))
            })?
            .to_string();
        let subnetwork = if i.subnetwork.contains('/') {
            i.subnetwork.clone()
        } else {
            format!("regions/{region}/subnetworks/{}", i.subnetwork)
        };
        let mut nic = json!({"subnetwork": subnetwork});
        if let Some(ip) = i.network_ip {
            nic["networkIP"] = json!(ip.to_string());
        }
        if !i.alias_ranges.is_empty() {
            nic["aliasIpRanges"] = i
                .alias_ranges
                .iter()
                .map(|a| match &a.range {
                    Some(r) => json!({"ipCidrRange": a.ip_cidr_range, "subnetworkRangeName": r}),
                    None => json!({"ipCidrRange": a.ip_cidr_range}),
                })
                .collect();
        }
        let mut body = json!({"name": i.name, "machineType": i.machine_type, "networkInterfaces": [nic], "labels": i.labels});
        if let Some(sa) = &i.service_account {
            body["serviceAccounts"] = json!([{"email": sa, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}]);
        }
        post(state, &["zones", &i.zone, "instances"], body)
            .map_err(|e| invalid(format!("instance {}: {e}", i.name)))?;
    }
    state.operations.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_the_built_in_default() {
        let file = include_str!("../../worlds/gcp.yaml");
        let w: GcpWorld = serde_yaml::from_str(file).unwrap();
        assert_eq!(w, GcpWorld::default());
    }

    #[test]
    fn the_default_world_builds_and_bad_ones_are_refused() {
        let s = GcpState::new(&GcpWorld::default(), std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert!(
            s.resources
                .contains_key("regions/us-central1/subnetworks/cloudnet-nodes")
        );
        let nodes: Vec<_> = s
            .resources
            .keys()
            .filter(|k| k.contains("/instances/"))
            .collect();
        assert_eq!(nodes.len(), 2);
        let n1 = &s.resources["zones/us-central1-a/instances/gke-cloudnet-node-1"];
        assert_eq!(n1["networkInterfaces"][0]["networkIP"], "10.0.0.2");
        let mut w = GcpWorld::default();
        w.instances[1].alias_ranges = vec![AliasRangeSpec {
            range: Some("pods".into()),
            ip_cidr_range: "10.8.0.0/24".into(),
        }];
        let e = GcpState::new(&w, std::time::SystemTime::UNIX_EPOCH).unwrap_err();
        assert!(e.to_string().contains("not within"), "{e}");
        let mut w = GcpWorld::default();
        w.quotas.insert("NETWORK".into(), 3);
        assert!(GcpState::new(&w, std::time::SystemTime::UNIX_EPOCH).is_err());
        let e =
            serde_yaml::from_str::<GcpWorld>("project: p\nregions: []\nnetwork: []\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `network`"), "{e}");
    }
}
