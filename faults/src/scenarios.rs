//! The scenarios: each starts its own world, brings up the stack (a Deployment `web` of
//! three pods behind a LoadBalancer Service with `ip` targets) unless it faults the start
//! itself, injects its fault, measures, and tears down.

use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::env::{Env, Options};
use crate::report::Row;
use crate::run::{Goal, Metrics, Run};
use crate::stack::{LIMIT, SETTLE, free_service_name, stack_goal, up_stack, wait_warning};
use crate::support::{Support, support};
use crate::workload::{self, APP, SERVICE};

/// One scenario of the suite.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    /// Process, API, cloud or world.
    pub group: &'static str,
    pub fault: &'static str,
}

/// Every scenario built, in the order.
pub const ALL: &[Scenario] = &[
    Scenario {
        name: "controller-killed-after-load-balancer",
        group: "process",
        fault: "cloudnet-controller SIGKILLed after CreateLoadBalancer, at its first CreateListener (made to fail until then); restarted 10 s later",
    },
    Scenario {
        name: "controller-killed-after-eni-create",
        group: "process",
        fault: "cloudnet-controller SIGKILLed right after CreateNetworkInterface (pods scaled 3 -> 20), before attaching it; restarted 10 s later",
    },
    Scenario {
        name: "leader-lease-lost",
        group: "process",
        fault: "the controller's Lease taken by another holder while two pods are added; the old leader must stop (exit) before the lease could pass, then is restarted once the Lease is free",
    },
    Scenario {
        name: "ipamd-killed-mid-add",
        group: "process",
        fault: "an ipamd SIGKILLed as the ADDs of six new pods arrive (right after the first is answered), restarted 10 s later",
    },
    Scenario {
        name: "ipamd-checkpoint-truncated",
        group: "process",
        fault: "an ipamd SIGKILLed, its checkpoint cut to half, restarted; then two more pods",
    },
    Scenario {
        name: "ipamd-checkpoint-bit-flipped",
        group: "process",
        fault: "an ipamd SIGKILLed, one bit of its checkpoint flipped, restarted; then two more pods",
    },
    Scenario {
        name: "ipamd-checkpoint-deleted",
        group: "process",
        fault: "an ipamd SIGKILLed, its checkpoint and journal deleted, restarted; then two more pods",
    },
    Scenario {
        name: "ipamd-checkpoint-older-version",
        group: "process",
        fault: "an ipamd SIGKILLed, its state rewritten as a version 1 checkpoint (no journal), restarted; then two more pods",
    },
    Scenario {
        name: "ipamd-stale-socket",
        group: "process",
        fault: "an ipamd SIGKILLed (its socket file left behind) and restarted; then two more pods",
    },
    Scenario {
        name: "cni-while-ipamd-down",
        group: "process",
        fault: "an ipamd SIGKILLed, four pods added (CNI ADDs fail), ipamd back after 10 s",
    },
    Scenario {
        name: "controller-and-ipamds-down",
        group: "process",
        fault: "the controller and every ipamd SIGKILLed, two pods added, all back after 30 s",
    },
    Scenario {
        name: "api-watches-cut",
        group: "api",
        fault: "every watch on the API closed, then two more pods",
    },
    Scenario {
        name: "api-unavailable",
        group: "api",
        fault: "the API stops serving for 30 s (listener closed, connections and watches cut, the store kept) as two pods are added",
    },
    Scenario {
        name: "api-watches-gone",
        group: "api",
        fault: "the watch history expired (as etcd compaction) and every watch ended: each resume gets 410 Gone; then two more pods",
    },
    Scenario {
        name: "api-restarted",
        group: "api",
        fault: "the API restarted on the same address with the same store, every connection and watch cut; then two more pods",
    },
    Scenario {
        name: "throttling-storm",
        group: "cloud",
        fault: "half of all cloud calls RequestLimitExceeded for 60 s while three pods are added",
    },
    Scenario {
        name: "5xx-bursts",
        group: "cloud",
        fault: "every second cloud call a 500 for 30 s while three pods are added",
    },
    Scenario {
        name: "dropped-connections",
        group: "cloud",
        fault: "every third cloud call's connection dropped (done or not) for 30 s while three pods are added",
    },
    Scenario {
        name: "eni-eventually-consistent",
        group: "cloud",
        fault: "every new interface invisible to Describe for 2 s while pods are scaled 3 -> 20",
    },
    Scenario {
        name: "subnet-exhausted",
        group: "cloud",
        fault: "the first node's /26 subnet filled by another user's interface but one address, pods scaled past the node's pool; the interface deleted (room) once the condition and Events are seen and 30 s have passed",
    },
    Scenario {
        name: "eni-attach-limit",
        group: "cloud",
        fault: "pods scaled to 60 on two m5.large (3 interfaces x 9 addresses each: 54 fit), then back to 40",
    },
    Scenario {
        name: "drift-listener-deleted",
        group: "world",
        fault: "the Service's listener deleted by hand",
    },
    Scenario {
        name: "drift-rule-edited",
        group: "world",
        fault: "an Ingress's listener rule edited by hand (its path condition changed)",
    },
    Scenario {
        name: "drift-security-group-rule-revoked",
        group: "world",
        fault: "the port 80 ingress rule of an Ingress's ALB security group revoked by hand",
    },
    Scenario {
        name: "foreign-load-balancer-under-our-name",
        group: "world",
        fault: "an untagged load balancer made by hand under the name the Service's would take; removed by hand 10 s later",
    },
    Scenario {
        name: "pod-burst",
        group: "world",
        fault: "500 pods created in one burst across 20 nodes (short form: 25 per node on 20 x scale x 2 nodes, at least 2)",
    },
    Scenario {
        name: "bad-annotation-on-live-service",
        group: "world",
        fault: "a live Service's target type annotation set to `bogus`, fixed 10 s later",
    },
    Scenario {
        name: "instance-terminated",
        group: "world",
        fault: "the second node's instance terminated; its Node and pods then deleted, as the cloud node lifecycle controller and the pod garbage collector do",
    },
    Scenario {
        name: "ingress-group-member-moved",
        group: "world",
        fault: "an Ingress moved from the IngressGroup alpha (two members) to beta (one member)",
    },
];

