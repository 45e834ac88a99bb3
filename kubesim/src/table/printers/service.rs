//! Services: TYPE, CLUSTER-IP, EXTERNAL-IP, PORT(S), AGE, SELECTOR.

use super::*;

pub(super) fn service() -> Printer {
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
                    let mut ips = ingress_addresses(o);
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
