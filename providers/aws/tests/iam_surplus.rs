//! The controller's repertoire through the provider under deploy/iam's controller policy:
//! pod addresses (attach, assign, release, detach, leaked-interface cleanup), routes (create,
//! replace, delete), an ALB stack (HTTPS listener, rules) and an NLB stack (targets), updated
//! and deleted. IAM must refuse nothing, and every action the policy grants must have been
//! used, except the few listed below with the reason no test here reaches them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use cloudnet_core::ownership::{TAG_CLUSTER, TAG_CREATED_AT};
use cloudnet_core::{
    Addresses, AssignBlocks, AttachInterface, BlockKind, LoadBalancers, Route, RouteState,
    RouteTarget, Routes, Target,
};
use cloudnet_mockcloud::World;
use cloudnet_mockcloud::iam::config::{CONTROLLER_POLICY, CONTROLLER_ROLE};
use cloudnet_mockcloud::iam::{IamSpec, policy};
use common::*;

const ADMIN: &str = "AKIDADMIN";

/// Granted actions no scenario here calls, each with the reason.
const UNUSED_ALLOWED: &[(&str, &str)] = &[
    (
        "ec2:DescribeVpcs",
        "the VPC's ranges are read only by plans admitting them; neither fixture does",
    ),
    ("ec2:DeleteTags", "only on tag drift of an owned group"),
    (
        "elasticloadbalancing:RemoveTags",
        "only when a user removes a tag the spec no longer has",
    ),
    (
        "elasticloadbalancing:SetIpAddressType",
        "only when a Service switches between ipv4 and dualstack",
    ),
    (
        "elasticloadbalancing:SetSecurityGroups",
        "only when an ALB's groups change after creation",
    ),
    (
        "elasticloadbalancing:SetSubnets",
        "only when the discovered subnets change",
    ),
    (
        "elasticloadbalancing:ModifyListener",
        "only when a listener's protocol, certificates or default action change",
    ),
    (
        "elasticloadbalancing:ModifyRule",
        "only when a rule's conditions or action change at the same priority",
    ),
    (
        "elasticloadbalancing:ModifyTargetGroup",
        "only when a health check changes",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repertoire_runs_within_the_policy_and_uses_what_it_grants() {
    let world = World {
        iam: Some(IamSpec::shipped(&["AKIDTEST"], &[ADMIN])),
        ..World::default()
    };
    let (env, _wire) = start_in(world, |_| {}).await;
    let admin = aws_sdk_ec2::Client::new(
        &aws_config::defaults(BehaviorVersion::latest())
            .region("us-west-2")
            .credentials_provider(Credentials::new(ADMIN, "secret", None, None, "test"))
            .endpoint_url(env.mock.endpoint_url())
            .load()
            .await,
    );
    let p = &env.provider;

    // Pod addresses.
    let n1 = node(NODE1);
    let attach = |kind| AttachInterface {
        subnet_id: PRIVATE_A.into(),
        security_groups: vec![],
        initial_blocks: 1,
        block_kind: kind,
        description: "cloudnet pods".into(),
    };
    let eni = p
        .attach_interface(&n1, &attach(BlockKind::SecondaryIp))
        .await
        .expect("attach");
    let blocks = p
        .assign_blocks(
            &n1,
            &AssignBlocks {
                interface: eni.id.clone(),
                kind: BlockKind::SecondaryIp,
                count: 3,
                prefix_len: None,
            },
        )
        .await
        .expect("assign");
    let cidrs: Vec<_> = blocks.iter().map(|b| b.cidr).collect();
    p.release_blocks(&n1, &eni.id, &cidrs)
        .await
        .expect("release");
    p.detach_interface(&n1, &eni.id).await.expect("detach");
    // A leaked interface of ours (made by someone with the admin key), cleaned up.
    let leaked = admin
        .create_network_interface()
        .subnet_id(PRIVATE_A)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::NetworkInterface)
                .tags(Tag::builder().key(TAG_CLUSTER).value("prod").build())
                .tags(Tag::builder().key(TAG_CREATED_AT).value("1").build())
                .build(),
        )
        .send()
        .await
        .expect("leak");
    let leaked = leaked
        .network_interface()
        .and_then(|n| n.network_interface_id())
        .expect("id")
        .to_string();
    let orphans = p.list_orphans(Duration::ZERO).await.expect("orphans");
    let orphan = orphans
        .iter()
        .find(|o| o.id.0 == leaked)
        .expect("the leaked interface is an orphan");
    p.delete_orphan(&orphan.id).await.expect("cleanup");

    // Routes, in the cluster's table (tagged for the policy by the admin).
    let table = tagged_route_table(&admin, &[(TAG_CLUSTER, "prod")]).await;
    let route = |instance: &str| Route {
        table: table.clone(),
        destination: "10.200.1.0/24".parse().expect("cidr"),
        target: RouteTarget::Instance(instance.into()),
        node: None,
        state: RouteState::Active,
        owned: true,
    };
    Routes::create(p, &route(NODE1))
        .await
        .expect("create route");
    Routes::create(p, &route(NODE2))
        .await
        .expect("replace route");
    Routes::delete(p, &route(NODE2))
        .await
        .expect("delete route");

    // Load balancers: an ALB (HTTPS, rules, its own and the backend group) and an NLB with
    // targets, then both deleted.
    let mut spec = specs::alb(0);
    let alb = p.ensure(&spec).await.expect("alb");
    // Again with one rule fewer: the stack is read back and the rule deleted.
    let before = spec.listeners.iter().map(|l| l.rules.len()).sum::<usize>();
    if let Some(l) = spec.listeners.iter_mut().find(|l| !l.rules.is_empty()) {
        l.rules.pop();
    }
    assert!(spec.listeners.iter().map(|l| l.rules.len()).sum::<usize>() < before);
    p.ensure(&spec).await.expect("alb with a rule fewer");
    let nlb = p.ensure(&specs::nlb("api")).await.expect("nlb");
    let t = |last: u8| Target {
        ip: format!("192.168.96.{last}").parse().expect("ip"),
        port: 8080,
    };
    p.sync_targets(&nlb.id, "default/api:80", &[t(10), t(11)])
        .await
        .expect("register");
    p.sync_targets(&nlb.id, "default/api:80", &[t(10)])
        .await
        .expect("deregister");
    LoadBalancers::delete(p, &alb.id).await.expect("delete alb");
    LoadBalancers::delete(p, &nlb.id).await.expect("delete nlb");

    let (refused, used) = env.mock.with_cloud(|c| {
        (
            c.call_log.denied_by_caller().clone(),
            c.iam
                .as_ref()
                .and_then(|i| i.used().get(CONTROLLER_ROLE).cloned())
                .unwrap_or_default(),
        )
    });
    assert_eq!(refused, BTreeMap::new(), "calls refused by IAM");

    let doc: serde_json::Value = serde_json::from_str(CONTROLLER_POLICY).expect("json");
    let granted: BTreeSet<String> = policy::parse(&doc)
        .expect("policy")
        .statements
        .iter()
        .flat_map(|s| s.actions().iter().cloned())
        .collect();
    let allowed: BTreeSet<&str> = UNUSED_ALLOWED.iter().map(|(a, _)| *a).collect();
    let surplus: Vec<&String> = granted
        .iter()
        .filter(|a| !used.contains(*a) && !allowed.contains(a.as_str()))
        .collect();
    assert!(
        surplus.is_empty(),
        "granted by deploy/iam/aws/controller-policy.json but never called: {surplus:?}"
    );
    // The allowlist holds only granted actions that really went unused.
    let stale: Vec<&str> = UNUSED_ALLOWED
        .iter()
        .map(|(a, _)| *a)
        .filter(|a| !granted.contains(*a) || used.contains(*a))
        .collect();
    assert!(
        stale.is_empty(),
        "listed as unused but not granted or used after all: {stale:?}"
    );
}