pub fn find(name: &str) -> Option<&'static Scenario> {
    ALL.iter().find(|s| s.name == name)
}

/// The scenarios that do not run on `cloud`, as a Markdown table with why.
pub fn not_run(cloud: crate::Cloud) -> String {
    crate::support::not_run_table(cloud, ALL.iter().map(|s| s.name))
}

/// Runs one scenario in its own world and reports its row (an error in the harness or a
/// scenario that does not recover is a failed row with the reason).
pub async fn run(scenario: &Scenario, options: Options) -> Row {
    let started = std::time::Instant::now();
    let mut row = Row::new(scenario.name, scenario.group, scenario.fault, options.cloud);
    if let Support::NotApplicable(why) | Support::NotBuilt(why) =
        support(scenario.name, options.cloud)
    {
        row.error = Some(format!("not run on {}: {why}", options.cloud));
        return row;
    }
    let world = world_for(scenario, &options);
    let env = match Env::start(options, world).await {
        Ok(e) => e,
        Err(e) => {
            row.error = Some(format!("the world did not start: {e:#}"));
            return row;
        }
    };
    let mut r = Run::new(env);
    let outcome = body(scenario, &mut r).await;
    match outcome {
        Ok(m) => row.metrics = m,
        Err(e) => {
            row.error = Some(format!(
                "{e:#}\n-- controller log --\n{}",
                r.shutdown_notes()
            ))
        }
    }
    if row.error.is_none() {
        // A minute, and a tenth of a second more per pod for the kubelet's DELs.
        let pods = r.sample().await.map_or(0, |s| s.pods.len());
        let teardown = Duration::from_secs(60) + Duration::from_millis(100) * pods as u32;
        match r.teardown(teardown).await {
            Ok(left) => row.leftovers = left,
            Err(e) => row.error = Some(format!("teardown: {e:#}")),
        }
    }
    row.finish(&r, started.elapsed());
    r.env.shutdown().await;
    row
}

