//! World changes made around the controller: a node's instance terminated, drift by hand on
//! an ALB (a listener rule edited, a security group's ingress rule revoked), an Ingress
//! moved from one IngressGroup to another.
//!
//! The Ingress scenarios run an ALB stack: the Deployment `web` of three pods behind a
//! ClusterIP Service and one Ingress per path (class `alb`, `ip` targets).

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams};

use crate::observe::Snapshot;
use crate::run::{Expect, Goal, Metrics, Run};
use crate::stack::{LIMIT, SETTLE, stack_goal, up_stack};
use crate::workload::{self, NAMESPACE};

/// An Ingress of the ALB stack: its name, IngressGroup and path.
type Member = (&'static str, Option<&'static str>, &'static str);

fn key(name: &str) -> String {
    format!("{NAMESPACE}/{name}")
}

/// `replicas` pods of `web` served by the Ingresses `names`.
fn ingress_goal(replicas: usize, names: &[&str]) -> Goal {
    Goal {
        service: None,
        ingresses: names.iter().map(|n| key(n)).collect(),
        ..stack_goal(replicas)
    }
}

/// Deploys three pods, the ClusterIP Service and the Ingresses, and waits until every
/// Ingress routes its path to the pods.
async fn up_ingresses(r: &mut Run, members: &[Member]) -> Result<Goal> {
    workload::deploy(&r.env.client, 3).await?;
    workload::cluster_service(&r.env.client).await?;
    for (name, group, path) in members {
        workload::ingress(&r.env.client, name, *group, path).await?;
    }
    let names: Vec<&str> = members.iter().map(|m| m.0).collect();
    let mut goal = ingress_goal(3, &names);
    goal.expect = members
        .iter()
        .map(|(name, _, path)| Expect::RoutesPath {
            ingress: key(name),
            path: path.to_string(),
        })
        .collect();
    r.settle(&goal, SETTLE).await?;
    Ok(goal)
}

pub async fn body(name: &str, r: &mut Run) -> Result<Metrics> {
    match name {
        "instance-terminated" => instance_terminated(r).await,
        "drift-rule-edited" if r.env.options.cloud == crate::Cloud::Gcp => {
            crate::gcp_changes::rule_edited(r).await
        }
        "drift-rule-edited" => rule_edited(r).await,
        "drift-security-group-rule-revoked" if r.env.options.cloud == crate::Cloud::Gcp => {
            crate::gcp_changes::firewall_rule_deleted(r).await
        }
        "drift-security-group-rule-revoked" => security_group_rule_revoked(r).await,
        "ingress-group-member-moved" => member_moved(r).await,
        other => bail!("no world scenario {other}"),
    }
}

/// The second node's instance terminated; the suite then plays the cloud node lifecycle
/// controller (the Node is deleted once its instance is gone) and the pod garbage collector
/// (the pods bound to it are deleted), before the next sample.
async fn instance_terminated(r: &mut Run) -> Result<Metrics> {
    if r.env.options.cloud == crate::Cloud::Gcp {
        return instance_deleted_on_gcp(r).await;
    }
    up_stack(r).await?;
    let node = r.env.nodes.get(1).context("a second node")?.clone();
    let s = r.sample().await?;
    let instance = &s.cloud["ec2"]["instances"][&node.instance];
    let primary = instance["primary_eni"]
        .as_str()
        .context("the instance's primary interface")?
        .to_string();
    let interfaces: Vec<String> = s.cloud["ec2"]["network_interfaces"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, e)| e["attachment"]["instance_id"].as_str() == Some(node.instance.as_str()))
        .map(|(id, _)| id.clone())
        .collect();
    let on_node = s
        .app_pods(workload::APP)
        .filter(|p| p.node.as_deref() == Some(node.name.as_str()))
        .count();
    let goal = Goal {
        expect: vec![Expect::NothingOf {
            instance: node.instance.clone(),
            interfaces: interfaces.clone(),
        }],
        ..stack_goal(3)
    };
    let fault = r.fault(&goal).await?;
    // The instance and its primary interface are not the cluster's: their owner ends them
    // (the interface goes; the instance stays, terminated, and is compared as that from
    // then on).
    r.checker.forget_foreign(&primary);
    crate::operator::terminate_instance(&r.env, &node.instance).await?;
    // The node's ipamd goes down with the machine.
    r.env.remove_node(&node.name).await?;
    let start = std::time::Instant::now();
    loop {
        let dump = crate::http::request(r.env.control(), "GET", "/_mockcloud/state", None).await?;
        if dump["ec2"]["instances"][&node.instance]["state"] == "terminated" {
            break;
        }
        if start.elapsed() > SETTLE {
            bail!("{} not terminated in {SETTLE:?}", node.instance);
        }
        tokio::time::sleep(crate::run::SAMPLE_PERIOD).await;
    }
    let terminated = Snapshot::take(&r.env).await?;
    r.checker.forget_foreign(&node.instance);
    r.checker.adopt_foreign(&terminated, &node.instance);
    let deleted = delete_node_and_pods(r, &node.name).await?;
    r.notes.push(format!(
        "{} ({}) terminated with {} interface(s) and {on_node} pod(s) of web; Node and {deleted} pod(s) deleted {:.1} s later",
        node.instance,
        node.name,
        interfaces.len(),
        start.elapsed().as_secs_f64()
    ));
    r.measure(&goal, fault, LIMIT).await
}

