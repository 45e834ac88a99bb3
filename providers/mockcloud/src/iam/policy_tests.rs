//! Table tests of the policy evaluator.

use serde_json::json;

use super::policy::{Decision, Policy, Request, evaluate, parse};

fn policy(v: serde_json::Value) -> Policy {
    parse(&v).unwrap_or_else(|e| panic!("{e}: {v}"))
}

fn decide(p: &Policy, r: &Request) -> Decision {
    evaluate(&[p], r)
}

const ENI: &str = "arn:aws:ec2:us-west-2:123456789012:network-interface/eni-0123";

/// Each (action, resource) is allowed or refused by `p` as its case says.
fn assert_decisions(p: &Policy, cases: &[(&str, &str, bool)]) {
    for &(action, resource, allowed) in cases {
        let decided = decide(p, &Request::new(action, resource)).is_allowed();
        assert_eq!(decided, allowed, "{action} on {resource}");
    }
}

#[test]
fn allow_needs_a_matching_statement() {
    let p = policy(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}
    ]}));
    let cases = [
        ("ec2:DescribeInstances", true),
        ("EC2:describeinstances", true),
        ("ec2:DescribeSubnets", false),
        ("elasticloadbalancing:DescribeInstances", false),
    ];
    for (action, allowed) in cases {
        assert_eq!(
            decide(&p, &Request::new(action, "*")).is_allowed(),
            allowed,
            "{action}"
        );
    }
    assert_eq!(
        decide(&p, &Request::new("ec2:DescribeSubnets", "*")),
        Decision::ImplicitDeny
    );
}

#[test]
fn an_explicit_deny_wins_over_any_allow() {
    let p = policy(json!({"Statement": [
        {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
        {"Sid": "NoDelete", "Effect": "Deny", "Action": "ec2:Delete*", "Resource": "*"},
        {"Effect": "Allow", "Action": "ec2:DeleteNetworkInterface", "Resource": "*"}
    ]}));
    assert_eq!(
        decide(&p, &Request::new("ec2:DeleteNetworkInterface", ENI)),
        Decision::ExplicitDeny(1)
    );
    assert_eq!(
        decide(&p, &Request::new("ec2:CreateNetworkInterface", ENI)),
        Decision::Allow(0)
    );
    // Across policies too.
    let allow = policy(json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}));
    let deny = policy(
        json!({"Statement": {"Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*"}}),
    );
    let r = Request::new("ec2:RunInstances", "*");
    assert_eq!(evaluate(&[&allow, &deny], &r), Decision::ExplicitDeny(1));
}

#[test]
fn not_action_and_not_resource_match_everything_else() {
    let p = policy(json!({"Statement": [
        {"Effect": "Allow", "NotAction": ["ec2:Delete*", "ec2:Terminate*"], "Resource": "*"},
        {"Effect": "Allow", "Action": "ec2:DeleteTags", "NotResource": "arn:aws:ec2:*:*:instance/*"}
    ]}));
    let cases = [
        ("ec2:CreateTags", ENI, true),
        ("ec2:DeleteNetworkInterface", ENI, false),
        ("ec2:TerminateInstances", "*", false),
        ("ec2:DeleteTags", ENI, true),
        (
            "ec2:DeleteTags",
            "arn:aws:ec2:us-west-2:1:instance/i-1",
            false,
        ),
    ];
    assert_decisions(&p, &cases);
}

