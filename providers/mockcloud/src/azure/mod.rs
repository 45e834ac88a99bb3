//! Azure Resource Manager (the Network and Compute providers) as a state machine with ARM's
//! rules: resources under `/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}`
//! (matched case-insensitively, as ARM does), PUT creating or replacing a whole resource
//! (201/200), PATCH of tags, DELETE answered 202, asynchronous operations polled through
//! `Azure-AsyncOperation` and `Location`, ETags with `If-Match`/`If-None-Match` (412
//! `PreconditionFailed`), `provisioningState`, list pages with `nextLink`, and the providers'
//! own checks (see [`network`], [`nic`], [`lb`], [`appgw`], [`compute`]).
//!
//! ```text
//! arm (HTTPS) ──(Call)──▶ AzureState::handle ──▶ resource (put/get/delete/patch/list)
//!                                              ├─▶ network / nic / lb / compute (rules)
//!                                              └─▶ ops (operation status, results)
//!             ◀── Reply (status, JSON, headers) or AzError ──┘
//! ```
//!
//! Resources are kept as the JSON ARM returns; URLs in answers (operations, `nextLink`)
//! start with [`ARM_BASE`], which the HTTPS front rewrites to the address the client used.
//! A write takes effect when accepted; its operation is `Succeeded` at once, or
//! `InProgress` (and the resource `Updating`/`Deleting`) for as long as an
//! `operation_running` fault says, during which other writes to the resource get 409
//! `AnotherOperationInProgress`.

pub mod actions;
pub mod appgw;
pub mod appgw_health;
pub mod compute;
pub mod error;
pub mod ipam;
pub mod lb;
pub mod network;
pub mod nic;
pub mod ops;
mod resource;
pub mod world;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

pub use error::{AzError, AzResult};
pub use ops::ArmOperation;
pub use world::AzureWorld;

use crate::ids::{splitmix64, uuid_shaped};

/// The base of every URL the state writes.
pub const ARM_BASE: &str = "https://management.azure.com";

/// The Network provider's API versions the mock serves (the Python SDK 30.x sends
/// 2025-05-01, and 2018-10-01 for scale-set NICs).
pub const NETWORK_API_VERSIONS: &[&str] = &[
    "2018-10-01",
    "2019-11-01",
    "2020-11-01",
    "2021-02-01",
    "2021-05-01",
    "2021-08-01",
    "2022-01-01",
    "2022-05-01",
    "2022-07-01",
    "2022-09-01",
    "2022-11-01",
    "2023-02-01",
    "2023-04-01",
    "2023-05-01",
    "2023-06-01",
    "2023-09-01",
    "2023-11-01",
    "2024-01-01",
    "2024-03-01",
    "2024-05-01",
    "2024-07-01",
    "2024-10-01",
    "2025-01-01",
    "2025-03-01",
    "2025-05-01",
];

/// The Compute provider's API versions the mock serves.
pub const COMPUTE_API_VERSIONS: &[&str] = &[
    "2021-03-01",
    "2021-07-01",
    "2021-11-01",
    "2022-03-01",
    "2022-08-01",
    "2022-11-01",
    "2023-03-01",
    "2023-07-01",
    "2023-09-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-04-01",
];

/// A resource type the mock serves: its provider, its type and its child collections (kept
/// as arrays in `properties`, addressable as `.../{type}/{name}/{child}/{childName}`;
/// `writable` children take PUT and DELETE of their own).
pub struct Kind {
    pub namespace: &'static str,
    pub type_: &'static str,
    pub children: &'static [(&'static str, bool)],
}

