//! IngressGroups: Ingresses with one `alb.ingress.kubernetes.io/group.name` share one load
//! balancer; an Ingress without it is a group of its own. Members are ordered by
//! `group.order` (-1000 to 1000, default 0), then by namespace/name, as the anchor orders
//! them; their rules take priorities in that order.
//!
//! Unlike the anchor, two members that claim the same explicit `group.order` are a conflict
//! (their relative rule order would depend on their names): the group is left unchanged in
//! the cloud and both Ingresses are told why.

use std::collections::BTreeMap;
use std::fmt;

use cloudnet_core::{Owner, OwnerKind};
use k8s_openapi::api::networking::v1::Ingress;

use super::annotations::PREFIX;
use super::class::IngressSettings;

pub const GROUP_NAME: &str = "group.name";
pub const GROUP_ORDER: &str = "group.order";
const MIN_ORDER: i32 = -1000;
const MAX_ORDER: i32 = 1000;

/// Which load balancer an Ingress belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupId {
    /// `group.name`: cluster-wide.
    Explicit(String),
    /// The Ingress alone.
    Implicit { namespace: String, name: String },
}

impl GroupId {
    /// The group of an Ingress, or why its `group.name` is invalid.
    pub fn of(ing: &Ingress) -> Result<GroupId, String> {
        let key = format!("{PREFIX}{GROUP_NAME}");
        match annotation(ing, &key) {
            Some(name) => {
                let name = name.trim();
                if valid_group_name(name) {
                    Ok(GroupId::Explicit(name.to_string()))
                } else {
                    Err(format!(
                        "annotation {key}: {name:?}: must be at most 63 characters of lower-case \
                         letters, digits, '-' and '.', starting and ending with a letter or digit"
                    ))
                }
            }
            None => Ok(GroupId::Implicit {
                namespace: namespace(ing).to_string(),
                name: ing.metadata.name.clone().unwrap_or_default(),
            }),
        }
    }

    /// The group of an Ingress under `settings`: with a shared Application Gateway
    /// ([`IngressSettings::shared_gateway`]) every Ingress is in the group named after it.
    pub fn in_settings(ing: &Ingress, settings: &IngressSettings) -> Result<GroupId, String> {
        match settings.shared_gateway() {
            Some(name) => Ok(GroupId::Explicit(name.to_string())),
            None => GroupId::of(ing),
        }
    }

    /// The owner the group's cloud resources are tagged with.
    pub fn owner(&self, cluster: &str) -> Owner {
        match self {
            GroupId::Explicit(name) => {
                Owner::cluster_scoped(cluster, OwnerKind::IngressGroup, name)
            }
            GroupId::Implicit { namespace, name } => {
                Owner::namespaced(cluster, OwnerKind::Ingress, namespace, name)
            }
        }
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupId::Explicit(name) => write!(f, "group {name}"),
            GroupId::Implicit { namespace, name } => write!(f, "ingress {namespace}/{name}"),
        }
    }
}

/// A shared Application Gateway's name must be one ARM takes (letters, digits, `_`, `.`, `-`)
/// and fit the group's finalizer (`group.ingress.cloudnet.io/<name>`: a Kubernetes
/// qualified name, at most 63 characters starting and ending with a letter or digit).
pub fn check_gateway_group_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "application gateway name {name:?}: must be 1 to 63 letters, digits, '_', '.' and \
             '-', starting and ending with a letter or digit"
        ))
    }
}

fn valid_group_name(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(ok_char)
        && alnum(name.chars().next())
        && alnum(name.chars().last())
}

pub fn namespace(ing: &Ingress) -> &str {
    ing.metadata.namespace.as_deref().unwrap_or("default")
}

/// `namespace/name`.
pub fn key(ing: &Ingress) -> String {
    format!(
        "{}/{}",
        namespace(ing),
        ing.metadata.name.as_deref().unwrap_or_default()
    )
}

fn annotation<'a>(ing: &'a Ingress, key: &str) -> Option<&'a str> {
    ing.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// A member's problem that keeps the whole group from being built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberError {
    /// `namespace/name` of the Ingress the Event goes to.
    pub ingress: String,
    pub message: String,
}

