//! cloud-provider-azure's Service annotations (`service.beta.kubernetes.io/azure-*`), read
//! as AKS's Service controller reads them, so manifests written for AKS work unchanged: a
//! Service is external unless `azure-load-balancer-internal: "true"`, and the keys below are
//! checked here and handed to the Azure backend as the spec's attributes (its
//! [`cloudnet_azure::lb::attributes`] reads them).
//!
//! Pure. Where cloud-provider-azure quietly ignores a value it cannot use (an idle timeout
//! out of range, a DNS label on an internal Service), this is stricter: it is an
//! [`AnnotationError`], which the Service controller turns into a Warning Event and a
//! condition, and the load balancer is left unchanged until it is fixed. Every other
//! `azure-*` key is an error too: recognised ones say they are not supported yet.

use std::collections::BTreeMap;

use cloudnet_azure::lb::attributes;
use cloudnet_core::Scheme;

use crate::annotations::{AnnotationError, Annotations, Family};
use crate::azure_flags::is_resource_name;

/// `"true"`: the frontend takes an address of the node subnet (or `-internal-subnet`).
pub const INTERNAL: &str = "azure-load-balancer-internal";
const INTERNAL_SUBNET: &str = "azure-load-balancer-internal-subnet";
const PROBE_REQUEST_PATH: &str = "azure-load-balancer-health-probe-request-path";
const PROBE_PROTOCOL: &str = "azure-load-balancer-health-probe-protocol";
const PIP_NAME: &str = "azure-pip-name";
const DNS_LABEL_NAME: &str = "azure-dns-label-name";
const TCP_IDLE_TIMEOUT: &str = "azure-load-balancer-tcp-idle-timeout";

/// cloud-provider-azure's keys that cloudnet recognises but does not carry out yet.
pub const NOT_SUPPORTED: &[&str] = &[
    "azure-load-balancer-mode",
    "azure-load-balancer-resource-group",
    "azure-load-balancer-ipv4",
    "azure-load-balancer-ipv6",
    "azure-load-balancer-disable-tcp-reset",
    "azure-load-balancer-enable-high-availability-ports",
    "azure-load-balancer-health-probe-interval",
    "azure-load-balancer-health-probe-num-of-probe",
    "azure-load-balancer-health-probe-port",
    "azure-disable-load-balancer-floating-ip",
    "azure-pip-prefix-id",
    "azure-pip-tags",
    "azure-pip-ip-tags",
    "azure-additional-public-ips",
    "azure-shared-securityrule",
    "azure-allowed-service-tags",
    "azure-allowed-ip-ranges",
    "azure-deny-all-except-load-balancer-source-ranges",
    "azure-pls-create",
];

/// The Azure family: every `service.beta.kubernetes.io/azure-*` key is checked.
static AZURE: Family = Family {
    prefix: "service.beta.kubernetes.io/",
    checked: "azure-",
    supported: &[
        INTERNAL,
        INTERNAL_SUBNET,
        PROBE_REQUEST_PATH,
        PROBE_PROTOCOL,
        PIP_NAME,
        DNS_LABEL_NAME,
        TCP_IDLE_TIMEOUT,
    ],
    supported_prefixes: &[],
    not_supported: NOT_SUPPORTED,
};

/// What a Service's cloud-provider-azure annotations ask of its load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureService {
    pub scheme: Scheme,
    /// Checked values by their full annotation keys, for the spec's attributes.
    pub attributes: BTreeMap<String, String>,
}

