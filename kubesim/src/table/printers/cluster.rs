//! Lease, RoleBinding/ClusterRoleBinding, and the kinds the real server prints with its default convertor (NAME, CREATED AT).

use super::*;

pub(super) fn lease() -> Printer {
    builtin(
        vec![
            name_col(),
            col(
                "Holder",
                "string",
                0,
                "HolderIdentity contains the identity of the holder of a current lease.",
            ),
            age_col(),
        ],
        |o, now| {
            vec![
                json!(meta::name(o)),
                json!(o["spec"]["holderIdentity"].as_str().unwrap_or_default()),
                created(o, now),
            ]
        },
    )
}

pub(super) fn role_binding() -> Printer {
    builtin(
        vec![
            name_col(),
            col(
                "Role",
                "string",
                0,
                "Role references the Role or ClusterRole bound.",
            ),
            age_col(),
            col("Users", "string", 1, "Users in the binding"),
            col("Groups", "string", 1, "Groups in the binding"),
            col(
                "ServiceAccounts",
                "string",
                1,
                "ServiceAccounts in the binding",
            ),
        ],
        |o, now| {
            let subjects = |kind: &str| -> String {
                o["subjects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| s["kind"] == kind)
                    .map(|s| {
                        let name = s["name"].as_str().unwrap_or_default();
                        match s["namespace"].as_str() {
                            Some(ns) if kind == "ServiceAccount" => format!("{ns}/{name}"),
                            _ => name.to_string(),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let role = &o["roleRef"];
            vec![
                json!(meta::name(o)),
                json!(format!(
                    "{}/{}",
                    role["kind"].as_str().unwrap_or_default(),
                    role["name"].as_str().unwrap_or_default()
                )),
                created(o, now),
                json!(subjects("User")),
                json!(subjects("Group")),
                json!(subjects("ServiceAccount")),
            ]
        },
    )
}

/// Kinds the real server prints with its default convertor.
pub(super) fn created_at() -> Printer {
    builtin(
        vec![
            name_col(),
            col(
                "Created At",
                "date",
                0,
                "CreationTimestamp is a timestamp representing the server time when this object was created.",
            ),
        ],
        |o, _| {
            vec![
                json!(meta::name(o)),
                o["metadata"]["creationTimestamp"].clone(),
            ]
        },
    )
}