impl fmt::Display for MemberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The members in rule order, or every ordering problem (bad or conflicting orders).
pub fn order_members<'a>(members: &[&'a Ingress]) -> Result<Vec<&'a Ingress>, Vec<MemberError>> {
    let key_name = format!("{PREFIX}{GROUP_ORDER}");
    let mut errors = Vec::new();
    let mut ordered: Vec<(i32, String, &Ingress)> = Vec::new();
    let mut explicit: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for ing in members {
        let order = match annotation(ing, &key_name) {
            None => 0,
            Some(raw) => match raw.trim().parse::<i32>() {
                Ok(o) if (MIN_ORDER..=MAX_ORDER).contains(&o) => {
                    explicit.entry(o).or_default().push(key(ing));
                    o
                }
                _ => {
                    errors.push(MemberError {
                        ingress: key(ing),
                        message: format!(
                            "annotation {key_name}: {raw:?}: must be a whole number from \
                             {MIN_ORDER} to {MAX_ORDER}"
                        ),
                    });
                    continue;
                }
            },
        };
        ordered.push((order, key(ing), ing));
    }
    for (order, claimants) in &explicit {
        if claimants.len() > 1 {
            for c in claimants {
                let others: Vec<&str> = claimants
                    .iter()
                    .filter(|o| *o != c)
                    .map(String::as_str)
                    .collect();
                errors.push(MemberError {
                    ingress: c.clone(),
                    message: format!(
                        "annotation {key_name}: {order} is also claimed by {} in the same group; \
                         give each Ingress its own order (the group is left unchanged until then)",
                        others.join(", ")
                    ),
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    ordered.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(ordered.into_iter().map(|(_, _, i)| i).collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ing(ns: &str, name: &str, annotations: serde_json::Value) -> Ingress {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": ns, "annotations": annotations}
        }))
        .unwrap()
    }

    #[test]
    fn group_ids_table() {
        let g = format!("{PREFIX}{GROUP_NAME}");
        let cases: &[(serde_json::Value, Result<GroupId, &str>)] = &[
            (
                json!({}),
                Ok(GroupId::Implicit {
                    namespace: "shop".into(),
                    name: "web".into(),
                }),
            ),
            (
                json!({&g: "team-a"}),
                Ok(GroupId::Explicit("team-a".into())),
            ),
            (
                json!({&g: " team.a "}),
                Ok(GroupId::Explicit("team.a".into())),
            ),
            (json!({&g: "Team-A"}), Err("lower-case")),
            (json!({&g: "-a"}), Err("starting and ending")),
            (json!({&g: ""}), Err("at most 63")),
            (json!({&g: "a".repeat(64)}), Err("at most 63")),
        ];
        for (annotations, want) in cases {
            let got = GroupId::of(&ing("shop", "web", annotations.clone()));
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want),
                (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
                (got, want) => panic!("{annotations}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn members_sort_by_order_then_name() {
        let o = format!("{PREFIX}{GROUP_ORDER}");
        let a = ing("b-ns", "a", json!({&o: "10"}));
        let b = ing("a-ns", "z", json!({}));
        let c = ing("a-ns", "y", json!({&o: "-5"}));
        let d = ing("a-ns", "x", json!({}));
        let sorted = order_members(&[&a, &b, &c, &d]).unwrap();
        let keys: Vec<String> = sorted.iter().map(|i| key(i)).collect();
        assert_eq!(keys, ["a-ns/y", "a-ns/x", "a-ns/z", "b-ns/a"]);
    }

    #[test]
    fn conflicting_and_bad_orders_are_refused_naming_each_ingress() {
        let o = format!("{PREFIX}{GROUP_ORDER}");
        let a = ing("shop", "a", json!({&o: "7"}));
        let b = ing("shop", "b", json!({&o: "7"}));
        let c = ing("shop", "c", json!({&o: "1001"}));
        let errors = order_members(&[&a, &b, &c]).unwrap_err();
        let texts: Vec<(String, String)> = errors
            .iter()
            .map(|e| (e.ingress.clone(), e.message.clone()))
            .collect();
        assert_eq!(
            texts,
            [
                (
                    "shop/c".to_string(),
                    format!("annotation {o}: \"1001\": must be a whole number from -1000 to 1000")
                ),
                (
                    "shop/a".to_string(),
                    format!(
                        "annotation {o}: 7 is also claimed by shop/b in the same group; give each \
                         Ingress its own order (the group is left unchanged until then)"
                    )
                ),
                (
                    "shop/b".to_string(),
                    format!(
                        "annotation {o}: 7 is also claimed by shop/a in the same group; give each \
                         Ingress its own order (the group is left unchanged until then)"
                    )
                ),
            ]
        );
    }
}