/// The nodes of the pod burst for a run's scale: 20 at full scale.
fn burst_nodes(options: &Options) -> usize {
    ((20.0 * options.scale * 2.0).round() as usize).clamp(2, 20)
}

/// The cloud's default world (two nodes), with more nodes for the pod burst.
fn world_for(scenario: &Scenario, options: &Options) -> cloudnet_mockcloud::World {
    if scenario.name == "subnet-exhausted" && options.cloud == crate::Cloud::Aws {
        return crate::exhaustion::world();
    }
    if scenario.name == "subnet-exhausted" && options.cloud == crate::Cloud::Azure {
        return crate::clouds::azure::world_with_small_subnet();
    }
    let nodes = if scenario.name == "pod-burst" {
        burst_nodes(options)
    } else {
        0
    };
    options.cloud.world(nodes)
}

async fn body(scenario: &Scenario, r: &mut Run) -> Result<Metrics> {
    let opts = r.env.options.clone();
    let first_node = r.env.nodes.first().context("no node")?.name.clone();
    if opts.cloud == crate::Cloud::Azure
        && crate::world_changes_azure::SCENARIOS.contains(&scenario.name)
    {
        return crate::world_changes_azure::body(scenario.name, r).await;
    }
    match scenario.name {
        "controller-killed-after-load-balancer" => {
            workload::deploy(&r.env.client, 3).await?;
            let pods = Goal {
                service: None,
                ..stack_goal(3)
            };
            r.settle(&pods, SETTLE).await?;
            // The listener's creation fails until the kill, so the controller dies with its
            // load balancer made (on Azure: its public IP) and no listener, whatever the
            // timing.
            let (service, action) = r.env.options.cloud.listener_call();
            let hold_listener = serde_json::json!({"service": service, "action": action,
                "kind": "error", "status": 503});
            let ids = crate::http::request(
                r.env.control(),
                "POST",
                "/_mockcloud/faults",
                Some(&hold_listener),
            )
            .await?;
            let since = r.seq;
            workload::expose(&r.env.client).await?;
            r.until_call(&format!("{service}:{action}"), since, SETTLE)
                .await?;
            let fault = r.fault(&stack_goal(3)).await?;
            r.env.kill_controller().await?;
            lift_faults(r, &ids).await?;
            note_listener_state(r).await?;
            r.hold(opts.scaled(Duration::from_secs(10))).await?;
            r.env.start_controller()?;
            r.measure(&stack_goal(3), fault, LIMIT).await
        }
        "controller-killed-after-eni-create" => {
            up_stack(r).await?;
            // Twenty pods do not fit on two nodes' primary interfaces: the allocator must
            // create and attach more.
            let (service, action) = r
                .env
                .options
                .cloud
                .pool_growth_call()
                .context("no call grows a node's pool on this cloud")?;
            let since = r.seq;
            workload::scale(&r.env.client, 20).await?;
            r.until_call(&format!("{service}:{action}"), since, SETTLE)
                .await?;
            let fault = r.fault(&stack_goal(20)).await?;
            r.env.kill_controller().await?;
            let (calls, _) = crate::observe::calls_since(&r.env, since).await?;
            if r.env.options.cloud == crate::Cloud::Aws {
                let attached = calls.iter().any(|c| c.call == "ec2:AttachNetworkInterface");
                r.notes.push(format!(
                    "killed {} the first AttachNetworkInterface",
                    if attached { "after" } else { "before" }
                ));
            } else {
                let writes = calls
                    .iter()
                    .filter(|c| c.call == format!("{service}:{action}"))
                    .count();
                r.notes
                    .push(format!("killed after {writes} {service}:{action} call(s)"));
            }
            r.hold(opts.scaled(Duration::from_secs(10))).await?;
            r.env.start_controller()?;
            r.measure(&stack_goal(20), fault, LIMIT).await
        }
        "ipamd-killed-mid-add" => {
            up_stack(r).await?;
            let node = r.env.node(&first_node).context("node")?.clone();
            let held = |v: &serde_json::Value| v.as_array().map_or(0, Vec::len);
            let before = held(
                &crate::http::request(node.introspection, "GET", "/v1/allocations", None).await?,
            );
            let goal = Goal {
                ipamd_reacts: true,
                ..stack_goal(9)
            };
            let fault = r.fault(&goal).await?;
            workload::scale(&r.env.client, 9).await?;
            let deadline = std::time::Instant::now() + SETTLE;
            loop {
                let now = crate::http::request(node.introspection, "GET", "/v1/allocations", None)
                    .await
                    .map(|v| held(&v))
                    .unwrap_or(before);
                if now > before {
                    break;
                }
                if std::time::Instant::now() > deadline {
                    bail!("no new pod reached the ipamd on {first_node}");
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            r.env.kill_ipamd(&first_node).await?;
            r.hold(opts.scaled(Duration::from_secs(10))).await?;
            r.env.start_ipamd(&first_node)?;
            r.measure(&goal, fault, LIMIT).await
        }
        "pod-burst" => {
            up_stack(r).await?;
            let pods = 25 * r.env.nodes.len();
            r.notes
                .push(format!("{pods} pods on {} nodes", r.env.nodes.len()));
            let fault = r.fault(&stack_goal(pods)).await?;
            workload::scale(&r.env.client, pods as i32).await?;
            r.measure(&stack_goal(pods), fault, Duration::from_secs(300))
                .await
        }
        "ipamd-checkpoint-truncated"
        | "ipamd-checkpoint-bit-flipped"
        | "ipamd-checkpoint-deleted"
        | "ipamd-checkpoint-older-version"
        | "ipamd-stale-socket" => {
            up_stack(r).await?;
            let goal = Goal {
                ipamd_reacts: true,
                ..stack_goal(5)
            };
            let fault = r.fault(&goal).await?;
            r.env.kill_ipamd(&first_node).await?;
            let node = r.env.node(&first_node).context("node")?.clone();
            damage_checkpoint(scenario.name, &node.checkpoint)?;
            if !node.socket.exists() {
                bail!(
                    "the killed ipamd's socket file is gone; the stale-socket case is not exercised"
                );
            }
            r.env.start_ipamd(&first_node)?;
            workload::scale(&r.env.client, 5).await?;
            r.measure(&goal, fault, LIMIT).await
        }
        "cni-while-ipamd-down" => {
            up_stack(r).await?;
            let goal = Goal {
                ipamd_reacts: true,
                ..stack_goal(7)
            };
            let fault = r.fault(&goal).await?;
            r.env.kill_ipamd(&first_node).await?;
            workload::scale(&r.env.client, 7).await?;
            r.hold(opts.scaled(Duration::from_secs(10))).await?;
            r.env.start_ipamd(&first_node)?;
            r.measure(&goal, fault, LIMIT).await
        }
        "controller-and-ipamds-down" => {
            up_stack(r).await?;
            let goal = Goal {
                ipamd_reacts: true,
                ..stack_goal(5)
            };
            let fault = r.fault(&goal).await?;
            r.env.kill_controller().await?;
            for n in r.env.nodes.clone() {
                r.env.kill_ipamd(&n.name).await?;
            }
            workload::scale(&r.env.client, 5).await?;
            r.hold(opts.scaled(Duration::from_secs(30))).await?;
            r.env.start_controller()?;
            for n in r.env.nodes.clone() {
                r.env.start_ipamd(&n.name)?;
            }
            r.measure(&goal, fault, LIMIT).await
        }
        "leader-lease-lost" => {
            up_stack(r).await?;
            let fault = r.fault(&stack_goal(5)).await?;
            steal_lease(&r.env.client, "intruder").await?;
            workload::scale(&r.env.client, 5).await?;
            // client-go's rule: the old leader stops within its renew deadline, before the
            // lease (15 s) could pass to another replica.
            let stopped = r.env.wait_controller_exit(Duration::from_secs(15)).await?;
            r.notes.push(format!(
                "the old leader exited {:.1} s after losing its Lease",
                stopped.as_secs_f64()
            ));
            let exited_ms = cloud_now_ms(r).await?;
            let (calls, _) = crate::observe::calls_since(&r.env, fault.seq).await?;
            let late: Vec<_> = calls
                .iter()
                .filter(|c| {
                    c.caller == r.env.options.cloud.controller_caller()
                        && c.is_mutating()
                        && c.at_ms > exited_ms
                })
                .collect();
            if !late.is_empty() {
                bail!("the old leader wrote after it stopped: {late:?}");
            }
            steal_lease(&r.env.client, "").await?;
            r.env.start_controller()?;
            let mut m = r.measure(&stack_goal(5), fault, LIMIT).await?;
            m.reaction_ms = Some(stopped.as_millis() as u64);
            Ok(m)
        }
        "eni-eventually-consistent" => {
            up_stack(r).await?;
            let rule = r
                .env
                .options
                .cloud
                .fault_rule("lagging-pool")
                .context("no pool growth call to lag on this cloud")?;
            let fault = r.fault(&stack_goal(20)).await?;
            let ids =
                crate::http::request(r.env.control(), "POST", "/_mockcloud/faults", Some(&rule))
                    .await?;
            workload::scale(&r.env.client, 20).await?;
            let m = r.measure(&stack_goal(20), fault, LIMIT).await?;
            let fired = lift_faults(r, &ids).await?;
            r.notes
                .push(format!("{fired} pool growth calls lagged 2 s"));
            Ok(m)
        }
        "eni-attach-limit" => {
            up_stack(r).await?;
            let fault = r.fault(&stack_goal(40)).await?;
            workload::scale(&r.env.client, 60).await?;
            let wanted = 54;
            let what = format!("{wanted} of 60 pods with an address, the rest waiting");
            r.wait_for(&what, SETTLE, |_, s| {
                s.app_pods(APP)
                    .filter(|p| s.pod_has_working_address(p))
                    .count()
                    >= wanted
            })
            .await?;
            r.hold(opts.scaled(Duration::from_secs(10))).await?;
            let s = r.sample().await?;
            let working = s
                .app_pods(APP)
                .filter(|p| s.pod_has_working_address(p))
                .count();
            let attached = s.cloud["ec2"]["network_interfaces"]
                .as_object()
                .map_or(0, |e| {
                    e.values().filter(|e| !e["attachment"].is_null()).count()
                });
            r.notes.push(format!(
                "at the limit: {working} of 60 pods with an address, {attached} interfaces attached"
            ));
            if working > 54 || attached > 6 {
                bail!(
                    "more than the instance type allows: {working} pods with an address, {attached} interfaces"
                );
            }
            workload::scale(&r.env.client, 40).await?;
            r.measure(&stack_goal(40), fault, LIMIT).await
        }
        "api-watches-cut" => {
            up_stack(r).await?;
            let fault = r.fault(&stack_goal(5)).await?;
            r.env.api.close_watches();
            workload::scale(&r.env.client, 5).await?;
            r.measure(&stack_goal(5), fault, LIMIT).await
        }
        "api-unavailable" | "api-watches-gone" | "api-restarted" => {
            crate::api_faults::body(scenario.name, r).await
        }
        "subnet-exhausted" => crate::exhaustion::body(r).await,
        "instance-terminated"
        | "drift-rule-edited"
        | "drift-security-group-rule-revoked"
        | "ingress-group-member-moved" => crate::world_changes::body(scenario.name, r).await,
        "throttling-storm" | "5xx-bursts" | "dropped-connections" => {
            up_stack(r).await?;
            let (fault, full) = match scenario.name {
                "throttling-storm" => ("throttling", 60),
                "5xx-bursts" => ("5xx", 30),
                _ => ("drop", 30),
            };
            let rule = r
                .env
                .options
                .cloud
                .fault_rule(fault)
                .with_context(|| format!("no {fault} rule on this cloud"))?;
            let fault = r.fault(&stack_goal(6)).await?;
            let ids =
                crate::http::request(r.env.control(), "POST", "/_mockcloud/faults", Some(&rule))
                    .await?;
            workload::scale(&r.env.client, 6).await?;
            r.hold(opts.scaled(Duration::from_secs(full))).await?;
            let fired = lift_faults(r, &ids).await?;
            r.notes.push(format!("{fired} calls faulted"));
            r.measure(&stack_goal(6), fault, LIMIT).await
        }
        "drift-listener-deleted" => {
            up_stack(r).await?;
            let s = r.sample().await?;
            let host = s
                .services
                .get(SERVICE)
                .cloned()
                .flatten()
                .context("the Service has no hostname")?;
            let fault = r.fault(&stack_goal(3)).await?;
            let n = match r.env.options.cloud {
                crate::Cloud::Gcp => {
                    crate::operator::delete_forwarding_rules(&r.env, &host).await?
                }
                _ => crate::operator::delete_listeners(&r.env, &host).await?,
            };
            r.notes.push(format!("{n} listener(s) deleted by hand"));
            r.measure(&stack_goal(3), fault, LIMIT).await
        }
        "foreign-load-balancer-under-our-name" if opts.cloud == crate::Cloud::Gcp => {
            crate::gcp_changes::foreign_forwarding_rule(r).await
        }
        "foreign-load-balancer-under-our-name" => {
            up_stack(r).await?;
            // Learn the name and subnets the Service's load balancer takes, then free them.
            let s = r.sample().await?;
            let (name, subnets) = s.cloud["elbv2"]["load_balancers"]
                .as_object()
                .into_iter()
                .flatten()
                .find(|(_, lb)| crate::observe::owned(lb))
                .map(|(_, lb)| {
                    let subnets: Vec<String> = lb["subnets"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|s| s["subnet_id"].as_str().map(str::to_string))
                        .collect();
                    (lb["name"].as_str().unwrap_or_default().to_string(), subnets)
                })
                .context("the Service has no load balancer")?;
            free_service_name(r).await?;
            let arn =
                crate::operator::create_foreign_load_balancer(&r.env, &name, &subnets).await?;
            let s = crate::observe::Snapshot::take(&r.env).await?;
            r.checker.adopt_foreign(&s, &arn);
            let fault = r.fault(&stack_goal(3)).await?;
            workload::expose(&r.env.client).await?;
            let warned = wait_warning(r, "").await?;
            let warnings = workload::service_warnings(&r.env.client).await?;
            r.notes
                .push(format!("the Service's Warning: {}", warnings.join(" | ")));
            r.hold(opts.scaled(Duration::from_secs(10))).await?;
            // The checker has compared the foreign load balancer with its first state on
            // every sample; now its owner removes it.
            r.checker.forget_foreign(&arn);
            crate::operator::delete_load_balancer(&r.env, &arn).await?;
            let mut m = r.measure(&stack_goal(3), fault, LIMIT).await?;
            m.reaction_ms = Some(warned.as_millis() as u64);
            Ok(m)
        }
        "bad-annotation-on-live-service" => crate::bad_annotation::body(r).await,
        other => bail!("no scenario {other}"),
    }
}

/// Makes `holder` the holder of the controller's Lease (empty: frees it), renewed now.
async fn steal_lease(client: &kube::Client, holder: &str) -> Result<()> {
    use k8s_openapi::api::coordination::v1::Lease;
    let leases: kube::Api<Lease> = kube::Api::namespaced(client.clone(), "kube-system");
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let holder = (!holder.is_empty()).then_some(holder);
    leases
        .patch(
            "cloudnet-controller",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"spec": {
                "holderIdentity": holder,
                "renewTime": now,
                "acquireTime": now,
                "leaseDurationSeconds": 15,
            }})),
        )
        .await
        .context("cannot change the controller's Lease")?;
    Ok(())
}

