//! ClusterIP and NodePort allocation on Service create, released on delete, as the real API's
//! service registry does inside the write.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use ipnet::Ipv4Net;
use serde_json::{Value, json};

use crate::admission::Admission;
use crate::error::{Reason, StatusError};
use crate::resources::ResourceInfo;

const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

#[derive(Default)]
struct Used {
    ips: BTreeSet<Ipv4Addr>,
    ports: BTreeSet<u16>,
}

/// Allocates `spec.clusterIP(s)` from a service CIDR and unique node ports.
pub struct ServiceAllocator {
    cidr: Ipv4Net,
    used: Mutex<Used>,
}

impl ServiceAllocator {
    pub fn new(cidr: Ipv4Net) -> Self {
        Self {
            cidr,
            used: Mutex::default(),
        }
    }

    fn is_service(info: &ResourceInfo) -> bool {
        info.group.is_empty() && info.plural == "services"
    }
}

impl Default for ServiceAllocator {
    fn default() -> Self {
        Self::new(Ipv4Net::new(Ipv4Addr::new(10, 100, 0, 0), 16).unwrap_or_default())
    }
}

fn full(what: &str) -> StatusError {
    StatusError::new(
        Reason::InternalError,
        format!("failed to allocate a {what}: range is full"),
    )
}

impl Admission for ServiceAllocator {
    fn on_create(&self, info: &ResourceInfo, obj: &mut Value) -> Result<(), StatusError> {
        if !Self::is_service(info) {
            return Ok(());
        }
        let shape_ok = obj["spec"].is_object()
            && obj["spec"]["ports"]
                .as_array()
                .is_none_or(|ports| ports.iter().all(Value::is_object));
        if !shape_ok {
            return Err(StatusError::invalid(
                "",
                "Service",
                crate::meta::name(obj),
                "spec",
                "Invalid value: spec and its ports must be objects",
            ));
        }
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let kind = obj["spec"]["type"]
            .as_str()
            .unwrap_or("ClusterIP")
            .to_string();
        obj["spec"]["type"] = json!(kind);
        if kind != "ExternalName" && obj["spec"]["clusterIP"].as_str() != Some("None") {
            let ip = self
                .cidr
                .hosts()
                .skip(1)
                .find(|ip| !used.ips.contains(ip))
                .ok_or_else(|| full("ClusterIP"))?;
            used.ips.insert(ip);
            obj["spec"]["clusterIP"] = json!(ip.to_string());
            obj["spec"]["clusterIPs"] = json!([ip.to_string()]);
        }
        if matches!(kind.as_str(), "NodePort" | "LoadBalancer")
            && let Some(ports) = obj["spec"]["ports"].as_array_mut()
        {
            for port in ports {
                // 0 is "allocate one", as protobuf clients (kubectl expose) send it.
                let wanted = port["nodePort"]
                    .as_u64()
                    .filter(|p| *p != 0)
                    .and_then(|p| u16::try_from(p).ok());
                let chosen = match wanted {
                    Some(p) if NODE_PORTS.contains(&p) && !used.ports.contains(&p) => p,
                    Some(p) => {
                        return Err(StatusError::new(
                            Reason::Invalid,
                            format!(
                                "Service is invalid: spec.ports.nodePort: Invalid value: {p}: provided port is already allocated or out of range"
                            ),
                        ));
                    }
                    None => NODE_PORTS
                        .clone()
                        .find(|p| !used.ports.contains(p))
                        .ok_or_else(|| full("node port"))?,
                };
                used.ports.insert(chosen);
                port["nodePort"] = json!(chosen);
            }
        }
        Ok(())
    }

    fn on_update(
        &self,
        info: &ResourceInfo,
        old: &Value,
        new: &mut Value,
    ) -> Result<(), StatusError> {
        if Self::is_service(info) && new["spec"].is_object() && old["spec"].is_object() {
            // Allocated addresses and ports are kept when an update leaves them out.
            for field in ["clusterIP", "clusterIPs", "type"] {
                if new["spec"].get(field).is_none() && old["spec"].get(field).is_some() {
                    new["spec"][field] = old["spec"][field].clone();
                }
            }
        }
        Ok(())
    }

    fn on_discard(&self, info: &ResourceInfo, obj: &Value) {
        self.on_remove(info, obj);
    }

    fn on_remove(&self, info: &ResourceInfo, obj: &Value) {
        if !Self::is_service(info) {
            return;
        }
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ip) = obj["spec"]["clusterIP"]
            .as_str()
            .and_then(|s| s.parse().ok())
        {
            used.ips.remove(&ip);
        }
        for port in obj["spec"]["ports"].as_array().into_iter().flatten() {
            if let Some(p) = port["nodePort"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
            {
                used.ports.remove(&p);
            }
        }
    }
}
