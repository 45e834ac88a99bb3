//! Changes made by hand, as an operator with the AWS CLI (or gcloud) would: signed with the
//! operator's key or token (not the controller's), through the same API the controller
//! uses.

use anyhow::{Context, Result};
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;

use crate::env::{Env, OPERATOR_KEY};

async fn sdk(env: &Env) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(env.region.clone()))
        .credentials_provider(Credentials::new(
            OPERATOR_KEY,
            "operator",
            None,
            None,
            "faults",
        ))
        .endpoint_url(env.cloud.endpoint_url())
        .load()
        .await
}

pub async fn elbv2(env: &Env) -> aws_sdk_elasticloadbalancingv2::Client {
    aws_sdk_elasticloadbalancingv2::Client::new(&sdk(env).await)
}

pub async fn ec2(env: &Env) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk(env).await)
}

/// Deletes the listeners of the load balancer whose DNS name is `dns`; answers how many.
pub async fn delete_listeners(env: &Env, dns: &str) -> Result<usize> {
    let c = elbv2(env).await;
    let lbs = c.describe_load_balancers().send().await?;
    let arn = lbs
        .load_balancers()
        .iter()
        .find(|lb| lb.dns_name() == Some(dns))
        .and_then(|lb| lb.load_balancer_arn())
        .with_context(|| format!("no load balancer {dns}"))?
        .to_string();
    let listeners = c
        .describe_listeners()
        .load_balancer_arn(&arn)
        .send()
        .await?;
    let mut n = 0;
    for l in listeners.listeners() {
        if let Some(la) = l.listener_arn() {
            c.delete_listener().listener_arn(la).send().await?;
            n += 1;
        }
    }
    Ok(n)
}

/// Deletes the cluster's forwarding rules at `address` on GCP (`forwardingRules.delete`, as
/// the operator); answers how many.
pub async fn delete_forwarding_rules(env: &Env, address: &str) -> Result<usize> {
    let dump = crate::http::request(env.control(), "GET", "/_mockcloud/state", None).await?;
    let project = dump["gcp"]["project"]
        .as_str()
        .context("no GCP project in the state dump")?;
    let rules: Vec<String> = dump["gcp"]["resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, r)| {
            r["kind"] == "compute#forwardingRule"
                && r["IPAddress"].as_str() == Some(address)
                && crate::clouds::gcp::owned(r)
        })
        .map(|(path, _)| path.clone())
        .collect();
    for path in &rules {
        crate::http::request_as(
            env.control(),
            "DELETE",
            &format!("/compute/v1/projects/{project}/{path}"),
            None,
            Some(crate::clouds::gcp::OPERATOR_TOKEN),
        )
        .await
        .with_context(|| format!("cannot delete {path}"))?;
    }
    Ok(rules.len())
}

/// Creates a network load balancer named `name` in `subnets` with no tags at all: someone
/// else's. Answers its ARN.
pub async fn create_foreign_load_balancer(
    env: &Env,
    name: &str,
    subnets: &[String],
) -> Result<String> {
    use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;
    let c = elbv2(env).await;
    let out = c
        .create_load_balancer()
        .name(name)
        .r#type(LoadBalancerTypeEnum::Network)
        .set_subnets(Some(subnets.to_vec()))
        .send()
        .await
        .with_context(|| format!("cannot create the load balancer {name}"))?;
    out.load_balancers()
        .first()
        .and_then(|lb| lb.load_balancer_arn())
        .map(str::to_string)
        .context("CreateLoadBalancer answered no load balancer")
}

pub async fn delete_load_balancer(env: &Env, arn: &str) -> Result<()> {
    elbv2(env)
        .await
        .delete_load_balancer()
        .load_balancer_arn(arn)
        .send()
        .await?;
    Ok(())
}

/// Changes the path of the rule `rule` to `path` (`ModifyRule`).
pub async fn edit_rule_path(env: &Env, rule: &str, path: &str) -> Result<()> {
    use aws_sdk_elasticloadbalancingv2::types::{PathPatternConditionConfig, RuleCondition};
    let condition = RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(PathPatternConditionConfig::builder().values(path).build())
        .build();
    elbv2(env)
        .await
        .modify_rule()
        .rule_arn(rule)
        .conditions(condition)
        .send()
        .await
        .with_context(|| format!("cannot modify the rule {rule}"))?;
    Ok(())
}

/// Revokes one ingress permission of `group`: TCP `from`-`to` from `cidr` or from the
/// group `source` (`RevokeSecurityGroupIngress`).
pub async fn revoke_ingress(
    env: &Env,
    group: &str,
    protocol: &str,
    ports: (i32, i32),
    cidr: Option<&str>,
    source: Option<&str>,
) -> Result<()> {
    use aws_sdk_ec2::types::{IpPermission, IpRange, UserIdGroupPair};
    let mut p = IpPermission::builder()
        .ip_protocol(protocol)
        .from_port(ports.0)
        .to_port(ports.1);
    if let Some(c) = cidr {
        p = p.ip_ranges(IpRange::builder().cidr_ip(c).build());
    }
    if let Some(g) = source {
        p = p.user_id_group_pairs(UserIdGroupPair::builder().group_id(g).build());
    }
    ec2(env)
        .await
        .revoke_security_group_ingress()
        .group_id(group)
        .ip_permissions(p.build())
        .send()
        .await
        .with_context(|| format!("cannot revoke an ingress rule of {group}"))?;
    Ok(())
}

/// Terminates the instance `id` (`TerminateInstances`).
pub async fn terminate_instance(env: &Env, id: &str) -> Result<()> {
    ec2(env)
        .await
        .terminate_instances()
        .instance_ids(id)
        .send()
        .await
        .with_context(|| format!("cannot terminate {id}"))?;
    Ok(())
}

/// Creates an untagged network interface in `subnet` holding `secondary` addresses besides
/// its primary one: someone else's use of the subnet. Answers its ID.
pub async fn create_interface(env: &Env, subnet: &str, secondary: i32) -> Result<String> {
    let out = ec2(env)
        .await
        .create_network_interface()
        .subnet_id(subnet)
        .secondary_private_ip_address_count(secondary)
        .description("another team's interface")
        .send()
        .await
        .with_context(|| format!("cannot create an interface in {subnet}"))?;
    out.network_interface()
        .and_then(|n| n.network_interface_id())
        .map(str::to_string)
        .context("CreateNetworkInterface answered no interface")
}

pub async fn delete_interface(env: &Env, id: &str) -> Result<()> {
    ec2(env)
        .await
        .delete_network_interface()
        .network_interface_id(id)
        .send()
        .await
        .with_context(|| format!("cannot delete {id}"))?;
    Ok(())
}