async fn cloud_now_ms(r: &Run) -> Result<u64> {
    crate::run::cloud_now(&r.env).await
}

/// Records whether the killed controller had created the listener.
async fn note_listener_state(r: &mut Run) -> Result<()> {
    let s = r.sample().await?;
    let listeners: usize = s.load_balancers().values().map(|(_, l)| *l).sum();
    r.notes.push(format!(
        "killed with {} load balancer(s) and {listeners} listener(s) made",
        s.load_balancers().len()
    ));
    Ok(())
}

/// Breaks a checkpoint as the scenario says.
fn damage_checkpoint(scenario: &str, path: &std::path::Path) -> Result<()> {
    let journal = cloudnet_ipamd::checkpoint::journal_path(path);
    match scenario {
        "ipamd-checkpoint-truncated" => {
            let bytes = std::fs::read(path).context("the checkpoint")?;
            std::fs::write(path, &bytes[..bytes.len() / 2])?;
        }
        "ipamd-checkpoint-bit-flipped" => {
            let mut bytes = std::fs::read(path).context("the checkpoint")?;
            let i = bytes.len() * 2 / 3;
            bytes[i] ^= 0x04;
            std::fs::write(path, &bytes)?;
        }
        "ipamd-checkpoint-deleted" => {
            std::fs::remove_file(path).context("the checkpoint")?;
            let _ = std::fs::remove_file(journal);
        }
        "ipamd-checkpoint-older-version" => {
            // The state as this build has it (snapshot and journal), written as version 1
            // wrote it: `<magic> version=1 sha256=<body's>`, the same body, no journal.
            let state = match cloudnet_ipamd::checkpoint::load(path)? {
                Ok(p) => p,
                Err(problem) => bail!("the checkpoint does not load before the fault: {problem:?}"),
            };
            let current = cloudnet_ipamd::checkpoint::encode(&state, 0)?;
            let nl = current
                .iter()
                .position(|b| *b == b'\n')
                .context("a header")?;
            let header = String::from_utf8_lossy(&current[..nl]).to_string();
            let sum = header
                .split(' ')
                .find(|p| p.starts_with("sha256="))
                .context("a checksum in the header")?;
            let mut old =
                format!("{} version=1 {sum}\n", cloudnet_ipamd::checkpoint::MAGIC).into_bytes();
            old.extend_from_slice(&current[nl + 1..]);
            std::fs::write(path, old)?;
            std::fs::remove_file(journal).context("the journal")?;
        }
        _ => {}
    }
    Ok(())
}

