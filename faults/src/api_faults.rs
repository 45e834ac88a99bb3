//! The API faults: the API down for a while, every watch's history expired (410 Gone), and
//! the API restarted with every connection and watch cut. The embedded API runs in this
//! process; its server stops and serves again on the same address with the same store, as a
//! real API server restarts while etcd keeps the data
//! ([`cloudnet_kubesim::server::Handle::stop_serving`],
//! [`cloudnet_kubesim::server::Handle::expire_watches`]).
//!
//! Each runs on the stack of three pods, with two pods added around the fault: the
//! controller and every ipamd must relist, serve the new pods, and make no cloud write
//! twice (no second load balancer, listener or target group, and one target group with
//! exactly the pods as targets).

use std::time::Duration;

use anyhow::{Result, bail};

use crate::observe::calls_since;
use crate::run::{Fault, Metrics, Run};
use crate::stack::{LIMIT, stack_goal, up_stack};
use crate::workload;

/// How long the API may take to answer again after it serves again.
const API_BACK: Duration = Duration::from_secs(30);

pub async fn body(name: &str, r: &mut Run) -> Result<Metrics> {
    let opts = r.env.options.clone();
    up_stack(r).await?;
    let goal = stack_goal(5);
    let fault = r.fault(&goal).await?;
    match name {
        "api-unavailable" => {
            // The two pods are asked for just before the API goes: the simulated cluster
            // (its store) makes them during the outage; the controller and the ipamds learn
            // of them only when it is back.
            workload::scale(&r.env.client, 5).await?;
            r.env.api.stop_serving().await;
            let exited = r
                .hold_api_down(opts.scaled(Duration::from_secs(30)))
                .await?;
            r.env.api.resume_serving().await?;
            let back = r.wait_api(API_BACK).await?;
            r.notes.push(format!(
                "the API answered again {:.1} s after it served again",
                back.as_secs_f64()
            ));
            if exited {
                r.env.start_controller()?;
            }
            r.notes.push(
                "downtime is not sampled while the API does not serve (the API is one of its sources): it counts from the API's return".into(),
            );
        }
        "api-watches-gone" => {
            let floor = r.env.api.expire_watches();
            r.notes.push(format!(
                "watch history expired: watches start at resourceVersion {floor} or later"
            ));
            workload::scale(&r.env.client, 5).await?;
        }
        "api-restarted" => {
            r.env.api.stop_serving().await;
            r.env.api.resume_serving().await?;
            r.wait_api(API_BACK).await?;
            workload::scale(&r.env.client, 5).await?;
        }
        other => bail!("no API scenario {other}"),
    }
    let m = r.measure(&goal, fault, LIMIT).await?;
    no_second_copies(r, fault).await?;
    Ok(m)
}

/// Fails when the controller made, after the fault, something the stack had before it (a
/// relist taken for new objects).
async fn no_second_copies(r: &mut Run, fault: Fault) -> Result<()> {
    let (calls, _) = calls_since(&r.env, fault.seq).await?;
    let cloud = r.env.options.cloud;
    let controller = cloud.controller_caller();
    let twice: Vec<&str> = calls
        .iter()
        .filter(|c| c.caller == controller && cloud.stack_creates().contains(&c.call.as_str()))
        .map(|c| c.call.as_str())
        .collect();
    if !twice.is_empty() {
        bail!("the controller made a second copy after the fault: {twice:?}");
    }
    let s = r.sample().await?;
    let (lbs, groups) = (s.load_balancers().len(), s.target_groups().len());
    if lbs != 1 || groups != 1 {
        bail!("{lbs} load balancer(s) and {groups} backend group(s) for one Service");
    }
    let registers = calls
        .iter()
        .filter(|c| c.caller == controller && c.call == cloud.target_write())
        .count();
    r.notes.push(format!(
        "after the fault: no second load balancer, listener or backend group; {registers} {} call(s) for 2 new pods",
        cloud.target_write()
    ));
    Ok(())
}