/// GCP's counterpart: the second node's VM instance deleted (`instances.delete`, by the
/// operator: its interface and alias range go with it); the Node and its pods then deleted
/// as the cloud node lifecycle controller and the pod garbage collector do.
async fn instance_deleted_on_gcp(r: &mut Run) -> Result<Metrics> {
    up_stack(r).await?;
    let node = r.env.nodes.get(1).context("a second node")?.clone();
    let s = r.sample().await?;
    let project = s.cloud["gcp"]["project"]
        .as_str()
        .context("no GCP project in the state dump")?
        .to_string();
    let on_node = s
        .app_pods(workload::APP)
        .filter(|p| p.node.as_deref() == Some(node.name.as_str()))
        .count();
    let goal = Goal {
        expect: vec![Expect::NothingOf {
            instance: node.instance.clone(),
            interfaces: Vec::new(),
        }],
        ..stack_goal(3)
    };
    let fault = r.fault(&goal).await?;
    // The instance is not the cluster's: its owner deletes it.
    r.checker.forget_foreign(&node.instance);
    crate::http::request_as(
        r.env.control(),
        "DELETE",
        &format!(
            "/compute/v1/projects/{project}/zones/{}/instances/{}",
            node.zone, node.instance
        ),
        None,
        Some(crate::clouds::gcp::OPERATOR_TOKEN),
    )
    .await
    .with_context(|| format!("cannot delete {}", node.instance))?;
    r.env.remove_node(&node.name).await?;
    let start = std::time::Instant::now();
    let deleted = delete_node_and_pods(r, &node.name).await?;
    r.notes.push(format!(
        "{} deleted with {on_node} pod(s) of web; Node and {deleted} pod(s) deleted {:.1} s later",
        node.instance,
        start.elapsed().as_secs_f64()
    ));
    r.measure(&goal, fault, LIMIT).await
}

/// Deletes the Node `name` and the pods bound to it (grace period 0), as the cloud node
/// lifecycle controller and the pod garbage collector do; answers how many pods.
pub(crate) async fn delete_node_and_pods(r: &Run, name: &str) -> Result<usize> {
    Api::<Node>::all(r.env.client.clone())
        .delete(name, &DeleteParams::default())
        .await
        .context("cannot delete the Node")?;
    let pods: Api<Pod> = Api::all(r.env.client.clone());
    let bound = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
        .await?;
    let mut deleted = 0;
    for p in bound.items {
        let (Some(ns), Some(pod)) = (p.metadata.namespace, p.metadata.name) else {
            continue;
        };
        Api::<Pod>::namespaced(r.env.client.clone(), &ns)
            .delete(&pod, &DeleteParams::default().grace_period(0))
            .await?;
        deleted += 1;
    }
    Ok(deleted)
}

/// The path condition of the Ingress's rule changed by hand.
async fn rule_edited(r: &mut Run) -> Result<Metrics> {
    let goal = up_ingresses(r, &[("shop", None, "/shop")]).await?;
    let s = r.sample().await?;
    let lb = s
        .ingress_load_balancer(&key("shop"))
        .context("the Ingress's load balancer")?;
    let rule = rule_for(&s, &lb, "/shop").context("the rule for /shop")?;
    let fault = r.fault(&goal).await?;
    crate::operator::edit_rule_path(&r.env, &rule, "/edited").await?;
    r.notes
        .push("the rule for /shop edited by hand to match /edited".into());
    r.measure(&goal, fault, LIMIT).await
}

