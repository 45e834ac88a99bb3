//! The node's own view of its interfaces on GCE: the metadata server
//! (`/computeMetadata/v1/instance/network-interfaces/?recursive=true`, `Metadata-Flavor:
//! Google`). Each interface's primary address and its alias IP ranges, which the pool agrees
//! with the `NodeNetwork` status as it agrees delegated prefixes on EC2: a node's pod range
//! is one alias range, and ipamd hands out its addresses with no cloud call per pod.
//!
//! Interfaces are named `nic<N>` by their index, as Compute Engine names them (and as the
//! allocator's status lists them).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::metadata::{Endpoint, INSTANCE_HEADER, Imds, MetadataSource};
use crate::pool::MetadataInterface;

/// The metadata server as the client libraries find it (`GCE_METADATA_HOST` overrides).
pub const METADATA_HOST: &str = "metadata.google.internal";

const INTERFACES: &str = "/computeMetadata/v1/instance/network-interfaces/?recursive=true";

/// A GCE metadata server client.
#[derive(Clone, Debug)]
pub struct GceMetadata {
    endpoint: Endpoint,
}

/// One interface as the recursive listing has it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Nic {
    #[serde(default)]
    ip: String,
    #[serde(default)]
    mac: String,
    #[serde(default)]
    ip_aliases: Vec<String>,
}

impl GceMetadata {
    /// `base` is `http://metadata.google.internal` on GCE (or `http://<GCE_METADATA_HOST>`).
    /// `instance` (`zones/<zone>/instances/<name>` or the name) names the instance to a mock
    /// metadata server that serves several.
    pub fn new(base: impl Into<String>, instance: Option<String>) -> Self {
        GceMetadata {
            endpoint: Endpoint::new(base, instance, INSTANCE_HEADER),
        }
    }

    async fn get(&self, path: &str) -> Result<String> {
        let headers = [("metadata-flavor", "Google")];
        self.endpoint.get(path, &headers).await
    }
}

/// The interfaces of a recursive `network-interfaces/` listing.
pub fn parse_interfaces(body: &str) -> Result<Vec<MetadataInterface>> {
    let nics: Vec<Nic> = serde_json::from_str(body)
        .map_err(|e| Error::Metadata(format!("network-interfaces: {e}")))?;
    nics.into_iter()
        .enumerate()
        .map(|(i, nic)| {
            let ip: Ipv4Addr = nic
                .ip
                .parse()
                .map_err(|_| Error::Metadata(format!("nic{i}: not an address: {:?}", nic.ip)))?;
            let ranges = nic
                .ip_aliases
                .iter()
                .map(|a| {
                    // A single alias address reads without a length.
                    a.parse::<Ipv4Net>()
                        .or_else(|_| a.parse::<Ipv4Addr>().map(Ipv4Net::from))
                        .map_err(|_| Error::Metadata(format!("nic{i}: not a range: {a:?}")))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(MetadataInterface {
                mac: nic.mac,
                interface_id: format!("nic{i}"),
                device_number: u32::try_from(i).ok(),
                local_ipv4s: vec![ip],
                ipv4_prefixes: ranges,
            })
        })
        .collect()
}

impl MetadataSource for GceMetadata {
    async fn interfaces(&self) -> Result<Vec<MetadataInterface>> {
        parse_interfaces(&self.get(INTERFACES).await?)
    }
}

/// The metadata service of the cloud the node runs on.
#[derive(Clone, Debug)]
pub enum NodeMetadata {
    /// EC2's IMDSv2.
    Aws(Imds),
    /// The GCE metadata server.
    Gce(GceMetadata),
    /// Azure's instance metadata service.
    Azure(crate::azure_metadata::AzureImds),
}

impl MetadataSource for NodeMetadata {
    async fn interfaces(&self) -> Result<Vec<MetadataInterface>> {
        match self {
            NodeMetadata::Aws(m) => m.interfaces().await,
            NodeMetadata::Gce(m) => m.interfaces().await,
            NodeMetadata::Azure(m) => m.interfaces().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_with_their_alias_ranges() {
        let body = r#"[
            {"ip": "10.0.0.2", "mac": "42:01:0a:00:00:02", "network": "projects/1/networks/n",
             "ipAliases": ["10.4.0.0/24", "10.8.0.7"]},
            {"ip": "10.1.0.2", "mac": "42:01:0a:01:00:02", "ipAliases": []}
        ]"#;
        let got = parse_interfaces(body).expect("parses");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].interface_id, "nic0");
        assert_eq!(got[0].device_number, Some(0));
        assert_eq!(got[0].local_ipv4s, vec![Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(
            got[0].ipv4_prefixes,
            vec![
                "10.4.0.0/24".parse::<Ipv4Net>().unwrap(),
                "10.8.0.7/32".parse().unwrap()
            ]
        );
        assert_eq!(got[1].interface_id, "nic1");
        assert!(got[1].ipv4_prefixes.is_empty());
    }

    #[test]
    fn a_bad_listing_is_a_metadata_error() {
        for bad in [
            "nonsense",
            r#"[{"ip": "x"}]"#,
            r#"[{"ip": "10.0.0.2", "ipAliases": ["10.4.0.0/33"]}]"#,
        ] {
            assert!(
                matches!(parse_interfaces(bad), Err(Error::Metadata(_))),
                "{bad}"
            );
        }
    }
}
