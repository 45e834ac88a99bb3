//! Roles for the Compute Engine and Azure Resource Manager fronts: which caller acts as which
//! role, what each role is granted, and which of its grants were used. The fronts name what a
//! call needs (GCP permissions such as `compute.instances.get`, ARM actions such as
//! `Microsoft.Network/networkInterfaces/write`, see [`crate::gcp::perms`] and
//! [`crate::azure::actions`]); this module decides and remembers.
//!
//! ```yaml
//! gcp:                       # or azure: (then `rbac:` instead of `iam:`)
//!   iam:
//!     roles:
//!       cloudnet-controller: {file: ../../deploy/iam/gcp/controller-role.yaml}
//!       reader: {permissions: [compute.instances.get]}
//!     bindings:              # caller -> role; "*" for every other caller
//!       cloudnet-controller@cloudnet-sandbox.iam.gserviceaccount.com: cloudnet-controller
//! ```
//!
//! A role file is the cloud's own format: a GCP custom role as `gcloud iam roles create --file`
//! reads it (`includedPermissions`), an Azure custom role definition (`Actions`,
//! `NotActions`). A permission pattern may hold `*` (ARM's `Microsoft.Network/*/read`);
//! matching ignores case, as ARM does. Without the section every call is allowed; with it, a
//! caller bound to no role is refused everything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSpec {
    /// Role name -> what it grants.
    #[serde(default)]
    pub roles: BTreeMap<String, RoleSource>,
    /// Caller (service account, token, object id) -> role; `*` for any other caller.
    #[serde(default)]
    pub bindings: BTreeMap<String, String>,
    /// The directory `file:` roles are read relative to (the world file's when loaded from
    /// one, the working directory otherwise).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

/// A role: a file in the cloud's format, or the permissions inline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_permissions: Vec<String>,
}

/// A role's grants: what it allows, minus what it excludes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Granted {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl Granted {
    /// Whether `permission` is allowed (some allow pattern matches and no deny one does).
    pub fn allows(&self, permission: &str) -> bool {
        self.allow.iter().any(|p| matches(p, permission))
            && !self.deny.iter().any(|p| matches(p, permission))
    }

    /// A GCP custom role as `gcloud iam roles create --file` reads it (YAML or JSON).
    pub fn from_gcp_role(text: &str) -> Result<Granted, String> {
        let v: Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        Ok(Granted {
            allow: strings(&v, "includedPermissions")?,
            deny: Vec::new(),
        })
    }

    /// An Azure custom role definition (`Actions`, `NotActions`; also the `permissions[]`
    /// form `az role definition list` prints).
    pub fn from_azure_role(text: &str) -> Result<Granted, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut g = Granted {
            allow: strings(&v, "Actions")?,
            deny: strings(&v, "NotActions")?,
        };
        for p in v["permissions"].as_array().into_iter().flatten() {
            g.allow.extend(strings(p, "actions")?);
            g.deny.extend(strings(p, "notActions")?);
        }
        Ok(g)
    }
}

fn strings(v: &Value, key: &str) -> Result<Vec<String>, String> {
    match &v[key] {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{key}: {x} is not a string"))
            })
            .collect(),
        other => Err(format!("{key}: expected a list, got {other}")),
    }
}

/// Whether a permission pattern (with `*` for any run of characters) matches, ignoring case.
pub fn matches(pattern: &str, permission: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some((c, rest)) => s
                .split_first()
                .is_some_and(|(d, srest)| c.eq_ignore_ascii_case(d) && go(rest, srest)),
        }
    }
    go(pattern.as_bytes(), permission.as_bytes())
}

/// What one call needs: a permission on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub permission: String,
    pub resource: String,
}

impl Need {
    pub fn new(permission: impl Into<String>, resource: impl Into<String>) -> Need {
        Need {
            permission: permission.into(),
            resource: resource.into(),
        }
    }
}

/// Why a call was refused: the first need its caller's role lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// None when the caller is bound to no role.
    pub role: Option<String>,
    pub need: Need,
}

/// Roles ready to decide calls, with what each role was allowed so far.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    roles: BTreeMap<String, Granted>,
    bindings: BTreeMap<String, String>,
    used: BTreeMap<String, BTreeSet<String>>,
}

