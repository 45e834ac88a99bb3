//! The columns the real API server prints for each kind, and their cells.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Cells, Column, Printer, age, jsonpath};
use crate::meta;
use crate::resources::ResourceInfo;

const NONE: &str = "<none>";

fn col(name: &str, kind: &str, priority: i64, description: &str) -> Column {
    Column {
        name: name.into(),
        kind: kind.into(),
        format: if name == "Name" {
            "name".into()
        } else {
            String::new()
        },
        description: description.into(),
        priority,
    }
}

fn name_col() -> Column {
    col(
        "Name",
        "string",
        0,
        "Name must be unique within a namespace.",
    )
}

fn age_col() -> Column {
    col(
        "Age",
        "string",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    )
}

fn created(obj: &Value, now: DateTime<Utc>) -> Value {
    json!(age(&obj["metadata"]["creationTimestamp"], now))
}

fn builtin(columns: Vec<Column>, cells: fn(&Value, DateTime<Utc>) -> Vec<Value>) -> Printer {
    Printer {
        columns,
        cells: Cells::Builtin(cells),
    }
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

fn count(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.len(),
        Value::Object(m) => m.len(),
        _ => 0,
    }
}

fn or_none(s: String) -> String {
    if s.is_empty() { NONE.into() } else { s }
}

/// `a=b,c=d`, keys sorted, as `labels.FormatLabels` prints a map.
fn format_labels(labels: &Value) -> String {
    let mut pairs: Vec<String> = labels
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    or_none(pairs.join(","))
}

/// A LabelSelector as `metav1.FormatLabelSelector` prints it.
fn format_selector(selector: &Value) -> String {
    if !selector.is_object() {
        return NONE.into();
    }
    let mut parts: Vec<String> = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    parts.sort();
    for e in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = strings(&e["values"]).collect();
        parts.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other}"),
        });
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

/// `a,b,c + 2 more...` after `max` entries, `<unset>` when empty (discovery printers).
fn list_with_more(items: &[String], max: usize) -> String {
    if items.is_empty() {
        return "<unset>".into();
    }
    let shown = items[..items.len().min(max)].join(",");
    if items.len() > max {
        format!("{shown} + {} more...", items.len() - max)
    } else {
        shown
    }
}