/// The port 80 ingress rule of the ALB's security group revoked by hand.
async fn security_group_rule_revoked(r: &mut Run) -> Result<Metrics> {
    let mut goal = up_ingresses(r, &[("shop", None, "/shop")]).await?;
    let s = r.sample().await?;
    let lb = s
        .ingress_load_balancer(&key("shop"))
        .context("the Ingress's load balancer")?;
    let sgs = &s.cloud["ec2"]["security_groups"];
    let (group, permission) = s.cloud["elbv2"]["load_balancers"][&lb]["security_groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g.as_str())
        .filter(|g| crate::observe::owned(&sgs[*g]))
        .find_map(|g| {
            let p = sgs[g]["ingress"]
                .as_array()?
                .iter()
                .find(|p| p["from_port"] == 80 && p["cidr"].is_string())?;
            Some((g.to_string(), p.clone()))
        })
        .context("no security group of the ALB lets port 80 in from a CIDR")?;
    goal.expect.push(Expect::SecurityGroupIngress {
        group: group.clone(),
        permissions: sgs[&group]["ingress"].clone(),
    });
    let fault = r.fault(&goal).await?;
    crate::operator::revoke_ingress(
        &r.env,
        &group,
        permission["protocol"].as_str().unwrap_or("tcp"),
        (80, permission["to_port"].as_i64().unwrap_or(80) as i32),
        permission["cidr"].as_str(),
        None,
    )
    .await?;
    let after = r.sample().await?;
    let whole = Expect::SecurityGroupIngress {
        group: group.clone(),
        permissions: sgs[&group]["ingress"].clone(),
    };
    if whole.holds(&after) {
        bail!("the revoked rule is still on {group}");
    }
    r.notes.push(format!(
        "{group}: the ingress rule {} {}-{} from {} revoked by hand",
        permission["protocol"], permission["from_port"], permission["to_port"], permission["cidr"]
    ));
    r.measure(&goal, fault, LIMIT).await
}

/// `a2` moved from the IngressGroup `alpha` (with `a1`) to `beta` (with `b1`).
async fn member_moved(r: &mut Run) -> Result<Metrics> {
    let members: [Member; 3] = [
        ("a1", Some("alpha"), "/a1"),
        ("a2", Some("alpha"), "/a2"),
        ("b1", Some("beta"), "/b1"),
    ];
    let mut goal = up_ingresses(r, &members).await?;
    let s = r.sample().await?;
    let alpha = s
        .ingress_load_balancer(&key("a1"))
        .context("alpha's load balancer")?;
    let beta = s
        .ingress_load_balancer(&key("b1"))
        .context("beta's load balancer")?;
    if alpha == beta || s.ingress_load_balancer(&key("a2")).as_ref() != Some(&alpha) {
        bail!("the groups do not have one load balancer each before the move");
    }
    goal.expect = vec![
        Expect::RoutesPath {
            ingress: key("a1"),
            path: "/a1".into(),
        },
        Expect::NoPath {
            ingress: key("a1"),
            path: "/a2".into(),
        },
        Expect::RoutesPath {
            ingress: key("b1"),
            path: "/a2".into(),
        },
        Expect::RoutesPath {
            ingress: key("b1"),
            path: "/b1".into(),
        },
        Expect::SameLoadBalancer {
            ingress: key("a2"),
            as_ingress: key("b1"),
        },
    ];
    let fault = r.fault(&goal).await?;
    workload::set_group(&r.env.client, "a2", "beta").await?;
    let m = r.measure(&goal, fault, LIMIT).await?;
    let s = r.sample().await?;
    let (lbs, groups) = (s.load_balancers().len(), s.target_groups().len());
    if lbs != 2 || groups != 2 {
        bail!("after the move: {lbs} load balancer(s) and {groups} target group(s), want 2 and 2");
    }
    r.notes.push(format!(
        "after the move: 2 load balancers, 2 target groups (one each), /a2 on {}",
        beta.rsplit('/').nth(1).unwrap_or(&beta)
    ));
    Ok(m)
}

/// The ARN of the rule of `lb` that matches `path`.
fn rule_for(s: &Snapshot, lb: &str, path: &str) -> Option<String> {
    let elbv2 = &s.cloud["elbv2"];
    elbv2["rules"]
        .as_object()?
        .iter()
        .find(|(_, rule)| {
            let listener = rule["listener_arn"].as_str().unwrap_or_default();
            elbv2["listeners"][listener]["load_balancer_arn"].as_str() == Some(lb)
                && rule["conditions"]
                    .to_string()
                    .contains(&format!("\"{path}\""))
        })
        .map(|(arn, _)| arn.clone())
}
