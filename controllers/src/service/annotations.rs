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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string()))
            .collect()
    }

    #[test]
    fn typed_readers_record_each_bad_value() {
        let m = map(&[
            ("aws-load-balancer-internal", "yes"),
            ("aws-load-balancer-healthcheck-interval", "abc"),
            ("aws-load-balancer-healthcheck-timeout", "500"),
            ("aws-load-balancer-scheme", "Internet-Facing"),
        ]);
        let mut a = Annotations::new(&FAMILY, &m);
        assert_eq!(a.boolean("aws-load-balancer-internal"), None);
        assert_eq!(
            a.int("aws-load-balancer-healthcheck-interval", 5, 300),
            None
        );
        assert_eq!(a.int("aws-load-balancer-healthcheck-timeout", 2, 120), None);
        assert_eq!(
            a.choice("aws-load-balancer-scheme", &["internal", "internet-facing"]),
            Some("internet-facing")
        );
        let errors: Vec<String> = a.finish().iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            vec![
                r#"annotation service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval: "abc": must be a whole number"#,
                r#"annotation service.beta.kubernetes.io/aws-load-balancer-healthcheck-timeout: "500": must be between 2 and 120"#,
                r#"annotation service.beta.kubernetes.io/aws-load-balancer-internal: "yes": must be true or false"#,
            ]
        );
    }

    #[test]
    fn unknown_and_unsupported_keys_are_errors_and_other_prefixes_are_not() {
        let mut m = map(&[
            ("aws-load-balancer-healthcheck-intervall", "10"),
            ("aws-load-balancer-eip-allocations", "eipalloc-1"),
            ("aws-load-balancer-frobnicate", "x"),
            ("aws-load-balancer-scheme", "internal"),
        ]);
        m.insert("example.com/anything".into(), "x".into());
        m.insert(
            "service.beta.kubernetes.io/other-cloud-thing".into(),
            "x".into(),
        );
        let errors: Vec<String> = Annotations::new(&FAMILY, &m)
            .finish()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(
            errors[0].contains("eip-allocations")
                && errors[0].contains("not supported by cloudnet yet")
        );
        assert!(errors[1].ends_with("unknown annotation"), "{}", errors[1]);
        assert!(
            errors[2].ends_with(
                "(did you mean service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval?)"
            ),
            "{}",
            errors[2]
        );
    }

    #[test]
    fn supported_and_unsupported_lists_do_not_overlap() {
        for k in NOT_SUPPORTED {
            assert!(!SUPPORTED.contains(k), "{k}");
        }
    }
}