#[test]
fn wildcards_in_actions_and_resources() {
    let p = policy(json!({"Statement": [
        {"Effect": "Allow", "Action": "elasticloadbalancing:Describe*", "Resource": "*"},
        {"Effect": "Allow", "Action": "ec2:?ssignPrivateIpAddresses",
         "Resource": "arn:aws:ec2:*:*:network-interface/*"},
        {"Effect": "Allow", "Action": "elasticloadbalancing:DeleteLoadBalancer",
         "Resource": "arn:aws:elasticloadbalancing:*:*:loadbalancer/net/*/*"}
    ]}));
    let nlb = "arn:aws:elasticloadbalancing:us-west-2:1:loadbalancer/net/k8s-a/0f";
    let alb = "arn:aws:elasticloadbalancing:us-west-2:1:loadbalancer/app/k8s-a/0f";
    let cases = [
        ("elasticloadbalancing:DescribeTargetHealth", "*", true),
        ("ec2:AssignPrivateIpAddresses", ENI, true),
        ("ec2:UnassignPrivateIpAddresses", ENI, false),
        (
            "ec2:AssignPrivateIpAddresses",
            "arn:aws:ec2:us-west-2:1:instance/i-1",
            false,
        ),
        ("elasticloadbalancing:DeleteLoadBalancer", nlb, true),
        ("elasticloadbalancing:DeleteLoadBalancer", alb, false),
    ];
    assert_decisions(&p, &cases);
}

#[test]
fn null_true_means_absent_and_a_missing_tag_is_absent() {
    let p = policy(json!({"Statement": [
        {"Effect": "Allow", "Action": "ec2:DeleteNetworkInterface", "Resource": "*",
         "Condition": {"Null": {"aws:ResourceTag/cloudnet.io/cluster": "false"}}},
        {"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "*",
         "Condition": {"Null": {"aws:RequestTag/cloudnet.io/cluster": "true",
                                "aws:ResourceTag/cloudnet.io/cluster": "false"}}}
    ]}));
    let del = Request::new("ec2:DeleteNetworkInterface", ENI);
    assert!(!decide(&p, &del).is_allowed(), "untagged");
    let tagged = del.with("aws:ResourceTag/cloudnet.io/cluster", ["c1"]);
    assert!(decide(&p, &tagged).is_allowed());
    // Key names are case-insensitive.
    let tagged = Request::new("ec2:DeleteNetworkInterface", ENI)
        .with("AWS:RESOURCETAG/CLOUDNET.IO/CLUSTER", ["c1"]);
    assert!(decide(&p, &tagged).is_allowed());
    let retag =
        Request::new("ec2:CreateTags", ENI).with("aws:ResourceTag/cloudnet.io/cluster", ["c1"]);
    assert!(
        decide(&p, &retag).is_allowed(),
        "other tags on an owned ENI"
    );
    let steal = retag
        .clone()
        .with("aws:RequestTag/cloudnet.io/cluster", ["c2"]);
    assert!(!decide(&p, &steal).is_allowed(), "changing the cluster tag");
}

#[test]
fn string_operators() {
    let p = |op: &str, value: serde_json::Value| {
        policy(
            json!({"Statement": {"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "*",
            "Condition": {op: {"ec2:CreateAction": value}}}}),
        )
    };
    let req = |v: Option<&str>| {
        let r = Request::new("ec2:CreateTags", ENI);
        match v {
            Some(v) => r.with("ec2:CreateAction", [v]),
            None => r,
        }
    };
    let cases: &[(&str, serde_json::Value, Option<&str>, bool)] = &[
        (
            "StringEquals",
            json!("CreateNetworkInterface"),
            Some("CreateNetworkInterface"),
            true,
        ),
        (
            "StringEquals",
            json!("CreateNetworkInterface"),
            Some("createnetworkinterface"),
            false,
        ),
        (
            "StringEquals",
            json!(["CreateSecurityGroup", "CreateNetworkInterface"]),
            Some("CreateNetworkInterface"),
            true,
        ),
        ("StringEquals", json!("CreateNetworkInterface"), None, false),
        (
            "StringEqualsIgnoreCase",
            json!("CreateNetworkInterface"),
            Some("createnetworkinterface"),
            true,
        ),
        (
            "StringNotEquals",
            json!("RunInstances"),
            Some("CreateNetworkInterface"),
            true,
        ),
        (
            "StringNotEquals",
            json!("RunInstances"),
            Some("RunInstances"),
            false,
        ),
        ("StringNotEquals", json!("RunInstances"), None, true),
        (
            "StringLike",
            json!("Create*"),
            Some("CreateSecurityGroup"),
            true,
        ),
        (
            "StringLike",
            json!("Create?ecurityGroup"),
            Some("CreateSecurityGroup"),
            true,
        ),
        ("StringLike", json!("Create*"), Some("RunInstances"), false),
        (
            "StringNotLike",
            json!("Create*"),
            Some("RunInstances"),
            true,
        ),
        ("StringNotLike", json!("Create*"), Some("CreateVpc"), false),
        ("StringEqualsIfExists", json!("CreateVpc"), None, true),
        (
            "StringEqualsIfExists",
            json!("CreateVpc"),
            Some("RunInstances"),
            false,
        ),
    ];
    for (op, value, actual, allowed) in cases {
        assert_eq!(
            decide(&p(op, value.clone()), &req(*actual)).is_allowed(),
            *allowed,
            "{op} {value} vs {actual:?}"
        );
    }
}