/// Removes the mock cloud's fault rules `ids` (the answer of `POST /_mockcloud/faults`) and
/// answers how many calls they faulted; a fault that never fired is an error, so a scenario
/// cannot pass without its fault (a rule naming a call the backend does not make).
async fn lift_faults(r: &Run, ids: &serde_json::Value) -> Result<u64> {
    let ids: Vec<u64> = ids["ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    let rules = crate::http::request(r.env.control(), "GET", "/_mockcloud/faults", None).await?;
    let fired: u64 = rules
        .as_array()
        .into_iter()
        .flatten()
        .filter(|rule| rule["id"].as_u64().is_some_and(|id| ids.contains(&id)))
        .filter_map(|rule| rule["fired"].as_u64())
        .sum();
    for id in &ids {
        crate::http::request(
            r.env.control(),
            "DELETE",
            &format!("/_mockcloud/faults/{id}"),
            None,
        )
        .await?;
    }
    anyhow::ensure!(
        fired > 0,
        "the fault never fired (rules {ids:?}): the backend made no call it matches"
    );
    Ok(fired)
}

#[cfg(test)]
mod tests {
    use super::ALL;
    use crate::Cloud;
    use crate::support::{Support, support};

    #[test]
    fn every_scenario_runs_on_aws_and_every_one_left_out_elsewhere_says_why() {
        for s in ALL {
            assert_eq!(support(s.name, Cloud::Aws), Support::Runs, "{}", s.name);
            for cloud in [Cloud::Gcp, Cloud::Azure] {
                if let Support::NotApplicable(why)
                | Support::NotBuilt(why)
                | Support::KnownFailure(why) = support(s.name, cloud)
                {
                    assert!(why.len() > 20, "{} on {cloud}: {why}", s.name);
                }
            }
        }
        assert_eq!(support("api-restarted", Cloud::Gcp), Support::Runs);
        assert_eq!(support("throttling-storm", Cloud::Azure), Support::Runs);
        let table = super::not_run(Cloud::Gcp);
        assert!(
            table.contains("| ingress-group-member-moved | not applicable |"),
            "{table}"
        );
        assert!(!table.contains("api-restarted"), "{table}");
        assert!(super::not_run(Cloud::Aws).is_empty());
    }
}