impl Grants {
    /// Reads every role (`file:` ones through `parse`, relative to the spec's base
    /// directory) and checks that every binding names a role that exists; `at` names the
    /// section in errors (`gcp.iam`).
    pub fn compile(
        spec: &GrantSpec,
        at: &str,
        parse: fn(&str) -> Result<Granted, String>,
    ) -> Result<Grants, String> {
        let base = spec.base_dir.as_deref().unwrap_or(Path::new("."));
        let mut roles = BTreeMap::new();
        for (name, src) in &spec.roles {
            let mut g = match &src.file {
                Some(f) => {
                    let path = base.join(f);
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        format!("{at}.roles.{name}: reading {}: {e}", path.display())
                    })?;
                    parse(&text)
                        .map_err(|e| format!("{at}.roles.{name}: {}: {e}", path.display()))?
                }
                None => Granted::default(),
            };
            g.allow.extend(src.permissions.iter().cloned());
            g.deny.extend(src.not_permissions.iter().cloned());
            roles.insert(name.clone(), g);
        }
        for (caller, role) in &spec.bindings {
            if !roles.contains_key(role) {
                return Err(format!(
                    "{at}.bindings.{caller}: role '{role}' is not in {at}.roles"
                ));
            }
        }
        Ok(Grants {
            roles,
            bindings: spec.bindings.clone(),
            used: BTreeMap::new(),
        })
    }

    /// The role `caller` acts as.
    pub fn role_of(&self, caller: &str) -> Option<&str> {
        self.bindings
            .get(caller)
            .or_else(|| self.bindings.get("*"))
            .map(String::as_str)
    }

    /// `Ok` when the caller's role allows every need (each then counted as used), else the
    /// first one it lacks.
    pub fn check(&mut self, caller: &str, needs: &[Need]) -> Result<(), Refusal> {
        let role = self.role_of(caller).map(str::to_string);
        let granted = role.as_deref().and_then(|r| self.roles.get(r));
        if let Some(need) = needs
            .iter()
            .find(|n| !granted.is_some_and(|g| g.allows(&n.permission)))
        {
            return Err(Refusal {
                role,
                need: need.clone(),
            });
        }
        if let Some(role) = role {
            let used = self.used.entry(role).or_default();
            used.extend(needs.iter().map(|n| n.permission.clone()));
        }
        Ok(())
    }

    /// Per role, every permission it was allowed so far.
    pub fn used(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.used
    }

    pub fn clear_usage(&mut self) {
        self.used.clear();
    }
}

/// What a surplus check reports of a role against what was used: the granted permissions
/// never used and not listed as allowed to stay unused, and the listed ones that are not
/// granted or were used after all (a stale list). A granted pattern counts as used when it
/// matches a used permission.
pub fn unused(
    granted: &BTreeSet<String>,
    used: &BTreeSet<String>,
    allowed_unused: &[(&str, &str)],
) -> (Vec<String>, Vec<String>) {
    let was_used = |a: &str| used.iter().any(|u| matches(a, u));
    let listed = |a: &str| allowed_unused.iter().any(|(x, _)| *x == a);
    let surplus = granted
        .iter()
        .filter(|a| !was_used(a) && !listed(a))
        .cloned()
        .collect();
    let stale = allowed_unused
        .iter()
        .map(|(a, _)| *a)
        .filter(|a| !granted.contains(*a) || was_used(a))
        .map(str::to_string)
        .collect();
    (surplus, stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_with_wildcards_and_without_case() {
        assert!(matches("compute.instances.get", "compute.instances.get"));
        assert!(!matches("compute.instances.get", "compute.instances.list"));
        assert!(matches(
            "Microsoft.Network/*/read",
            "microsoft.network/networkInterfaces/read"
        ));
        assert!(!matches(
            "Microsoft.Network/*/read",
            "Microsoft.Network/networkInterfaces/write"
        ));
        assert!(matches("*", "anything"));
    }

    #[test]
    fn roles_allow_what_they_list_minus_what_they_exclude() {
        let az = Granted::from_azure_role(
            r#"{"Name":"x","IsCustom":true,"Actions":["Microsoft.Network/*"],"NotActions":["Microsoft.Network/*/delete"]}"#,
        )
        .expect("role");
        assert!(az.allows("Microsoft.Network/routeTables/write"));
        assert!(!az.allows("Microsoft.Network/routeTables/delete"));
        let gcp = Granted::from_gcp_role(
            "title: x\nstage: GA\nincludedPermissions:\n- compute.routes.create\n",
        )
        .expect("role");
        assert!(gcp.allows("compute.routes.create"));
        assert!(!gcp.allows("compute.routes.delete"));
        assert!(Granted::from_gcp_role("includedPermissions: 3").is_err());
    }

    #[test]
    fn callers_act_as_their_bound_role_and_usage_is_kept() {
        let spec = GrantSpec {
            roles: BTreeMap::from([(
                "r".to_string(),
                RoleSource {
                    permissions: vec!["a.b.get".into()],
                    ..RoleSource::default()
                },
            )]),
            bindings: BTreeMap::from([("sa".to_string(), "r".to_string())]),
            base_dir: None,
        };
        let mut g = Grants::compile(&spec, "gcp.iam", Granted::from_gcp_role).expect("ok");
        assert!(g.check("sa", &[Need::new("a.b.get", "x")]).is_ok());
        let refused = g
            .check(
                "sa",
                &[Need::new("a.b.get", "x"), Need::new("a.b.delete", "y")],
            )
            .expect_err("refused");
        assert_eq!(refused.role.as_deref(), Some("r"));
        assert_eq!(refused.need.permission, "a.b.delete");
        let stranger = g.check("other", &[Need::new("a.b.get", "x")]);
        assert_eq!(stranger.expect_err("unbound").role, None);
        assert_eq!(g.used()["r"], BTreeSet::from(["a.b.get".to_string()]));
        let mut bad = spec.clone();
        bad.bindings.insert("z".into(), "missing".into());
        let e = Grants::compile(&bad, "gcp.iam", Granted::from_gcp_role).expect_err("bad");
        assert!(e.contains("gcp.iam.bindings.z"), "{e}");
    }
}
