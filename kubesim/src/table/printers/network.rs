//! EndpointSlice, Ingress, IngressClass.

use super::*;

pub(super) fn ingress() -> Printer {
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
            let address = ingress_addresses(o);
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

pub(super) fn endpoint_slice() -> Printer {
    builtin(
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
    )
}

pub(super) fn ingress_class() -> Printer {
    builtin(
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
    )
}
