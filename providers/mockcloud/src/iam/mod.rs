//! IAM for the mock cloud: who a caller is (an access key id, or the credentials an
//! instance's metadata service hands out) and whether its role's policies allow a call.
//!
//! - [`config`]: the world file's `iam` section ([`IamSpec`]);
//! - [`policy`]: policy documents and their evaluation (pure);
//! - [`crate::authz`] (outside this module): the resources and condition keys of each call.
//!
//! Without an `iam` section everything is allowed. With one, a call by an unknown access key
//! is refused as the cloud refuses bad credentials (EC2 `AuthFailure`, ELBv2
//! `InvalidClientTokenId`), and a call its role's policies do not allow as the cloud refuses
//! it (EC2 `UnauthorizedOperation`, ELBv2 `AccessDenied`, both HTTP 403, naming the role,
//! the action and the resource).

pub mod config;
pub mod policy;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::awserror::AwsError;
use crate::service::Service;

pub use config::{IamSpec, PolicySource, RoleSpec};
pub use policy::{Decision, Policy, Request};

/// A role: its name and parsed policies.
#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub policies: Vec<Policy>,
}

/// IAM as the world file sets it up, ready to evaluate calls.
#[derive(Debug, Clone)]
pub struct Iam {
    account_id: String,
    roles: BTreeMap<String, Role>,
    /// Access key id -> role (the world's keys and each role's instance credentials).
    keys: BTreeMap<String, String>,
    instance_roles: BTreeMap<String, String>,
    /// Per role, the IAM actions it was allowed (the call's own and implied tagging ones).
    used: BTreeMap<String, BTreeSet<String>>,
}

/// The access key id an instance's metadata service hands out for `role`.
pub fn instance_key(role: &str) -> String {
    // FNV-1a: stable across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in role.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("ASIA{h:016X}")
}

impl Iam {
    /// Parses every policy (reading `file:` ones relative to the spec's base directory) and
    /// checks that every key and instance names a role that exists.
    pub fn compile(spec: &IamSpec, account_id: &str) -> Result<Iam, String> {
        let base = spec.base_dir.as_deref().unwrap_or(Path::new("."));
        let mut roles = BTreeMap::new();
        for (name, r) in &spec.roles {
            let mut policies = Vec::new();
            for (i, src) in r.policies.iter().enumerate() {
                let at = format!("iam.roles.{name}.policies[{i}]");
                let doc = match (&src.file, &src.document) {
                    (Some(f), None) => {
                        let path = base.join(f);
                        let text = std::fs::read_to_string(&path)
                            .map_err(|e| format!("{at}: reading {}: {e}", path.display()))?;
                        serde_json::from_str(&text)
                            .map_err(|e| format!("{at}: {}: {e}", path.display()))?
                    }
                    (None, Some(d)) => d.clone(),
                    _ => return Err(format!("{at}: give exactly one of file or document")),
                };
                policies.push(policy::parse(&doc).map_err(|e| format!("{at}: {e}"))?);
            }
            roles.insert(
                name.clone(),
                Role {
                    name: name.clone(),
                    policies,
                },
            );
        }
        let known = |what: &str, role: &str| {
            if roles.contains_key(role) {
                Ok(())
            } else {
                Err(format!("iam.{what}: role '{role}' is not in iam.roles"))
            }
        };
        let mut keys = BTreeMap::new();
        for (k, role) in &spec.access_keys {
            known(&format!("access_keys.{k}"), role)?;
            keys.insert(k.clone(), role.clone());
        }
        for (i, role) in &spec.instance_roles {
            known(&format!("instance_roles.{i}"), role)?;
            keys.insert(instance_key(role), role.clone());
        }
        Ok(Iam {
            account_id: account_id.to_string(),
            roles,
            keys,
            instance_roles: spec.instance_roles.clone(),
            used: BTreeMap::new(),
        })
    }

    /// The role of an instance's instance profile.
    pub fn instance_role(&self, instance_id: &str) -> Option<&str> {
        self.instance_roles
            .get(instance_id)
            .or_else(|| self.instance_roles.get("*"))
            .map(String::as_str)
    }

    /// The role an access key id acts as.
    pub fn role_of(&self, access_key: &str) -> Option<&Role> {
        self.roles.get(self.keys.get(access_key)?)
    }

    /// Per role, every IAM action it was allowed so far.
    pub fn used(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.used
    }

    pub fn clear_usage(&mut self) {
        self.used.clear();
    }

    /// Decides one call by `caller` (an access key id): `Ok` when every request is allowed;
    /// otherwise the error the cloud answers.
    pub fn authorize(
        &mut self,
        caller: &str,
        service: Service,
        requests: &[Request],
    ) -> Result<(), AwsError> {
        let Some(role) = self.role_of(caller) else {
            return Err(match service {
                Service::Ec2 => AwsError::client(
                    "AuthFailure",
                    "AWS was not able to validate the provided access credentials",
                )
                .with_status(401),
                Service::Elbv2 => AwsError::client(
                    "InvalidClientTokenId",
                    "The security token included in the request is invalid.",
                )
                .with_status(403),
            });
        };
        let policies: Vec<&Policy> = role.policies.iter().collect();
        for r in requests {
            let decision = policy::evaluate(&policies, r);
            if !decision.is_allowed() {
                return Err(self.refusal(&role.name, caller, service, r, &decision));
            }
        }
        let used = self.used.entry(role.name.clone()).or_default();
        for r in requests {
            used.insert(r.action.clone());
        }
        Ok(())
    }

    fn refusal(
        &self,
        role: &str,
        session: &str,
        service: Service,
        r: &Request,
        decision: &Decision,
    ) -> AwsError {
        let why = match decision {
            Decision::ExplicitDeny(_) => {
                "with an explicit deny in an identity-based policy".to_string()
            }
            _ => format!(
                "because no identity-based policy allows the {} action",
                r.action
            ),
        };
        let user = format!(
            "arn:aws:sts::{}:assumed-role/{role}/{session}",
            self.account_id
        );
        let detail = format!(
            "User: {user} is not authorized to perform: {} on resource: {} {why}",
            r.action, r.resource
        );
        match service {
            Service::Ec2 => AwsError::client(
                "UnauthorizedOperation",
                format!("You are not authorized to perform this operation. {detail}"),
            )
            .with_status(403),
            Service::Elbv2 => AwsError::client("AccessDenied", detail).with_status(403),
        }
    }
}

#[cfg(test)]
mod policy_tests;
