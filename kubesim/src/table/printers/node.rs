//! Nodes: STATUS, ROLES, AGE, VERSION and the wide columns.

use super::*;

pub(super) fn node() -> Printer {
    builtin(
        vec![
            name_col(),
            col("Status", "string", 0, "The status of the node"),
            col("Roles", "string", 0, "The roles of the node"),
            age_col(),
            col(
                "Version",
                "string",
                0,
                "Kubelet Version reported by the node.",
            ),
            col(
                "Internal-IP",
                "string",
                1,
                "List of addresses reachable to the node. Queried from cloud provider, if available.",
            ),
            col(
                "External-IP",
                "string",
                1,
                "List of addresses reachable to the node. Queried from cloud provider, if available.",
            ),
            col(
                "OS-Image",
                "string",
                1,
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
            ),
            col(
                "Kernel-Version",
                "string",
                1,
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
            ),
            col(
                "Container-Runtime",
                "string",
                1,
                "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
            ),
        ],
        |o, now| {
            let ready = o["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
                .map(|c| c["status"].as_str().unwrap_or_default());
            let mut status = match ready {
                Some("True") => "Ready".to_string(),
                Some("False") => "NotReady".to_string(),
                _ => "Unknown".to_string(),
            };
            if o["spec"]["unschedulable"] == true {
                status.push_str(",SchedulingDisabled");
            }
            let mut roles: Vec<String> = o["metadata"]["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| {
                    if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                        Some(role.to_string())
                    } else if k == "kubernetes.io/role" {
                        v.as_str().map(str::to_string)
                    } else {
                        None
                    }
                })
                .filter(|r| !r.is_empty())
                .collect();
            roles.sort();
            roles.dedup();
            let address = |kind: &str| {
                o["status"]["addresses"]
                    .as_array()
                    .and_then(|a| a.iter().find(|a| a["type"] == kind))
                    .and_then(|a| a["address"].as_str())
                    .unwrap_or(NONE)
                    .to_string()
            };
            let info = &o["status"]["nodeInfo"];
            let unknown = |f: &str| {
                info[f]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("<unknown>")
                    .to_string()
            };
            vec![
                json!(meta::name(o)),
                json!(status),
                json!(or_none(roles.join(","))),
                created(o, now),
                json!(info["kubeletVersion"].as_str().unwrap_or_default()),
                json!(address("InternalIP")),
                json!(address("ExternalIP")),
                json!(unknown("osImage")),
                json!(unknown("kernelVersion")),
                json!(unknown("containerRuntimeVersion")),
            ]
        },
    )
}