/// The printer for a resource; `crd` is the CustomResourceDefinition serving it, if any.
pub fn printer_for(info: &ResourceInfo, crd: Option<&Value>) -> Printer {
    if info.custom {
        return custom(info, crd);
    }
    match (info.group.as_str(), info.kind.as_str()) {
        ("", "Pod") => pod(),
        ("", "Service") => service(),
        ("", "Node") => node(),
        ("", "Namespace") => builtin(
            vec![
                name_col(),
                col("Status", "string", 0, "The status of the namespace"),
                age_col(),
            ],
            |o, now| {
                vec![
                    json!(meta::name(o)),
                    json!(o["status"]["phase"].as_str().unwrap_or_default()),
                    created(o, now),
                ]
            },
        ),
        ("", "ConfigMap") => builtin(
            vec![
                name_col(),
                col("Data", "string", 0, "Data contains the configuration data."),
                age_col(),
            ],
            |o, now| {
                let n = count(&o["data"]) + count(&o["binaryData"]);
                vec![json!(meta::name(o)), json!(n), created(o, now)]
            },
        ),
        ("", "Secret") => builtin(
            vec![
                name_col(),
                col("Type", "string", 0, "The type of the secret"),
                col("Data", "string", 0, "The number of entries in the secret"),
                age_col(),
            ],
            |o, now| {
                vec![
                    json!(meta::name(o)),
                    json!(o["type"].as_str().unwrap_or("Opaque")),
                    json!(count(&o["data"])),
                    created(o, now),
                ]
            },
        ),
        ("", "ServiceAccount") => builtin(
            vec![
                name_col(),
                col(
                    "Secrets",
                    "string",
                    0,
                    "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
                ),
                age_col(),
            ],
            |o, now| {
                vec![
                    json!(meta::name(o)),
                    json!(count(&o["secrets"])),
                    created(o, now),
                ]
            },
        ),
        ("", "Endpoints") => builtin(
            vec![
                name_col(),
                col(
                    "Endpoints",
                    "string",
                    0,
                    "Endpoints is the list of endpoints comprising a service.",
                ),
                age_col(),
            ],
            |o, now| {
                let mut list = Vec::new();
                for subset in o["subsets"].as_array().into_iter().flatten() {
                    for a in subset["addresses"].as_array().into_iter().flatten() {
                        let ip = a["ip"].as_str().unwrap_or_default();
                        let ports: Vec<String> = subset["ports"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|p| p["port"].as_i64())
                            .map(|p| format!("{ip}:{p}"))
                            .collect();
                        if ports.is_empty() {
                            list.push(ip.to_string());
                        } else {
                            list.extend(ports);
                        }
                    }
                }
                let text = if list.is_empty() {
                    NONE.to_string()
                } else {
                    list_with_more(&list, 3)
                };
                vec![json!(meta::name(o)), json!(text), created(o, now)]
            },
        ),
        ("" | "events.k8s.io", "Event") => event(),
        ("apps", "Deployment") => deployment(),
        ("apps", "ReplicaSet") => builtin(
            vec![
                name_col(),
                col(
                    "Desired",
                    "integer",
                    0,
                    "Replicas is the number of desired replicas.",
                ),
                col(
                    "Current",
                    "integer",
                    0,
                    "Replicas is the most recently observed number of replicas.",
                ),
                col(
                    "Ready",
                    "integer",
                    0,
                    "The number of ready replicas for this replica set.",
                ),
                age_col(),
                col(
                    "Containers",
                    "string",
                    1,
                    "Names of each container in the template.",
                ),
                col(
                    "Images",
                    "string",
                    1,
                    "Images referenced by each container in the template.",
                ),
                col(
                    "Selector",
                    "string",
                    1,
                    "Selector is a label query over pods that should match the replica count.",
                ),
            ],
            |o, now| {
                let (containers, images) = containers_and_images(&o["spec"]["template"]);
                vec![
                    json!(meta::name(o)),
                    json!(o["spec"]["replicas"].as_i64().unwrap_or(1)),
                    json!(o["status"]["replicas"].as_i64().unwrap_or(0)),
                    json!(o["status"]["readyReplicas"].as_i64().unwrap_or(0)),
                    created(o, now),
                    json!(containers),
                    json!(images),
                    json!(format_selector(&o["spec"]["selector"])),
                ]
            },
        ),
        ("apps", "DaemonSet") => builtin(
            vec![
                name_col(),
                col(
                    "Desired",
                    "integer",
                    0,
                    "The total number of nodes that should be running the daemon pod.",
                ),
                col(
                    "Current",
                    "integer",
                    0,
                    "The number of nodes that are running at least 1 daemon pod.",
                ),
                col(
                    "Ready",
                    "integer",
                    0,
                    "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
                ),
                col(
                    "Up-to-date",
                    "integer",
                    0,
                    "The total number of nodes that are running updated daemon pod",
                ),
                col(
                    "Available",
                    "integer",
                    0,
                    "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.",
                ),
                col(
                    "Node Selector",
                    "string",
                    0,
                    "NodeSelector is a selector which must be true for the pod to fit on a node.",
                ),
                age_col(),
                col(
                    "Containers",
                    "string",
                    1,
                    "Names of each container in the template.",
                ),
                col(
                    "Images",
                    "string",
                    1,
                    "Images referenced by each container in the template.",
                ),
                col(
                    "Selector",
                    "string",
                    1,
                    "A label query over pods that are managed by the daemon set.",
                ),
            ],
            |o, now| {
                let s = &o["status"];
                let int = |f: &str| json!(s[f].as_i64().unwrap_or(0));
                let (containers, images) = containers_and_images(&o["spec"]["template"]);
                vec![
                    json!(meta::name(o)),
                    int("desiredNumberScheduled"),
                    int("currentNumberScheduled"),
                    int("numberReady"),
                    int("updatedNumberScheduled"),
                    int("numberAvailable"),
                    json!(format_labels(
                        &o["spec"]["template"]["spec"]["nodeSelector"]
                    )),
                    created(o, now),
                    json!(containers),
                    json!(images),
                    json!(format_selector(&o["spec"]["selector"])),
                ]
            },
        ),
        ("discovery.k8s.io", "EndpointSlice") => builtin(
            vec![
                name_col(),
                col(
                    "AddressType",
                    "string",
                    0,
                    "Type of address carried by this EndpointSlice",
                ),
                col(
                    "Ports",
                    "string",
                    0,
                    "Ports exposed by each endpoint in this EndpointSlice",
                ),
                col("Endpoints", "string", 0, "Endpoints in this EndpointSlice"),
                age_col(),
            ],
            |o, now| {
                let ports: Vec<String> = o["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| match (p["port"].as_i64(), p["name"].as_str()) {
                        (Some(n), _) => n.to_string(),
                        (None, Some(name)) => name.to_string(),
                        (None, None) => "*".to_string(),
                    })
                    .collect();
                let addresses: Vec<String> = o["endpoints"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|e| {
                        strings(&e["addresses"])
                            .map(str::to_string)
                            .collect::<Vec<_>>()
                    })
                    .collect();
                vec![
                    json!(meta::name(o)),
                    json!(o["addressType"].as_str().unwrap_or_default()),
                    json!(list_with_more(&ports, 3)),
                    json!(list_with_more(&addresses, 3)),
                    created(o, now),
                ]
            },
        ),
        ("networking.k8s.io", "Ingress") => ingress(),
        ("networking.k8s.io", "IngressClass") => builtin(
            vec![
                name_col(),
                col(
                    "Controller",
                    "string",
                    0,
                    "Controller that is responsible for handling this class",
                ),
                col(
                    "Parameters",
                    "string",
                    0,
                    "A reference to a resource with additional parameters",
                ),
                age_col(),
            ],
            |o, now| {
                let p = &o["spec"]["parameters"];
                let params = if p.is_object() {
                    let kind = p["kind"].as_str().unwrap_or_default();
                    let group = p["apiGroup"].as_str().unwrap_or_default();
                    let kind = if group.is_empty() {
                        kind.to_string()
                    } else {
                        format!("{kind}.{group}")
                    };
                    format!("{kind}/{}", p["name"].as_str().unwrap_or_default())
                } else {
                    NONE.into()
                };
                vec![
                    json!(meta::name(o)),
                    json!(o["spec"]["controller"].as_str().unwrap_or_default()),
                    json!(params),
                    created(o, now),
                ]
            },
        ),
        ("coordination.k8s.io", "Lease") => builtin(
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
        ),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => builtin(
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
        ),
        // Kinds the real server prints with its default convertor.
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole")
        | ("apiextensions.k8s.io", "CustomResourceDefinition") => builtin(
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
        ),
        _ => builtin(vec![name_col(), age_col()], |o, now| {
            vec![json!(meta::name(o)), created(o, now)]
        }),
    }
}

