//! The sandbox's summary: what exists, as tables, read from the API alone. The cloud's side
//! is what the controllers wrote back through the path a cluster uses: the load balancer in
//! a Service's `status.loadBalancer`, each node's interfaces and addresses in its
//! `NodeNetwork` status.

use std::fmt;

use anyhow::Result;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use serde_json::{Value, json};

/// One row per object, columns as `kubectl get` shows them.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub nodes: Vec<[String; 4]>,
    pub pods: Vec<[String; 4]>,
    pub services: Vec<[String; 5]>,
    pub ingresses: Vec<[String; 3]>,
    /// Per node: interfaces, pod addresses held, addresses in use, Ready.
    pub node_networks: Vec<[String; 5]>,
}

async fn list(
    client: &kube::Client,
    group: &str,
    version: &str,
    kind: &str,
) -> Result<Vec<DynamicObject>> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    Ok(api.list(&ListParams::default()).await?.items)
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        other => other.to_string(),
    }
}

fn ns_name(o: &DynamicObject) -> String {
    format!(
        "{}/{}",
        o.metadata.namespace.as_deref().unwrap_or_default(),
        o.metadata.name.as_deref().unwrap_or_default()
    )
}

impl Summary {
    pub async fn collect(client: &kube::Client) -> Result<Summary> {
        let nodes = list(client, "", "v1", "Node")
            .await?
            .iter()
            .map(|n| {
                let ip = n.data["status"]["addresses"]
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
                    .map(|x| s(&x["address"]))
                    .unwrap_or_default();
                [
                    n.metadata.name.clone().unwrap_or_default(),
                    ip,
                    s(&n.data["spec"]["providerID"]),
                    s(&n.data["status"]["allocatable"]["pods"]),
                ]
            })
            .collect();
        let pods = list(client, "", "v1", "Pod")
            .await?
            .iter()
            .map(|p| {
                [
                    ns_name(p),
                    s(&p.data["status"]["phase"]),
                    s(&p.data["status"]["podIP"]),
                    s(&p.data["spec"]["nodeName"]),
                ]
            })
            .collect();
        let services = list(client, "", "v1", "Service")
            .await?
            .iter()
            .map(|svc| {
                let ports = svc.data["spec"]["ports"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .map(|p| match p.get("nodePort") {
                                Some(np) => {
                                    format!("{}:{}/{}", s(&p["port"]), s(np), s(&p["protocol"]))
                                }
                                None => format!("{}/{}", s(&p["port"]), s(&p["protocol"])),
                            })
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                [
                    ns_name(svc),
                    s(&svc.data["spec"]["type"]),
                    s(&svc.data["spec"]["clusterIP"]),
                    external_address(svc),
                    ports,
                ]
            })
            .collect();
        let ingresses = list(client, "networking.k8s.io", "v1", "Ingress")
            .await?
            .iter()
            .map(|i| {
                let address = i.data["status"]["loadBalancer"]["ingress"]
                    .as_array()
                    .and_then(|a| a.first())
                    .map(|x| s(x.get("hostname").or(x.get("ip")).unwrap_or(&Value::Null)))
                    .unwrap_or_else(|| "<pending>".into());
                [ns_name(i), s(&i.data["spec"]["ingressClassName"]), address]
            })
            .collect();
        let node_networks = list(client, "cloudnet.io", "v1alpha1", "NodeNetwork")
            .await?
            .iter()
            .map(|nn| {
                let status = &nn.data["status"];
                let ready = status["conditions"]
                    .as_array()
                    .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                    .map_or_else(|| "<unknown>".to_string(), |c| s(&c["status"]));
                [
                    nn.metadata.name.clone().unwrap_or_default(),
                    s(status["summary"].get("interfaces").unwrap_or(&Value::Null)),
                    s(status["summary"].get("addresses").unwrap_or(&Value::Null)),
                    s(nn.data["spec"].get("inUse").unwrap_or(&json!(0))),
                    ready,
                ]
            })
            .collect();
        Ok(Summary {
            nodes,
            pods,
            services,
            ingresses,
            node_networks,
        })
    }

    /// The load balancers the Services' and Ingresses' status names (as `kubectl get
    /// svc,ingress` shows them).
    pub fn load_balancers(&self) -> usize {
        let services = self
            .services
            .iter()
            .filter(|svc| svc[1] == "LoadBalancer" && svc[3] != "<pending>")
            .count();
        let ingresses = self
            .ingresses
            .iter()
            .filter(|i| i[2] != "<pending>")
            .count();
        services + ingresses
    }
}

/// A Service's EXTERNAL-IP column as kubectl prints it.
fn external_address(svc: &DynamicObject) -> String {
    let ingress = svc.data["status"]["loadBalancer"]["ingress"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get("hostname").or(x.get("ip")).and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    match (svc.data["spec"]["type"].as_str(), ingress.is_empty()) {
        (_, false) => ingress,
        (Some("LoadBalancer"), true) => "<pending>".into(),
        _ => "<none>".into(),
    }
}

fn table<const N: usize>(
    f: &mut fmt::Formatter<'_>,
    title: &str,
    header: [&str; N],
    rows: &[[String; N]],
) -> fmt::Result {
    writeln!(f, "{title}:")?;
    if rows.is_empty() {
        return writeln!(f, "  (none)");
    }
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |f: &mut fmt::Formatter<'_>, cells: Vec<&str>| -> fmt::Result {
        let mut out = String::from(" ");
        for (cell, w) in cells.iter().zip(widths) {
            out.push_str(&format!(" {cell:<w$}"));
        }
        writeln!(f, "{}", out.trim_end())
    };
    line(f, header.to_vec())?;
    for row in rows {
        line(f, row.iter().map(String::as_str).collect())?;
    }
    Ok(())
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        table(
            f,
            "Nodes",
            ["NAME", "INTERNAL-IP", "PROVIDER-ID", "MAX-PODS"],
            &self.nodes,
        )?;
        table(
            f,
            "Pods",
            ["NAMESPACE/NAME", "PHASE", "IP", "NODE"],
            &self.pods,
        )?;
        table(
            f,
            "Services",
            [
                "NAMESPACE/NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORTS",
            ],
            &self.services,
        )?;
        table(
            f,
            "Ingresses",
            ["NAMESPACE/NAME", "CLASS", "ADDRESS"],
            &self.ingresses,
        )?;
        table(
            f,
            "Node networks (the allocator's view of the cloud)",
            ["NODE", "INTERFACES", "ADDRESSES", "IN-USE", "READY"],
            &self.node_networks,
        )?;
        write!(
            f,
            "Load balancers (from Service and Ingress status): {}",
            self.load_balancers()
        )
    }
}