/// A public IP's DNS label: 3-63 of `[a-z0-9-]`, a letter first, no `-` last.
fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=63).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Reads a Service's Azure annotations; every bad one is reported at once.
pub fn read_service(map: &BTreeMap<String, String>) -> Result<AzureService, Vec<AnnotationError>> {
    let mut a = Annotations::new(&AZURE, map);
    let internal = a.boolean(INTERNAL).unwrap_or(false);
    let mut attrs = BTreeMap::new();
    let mut put = |key: &str, v: String| {
        attrs.insert(key.to_string(), v);
    };

    if let Some(subnet) = a.string(INTERNAL_SUBNET) {
        if !internal {
            a.reject(
                INTERNAL_SUBNET,
                format!("needs service.beta.kubernetes.io/{INTERNAL}: \"true\""),
            );
        } else if !is_resource_name(&subnet, 80) {
            a.reject(
                INTERNAL_SUBNET,
                "is not a subnet name of the cluster's VNet",
            );
        } else {
            put(attributes::INTERNAL_SUBNET, subnet);
        }
    }
    let protocol = a.choice(PROBE_PROTOCOL, &["tcp", "http", "https"]);
    if let Some(p) = protocol {
        put(attributes::PROBE_PROTOCOL, p.to_string());
    }
    if let Some(path) = a.string(PROBE_REQUEST_PATH) {
        if !path.starts_with('/') || path.contains(char::is_whitespace) {
            a.reject(PROBE_REQUEST_PATH, "must be a path starting with /");
        } else if protocol == Some("tcp") {
            a.reject(
                PROBE_REQUEST_PATH,
                format!("a request path needs {PROBE_PROTOCOL} http or https"),
            );
        } else {
            put(attributes::PROBE_REQUEST_PATH, path);
        }
    }
    for (key, attribute, valid, what) in [
        (
            PIP_NAME,
            attributes::PIP_NAME,
            (|s: &str| is_resource_name(s, 80)) as fn(&str) -> bool,
            "is not a public IP name (1-80 letters, digits, '_', '-', '.')",
        ),
        (
            DNS_LABEL_NAME,
            attributes::DNS_LABEL_NAME,
            is_dns_label,
            "is not a DNS label (3-63 lowercase letters, digits and '-', a letter first)",
        ),
    ] {
        let Some(v) = a.string(key) else { continue };
        if internal {
            a.reject(key, "an internal load balancer has no public IP");
        } else if !valid(&v) {
            a.reject(key, what);
        } else {
            put(attribute, v);
        }
    }
    if let Some(minutes) = a.int(TCP_IDLE_TIMEOUT, 4, 100) {
        put(attributes::TCP_IDLE_TIMEOUT, minutes.to_string());
    }
    let errors = a.finish();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(AzureService {
        scheme: if internal {
            Scheme::Internal
        } else {
            Scheme::InternetFacing
        },
        attributes: attrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<AzureService, Vec<AnnotationError>> {
        let map = pairs
            .iter()
            .map(|(k, v)| (format!("service.beta.kubernetes.io/{k}"), v.to_string()))
            .collect();
        read_service(&map)
    }

    fn reasons(pairs: &[(&str, &str)]) -> Vec<String> {
        read(pairs)
            .expect_err("refused")
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn external_unless_internal_and_values_pass_through() {
        let s = read(&[]).expect("no annotations");
        assert_eq!(s.scheme, Scheme::InternetFacing);
        assert!(s.attributes.is_empty());
        let s = read(&[
            (PIP_NAME, "shop-ip"),
            (DNS_LABEL_NAME, "shop-demo"),
            (TCP_IDLE_TIMEOUT, "30"),
            (PROBE_PROTOCOL, "HTTP"),
            (PROBE_REQUEST_PATH, "/healthz"),
        ])
        .expect("valid");
        assert_eq!(s.scheme, Scheme::InternetFacing);
        assert_eq!(s.attributes[attributes::PIP_NAME], "shop-ip");
        assert_eq!(s.attributes[attributes::DNS_LABEL_NAME], "shop-demo");
        assert_eq!(s.attributes[attributes::TCP_IDLE_TIMEOUT], "30");
        assert_eq!(s.attributes[attributes::PROBE_PROTOCOL], "http");
        assert_eq!(s.attributes[attributes::PROBE_REQUEST_PATH], "/healthz");
        let s = read(&[(INTERNAL, "true"), (INTERNAL_SUBNET, "ilb-subnet")]).expect("valid");
        assert_eq!(s.scheme, Scheme::Internal);
        assert_eq!(s.attributes[attributes::INTERNAL_SUBNET], "ilb-subnet");
    }

    #[test]
    fn bad_values_are_every_one_reported() {
        let got = reasons(&[
            (INTERNAL, "yes"),
            (TCP_IDLE_TIMEOUT, "200"),
            (PROBE_PROTOCOL, "udp"),
            (DNS_LABEL_NAME, "Shop"),
        ]);
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(got[0].contains("azure-dns-label-name") && got[0].contains("not a DNS label"));
        assert!(got[1].contains("azure-load-balancer-health-probe-protocol"));
        assert!(
            got[2].contains("azure-load-balancer-internal\"") || got[2].contains("true or false")
        );
        assert!(got[3].contains("must be between 4 and 100"), "{got:?}");
    }

    #[test]
    fn combinations_azure_cannot_carry_out_are_refused() {
        let got = reasons(&[(INTERNAL_SUBNET, "s")]);
        assert!(got[0].contains("needs service.beta.kubernetes.io/azure-load-balancer-internal"));
        let got = reasons(&[(INTERNAL, "true"), (PIP_NAME, "ip")]);
        assert!(got[0].ends_with("an internal load balancer has no public IP"));
        let got = reasons(&[(PROBE_PROTOCOL, "tcp"), (PROBE_REQUEST_PATH, "/x")]);
        assert!(got[0].contains("needs azure-load-balancer-health-probe-protocol http"));
        let got = reasons(&[(PROBE_REQUEST_PATH, "healthz")]);
        assert!(got[0].ends_with("must be a path starting with /"));
    }

    #[test]
    fn other_azure_keys_are_not_silently_ignored() {
        let got = reasons(&[("azure-load-balancer-mode", "auto")]);
        assert!(got[0].contains("not supported by cloudnet yet"), "{got:?}");
        let got = reasons(&[("azure-pip-nam", "x")]);
        assert!(
            got[0].contains("did you mean service.beta.kubernetes.io/azure-pip-name"),
            "{got:?}"
        );
        // Another cloud's keys are not this family's.
        assert!(read(&[("aws-load-balancer-scheme", "internal")]).is_ok());
    }
}
