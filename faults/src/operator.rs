//! Changes made by hand, as an operator with the AWS CLI would: signed with the operator's
//! key (not the controller's), through the same API the controller uses.

use anyhow::{Context, Result};
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;

use crate::env::{Env, OPERATOR_KEY};

pub async fn elbv2(env: &Env) -> aws_sdk_elasticloadbalancingv2::Client {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
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
        .await;
    aws_sdk_elasticloadbalancingv2::Client::new(&sdk)
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
