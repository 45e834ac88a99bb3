//! A subnet runs out of addresses: the first node sits in a /26 (59 usable addresses), and
//! another user of the subnet (an untagged interface made by hand) takes all it has free but
//! one. More pods than the node's pool holds are asked for: the allocator must report the
//! `SubnetExhausted` condition and a Warning Event on the node's NodeNetwork, keep running
//! (no crash loop, no call storm), and the pods that do not fit must wait with a clear Event.
//! When the other user deletes its interface (room appears), they get addresses.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use cloudnet_crds::NodeNetwork;
use kube::api::{Api, ListParams};

use crate::env::CONTROLLER_KEY;
use crate::observe::{Snapshot, calls_since};
use crate::run::{Metrics, Run};
use crate::stack::{LIMIT, SETTLE, stack_goal, up_stack};
use crate::workload;

/// The first node's subnet in this scenario's world.
pub const SMALL_SUBNET: &str = "192.168.96.0/26";
/// The allocator's condition on a NodeNetwork (controllers' `ipam::status`).
pub(crate) const CONDITION: &str = "SubnetExhausted";

/// The default world with the first node's subnet cut to [`SMALL_SUBNET`].
pub fn world() -> cloudnet_mockcloud::World {
    let mut w = cloudnet_mockcloud::World::default();
    let first = w.instances.first().map(|i| i.subnet.clone());
    for vpc in &mut w.vpcs {
        for s in &mut vpc.subnets {
            if s.id == first {
                s.cidr = SMALL_SUBNET.parse().unwrap_or(s.cidr);
            }
        }
    }
    w
}

pub async fn body(r: &mut Run) -> Result<Metrics> {
    up_stack(r).await?;
    let node = r.env.nodes.first().context("no node")?.clone();
    let s = r.sample().await?;
    let subnet = s.cloud["ec2"]["instances"][&node.instance]["subnet_id"]
        .as_str()
        .context("the first node's subnet")?
        .to_string();
    let free = free_addresses(&s, &subnet)?;
    let held = pool_size(&s, &node.instance);
    if free < 3 {
        bail!("{subnet} has {free} free addresses before the fault; the world is too small");
    }
    // Another user takes all but one free address: its interface's primary and the rest.
    let other = crate::operator::create_interface(&r.env, &subnet, free as i32 - 2).await?;
    let taken = Snapshot::take(&r.env).await?;
    r.checker.adopt_foreign(&taken, &other);
    r.notes.push(format!(
        "{subnet} ({SMALL_SUBNET}): {free} addresses free, {} taken by another user's interface; the node's pool holds {held}",
        free - 1
    ));
    // The scheduler spreads pods evenly over the two nodes: the first gets more than its
    // pool holds.
    let replicas = 2 * held + 4;
    let goal = stack_goal(replicas);
    let fault = r.fault(&goal).await?;
    workload::scale(&r.env.client, replicas as i32).await?;

    let start = std::time::Instant::now();
    let nn: Api<NodeNetwork> = Api::all(r.env.client.clone());
    loop {
        let s = r.sample().await?;
        let condition = exhausted(&nn, &node.name).await?;
        let events = workload::warnings(&r.env.client, "NodeNetwork", Some(&node.name)).await?;
        let waiting = waiting_pods(&s, &node.name);
        let pod_events = workload::warnings(&r.env.client, "Pod", None).await?;
        let sandbox = pod_events
            .iter()
            .filter(|e| e.starts_with("FailedCreatePodSandBox"))
            .count();
        if let Some(message) = &condition
            && events.iter().any(|e| e.starts_with(CONDITION))
            && waiting > 0
            && sandbox > 0
        {
            r.notes.push(format!(
                "after {:.1} s: condition {CONDITION} ({message}), {waiting} pod(s) waiting on {}, {sandbox} FailedCreatePodSandBox Event(s)",
                start.elapsed().as_secs_f64(),
                node.name
            ));
            break;
        }
        if start.elapsed() > SETTLE {
            bail!(
                "no {CONDITION} condition and Event on {} with pods waiting in {SETTLE:?} (condition {condition:?}, events {events:?}, {waiting} waiting)",
                node.name
            );
        }
        tokio::time::sleep(crate::run::SAMPLE_PERIOD).await;
    }

    hold_full_subnet(
        r,
        CONTROLLER_KEY,
        &["ec2:CreateNetworkInterface", "ec2:AssignPrivateIpAddresses"],
        // Only the first node is in the small subnet.
        1,
    )
    .await?;

    // Room appears: the other user deletes its interface.
    r.checker.forget_foreign(&other);
    crate::operator::delete_interface(&r.env, &other).await?;
    let m = r.measure(&goal, fault, LIMIT).await?;
    if exhausted(&nn, &node.name).await?.is_some() {
        bail!("the {CONDITION} condition stayed True once the pods had addresses");
    }
    Ok(m)
}

