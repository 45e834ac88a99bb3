//! The AWS Load Balancer Controller's Service annotations
//! (`service.beta.kubernetes.io/aws-load-balancer-*`): the keys cloudnet reads and the ones it
//! recognises but does not carry out yet. The readers are in [`crate::annotations`].

pub use crate::annotations::{AnnotationError, Annotations, Family, parse_map, split_list};

/// The annotation prefix the Service annotations share.
pub const PREFIX: &str = "service.beta.kubernetes.io/";

/// The family of keys checked for spelling: everything under this prefix.
pub const AWS_PREFIX: &str = "service.beta.kubernetes.io/aws-load-balancer-";

/// Keys (after [`PREFIX`]) that cloudnet reads.
pub const SUPPORTED: &[&str] = &[
    "aws-load-balancer-type",
    "aws-load-balancer-nlb-target-type",
    "aws-load-balancer-scheme",
    "aws-load-balancer-internal",
    "aws-load-balancer-subnets",
    "aws-load-balancer-ip-address-type",
    "aws-load-balancer-healthcheck-protocol",
    "aws-load-balancer-healthcheck-port",
    "aws-load-balancer-healthcheck-path",
    "aws-load-balancer-healthcheck-interval",
    "aws-load-balancer-healthcheck-timeout",
    "aws-load-balancer-healthcheck-healthy-threshold",
    "aws-load-balancer-healthcheck-unhealthy-threshold",
    "aws-load-balancer-healthcheck-success-codes",
    "aws-load-balancer-ssl-cert",
    "aws-load-balancer-ssl-ports",
    "aws-load-balancer-ssl-negotiation-policy",
    "aws-load-balancer-backend-protocol",
    "aws-load-balancer-target-group-attributes",
    "aws-load-balancer-attributes",
    "aws-load-balancer-additional-resource-tags",
    "aws-load-balancer-security-groups",
    "aws-load-balancer-proxy-protocol",
    "load-balancer-source-ranges",
];

/// Keys of the AWS Load Balancer Controller that cloudnet recognises but does not carry out
/// yet: using one is an error that says so.
pub const NOT_SUPPORTED: &[&str] = &[
    "aws-load-balancer-private-ipv4-addresses",
    "aws-load-balancer-eip-allocations",
    "aws-load-balancer-name",
    "aws-load-balancer-ipv6-addresses",
    "aws-load-balancer-alpn-policy",
    "aws-load-balancer-target-node-labels",
    "aws-load-balancer-manage-backend-security-group-rules",
    "aws-load-balancer-security-group-prefix-lists",
    "aws-load-balancer-access-log-enabled",
    "aws-load-balancer-access-log-s3-bucket-name",
    "aws-load-balancer-access-log-s3-bucket-prefix",
    "aws-load-balancer-cross-zone-load-balancing-enabled",
    "aws-load-balancer-inbound-sg-rules-on-private-link-traffic",
    "aws-load-balancer-listener-attributes",
    "aws-load-balancer-multi-cluster-target-group",
    "aws-load-balancer-enable-prefix-for-ipv6-source-nat",
    "aws-load-balancer-source-nat-ipv6-prefixes",
    "aws-load-balancer-minimum-load-balancer-capacity",
    "aws-load-balancer-quic-enabled-ports",
    "aws-load-balancer-disable-nlb-sg",
];

/// The Service family.
pub static FAMILY: Family = Family {
    prefix: PREFIX,
    checked: "aws-load-balancer-",
    supported: SUPPORTED,
    supported_prefixes: &[],
    not_supported: NOT_SUPPORTED,
};
