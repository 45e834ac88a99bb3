//! The node's own view of its NICs on Azure: IMDS's network document
//! (`/metadata/instance/network?api-version=2021-02-01`, `Metadata: true`). Each interface's
//! private addresses, its primary ipConfiguration's first, as Azure CNI reads them: a pod
//! address is one ipConfiguration of the NIC, which the pool agrees with the `NodeNetwork`
//! status before handing it out.
//!
//! IMDS names a NIC by its MAC only (`000D3A1B2C3D`), while the status lists NICs by resource
//! ID (with ARM's `00-0D-3A-1B-2C-3D`): an interface here is named by its MAC, lowercase hex
//! without separators, and [`crate::pool::agree`] pairs it with the status's NIC of that MAC.

use std::net::Ipv4Addr;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::metadata::{Endpoint, INSTANCE_HEADER, MetadataSource};
use crate::pool::{MetadataInterface, normalize_mac};

/// Azure's instance metadata service.
pub const IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// The network document, at the API version the provider reads IMDS with.
pub const NETWORK: &str = "/metadata/instance/network?api-version=2021-02-01";

/// An Azure IMDS client.
#[derive(Clone, Debug)]
pub struct AzureImds {
    endpoint: Endpoint,
}

#[derive(Debug, Deserialize)]
struct Network {
    #[serde(default)]
    interface: Vec<Nic>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Nic {
    #[serde(default)]
    mac_address: String,
    #[serde(default)]
    ipv4: Ipv4,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ipv4 {
    #[serde(default)]
    ip_address: Vec<Address>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Address {
    #[serde(default)]
    private_ip_address: String,
}

impl AzureImds {
    /// `base` is `http://169.254.169.254` on Azure. `instance` (the VM's computer name) names
    /// the VM to a mock IMDS that serves several.
    pub fn new(base: impl Into<String>, instance: Option<String>) -> Self {
        AzureImds {
            endpoint: Endpoint::new(base, instance, INSTANCE_HEADER),
        }
    }
}

/// The interfaces of IMDS's network document, named by MAC.
pub fn parse_network(body: &str) -> Result<Vec<MetadataInterface>> {
    let doc: Network =
        serde_json::from_str(body).map_err(|e| Error::Metadata(format!("network: {e}")))?;
    doc.interface
        .into_iter()
        .enumerate()
        .map(|(i, nic)| {
            let mac = normalize_mac(&nic.mac_address);
            if mac.len() != 12 || !mac.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::Metadata(format!(
                    "interface {i}: not a MAC address: {:?}",
                    nic.mac_address
                )));
            }
            let local_ipv4s = nic
                .ipv4
                .ip_address
                .iter()
                .map(|a| {
                    a.private_ip_address.parse::<Ipv4Addr>().map_err(|_| {
                        Error::Metadata(format!(
                            "interface {i}: not an address: {:?}",
                            a.private_ip_address
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(MetadataInterface {
                interface_id: mac.clone(),
                mac,
                device_number: u32::try_from(i).ok(),
                local_ipv4s,
                ipv4_prefixes: Vec::new(),
            })
        })
        .collect()
}

impl MetadataSource for AzureImds {
    async fn interfaces(&self) -> Result<Vec<MetadataInterface>> {
        let headers = [("metadata", "true")];
        parse_network(&self.endpoint.get(NETWORK, &headers).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_by_mac_with_their_ip_configurations() {
        let body = r#"{"interface": [
            {"macAddress": "000D3A1B2C3D",
             "ipv4": {"ipAddress": [{"privateIpAddress": "10.224.0.4", "publicIpAddress": ""},
                                    {"privateIpAddress": "10.224.0.9", "publicIpAddress": ""}],
                      "subnet": [{"address": "10.224.0.0", "prefix": "16"}]},
             "ipv6": {"ipAddress": []}},
            {"macAddress": "00-0D-3A-1B-2C-3E", "ipv4": {"ipAddress": []}}
        ]}"#;
        let got = parse_network(body).expect("parses");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].interface_id, "000d3a1b2c3d");
        assert_eq!(got[0].mac, "000d3a1b2c3d");
        assert_eq!(
            got[0].local_ipv4s,
            vec![Ipv4Addr::new(10, 224, 0, 4), Ipv4Addr::new(10, 224, 0, 9)]
        );
        assert!(got[0].ipv4_prefixes.is_empty());
        assert_eq!(got[1].interface_id, "000d3a1b2c3e");
        assert_eq!(got[1].device_number, Some(1));
    }

    #[test]
    fn a_bad_document_is_a_metadata_error() {
        for bad in [
            "nonsense",
            r#"{"interface": [{"macAddress": "xyz", "ipv4": {"ipAddress": []}}]}"#,
            r#"{"interface": [{"macAddress": "000D3A1B2C3D", "ipv4": {"ipAddress": [{"privateIpAddress": "10.0.0"}]}}]}"#,
        ] {
            assert!(
                matches!(parse_network(bad), Err(Error::Metadata(_))),
                "{bad}"
            );
        }
    }
}
