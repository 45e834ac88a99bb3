//! The pure half of a TargetGroupBinding: which targets it wants, and the `ip:port` strings
//! its status keeps.

use std::net::SocketAddr;

use cloudnet_core::{Target, TargetKind};
use cloudnet_crds::{BindingTargetType, TargetGroupBindingSpec};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::service::targets::port_targets;

/// Why a binding's targets cannot be computed (a Warning Event and `Ready=False`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("Service {0} not found")]
    ServiceNotFound(String),
    #[error("Service {service} has no port {port}")]
    PortNotFound { service: String, port: String },
    #[error("port {port} of Service {service} has no node port, needed for instance targets")]
    NoNodePort { service: String, port: String },
}

impl ResolveError {
    /// The condition's and the Event's reason.
    pub fn reason(&self) -> &'static str {
        match self {
            ResolveError::ServiceNotFound(_) => "ServiceNotFound",
            ResolveError::PortNotFound { .. } => "PortNotFound",
            ResolveError::NoNodePort { .. } => "NoNodePort",
        }
    }
}

pub fn target_kind(t: BindingTargetType) -> TargetKind {
    match t {
        BindingTargetType::Ip => TargetKind::PodIp,
        BindingTargetType::Instance => TargetKind::NodePort,
    }
}

fn port_text(p: &IntOrString) -> String {
    match p {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// The targets a binding wants, from its Service (`None`: not found in the binding's
/// namespace), the slices and the nodes.
pub fn resolve(
    namespace: &str,
    spec: &TargetGroupBindingSpec,
    svc: Option<&Service>,
    slices: &[EndpointSlice],
    nodes: &[Node],
) -> Result<Vec<Target>, ResolveError> {
    let service = format!("{namespace}/{}", spec.service_ref.name);
    let svc = svc.ok_or_else(|| ResolveError::ServiceNotFound(service.clone()))?;
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    let port = ports
        .iter()
        .find(|p| match &spec.service_ref.port {
            IntOrString::Int(n) => p.port == *n,
            IntOrString::String(name) => p.name.as_deref() == Some(name.as_str()),
        })
        .ok_or_else(|| ResolveError::PortNotFound {
            service: service.clone(),
            port: port_text(&spec.service_ref.port),
        })?;
    let kind = target_kind(spec.target_type);
    let node_port = match kind {
        TargetKind::PodIp => 0,
        TargetKind::NodePort => port
            .node_port
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .ok_or_else(|| ResolveError::NoNodePort {
                service: service.clone(),
                port: port_text(&spec.service_ref.port),
            })?,
    };
    Ok(port_targets(svc, port, kind, node_port, slices, nodes))
}

/// `ip:port` (`[v6]:port`) of each target, sorted as given.
pub fn format_targets(targets: &[Target]) -> Vec<String> {
    targets
        .iter()
        .map(|t| SocketAddr::new(t.ip, t.port).to_string())
        .collect()
}

/// The targets of `status.registeredTargets`; entries that do not parse are skipped (a hand
/// edit cannot make the controller deregister anything else).
pub fn parse_targets(list: &[String]) -> Vec<Target> {
    list.iter()
        .filter_map(|s| s.parse::<SocketAddr>().ok())
        .map(|a| Target {
            ip: a.ip(),
            port: a.port(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(port: serde_json::Value, kind: &str) -> TargetGroupBindingSpec {
        serde_json::from_value(json!({
            "targetGroupARN": "arn:aws:elasticloadbalancing:us-west-2:1:targetgroup/web/1",
            "targetType": kind,
            "serviceRef": {"name": "web", "port": port}
        }))
        .expect("spec")
    }

    fn service(node_port: Option<i32>) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "nodePort": node_port},
                {"name": "admin", "port": 9000, "targetPort": 9000}
            ]}
        }))
        .expect("service")
    }

    fn slices() -> Vec<EndpointSlice> {
        serde_json::from_value(json!([{
            "metadata": {"name": "web-a", "namespace": "shop",
                "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080}, {"name": "admin", "port": 9000}],
            "endpoints": [
                {"addresses": ["10.0.0.2"], "conditions": {"ready": true}, "nodeName": "n1"},
                {"addresses": ["10.0.0.1"], "conditions": {"ready": true}, "nodeName": "n1"},
                {"addresses": ["10.0.0.3"], "conditions": {"ready": false}, "nodeName": "n2"}
            ]
        }]))
        .expect("slices")
    }

    fn nodes() -> Vec<Node> {
        serde_json::from_value(json!([
            {"metadata": {"name": "n1"}, "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.1"}]}},
            {"metadata": {"name": "n2"}, "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.2"}]}}
        ]))
        .expect("nodes")
    }

    #[test]
    fn resolves_as_a_table() {
        let svc = service(Some(30080));
        type Case<'a> = (
            &'a str,
            TargetGroupBindingSpec,
            Option<&'a Service>,
            Result<Vec<&'a str>, &'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                "ip by number",
                spec(json!(80), "ip"),
                Some(&svc),
                Ok(vec!["10.0.0.1:8080", "10.0.0.2:8080"]),
            ),
            (
                "ip by name",
                spec(json!("admin"), "ip"),
                Some(&svc),
                Ok(vec!["10.0.0.1:9000", "10.0.0.2:9000"]),
            ),
            (
                "instance on the node port",
                spec(json!("http"), "instance"),
                Some(&svc),
                Ok(vec!["192.168.0.1:30080", "192.168.0.2:30080"]),
            ),
            (
                "no node port",
                spec(json!(9000), "instance"),
                Some(&svc),
                Err("port 9000 of Service shop/web has no node port, needed for instance targets"),
            ),
            (
                "no such port",
                spec(json!(81), "ip"),
                Some(&svc),
                Err("Service shop/web has no port 81"),
            ),
            (
                "no such Service",
                spec(json!(80), "ip"),
                None,
                Err("Service shop/web not found"),
            ),
        ];
        for (name, spec, svc, want) in cases {
            let got = resolve("shop", &spec, svc, &slices(), &nodes())
                .map(|t| format_targets(&t))
                .map_err(|e| e.to_string());
            let want = want
                .map(|v| v.into_iter().map(String::from).collect::<Vec<_>>())
                .map_err(String::from);
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn registered_targets_round_trip_and_junk_is_ignored() {
        let t = vec![
            Target {
                ip: "10.0.0.1".parse().expect("ip"),
                port: 80,
            },
            Target {
                ip: "fd00::1".parse().expect("ip"),
                port: 443,
            },
        ];
        let text = format_targets(&t);
        assert_eq!(text, vec!["10.0.0.1:80", "[fd00::1]:443"]);
        let mut with_junk = text.clone();
        with_junk.push("not an address".into());
        assert_eq!(parse_targets(&with_junk), t);
    }
}