fn containers_and_images(template: &Value) -> (String, String) {
    let containers = template["spec"]["containers"].as_array();
    let field = |f: &str| {
        containers
            .into_iter()
            .flatten()
            .map(|c| c[f].as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(",")
    };
    (field("name"), field("image"))
}

fn pod() -> Printer {
    builtin(
        vec![
            name_col(),
            col(
                "Ready",
                "string",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            col(
                "Status",
                "string",
                0,
                "The aggregate status of the containers in this pod.",
            ),
            col(
                "Restarts",
                "string",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            age_col(),
            col(
                "IP",
                "string",
                1,
                "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
            ),
            col(
                "Node",
                "string",
                1,
                "NodeName is a request to schedule this pod onto a specific node.",
            ),
            col(
                "Nominated Node",
                "string",
                1,
                "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.",
            ),
            col(
                "Readiness Gates",
                "string",
                1,
                "If specified, all readiness gates will be evaluated for pod readiness.",
            ),
        ],
        pod_cells,
    )
}

/// The STATUS column: the phase, overridden by the pod's reason, a waiting or terminated
/// container's reason, and `Terminating` while it is being deleted.
pub(super) fn pod_status(pod: &Value) -> String {
    let status = &pod["status"];
    let mut reason = status["phase"].as_str().unwrap_or_default().to_string();
    if let Some(r) = status["reason"].as_str().filter(|r| !r.is_empty()) {
        reason = r.to_string();
    }
    let mut has_running = false;
    let statuses = status["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for c in statuses.iter().rev() {
        let state = &c["state"];
        if let Some(r) = state["waiting"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            reason = r.to_string();
        } else if state["terminated"].is_object() {
            let t = &state["terminated"];
            reason = match (
                t["reason"].as_str().filter(|r| !r.is_empty()),
                t["signal"].as_i64(),
            ) {
                (Some(r), _) => r.to_string(),
                (None, Some(s)) if s != 0 => format!("Signal:{s}"),
                (None, _) => format!("ExitCode:{}", t["exitCode"].as_i64().unwrap_or(0)),
            };
        } else if state["running"].is_object() && c["ready"] == true {
            has_running = true;
        }
    }
    if reason == "Completed" && has_running {
        let ready = status["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
        reason = if ready { "Running" } else { "NotReady" }.into();
    }
    if meta::is_deleting(pod) {
        reason = if status["reason"] == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    reason
}

fn pod_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let statuses = o["status"]["containerStatuses"].as_array();
    let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
    let ready = statuses
        .into_iter()
        .flatten()
        .filter(|c| c["ready"] == true && c["state"]["running"].is_object())
        .count();
    let restarts: i64 = statuses
        .into_iter()
        .flatten()
        .filter_map(|c| c["restartCount"].as_i64())
        .sum();
    let text = |v: &Value| or_none(v.as_str().unwrap_or_default().to_string());
    let gates = o["spec"]["readinessGates"].as_array();
    let gates = match gates {
        Some(g) if !g.is_empty() => {
            let conditions = o["status"]["conditions"].as_array();
            let passed = g
                .iter()
                .filter(|gate| {
                    conditions
                        .into_iter()
                        .flatten()
                        .any(|c| c["type"] == gate["conditionType"] && c["status"] == "True")
                })
                .count();
            format!("{passed}/{}", g.len())
        }
        _ => NONE.into(),
    };
    vec![
        json!(meta::name(o)),
        json!(format!("{ready}/{total}")),
        json!(pod_status(o)),
        json!(restarts.to_string()),
        created(o, now),
        json!(text(&o["status"]["podIP"])),
        json!(text(&o["spec"]["nodeName"])),
        json!(text(&o["status"]["nominatedNodeName"])),
        json!(gates),
    ]
}

fn service() -> Printer {
    builtin(
        vec![
            name_col(),
            col(
                "Type",
                "string",
                0,
                "type determines how the Service is exposed.",
            ),
            col(
                "Cluster-IP",
                "string",
                0,
                "clusterIP is the IP address of the service and is usually assigned randomly.",
            ),
            col(
                "External-IP",
                "string",
                0,
                "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
            ),
            col(
                "Port(s)",
                "string",
                0,
                "The list of ports that are exposed by this service.",
            ),
            age_col(),
            col(
                "Selector",
                "string",
                1,
                "Route service traffic to pods with label keys and values matching this selector.",
            ),
        ],
        |o, now| {
            let spec = &o["spec"];
            let kind = spec["type"].as_str().unwrap_or("ClusterIP");
            let cluster_ip = strings(&spec["clusterIPs"])
                .next()
                .or(spec["clusterIP"].as_str())
                .filter(|ip| !ip.is_empty())
                .unwrap_or(NONE);
            let external: Vec<&str> = strings(&spec["externalIPs"]).collect();
            let external_ip = match kind {
                "ExternalName" => spec["externalName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                "LoadBalancer" => {
                    let mut ips: Vec<&str> = o["status"]["loadBalancer"]["ingress"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|i| {
                            i["ip"]
                                .as_str()
                                .filter(|s| !s.is_empty())
                                .or(i["hostname"].as_str())
                        })
                        .collect();
                    ips.extend(&external);
                    if ips.is_empty() {
                        "<pending>".into()
                    } else {
                        ips.join(",")
                    }
                }
                _ => or_none(external.join(",")),
            };
            let ports: Vec<String> = spec["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let protocol = p["protocol"].as_str().unwrap_or("TCP");
                    let port = p["port"].as_i64().unwrap_or(0);
                    match p["nodePort"].as_i64().filter(|n| *n != 0) {
                        Some(node) => format!("{port}:{node}/{protocol}"),
                        None => format!("{port}/{protocol}"),
                    }
                })
                .collect();
            vec![
                json!(meta::name(o)),
                json!(kind),
                json!(cluster_ip),
                json!(external_ip),
                json!(or_none(ports.join(","))),
                created(o, now),
                json!(format_labels(&spec["selector"])),
            ]
        },
    )
}

fn node() -> Printer {
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

fn deployment() -> Printer {
    builtin(
        vec![
            name_col(),
            col("Ready", "string", 0, "Number of the pod with ready state"),
            col(
                "Up-to-date",
                "string",
                0,
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            col(
                "Available",
                "string",
                0,
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            age_col(),
            col(
                "Containers",
                "string",
                1,
                "Names of each container in the template.",
            ),
            col(
                "Images",
                "string",
                1,
                "Images referenced by each container in the template.",
            ),
            col(
                "Selector",
                "string",
                1,
                "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
            ),
        ],
        |o, now| {
            let s = &o["status"];
            let (containers, images) = containers_and_images(&o["spec"]["template"]);
            vec![
                json!(meta::name(o)),
                json!(format!(
                    "{}/{}",
                    s["readyReplicas"].as_i64().unwrap_or(0),
                    o["spec"]["replicas"].as_i64().unwrap_or(1)
                )),
                json!(s["updatedReplicas"].as_i64().unwrap_or(0)),
                json!(s["availableReplicas"].as_i64().unwrap_or(0)),
                created(o, now),
                json!(containers),
                json!(images),
                json!(format_selector(&o["spec"]["selector"])),
            ]
        },
    )
}

fn ingress() -> Printer {
    builtin(
        vec![
            name_col(),
            col(
                "Class",
                "string",
                0,
                "The name of the IngressClass resource that should be used for ingress.",
            ),
            col(
                "Hosts",
                "string",
                0,
                "Hosts that incoming requests are matched against before the ingress rule",
            ),
            col(
                "Address",
                "string",
                0,
                "Address is a list containing ingress points for the load-balancer",
            ),
            col(
                "Ports",
                "string",
                0,
                "Ports of TLS configurations that open",
            ),
            age_col(),
        ],
        |o, now| {
            let spec = &o["spec"];
            let class = spec["ingressClassName"]
                .as_str()
                .or(o["metadata"]["annotations"]["kubernetes.io/ingress.class"].as_str())
                .unwrap_or(NONE);
            let rules = spec["rules"].as_array().map_or(&[][..], Vec::as_slice);
            let mut hosts: Vec<&str> = Vec::new();
            let mut more = false;
            for rule in rules {
                if hosts.len() == 3 {
                    more = true;
                }
                if let Some(host) = rule["host"].as_str().filter(|h| !more && !h.is_empty()) {
                    hosts.push(host);
                }
            }
            let hosts = match (hosts.is_empty(), more) {
                (true, _) => "*".to_string(),
                (false, true) => format!("{} + {} more...", hosts.join(","), rules.len() - 3),
                (false, false) => hosts.join(","),
            };
            let address: Vec<&str> = o["status"]["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    i["ip"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .or(i["hostname"].as_str())
                })
                .collect();
            let ports = if count(&spec["tls"]) > 0 {
                "80, 443"
            } else {
                "80"
            };
            vec![
                json!(meta::name(o)),
                json!(class),
                json!(hosts),
                json!(address.join(",")),
                json!(ports),
                created(o, now),
            ]
        },
    )
}

fn event() -> Printer {
    builtin(
        vec![
            col(
                "Last Seen",
                "string",
                0,
                "Time when this Event was last observed",
            ),
            col(
                "Type",
                "string",
                0,
                "Type of this event (Normal, Warning), new types could be added in the future",
            ),
            col(
                "Reason",
                "string",
                0,
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            ),
            col(
                "Object",
                "string",
                0,
                "The object that this event is about.",
            ),
            col(
                "Subobject",
                "string",
                1,
                "The field of the object this event is about.",
            ),
            col("Source", "string", 1, "The component reporting this event."),
            col(
                "Message",
                "string",
                0,
                "A human-readable description of the status of this operation.",
            ),
            col(
                "First Seen",
                "string",
                1,
                "The time at which the event was first recorded.",
            ),
            col(
                "Count",
                "string",
                1,
                "The number of times this event has occurred.",
            ),
            col(
                "Name",
                "string",
                1,
                "Name must be unique within a namespace.",
            ),
        ],
        event_cells,
    )
}

fn event_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // core/v1 and events.k8s.io/v1 name the same things differently.
    let first_of = |fields: &[&str]| -> Value {
        fields
            .iter()
            .map(|f| &o[*f])
            .find(|v| v.as_str().is_some_and(|s| !s.is_empty()))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let first = age(
        &first_of(&["firstTimestamp", "deprecatedFirstTimestamp", "eventTime"]),
        now,
    );
    let mut last = match first_of(&["lastTimestamp", "deprecatedLastTimestamp"]) {
        Value::Null => first.clone(),
        t => age(&t, now),
    };
    let mut times = o["count"]
        .as_i64()
        .or(o["deprecatedCount"].as_i64())
        .unwrap_or(0);
    if o["series"].is_object() {
        last = age(&o["series"]["lastObservedTime"], now);
        times = o["series"]["count"].as_i64().unwrap_or(times);
    } else if times == 0 {
        times = 1;
    }
    let target = if o["involvedObject"].is_object() {
        &o["involvedObject"]
    } else {
        &o["regarding"]
    };
    let kind = target["kind"].as_str().unwrap_or_default().to_lowercase();
    let object = match target["name"].as_str().filter(|n| !n.is_empty()) {
        Some(name) => format!("{kind}/{name}"),
        None => kind,
    };
    let source = &o["source"];
    let component = source["component"]
        .as_str()
        .or(o["reportingController"].as_str())
        .or(o["deprecatedSource"]["component"].as_str())
        .unwrap_or_default();
    let host = source["host"]
        .as_str()
        .or(o["reportingInstance"].as_str())
        .unwrap_or_default();
    let source = match (component.is_empty(), host.is_empty()) {
        (true, _) => "<unknown>".to_string(),
        (false, true) => component.to_string(),
        (false, false) => format!("{component}, {host}"),
    };
    let message = o["message"]
        .as_str()
        .or(o["note"].as_str())
        .unwrap_or_default();
    vec![
        json!(last),
        json!(o["type"].as_str().unwrap_or_default()),
        json!(o["reason"].as_str().unwrap_or_default()),
        json!(object),
        json!(target["fieldPath"].as_str().unwrap_or_default()),
        json!(source),
        json!(message.trim()),
        json!(first),
        json!(times),
        json!(meta::name(o)),
    ]
}

/// A CRD's `additionalPrinterColumns` for the served version, else NAME and AGE.
fn custom(info: &ResourceInfo, crd: Option<&Value>) -> Printer {
    let declared = crd
        .and_then(|crd| {
            crd["spec"]["versions"]
                .as_array()?
                .iter()
                .find(|v| v["name"].as_str() == Some(info.version.as_str()))
        })
        .and_then(|v| v["additionalPrinterColumns"].as_array())
        .filter(|c| !c.is_empty())
        .cloned()
        .unwrap_or_else(|| {
            vec![json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})]
        });
    let mut columns = vec![name_col()];
    let mut paths = Vec::new();
    for c in &declared {
        let kind = c["type"].as_str().unwrap_or("string").to_string();
        columns.push(Column {
            name: c["name"].as_str().unwrap_or_default().into(),
            kind: kind.clone(),
            format: c["format"].as_str().unwrap_or_default().into(),
            description: c["description"].as_str().unwrap_or_default().into(),
            priority: c["priority"].as_i64().unwrap_or(0),
        });
        paths.push((kind, c["jsonPath"].as_str().unwrap_or_default().to_string()));
    }
    Printer {
        columns,
        cells: Cells::Paths(paths),
    }
}

/// One additional printer column's cell: the first value the path selects, converted to the
/// column's type (`date` columns print as an age, as the real CRD printer does).
pub(super) fn path_cell(obj: &Value, kind: &str, path: &str, now: DateTime<Utc>) -> Value {
    let Some(value) = jsonpath::find(obj, path).into_iter().next() else {
        return Value::Null;
    };
    match kind {
        "string" => match value {
            Value::String(s) => json!(s),
            other => json!(other.to_string()),
        },
        "integer" => value.as_i64().map_or(Value::Null, |n| json!(n)),
        "number" => value.as_f64().map_or(Value::Null, |n| json!(n)),
        "boolean" => value.as_bool().map_or(Value::Null, |b| json!(b)),
        "date" => {
            if value.is_string() {
                json!(age(value, now))
            } else {
                Value::Null
            }
        }
        _ => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn print(api_version: &str, kind: &str, obj: Value) -> (Vec<String>, Vec<Value>) {
        let registry = Registry::default();
        let info = registry
            .lookup_kind(api_version, kind)
            .unwrap_or_else(|| panic!("{api_version} {kind} is served"));
        let printer = printer_for(info, None);
        let names = printer.columns.iter().map(|c| c.name.clone()).collect();
        let cells = printer.cells(&obj, now());
        assert_eq!(
            cells.len(),
            printer.columns.len(),
            "{kind}: one cell per column"
        );
        (names, cells)
    }

    const CREATED: &str = "2024-05-01T11:55:00Z";

    #[test]
    fn pods() {
        let pod = json!({
            "metadata": {"name": "web-1", "creationTimestamp": CREATED},
            "spec": {"nodeName": "node-a", "containers": [{"name": "a"}, {"name": "b"}],
                "readinessGates": [{"conditionType": "x"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.5",
                "conditions": [{"type": "x", "status": "True"}],
                "containerStatuses": [
                    {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}}},
                    {"name": "b", "ready": false, "restartCount": 1, "state": {"running": {}}}
                ]}
        });
        let (names, cells) = print("v1", "Pod", pod.clone());
        assert_eq!(
            names,
            [
                "Name",
                "Ready",
                "Status",
                "Restarts",
                "Age",
                "IP",
                "Node",
                "Nominated Node",
                "Readiness Gates"
            ]
        );
        assert_eq!(
            cells,
            [
                json!("web-1"),
                json!("1/2"),
                json!("Running"),
                json!("3"),
                json!("5m"),
                json!("10.0.0.5"),
                json!("node-a"),
                json!("<none>"),
                json!("1/1")
            ]
        );
        let pending = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}});
        let (_, cells) = print("v1", "Pod", pending);
        assert_eq!(cells[1..4], [json!("0/1"), json!("Pending"), json!("0")]);
        assert_eq!(
            cells[5..],
            [
                json!("<none>"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        let mut waiting = pod.clone();
        waiting["status"]["containerStatuses"][1]["state"] =
            json!({"waiting": {"reason": "CrashLoopBackOff"}});
        assert_eq!(pod_status(&waiting), "CrashLoopBackOff");
        let mut deleting = pod;
        deleting["metadata"]["deletionTimestamp"] = json!(CREATED);
        assert_eq!(pod_status(&deleting), "Terminating");
    }

    #[test]
    fn services() {
        let svc = |spec: Value, status: Value| json!({"metadata": {"name": "web", "creationTimestamp": CREATED}, "spec": spec, "status": status});
        let (names, cells) = print(
            "v1",
            "Service",
            svc(
                json!({"type": "ClusterIP", "clusterIP": "10.100.0.2", "clusterIPs": ["10.100.0.2"],
                "selector": {"app": "web", "tier": "a"}, "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}),
                json!({}),
            ),
        );
        assert_eq!(
            names,
            [
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age",
                "Selector"
            ]
        );
        assert_eq!(
            cells,
            [
                json!("web"),
                json!("ClusterIP"),
                json!("10.100.0.2"),
                json!("<none>"),
                json!("80/TCP,53/UDP"),
                json!("5m"),
                json!("app=web,tier=a")
            ]
        );
        let (_, cells) = print(
            "v1",
            "Service",
            svc(
                json!({"type": "LoadBalancer", "clusterIP": "10.100.0.3", "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
                json!({}),
            ),
        );
        assert_eq!(cells[3..5], [json!("<pending>"), json!("80:30080/TCP")]);
        let (_, cells) = print(
            "v1",
            "Service",
            svc(
                json!({"type": "LoadBalancer", "ports": []}),
                json!({"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}),
            ),
        );
        assert_eq!(
            cells[2..5],
            [json!("<none>"), json!("lb.example.com"), json!("<none>")]
        );
    }

    #[test]
    fn deployments_nodes_and_the_rest() {
        let (names, cells) = print(
            "apps/v1",
            "Deployment",
            json!({"metadata": {"name": "web", "creationTimestamp": CREATED},
                "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}},
                "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}),
        );
        assert_eq!(
            names,
            [
                "Name",
                "Ready",
                "Up-to-date",
                "Available",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        assert_eq!(
            cells,
            [
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("5m"),
                json!("nginx"),
                json!("nginx:1.27"),
                json!("app=web")
            ]
        );

        let (names, cells) = print(
            "v1",
            "Node",
            json!({"metadata": {"name": "n1", "creationTimestamp": CREATED,
                    "labels": {"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": ""}},
                "spec": {"unschedulable": true},
                "status": {"conditions": [{"type": "Ready", "status": "True"}],
                    "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}],
                    "nodeInfo": {"kubeletVersion": "v1.33.0"}}}),
        );
        assert_eq!(names[..5], ["Name", "Status", "Roles", "Age", "Version"]);
        assert_eq!(
            cells,
            [
                json!("n1"),
                json!("Ready,SchedulingDisabled"),
                json!("control-plane,worker"),
                json!("5m"),
                json!("v1.33.0"),
                json!("192.168.1.10"),
                json!("<none>"),
                json!("<unknown>"),
                json!("<unknown>"),
                json!("<unknown>")
            ]
        );

        let (names, cells) = print(
            "networking.k8s.io/v1",
            "Ingress",
            json!({"metadata": {"name": "ing", "creationTimestamp": CREATED},
                "spec": {"ingressClassName": "alb", "tls": [{}],
                    "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}, {}, {"host": "d"}, {"host": "e"}]},
                "status": {"loadBalancer": {"ingress": [{"hostname": "k8s-alb.elb.amazonaws.com"}]}}}),
        );
        assert_eq!(names, ["Name", "Class", "Hosts", "Address", "Ports", "Age"]);
        assert_eq!(
            cells,
            [
                json!("ing"),
                json!("alb"),
                json!("a.example.com,b.example.com,d + 2 more..."),
                json!("k8s-alb.elb.amazonaws.com"),
                json!("80, 443"),
                json!("5m")
            ]
        );

        let (names, cells) = print(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            json!({"metadata": {"name": "web-abc", "creationTimestamp": CREATED}, "addressType": "IPv4",
                "ports": [{"port": 8080}],
                "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}, {"addresses": ["10.0.0.3"]}, {"addresses": ["10.0.0.4"]}]}),
        );
        assert_eq!(names, ["Name", "AddressType", "Ports", "Endpoints", "Age"]);
        assert_eq!(
            cells,
            [
                json!("web-abc"),
                json!("IPv4"),
                json!("8080"),
                json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more..."),
                json!("5m")
            ]
        );
        let (_, cells) = print(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            json!({"metadata": {"name": "e"}, "addressType": "IPv4", "ports": [], "endpoints": []}),
        );
        assert_eq!(cells[2..4], [json!("<unset>"), json!("<unset>")]);

        let table: &[(&str, &str, Value, Vec<Value>)] = &[
            (
                "v1",
                "Namespace",
                json!({"metadata": {"name": "ns", "creationTimestamp": CREATED}, "status": {"phase": "Active"}}),
                vec![json!("ns"), json!("Active"), json!("5m")],
            ),
            (
                "v1",
                "ConfigMap",
                json!({"metadata": {"name": "cm", "creationTimestamp": CREATED}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}}),
                vec![json!("cm"), json!(3), json!("5m")],
            ),
            (
                "coordination.k8s.io/v1",
                "Lease",
                json!({"metadata": {"name": "l", "creationTimestamp": CREATED}, "spec": {"holderIdentity": "pod-1"}}),
                vec![json!("l"), json!("pod-1"), json!("5m")],
            ),
            (
                "v1",
                "ServiceAccount",
                json!({"metadata": {"name": "sa", "creationTimestamp": CREATED}}),
                vec![json!("sa"), json!(0), json!("5m")],
            ),
            (
                "apps/v1",
                "DaemonSet",
                json!({"metadata": {"name": "ds"}}),
                vec![
                    json!("ds"),
                    json!(0),
                    json!(0),
                    json!(0),
                    json!(0),
                    json!(0),
                    json!("<none>"),
                    json!("<unknown>"),
                    json!(""),
                    json!(""),
                    json!("<none>"),
                ],
            ),
            (
                "v1",
                "Event",
                json!({"metadata": {"name": "e.1"}, "type": "Normal", "reason": "Scheduled",
                "involvedObject": {"kind": "Pod", "name": "web-1"}, "message": " Assigned ", "firstTimestamp": CREATED,
                "source": {"component": "default-scheduler"}}),
                vec![
                    json!("5m"),
                    json!("Normal"),
                    json!("Scheduled"),
                    json!("pod/web-1"),
                    json!(""),
                    json!("default-scheduler"),
                    json!("Assigned"),
                    json!("5m"),
                    json!(1),
                    json!("e.1"),
                ],
            ),
            (
                "events.k8s.io/v1",
                "Event",
                json!({"metadata": {"name": "e.2"}, "type": "Warning", "reason": "Failed",
                "regarding": {"kind": "Ingress", "name": "ing"}, "note": "no subnets", "eventTime": "2024-05-01T11:58:00.000000Z",
                "reportingController": "cloudnet", "reportingInstance": "ctrl-1", "series": {"count": 4, "lastObservedTime": "2024-05-01T11:59:00.000000Z"}}),
                vec![
                    json!("60s"),
                    json!("Warning"),
                    json!("Failed"),
                    json!("ingress/ing"),
                    json!(""),
                    json!("cloudnet, ctrl-1"),
                    json!("no subnets"),
                    json!("2m"),
                    json!(4),
                    json!("e.2"),
                ],
            ),
            (
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                json!({"metadata": {"name": "x.example.com", "creationTimestamp": CREATED}}),
                vec![json!("x.example.com"), json!(CREATED)],
            ),
            (
                "v1",
                "Endpoints",
                json!({"metadata": {"name": "ep", "creationTimestamp": CREATED}}),
                vec![json!("ep"), json!("<none>"), json!("5m")],
            ),
            (
                "networking.k8s.io/v1",
                "IngressClass",
                json!({"metadata": {"name": "alb", "creationTimestamp": CREATED}, "spec": {"controller": "ingress.k8s.aws/alb"}}),
                vec![
                    json!("alb"),
                    json!("ingress.k8s.aws/alb"),
                    json!("<none>"),
                    json!("5m"),
                ],
            ),
        ];
        for (api_version, kind, obj, want) in table {
            assert_eq!(&print(api_version, kind, obj.clone()).1, want, "{kind}");
        }
    }

    #[test]
    fn custom_resources() {
        let crd = json!({"spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1", "served": true, "additionalPrinterColumns": [
                {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
                {"name": "Tags", "type": "string", "jsonPath": ".spec.tags", "priority": 1},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
            ]}, {"name": "v2", "served": true}]}});
        let infos = crate::resources::resources_of_crd(&crd);
        let widget = json!({"metadata": {"name": "w", "creationTimestamp": CREATED},
            "spec": {"size": 3, "tags": ["a"]}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let v1 = printer_for(&infos[0], Some(&crd));
        let names: Vec<&str> = v1.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Name", "Size", "Ready", "Tags", "Age"]);
        assert_eq!(v1.columns[3].priority, 1);
        assert_eq!(
            v1.cells(&widget, now()),
            [
                json!("w"),
                json!(3),
                json!("True"),
                json!("[\"a\"]"),
                json!("5m")
            ]
        );
        let bare = json!({"metadata": {"name": "w"}});
        assert_eq!(
            v1.cells(&bare, now())[1..4],
            [Value::Null, Value::Null, Value::Null]
        );
        let v2 = printer_for(&infos[1], Some(&crd));
        let names: Vec<&str> = v2.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Name", "Age"]);
        assert_eq!(v2.cells(&widget, now()), [json!("w"), json!("5m")]);
    }
}