pub const KINDS: &[Kind] = &[
    Kind {
        namespace: "Microsoft.Network",
        type_: "virtualNetworks",
        children: &[("subnets", true)],
    },
    Kind {
        namespace: "Microsoft.Network",
        type_: "networkInterfaces",
        children: &[("ipConfigurations", false)],
    },
    Kind {
        namespace: "Microsoft.Network",
        type_: "routeTables",
        children: &[("routes", true)],
    },
    Kind {
        namespace: "Microsoft.Network",
        type_: "networkSecurityGroups",
        children: &[("securityRules", true)],
    },
    Kind {
        namespace: "Microsoft.Network",
        type_: "publicIPAddresses",
        children: &[],
    },
    Kind {
        namespace: "Microsoft.Network",
        type_: "loadBalancers",
        children: &[
            ("frontendIPConfigurations", false),
            ("backendAddressPools", false),
            ("loadBalancingRules", false),
            ("probes", false),
        ],
    },
    Kind {
        namespace: "Microsoft.Network",
        type_: "applicationGateways",
        children: &[
            ("gatewayIPConfigurations", false),
            ("frontendIPConfigurations", false),
            ("frontendPorts", false),
            ("sslCertificates", false),
            ("httpListeners", false),
            ("requestRoutingRules", false),
            ("urlPathMaps", false),
            ("redirectConfigurations", false),
            ("backendAddressPools", false),
            ("backendHttpSettingsCollection", false),
            ("probes", false),
        ],
    },
    Kind {
        namespace: "Microsoft.Compute",
        type_: "virtualMachines",
        children: &[],
    },
    Kind {
        namespace: "Microsoft.Compute",
        type_: "virtualMachineScaleSets",
        children: &[],
    },
];

/// The kind of `{namespace}/{type}`, matched case-insensitively.
pub fn kind_of(namespace: &str, type_: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| {
        k.namespace.eq_ignore_ascii_case(namespace) && k.type_.eq_ignore_ascii_case(type_)
    })
}

impl Kind {
    /// `Microsoft.Network/virtualNetworks`.
    pub fn full_type(&self) -> String {
        format!("{}/{}", self.namespace, self.type_)
    }

    pub fn child(&self, segment: &str) -> Option<(&'static str, bool)> {
        self.children
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(segment))
            .copied()
    }
}

/// One request, parsed by the HTTPS front.
#[derive(Debug, Clone, Default)]
pub struct Call {
    pub method: String,
    /// The path after `/subscriptions/{subscription}/`, split on `/`.
    pub segments: Vec<String>,
    pub api_version: Option<String>,
    pub query: BTreeMap<String, String>,
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub body: Option<Value>,
    pub now_ms: u64,
    /// An `operation_running` fault: the call's operation stays `InProgress` this long.
    pub running_ms: u64,
}

/// An answer: the status, the JSON body (none for 202/204 without one) and extra headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            body: Some(body),
            headers: Vec::new(),
        }
    }
}

/// ARM's throttling budget per subscription and hour (its documented defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default = "default_reads")]
    pub reads_per_hour: u64,
    #[serde(default = "default_writes")]
    pub writes_per_hour: u64,
}

fn default_reads() -> u64 {
    12_000
}

