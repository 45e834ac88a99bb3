//! The table of served resources: the built-in kinds, plus those that CRDs add at run time.

use serde_json::Value;

/// Which name rule a resource's objects must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (namespaces).
    Label,
    /// RFC 1035 label (services).
    Label1035,
    /// Any path segment: not `.` or `..`, no `/` or `%` (RBAC's kinds, whose names hold
    /// colons: `system:discovery`).
    PathSegment,
}

/// Storage identity of a resource: group and plural name, independent of the version served.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

/// One served resource at one group/version.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceInfo {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Has a `status` subresource.
    pub status: bool,
    /// Has a `scale` subresource (spec.replicas).
    pub scale: bool,
    pub name_rule: NameRule,
    /// Served from a CustomResourceDefinition (no strategic merge patch).
    pub custom: bool,
}

impl ResourceInfo {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn group_resource(&self) -> GroupResource {
        GroupResource {
            group: self.group.clone(),
            resource: self.plural.clone(),
        }
    }

    /// The verbs every resource answers.
    pub fn verbs(&self) -> Vec<&'static str> {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
    name_rule: NameRule,
}

const fn b(group: &'static str, kind: &'static str, plural: &'static str) -> Builtin {
    Builtin {
        group,
        version: "v1",
        kind,
        plural,
        namespaced: true,
        short: &[],
        categories: &[],
        status: false,
        scale: false,
        name_rule: NameRule::Subdomain,
    }
}

impl Builtin {
    const fn cluster(mut self) -> Self {
        self.namespaced = false;
        self
    }
    const fn short(mut self, short: &'static [&'static str]) -> Self {
        self.short = short;
        self
    }
    const fn all(mut self) -> Self {
        self.categories = &["all"];
        self
    }
    const fn status(mut self) -> Self {
        self.status = true;
        self
    }
    const fn scale(mut self) -> Self {
        self.scale = true;
        self
    }
    const fn names(mut self, rule: NameRule) -> Self {
        self.name_rule = rule;
        self
    }
}

fn builtins() -> Vec<Builtin> {
    vec![
        b("", "Namespace", "namespaces")
            .cluster()
            .short(&["ns"])
            .status()
            .names(NameRule::Label),
        b("", "Node", "nodes").cluster().short(&["no"]).status(),
        b("", "Pod", "pods").short(&["po"]).all().status(),
        b("", "Service", "services")
            .short(&["svc"])
            .all()
            .status()
            .names(NameRule::Label1035),
        b("", "Secret", "secrets"),
        b("", "ConfigMap", "configmaps").short(&["cm"]),
        b("", "Event", "events").short(&["ev"]),
        b("", "ServiceAccount", "serviceaccounts").short(&["sa"]),
        b("", "Endpoints", "endpoints").short(&["ep"]),
        b("apps", "Deployment", "deployments")
            .short(&["deploy"])
            .all()
            .status()
            .scale(),
        b("apps", "ReplicaSet", "replicasets")
            .short(&["rs"])
            .all()
            .status()
            .scale(),
        b("apps", "DaemonSet", "daemonsets")
            .short(&["ds"])
            .all()
            .status(),
        b("discovery.k8s.io", "EndpointSlice", "endpointslices"),
        b("policy", "PodDisruptionBudget", "poddisruptionbudgets")
            .short(&["pdb"])
            .status(),
        b("networking.k8s.io", "Ingress", "ingresses")
            .short(&["ing"])
            .status(),
        b("networking.k8s.io", "IngressClass", "ingressclasses").cluster(),
        b("coordination.k8s.io", "Lease", "leases"),
        b("events.k8s.io", "Event", "events").short(&["ev"]),
        Builtin {
            categories: &["api-extensions"],
            ..b(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                "customresourcedefinitions",
            )
            .cluster()
            .short(&["crd", "crds"])
            .status()
        },
        b("rbac.authorization.k8s.io", "Role", "roles").names(NameRule::PathSegment),
        b("rbac.authorization.k8s.io", "RoleBinding", "rolebindings").names(NameRule::PathSegment),
        b("rbac.authorization.k8s.io", "ClusterRole", "clusterroles")
            .cluster()
            .names(NameRule::PathSegment),
        b(
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            "clusterrolebindings",
        )
        .cluster()
        .names(NameRule::PathSegment),
    ]
}

/// All resources served right now.
#[derive(Debug, Clone)]
pub struct Registry {
    builtin: Vec<ResourceInfo>,
    custom: Vec<ResourceInfo>,
}

impl Default for Registry {
    fn default() -> Self {
        let builtin = builtins()
            .into_iter()
            .map(|b| ResourceInfo {
                group: b.group.into(),
                version: b.version.into(),
                kind: b.kind.into(),
                plural: b.plural.into(),
                singular: b.kind.to_lowercase(),
                namespaced: b.namespaced,
                short_names: b.short.iter().map(|s| s.to_string()).collect(),
                categories: b.categories.iter().map(|s| s.to_string()).collect(),
                status: b.status,
                scale: b.scale,
                name_rule: b.name_rule,
                custom: false,
            })
            .collect();
        Self {
            builtin,
            custom: Vec::new(),
        }
    }
}

impl Registry {
    /// Every served resource, built-ins first.
    pub fn all(&self) -> impl Iterator<Item = &ResourceInfo> {
        self.builtin.iter().chain(self.custom.iter())
    }

    /// The resource served at `group/version` under `plural`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceInfo> {
        self.all()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// The resource for an `apiVersion` and `kind`.
    pub fn lookup_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceInfo> {
        self.all()
            .find(|r| r.api_version() == api_version && r.kind == kind)
    }

    /// Groups and their versions, in the order discovery lists them.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for r in self.all().filter(|r| !r.group.is_empty()) {
            match groups.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) => {
                    if !versions.contains(&r.version) {
                        versions.push(r.version.clone());
                    }
                }
                None => groups.push((r.group.clone(), vec![r.version.clone()])),
            }
        }
        groups
    }

    /// Replaces the resources a CRD serves (none when `crd` is `None`, i.e. it was deleted).
    pub fn set_crd(&mut self, crd_name: &str, crd: Option<&Value>) {
        self.custom
            .retain(|r| format!("{}.{}", r.plural, r.group) != crd_name);
        if let Some(crd) = crd {
            self.custom.extend(resources_of_crd(crd));
        }
    }
}

/// The resources a CRD object serves: one per served version.
pub fn resources_of_crd(crd: &Value) -> Vec<ResourceInfo> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let group = spec["group"].as_str().unwrap_or_default();
    let kind = names["kind"].as_str().unwrap_or_default();
    let plural = names["plural"].as_str().unwrap_or_default();
    if group.is_empty() || kind.is_empty() || plural.is_empty() {
        return Vec::new();
    }
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    versions
        .iter()
        .filter(|v| v["served"].as_bool().unwrap_or(true))
        .filter_map(|v| {
            let version = v["name"].as_str()?;
            Some(ResourceInfo {
                group: group.into(),
                version: version.into(),
                kind: kind.into(),
                plural: plural.into(),
                singular: names["singular"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| kind.to_lowercase()),
                namespaced: spec["scope"].as_str() != Some("Cluster"),
                short_names: strings(&names["shortNames"]),
                categories: strings(&names["categories"]),
                status: v["subresources"]["status"].is_object(),
                scale: v["subresources"]["scale"].is_object(),
                name_rule: NameRule::Subdomain,
                custom: true,
            })
        })
        .collect()
}
