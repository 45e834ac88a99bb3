//! The stack most scenarios start from: a Deployment `web` of three pods behind a
//! LoadBalancer Service with `ip` targets, and how long it may take.

use std::time::Duration;

use anyhow::{Result, bail};

use crate::run::{Goal, Run};
use crate::workload::{self, APP, SERVICE};

/// How long a stack may take to come up, and a scenario to recover (the bound, not a target:
/// each stops as soon as it has recovered).
pub const SETTLE: Duration = Duration::from_secs(120);
pub const LIMIT: Duration = Duration::from_secs(120);

/// `replicas` pods of `web`, every one a target of the Service.
pub fn stack_goal(replicas: usize) -> Goal {
    Goal {
        app: APP.into(),
        replicas,
        service: Some(SERVICE.into()),
        ipamd_reacts: false,
        ingresses: Vec::new(),
        expect: Vec::new(),
    }
}

/// Deploys three pods and the Service, and waits until they are served.
pub async fn up_stack(r: &mut Run) -> Result<()> {
    workload::deploy(&r.env.client, 3).await?;
    workload::expose(&r.env.client).await?;
    r.settle(&stack_goal(3), SETTLE).await?;
    Ok(())
}

/// Deletes the Service and waits until its load balancer is gone, so its name is free.
pub async fn free_service_name(r: &mut Run) -> Result<()> {
    workload::delete_service(&r.env.client).await?;
    r.wait_for(
        "the Service's load balancer to be deleted",
        SETTLE,
        |_, s| s.load_balancers().is_empty(),
    )
    .await?;
    Ok(())
}

/// Samples until the Service has a Warning Event whose text starts with `reason` (any
/// Warning for ""); answers how long it took.
pub async fn wait_warning(r: &mut Run, reason: &str) -> Result<Duration> {
    let start = std::time::Instant::now();
    loop {
        let warnings = workload::service_warnings(&r.env.client).await?;
        if warnings.iter().any(|w| w.starts_with(reason)) {
            return Ok(start.elapsed());
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!("no {reason} Warning on the Service in 60 s (saw {warnings:?})");
        }
        r.sample().await?;
        tokio::time::sleep(crate::run::SAMPLE_PERIOD).await;
    }
}
