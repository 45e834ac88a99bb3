//! The stack most scenarios start from: a Deployment `web` of three pods behind a
//! LoadBalancer Service with `ip` targets, and how long it may take.

use std::time::Duration;

use anyhow::Result;

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