#[test]
fn bool_operator() {
    let p = policy(
        json!({"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": false}}}}),
    );
    let r = Request::new("ec2:DescribeVpcs", "*");
    assert_eq!(
        decide(&p, &r.clone().with("aws:SecureTransport", ["false"])),
        Decision::ExplicitDeny(0)
    );
    assert_eq!(
        decide(&p, &r.clone().with("aws:SecureTransport", ["true"])),
        Decision::ImplicitDeny
    );
    assert_eq!(decide(&p, &r), Decision::ImplicitDeny, "missing key");
}

#[test]
fn set_qualifiers_on_tag_keys() {
    let p = policy(json!({"Statement": [
        {"Effect": "Allow", "Action": "ec2:DeleteTags", "Resource": "*",
         "Condition": {"ForAllValues:StringLike": {"aws:TagKeys": ["cloudnet.io/*", "Name"]}}},
        {"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "*",
         "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": "cloudnet.io/cluster"}}}
    ]}));
    let del = |keys: &[&str]| {
        let mut r = Request::new("ec2:DeleteTags", ENI);
        if !keys.is_empty() {
            r.set("aws:TagKeys", keys.iter().copied());
        }
        decide(&p, &r).is_allowed()
    };
    assert!(del(&["cloudnet.io/owner", "Name"]));
    assert!(!del(&["cloudnet.io/owner", "team"]));
    assert!(del(&[]), "ForAllValues holds for no keys");
    let create = |keys: &[&str]| {
        let mut r = Request::new("ec2:CreateTags", ENI);
        if !keys.is_empty() {
            r.set("aws:TagKeys", keys.iter().copied());
        }
        decide(&p, &r).is_allowed()
    };
    assert!(create(&["team", "cloudnet.io/cluster"]));
    assert!(!create(&["team"]));
    assert!(!create(&[]), "ForAnyValue fails for no keys");
}

#[test]
fn documents_the_evaluator_cannot_honour_are_refused() {
    let bad = [
        json!([]),
        json!({"Version": "2008-10-17", "Statement": []}),
        json!({"Statement": {"Effect": "Maybe", "Action": "*", "Resource": "*"}}),
        json!({"Statement": {"Effect": "Allow", "Action": "*", "NotAction": "x", "Resource": "*"}}),
        json!({"Statement": {"Effect": "Allow", "Resource": "*"}}),
        json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}}),
        json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}}}),
        json!({"Statement": {"Effect": "Allow", "Action": [], "Resource": "*"}}),
        json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}, "Extra": 1}),
    ];
    for doc in bad {
        assert!(parse(&doc).is_err(), "{doc}");
    }
}

#[test]
fn the_shipped_policies_parse() {
    for file in [
        include_str!("../../../../deploy/iam/aws/controller-policy.json"),
        include_str!("../../../../deploy/iam/aws/node-policy.json"),
    ] {
        let doc: serde_json::Value = serde_json::from_str(file).unwrap();
        let p = policy(doc);
        assert!(!p.statements.is_empty());
        assert!(
            p.statements.iter().all(|s| s.sid.is_some()),
            "every statement has a Sid"
        );
    }
}