/// The subnet's free addresses, as the cloud counts them (`availableIpAddressCount`: its
/// size less the five reserved and the used ones).
fn free_addresses(s: &Snapshot, subnet: &str) -> Result<usize> {
    let subnet_state = &s.cloud["ec2"]["subnets"][subnet];
    let cidr: ipnet::Ipv4Net = subnet_state["cidr"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no CIDR for {subnet}"))?;
    let size = 1usize << (32 - cidr.prefix_len());
    let used = subnet_state["used"].as_object().map_or(0, |u| u.len());
    Ok(size.saturating_sub(5).saturating_sub(used))
}

/// The addresses the node's pool holds: the secondary addresses on its interfaces.
fn pool_size(s: &Snapshot, instance: &str) -> usize {
    s.cloud["ec2"]["network_interfaces"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, e)| e["attachment"]["instance_id"].as_str() == Some(instance))
        .flat_map(|(_, e)| e["private_ips"].as_array().cloned().unwrap_or_default())
        .filter(|ip| ip["primary"] != true)
        .count()
}

/// Pods on `node` not Running.
pub(crate) fn waiting_pods(s: &Snapshot, node: &str) -> usize {
    s.pods
        .iter()
        .filter(|p| p.node.as_deref() == Some(node) && !p.running && !p.deleting)
        .count()
}

/// The message of the node's `SubnetExhausted` condition when it is True.
pub(crate) async fn exhausted(nn: &Api<NodeNetwork>, node: &str) -> Result<Option<String>> {
    let list = nn.list(&ListParams::default()).await?;
    Ok(list
        .items
        .iter()
        .filter(|n| n.metadata.name.as_deref() == Some(node))
        .flat_map(|n| n.status.iter().flat_map(|s| s.conditions.iter()))
        .find(|c| c.type_ == CONDITION && c.status == "True")
        .map(|c| format!("{}: {}", c.reason, c.message)))
}

/// While the subnet stays full: the controller keeps running (every sample checks the
/// processes) and retries with backoff, not in a loop: `caller`'s `requests` (the cloud's
/// address requests) at most twice a second over the hold for each of the `nodes` in the
/// full subnet (each node retries on its own backoff).
pub(crate) async fn hold_full_subnet(
    r: &mut Run,
    caller: &str,
    requests: &[&str],
    nodes: usize,
) -> Result<()> {
    let since = r.seq;
    let hold = r
        .env
        .options
        .scaled(Duration::from_secs(30))
        .max(Duration::from_secs(3));
    r.hold(hold).await?;
    let (calls, _) = calls_since(&r.env, since).await?;
    let tries = calls
        .iter()
        .filter(|c| c.caller == caller && requests.contains(&c.call.as_str()))
        .count();
    let per_second = tries as f64 / hold.as_secs_f64() / nodes.max(1) as f64;
    r.notes.push(format!(
        "{tries} address request(s) in {:.0} s from {nodes} node(s) while the subnet was full",
        hold.as_secs_f64()
    ));
    if per_second > 2.0 {
        bail!(
            "the allocator asked for addresses {per_second:.1} times a second per node in a full subnet"
        );
    }
    Ok(())
}
