//! `sync_bound_targets`: members of a target group the suite does not own, against the mock
//! cloud through the real SDK.

mod common;

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetTypeEnum};
use cloudnet_core::{BoundGroup, LoadBalancers, Target, TargetKind};
use common::*;

/// The group's registered instance IDs and ports, sorted.
async fn members(env: &Env, arn: &str) -> Vec<(String, i32)> {
    let out = env
        .elb
        .describe_target_health()
        .target_group_arn(arn)
        .send()
        .await
        .unwrap();
    let mut m: Vec<(String, i32)> = out
        .target_health_descriptions()
        .iter()
        .filter(|d| {
            d.target_health()
                .and_then(|h| h.state())
                .is_none_or(|s| s.as_str() != "draining")
        })
        .filter_map(|d| {
            let t = d.target()?;
            Some((t.id()?.to_string(), t.port()?))
        })
        .collect();
    m.sort();
    m
}

#[tokio::test]
async fn only_the_callers_members_change_and_the_group_is_never_modified() {
    let env = start().await;
    let arn =
        foreign_target_group(&env.elb, "terraform-made", 30080, TargetTypeEnum::Instance).await;
    // Someone else's member.
    env.elb
        .register_targets()
        .target_group_arn(&arn)
        .targets(TargetDescription::builder().id(NODE2).port(30080).build())
        .send()
        .await
        .unwrap();
    let group = BoundGroup {
        id: arn.clone(),
        target_kind: TargetKind::NodePort,
    };
    let ours = Target {
        ip: instance_ip(&env.ec2, NODE1).await,
        port: 30080,
    };

    let before = env.calls();
    let sync = env
        .provider
        .sync_bound_targets(&group, &[ours], &[])
        .await
        .unwrap();
    assert_eq!((sync.registered, sync.deregistered), (1, 0));
    assert_eq!(
        members(&env, &arn).await,
        vec![(NODE1.to_string(), 30080), (NODE2.to_string(), 30080)]
    );
    assert_eq!(
        env.mutating_since(&before),
        BTreeMap::from([("elbv2:RegisterTargets".to_string(), 1)])
    );

    // In sync: no write.
    let before = env.calls();
    env.provider
        .sync_bound_targets(&group, &[ours], &[ours])
        .await
        .unwrap();
    assert!(env.mutating_since(&before).is_empty());

    // Nothing wanted: only our member goes, someone else's stays.
    let before = env.calls();
    let sync = env
        .provider
        .sync_bound_targets(&group, &[], &[ours])
        .await
        .unwrap();
    assert_eq!((sync.registered, sync.deregistered), (0, 1));
    assert_eq!(members(&env, &arn).await, vec![(NODE2.to_string(), 30080)]);
    assert_eq!(
        env.mutating_since(&before),
        BTreeMap::from([("elbv2:DeregisterTargets".to_string(), 1)])
    );

    // Bad input: another target kind, a group that does not exist, not an ARN. No writes.
    let before = env.calls();
    let ip_group = BoundGroup {
        id: arn.clone(),
        target_kind: TargetKind::PodIp,
    };
    let e = env
        .provider
        .sync_bound_targets(&ip_group, &[ours], &[])
        .await
        .unwrap_err();
    assert_eq!(e.code(), "TargetTypeMismatch");
    let ghost = BoundGroup {
        id: arn.replace("terraform-made", "ghost"),
        target_kind: TargetKind::NodePort,
    };
    let e = env
        .provider
        .sync_bound_targets(&ghost, &[ours], &[])
        .await
        .unwrap_err();
    assert_eq!(e.code(), "TargetGroupNotFound");
    assert!(e.to_string().contains("ghost"), "{e}");
    let bad = BoundGroup {
        id: "terraform-made".into(),
        target_kind: TargetKind::NodePort,
    };
    let e = env
        .provider
        .sync_bound_targets(&bad, &[ours], &[])
        .await
        .unwrap_err();
    assert_eq!(e.code(), "ValidationError");
    assert!(env.mutating_since(&before).is_empty());
    assert_eq!(env.count("elbv2:ModifyTargetGroup"), 0);
    assert_eq!(env.count("elbv2:DeleteTargetGroup"), 0);
}
