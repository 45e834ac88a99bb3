//! The sandbox's summary: what exists in the cluster and in the cloud, as tables.

use std::fmt;

use anyhow::Result;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use serde_json::Value;

/// One row per object, columns as `kubectl get` shows them.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub nodes: Vec<[String; 4]>,
    pub pods: Vec<[String; 4]>,
    pub services: Vec<[String; 4]>,
    pub ingresses: Vec<[String; 3]>,
    pub cloud: CloudSummary,
}

/// Counts of what the suite made in the cloud.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudSummary {
    pub instances: usize,
    pub network_interfaces: usize,
    pub secondary_ips: usize,
    pub prefixes: usize,
    pub load_balancers: usize,
    pub target_groups: usize,
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
    pub async fn collect(
        client: &kube::Client,
        cloud: &cloudnet_mockcloud::Handle,
    ) -> Result<Summary> {
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
        Ok(Summary {
            nodes,
            pods,
            services,
            ingresses,
            cloud: CloudSummary::of(cloud),
        })
    }
}

impl CloudSummary {
    pub fn of(cloud: &cloudnet_mockcloud::Handle) -> CloudSummary {
        cloud.with_cloud(|c| {
            let enis = c.ec2.network_interfaces.values();
            let (mut secondary_ips, mut prefixes) = (0, 0);
            for eni in enis {
                secondary_ips += eni.private_ips.iter().filter(|ip| !ip.primary).count();
                prefixes += eni.prefixes.len();
            }
            CloudSummary {
                instances: c.ec2.instances.len(),
                network_interfaces: c.ec2.network_interfaces.len(),
                secondary_ips,
                prefixes,
                load_balancers: c.elbv2.load_balancer_count(),
                target_groups: c.elbv2.target_group_count(),
            }
        })
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
            ["NAMESPACE/NAME", "TYPE", "CLUSTER-IP", "PORTS"],
            &self.services,
        )?;
        table(
            f,
            "Ingresses",
            ["NAMESPACE/NAME", "CLASS", "ADDRESS"],
            &self.ingresses,
        )?;
        let c = &self.cloud;
        write!(
            f,
            "Cloud: {} instances, {} network interfaces ({} secondary IPs, {} /28 prefixes), {} load balancers, {} target groups",
            c.instances,
            c.network_interfaces,
            c.secondary_ips,
            c.prefixes,
            c.load_balancers,
            c.target_groups
        )
    }
}