fn default_writes() -> u64 {
    1_200
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            reads_per_hour: default_reads(),
            writes_per_hour: default_writes(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AzureState {
    pub subscription: String,
    pub tenant: String,
    /// Lowercased name -> the name as created.
    pub resource_groups: BTreeMap<String, String>,
    pub location: String,
    /// What `Retry-After` says on accepted asynchronous operations, in seconds.
    pub retry_after_s: u64,
    pub page_size: usize,
    pub limits: Limits,
    /// Every resource by its lowercased id, as GET shows it (without derived fields).
    pub resources: BTreeMap<String, Value>,
    /// Operations by id.
    pub operations: BTreeMap<String, ArmOperation>,
    /// Lowercased top-level resource id -> the operation still running on it.
    pub busy: BTreeMap<String, String>,
    /// When reads and writes were made in the last hour (ms), for the rate-limit headers.
    #[serde(skip)]
    reads: std::collections::VecDeque<u64>,
    #[serde(skip)]
    writes: std::collections::VecDeque<u64>,
    /// RBAC from the world's `azure.rbac` (or the control endpoint); None allows every call.
    #[serde(skip)]
    pub rbac: Option<crate::grants::Grants>,
    /// Application gateway members' health (`backendhealth`).
    #[serde(skip)]
    pub appgw_health: appgw_health::MemberHealth,
    next_id: u64,
    public_ips: u32,
}

impl AzureState {
    /// Whether `caller` may make `call`, whose own operation is `operation` (always, without
    /// RBAC): the refusal is ARM's 403 (see [`actions`]).
    pub fn authorize(&mut self, caller: &str, call: &Call, operation: &str) -> AzResult<()> {
        let Some(rbac) = self.rbac.as_mut() else {
            return Ok(());
        };
        let needs = actions::needs(&self.subscription, call, operation);
        rbac.check(caller, &needs)
            .map_err(|r| actions::refusal_error(caller, &needs, &r))
    }

    pub fn new(world: &AzureWorld) -> crate::error::Result<AzureState> {
        let mut s = AzureState {
            subscription: world.subscription.clone(),
            tenant: world.tenant.clone(),
            resource_groups: world
                .resource_groups()
                .into_iter()
                .map(|g| (g.to_lowercase(), g))
                .collect(),
            location: world.location.clone(),
            retry_after_s: world.retry_after_s,
            page_size: world.page_size.max(1),
            limits: world.limits,
            resources: BTreeMap::new(),
            operations: BTreeMap::new(),
            busy: BTreeMap::new(),
            reads: Default::default(),
            writes: Default::default(),
            appgw_health: Default::default(),
            rbac: world
                .rbac
                .as_ref()
                .map(|spec| {
                    crate::grants::Grants::compile(
                        spec,
                        "azure.rbac",
                        crate::grants::Granted::from_azure_role,
                    )
                })
                .transpose()
                .map_err(crate::error::Error::InvalidWorld)?,
            next_id: 0,
            public_ips: 0,
        };
        world::build(&mut s, world)?;
        Ok(s)
    }

    /// A fresh GUID-shaped string (deterministic, never repeated).
    pub fn guid(&mut self) -> String {
        self.next_id += 1;
        let a = splitmix64(self.next_id ^ 0xa2u64);
        uuid_shaped(a, splitmix64(a))
    }

    /// A new ETag, as the Network provider writes them.
    pub fn etag(&mut self) -> String {
        format!("W/\"{}\"", self.guid())
    }

    /// A public address from 20.0.0.0/8 (the mock's "internet").
    pub fn next_public_ip(&mut self) -> String {
        self.public_ips += 1;
        let n = self.public_ips;
        format!("20.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
    }

    /// The canonical id of a top-level resource.
    pub fn id_of(&self, group: &str, kind: &Kind, name: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{}/{}/{name}",
            self.subscription,
            self.resource_groups
                .get(&group.to_lowercase())
                .map(String::as_str)
                .unwrap_or(group),
            kind.namespace,
            kind.type_
        )
    }

    /// The resource or child resource with this id (any casing).
    pub fn lookup(&self, id: &str) -> Option<&Value> {
        let key = id.trim_end_matches('/').to_lowercase();
        if let Some(v) = self.resources.get(&key) {
            return Some(v);
        }
        let (parent, name) = key.rsplit_once('/')?;
        let (parent, seg) = parent.rsplit_once('/')?;
        let top = self.resources.get(parent)?;
        child_array(top, seg)?.iter().find(|c| {
            c["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }

    /// Ends the operations whose time has come: resources become `Succeeded`, or go.
    pub fn advance(&mut self, now_ms: u64) {
        ops::advance(self, now_ms);
    }

    /// Marks every application gateway member with this address `Unhealthy` in
    /// `backendhealth` (or lifts it), as [`crate::elbv2`]'s `set_target_unhealthy` does for
    /// targets.
    pub fn set_member_unhealthy(&mut self, address: &str, unhealthy: bool) {
        self.appgw_health.set_unhealthy(address, unhealthy);
    }

    /// Answers one call.
    pub fn handle(&mut self, call: &Call) -> AzResult<Reply> {
        self.advance(call.now_ms);
        resource::handle(self, call)
    }

    /// Spends one read or write of the subscription's hourly budget: `Ok(remaining)`, or
    /// `Err(seconds)` until one frees up when it is spent (ARM answers 429 then).
    pub fn spend(&mut self, write: bool, now_ms: u64) -> Result<u64, u64> {
        const HOUR_MS: u64 = 3_600_000;
        let (log, limit) = if write {
            (&mut self.writes, self.limits.writes_per_hour)
        } else {
            (&mut self.reads, self.limits.reads_per_hour)
        };
        while log.front().is_some_and(|t| t + HOUR_MS <= now_ms) {
            log.pop_front();
        }
        if log.len() as u64 >= limit {
            let oldest = log.front().copied().unwrap_or(now_ms);
            return Err((oldest + HOUR_MS)
                .saturating_sub(now_ms)
                .div_ceil(1000)
                .max(1));
        }
        log.push_back(now_ms);
        Ok(limit - log.len() as u64)
    }

    /// Every resource of one type (`Microsoft.Network/loadBalancers`), in id order.
    pub fn of_type<'a>(&'a self, type_: &'a str) -> impl Iterator<Item = &'a Value> {
        self.resources
            .values()
            .filter(move |v| v["type"].as_str() == Some(type_))
    }

    /// The nodes: VMs and scale-set instances, in id order.
    pub fn nodes(&self) -> impl Iterator<Item = &Value> {
        self.resources.values().filter(|v| {
            matches!(
                v["type"].as_str(),
                Some(
                    "Microsoft.Compute/virtualMachines"
                        | "Microsoft.Compute/virtualMachineScaleSets/virtualMachines"
                )
            )
        })
    }

    /// Every NIC (stand-alone and scale-set ones).
    pub fn nics(&self) -> impl Iterator<Item = &Value> {
        self.resources.values().filter(|v| {
            v["type"]
                .as_str()
                .is_some_and(|t| t.ends_with("/networkInterfaces"))
        })
    }
}

/// The private addresses of a NIC's ipConfigurations, in their order.
pub fn private_ips(nic: &Value) -> Vec<String> {
    nic["properties"]["ipConfigurations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["properties"]["privateIPAddress"].as_str())
        .map(str::to_string)
        .collect()
}

/// The child array `segment` of a resource (`properties.subnets`), case-insensitively.
pub fn child_array<'a>(v: &'a Value, segment: &str) -> Option<&'a Vec<Value>> {
    v.get("properties")?
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(segment))
        .and_then(|(_, a)| a.as_array())
}

/// The ids of the children in `segment` (see [`child_array`]).
pub fn child_ids(v: &Value, segment: &str) -> Vec<String> {
    child_array(v, segment)
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect()
}

/// `holder.properties[field].id` must be one of `allowed`, its parent's own parts
/// (`InvalidResourceReference`); when `required`, present (named `{label}{holder id}`).
pub fn own_ref(
    holder: &Value,
    field: &str,
    allowed: &[String],
    required: bool,
    label: &str,
) -> AzResult<()> {
    let by = holder["id"].as_str().unwrap_or_default();
    match ref_id(&holder["properties"], field) {
        Some(target) if !allowed.iter().any(|a| same_id(a, target)) => {
            Err(AzError::invalid_reference(target, by))
        }
        None if required => Err(AzError::bad(
            "InvalidRequestFormat",
            format!("{label}{by} must reference a {field}."),
        )),
        _ => Ok(()),
    }
}

/// `v[field]["id"]` when present.
pub fn ref_id<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field)?.get("id")?.as_str()
}

/// Whether two ids name the same resource (ARM ids are case-insensitive).
pub fn same_id(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// `properties` of a resource as an object (made when missing).
pub fn props(v: &mut Value) -> &mut Map<String, Value> {
    if !v["properties"].is_object() {
        v["properties"] = json!({});
    }
    match v["properties"].as_object_mut() {
        Some(m) => m,
        None => unreachable!("just made an object"),
    }
}
