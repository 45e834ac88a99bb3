//! The world changes on Azure, made by hand through Resource Manager as the operator
//! ([`crate::operator_azure`]): the Service's load-balancing rule deleted, a load balancer of
//! someone else's under the Service's name, the second node's scale-set instance deleted
//! (the set scaled in), the node subnet filled by another user's NIC, an Application
//! Gateway's path rule edited, the Service's allow rule deleted from the cluster's NSG.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cloudnet_crds::NodeNetwork;
use kube::api::Api;
use serde_json::{Value, json};

use crate::clouds::azure;
use crate::observe::Snapshot;
use crate::operator_azure::{Arm, writable};
use crate::run::{Expect, Metrics, Run};
use crate::stack::{LIMIT, SETTLE, free_service_name, stack_goal, up_stack, wait_warning};
use crate::workload;

/// The scenarios this module makes on Azure.
pub const SCENARIOS: &[&str] = &[
    "drift-listener-deleted",
    "foreign-load-balancer-under-our-name",
    "instance-terminated",
    "subnet-exhausted",
    "drift-rule-edited",
    "drift-security-group-rule-revoked",
];

pub async fn body(name: &str, r: &mut Run) -> Result<Metrics> {
    match name {
        "drift-listener-deleted" => rule_deleted(r).await,
        "foreign-load-balancer-under-our-name" => foreign_load_balancer(r).await,
        "instance-terminated" => instance_deleted(r).await,
        "subnet-exhausted" => subnet_filled(r).await,
        "drift-rule-edited" => path_rule_edited(r).await,
        "drift-security-group-rule-revoked" => security_rule_deleted(r).await,
        other => bail!("no Azure world scenario {other}"),
    }
}

/// The key the checker compares a resource under (`adopt_foreign`, `forget_foreign`): its
/// lowercased ID without the leading `/`.
fn key(id: &str) -> String {
    id.trim_start_matches('/').to_lowercase()
}

/// The cluster's one load balancer in the dump (the Service's).
fn our_load_balancer(s: &Snapshot) -> Result<Value> {
    azure::resources_of(&s.cloud, "Microsoft.Network/loadBalancers")
        .find(|lb| azure::owned(lb))
        .cloned()
        .context("the Service has no load balancer")
}

fn id_of(v: &Value) -> Result<String> {
    v["id"]
        .as_str()
        .map(str::to_string)
        .context("a resource without an ID")
}

/// The Service's load-balancing rules deleted by hand: the load balancer written back
/// without them (its frontend, pools and probes kept).
async fn rule_deleted(r: &mut Run) -> Result<Metrics> {
    up_stack(r).await?;
    let s = r.sample().await?;
    let lb = our_load_balancer(&s)?;
    let id = id_of(&lb)?;
    let arm = Arm::new(&r.env);
    let mut edited = writable(&arm.get(&id).await?);
    let rules = edited["properties"]["loadBalancingRules"]
        .as_array()
        .map_or(0, Vec::len);
    if rules == 0 {
        bail!("{id} has no load-balancing rule to delete");
    }
    edited["properties"]["loadBalancingRules"] = json!([]);
    let fault = r.fault(&stack_goal(3)).await?;
    arm.put(&id, &edited).await?;
    let after = r.sample().await?;
    if after
        .load_balancers()
        .get(&id.to_lowercase())
        .is_some_and(|(_, n)| *n > 0)
    {
        bail!("{id} still has a load-balancing rule after the PUT without them");
    }
    r.notes.push(format!(
        "{rules} load-balancing rule(s) deleted by hand (PUT of the load balancer without them)"
    ));
    r.measure(&stack_goal(3), fault, LIMIT).await
}

/// A Standard Load Balancer without tags (someone else's) under the name the Service's
/// takes: the Service must get a Warning and the load balancer must not be touched; once
/// its owner deletes it, the Service gets its own.
async fn foreign_load_balancer(r: &mut Run) -> Result<Metrics> {
    let opts = r.env.options.clone();
    up_stack(r).await?;
    // Learn the name the Service's load balancer takes, then free it.
    let s = r.sample().await?;
    let ours = our_load_balancer(&s)?;
    let id = id_of(&ours)?;
    free_service_name(r).await?;
    let arm = Arm::new(&r.env);
    let location = ours["location"].as_str().unwrap_or("eastus");
    let foreign = json!({
        "location": location,
        "sku": {"name": "Standard", "tier": "Regional"},
        "properties": {},
    });
    arm.put(&id, &foreign)
        .await
        .with_context(|| format!("cannot create someone else's load balancer {id}"))?;
    let s = Snapshot::take(&r.env).await?;
    r.checker.adopt_foreign(&s, &key(&id));
    let fault = r.fault(&stack_goal(3)).await?;
    workload::expose(&r.env.client).await?;
    let warned = wait_warning(r, "").await?;
    let warnings = workload::service_warnings(&r.env.client).await?;
    r.notes
        .push(format!("the Service's Warning: {}", warnings.join(" | ")));
    r.hold(opts.scaled(Duration::from_secs(10))).await?;
    // The checker has compared the foreign load balancer with its first state on every
    // sample; now its owner removes it.
    r.checker.forget_foreign(&key(&id));
    arm.delete(&id).await?;
    let mut m = r.measure(&stack_goal(3), fault, LIMIT).await?;
    m.reaction_ms = Some(warned.as_millis() as u64);
    Ok(m)
}

/// The second node's scale-set instance deleted by hand (the set scaled in by one: its
/// highest instance goes, with its NIC), then its Node and pods deleted as the cloud node
/// lifecycle controller and the pod garbage collector do.
async fn instance_deleted(r: &mut Run) -> Result<Metrics> {
    up_stack(r).await?;
    let node = r.env.nodes.get(1).context("a second node")?.clone();
    let s = r.sample().await?;
    let instance_key = azure::instance_key(&s.cloud, &node.instance)
        .with_context(|| format!("no instance {} in the dump", node.instance))?;
    let (set_id, last) = instance_key
        .rsplit_once("/virtualmachines/")
        .map(|(set, i)| (set.to_string(), i.to_string()))
        .context("the second node is not a scale-set instance")?;
    let set = s.cloud["azure"]["resources"][&set_id].clone();
    let capacity = set["sku"]["capacity"].as_u64().unwrap_or(0);
    let highest = azure::resources_of(&s.cloud, azure::INSTANCE_TYPE)
        .filter_map(|i| i["instanceId"].as_str()?.parse::<u64>().ok())
        .max();
    if highest != last.parse().ok() || capacity < 2 {
        bail!(
            "the second node (instance {last}) is not the highest instance of {set_id} (capacity {capacity})"
        );
    }
    let addresses: Vec<String> = azure::instance_addresses(&s.cloud, &node.instance)
        .iter()
        .map(ToString::to_string)
        .collect();
    let on_node = s
        .app_pods(workload::APP)
        .filter(|p| p.node.as_deref() == Some(node.name.as_str()))
        .count();
    let goal = crate::run::Goal {
        expect: vec![Expect::NothingOf {
            instance: node.instance.clone(),
            interfaces: addresses.clone(),
        }],
        ..stack_goal(3)
    };
    let arm = Arm::new(&r.env);
    let set_real_id = id_of(&set)?;
    let mut scaled = writable(&arm.get(&set_real_id).await?);
    scaled["sku"]["capacity"] = json!(capacity - 1);
    let fault = r.fault(&goal).await?;
    // The scale set, the instance and its NIC are not the cluster's: their owner changes
    // and deletes them.
    let gone: Vec<String> = s.cloud["azure"]["resources"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .filter(|k| *k == instance_key || k.starts_with(&format!("{instance_key}/")))
        .collect();
    for k in &gone {
        r.checker.forget_foreign(&key(k));
    }
    r.checker.forget_foreign(&key(&set_id));
    arm.put(&set_real_id, &scaled)
        .await
        .with_context(|| format!("cannot scale {set_id} in"))?;
    // The node's ipamd goes down with the machine.
    r.env.remove_node(&node.name).await?;
    let start = Instant::now();
    let scaled_in = Snapshot::take(&r.env).await?;
    if azure::instance_key(&scaled_in.cloud, &node.instance).is_some() {
        bail!("{instance_key} is still there after the scale-in");
    }
    r.checker.adopt_foreign(&scaled_in, &key(&set_id));
    let deleted = crate::world_changes::delete_node_and_pods(r, &node.name).await?;
    r.notes.push(format!(
        "{set_id} scaled in {capacity} -> {}: instance {last} ({}) deleted with {} address(es) and {on_node} pod(s) of web; Node and {deleted} pod(s) deleted {:.1} s later",
        capacity - 1,
        node.name,
        addresses.len(),
        start.elapsed().as_secs_f64()
    ));
    r.measure(&goal, fault, LIMIT).await
}

/// A sample once the nodes' pools (the suite's ipConfigurations) have held the same count
/// for [`STILL`] samples in a row.
async fn settled_pools(r: &mut Run) -> Result<Snapshot> {
    const STILL: usize = 8;
    let start = Instant::now();
    let mut last = None;
    let mut same = 0;
    loop {
        let s = r.sample().await?;
        let held = azure::pool_configs(&s.cloud);
        same = if last == Some(held) { same + 1 } else { 0 };
        last = Some(held);
        if same >= STILL {
            return Ok(s);
        }
        if start.elapsed() > SETTLE {
            bail!("the nodes' pools did not hold still in {SETTLE:?} (last {held} addresses)");
        }
        tokio::time::sleep(crate::run::SAMPLE_PERIOD).await;
    }
}

/// The node subnet (cut to [`azure::SMALL_SUBNET`] in this scenario's world) filled by
/// another user's NIC but one address; more pods than fit are asked for. The allocator must
/// report `SubnetExhausted` (condition and Warning Event) on a node's NodeNetwork and the
/// pods that do not fit must wait with a clear Event, with no call storm; when the other
/// user deletes its NIC, they get addresses.
async fn subnet_filled(r: &mut Run) -> Result<Metrics> {
    up_stack(r).await?;
    // The pools may still be filling to their warm target after the pods are up: the free
    // count is read once they hold still, or the other user's NIC would ask for addresses
    // the pools take in the meantime.
    let s = settled_pools(r).await?;
    let subnet = azure::node_subnet(&s.cloud).context("the node subnet")?;
    let subnet_id = id_of(&subnet)?;
    let free = azure::free_addresses(&s.cloud, &subnet).context("the node subnet's size")?;
    let held = azure::pool_configs(&s.cloud);
    if free < 3 {
        bail!("{subnet_id} has {free} free addresses before the fault; the world is too small");
    }
    // Another user takes all but one free address: a NIC with that many ipConfigurations.
    let nic_id = format!(
        "{}/providers/Microsoft.Network/networkInterfaces/another-teams-nic",
        subnet_id
            .split("/providers/")
            .next()
            .context("a subnet ID without a resource group")?
    );
    let configs: Vec<Value> = (0..free - 1)
        .map(|i| {
            json!({"name": format!("ipconfig{}", i + 1), "properties": {
                "primary": i == 0,
                "privateIPAllocationMethod": "Dynamic",
                "subnet": {"id": subnet_id},
            }})
        })
        .collect();
    let location = subnet_location(&s);
    let arm = Arm::new(&r.env);
    arm.put(
        &nic_id,
        &json!({"location": location, "properties": {"ipConfigurations": configs}}),
    )
    .await
    .context("cannot create another user's NIC")?;
    let taken = Snapshot::take(&r.env).await?;
    r.checker.adopt_foreign(&taken, &key(&nic_id));
    // The subnet's list of ipConfigurations in it is a back-reference the checker ignores.
    r.notes.push(format!(
        "{} ({}): {free} addresses free, {} taken by another user's NIC; the nodes' pools hold {held}",
        subnet["name"].as_str().unwrap_or_default(),
        subnet["properties"]["addressPrefix"].as_str().unwrap_or_default(),
        free - 1
    ));
    let replicas = held + azure::MAX_PODS as usize / 2;
    let goal = stack_goal(replicas);
    let fault = r.fault(&goal).await?;
    workload::scale(&r.env.client, replicas as i32).await?;

    let start = Instant::now();
    let nn: Api<NodeNetwork> = Api::all(r.env.client.clone());
    loop {
        let s = r.sample().await?;
        let mut found = None;
        for node in r.env.nodes.clone() {
            if let Some(message) = crate::exhaustion::exhausted(&nn, &node.name).await? {
                let events =
                    workload::warnings(&r.env.client, "NodeNetwork", Some(&node.name)).await?;
                if events
                    .iter()
                    .any(|e| e.starts_with(crate::exhaustion::CONDITION))
                {
                    found = Some((node.name.clone(), message));
                    break;
                }
            }
        }
        let waiting: usize = r
            .env
            .nodes
            .iter()
            .map(|n| crate::exhaustion::waiting_pods(&s, &n.name))
            .sum();
        let pod_events = workload::warnings(&r.env.client, "Pod", None).await?;
        let sandbox = pod_events
            .iter()
            .filter(|e| e.starts_with("FailedCreatePodSandBox"))
            .count();
        if let Some((node, message)) = &found
            && waiting > 0
            && sandbox > 0
        {
            r.notes.push(format!(
                "after {:.1} s: condition {} on {node} ({message}), {waiting} pod(s) waiting, {sandbox} FailedCreatePodSandBox Event(s)",
                start.elapsed().as_secs_f64(),
                crate::exhaustion::CONDITION,
            ));
            break;
        }
        if start.elapsed() > SETTLE {
            bail!(
                "no {} condition and Event on a node with pods waiting in {SETTLE:?} ({found:?}, {waiting} waiting, {sandbox} sandbox Events)",
                crate::exhaustion::CONDITION
            );
        }
        tokio::time::sleep(crate::run::SAMPLE_PERIOD).await;
    }

    crate::exhaustion::hold_full_subnet(
        r,
        azure::CONTROLLER_OID,
        &[
            "arm:Microsoft.Network/networkInterfaces/write",
            "arm:Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write",
        ],
        // Both nodes are in the node subnet.
        r.env.nodes.len(),
    )
    .await?;

    // Room appears: the other user deletes its NIC.
    r.checker.forget_foreign(&key(&nic_id));
    arm.delete(&nic_id).await?;
    let m = r.measure(&goal, fault, LIMIT).await?;
    for node in r.env.nodes.clone() {
        if crate::exhaustion::exhausted(&nn, &node.name)
            .await?
            .is_some()
        {
            bail!(
                "the {} condition stayed True on {} once the pods had addresses",
                crate::exhaustion::CONDITION,
                node.name
            );
        }
    }
    Ok(m)
}

fn subnet_location(s: &Snapshot) -> String {
    azure::resources_of(&s.cloud, "Microsoft.Network/virtualNetworks")
        .find_map(|v| v["location"].as_str().map(str::to_string))
        .unwrap_or_else(|| "eastus".to_string())
}

/// AGIC's Ingress class.
const AGIC_CLASS: &str = "azure-application-gateway";

/// The Ingress `name` of AGIC's class routing `path` (Prefix) to the Service `web`.
async fn agic_ingress(client: &kube::Client, name: &str, path: &str) -> Result<()> {
    use k8s_openapi::api::networking::v1::Ingress;
    let ing: Ingress = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": workload::NAMESPACE},
        "spec": {"ingressClassName": AGIC_CLASS, "rules": [{"http": {"paths": [{
            "path": path, "pathType": "Prefix",
            "backend": {"service": {"name": workload::APP, "port": {"number": 80}}}
        }]}}]}
    }))?;
    Api::<Ingress>::namespaced(client.clone(), workload::NAMESPACE)
        .create(&kube::api::PostParams::default(), &ing)
        .await?;
    Ok(())
}

/// The path rule for `/shop` of the Ingress's Application Gateway edited by hand to match
/// `/edited` (the gateway written back with that one change).
async fn path_rule_edited(r: &mut Run) -> Result<Metrics> {
    let ingress = format!("{}/shop", workload::NAMESPACE);
    workload::deploy(&r.env.client, 3).await?;
    workload::cluster_service(&r.env.client).await?;
    agic_ingress(&r.env.client, "shop", "/shop").await?;
    let goal = crate::run::Goal {
        service: None,
        ingresses: vec![ingress.clone()],
        expect: vec![Expect::RoutesPath {
            ingress: ingress.clone(),
            path: "/shop".into(),
        }],
        ..stack_goal(3)
    };
    r.settle(&goal, SETTLE).await?;
    let s = r.sample().await?;
    let key_of_gateway = s
        .ingress_load_balancer(&ingress)
        .context("the Ingress's Application Gateway")?;
    let id = id_of(&s.cloud["azure"]["resources"][&key_of_gateway])?;
    let arm = Arm::new(&r.env);
    let mut gateway = writable(&arm.get(&id).await?);
    let mut edited = 0;
    for map in gateway["properties"]["urlPathMaps"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        for rule in map["properties"]["pathRules"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            let paths = &mut rule["properties"]["paths"];
            if paths.as_array().is_some_and(|p| {
                p.iter()
                    .any(|x| x.as_str().is_some_and(|x| x.starts_with("/shop")))
            }) {
                *paths = json!(["/edited"]);
                edited += 1;
            }
        }
    }
    if edited == 0 {
        bail!("no path rule of {id} matches /shop");
    }
    let fault = r.fault(&goal).await?;
    arm.put(&id, &gateway)
        .await
        .with_context(|| format!("cannot edit {id}"))?;
    if goal.expect[0].holds(&r.sample().await?) {
        bail!("{id} still routes /shop after the edit");
    }
    r.notes.push(format!(
        "{edited} path rule(s) for /shop edited by hand to match /edited (a PUT of the gateway)"
    ));
    r.measure(&goal, fault, LIMIT).await
}

/// The Service's TCP allow rule deleted from the cluster's NSG by hand: the NSG (AKS's, not
/// the cluster's) written back without it, every other rule kept. Its load balancer then
/// lets no client reach a backend (the health probes still pass) until the rule is back.
async fn security_rule_deleted(r: &mut Run) -> Result<Metrics> {
    use crate::clouds::azure_nsg;
    up_stack(r).await?;
    let s = r.sample().await?;
    let lb = our_load_balancer(&s)?;
    let lb_name = lb["name"]
        .as_str()
        .context("a load balancer without a name")?
        .to_string();
    let nsg = azure_nsg::node_security_group(&s.cloud).context("no NSG on the node subnet")?;
    let id = id_of(&nsg)?;
    let ours = azure_nsg::service_rules(&nsg, &lb_name);
    let tcp = format!("{lb_name}-TCP");
    if !ours.iter().any(|x| x["name"] == tcp.as_str()) {
        bail!("{id} has no rule {tcp} (it has {ours:?})");
    }
    let mut goal = stack_goal(3);
    goal.expect.push(Expect::SecurityRules {
        group: id.clone(),
        rules: json!(ours),
    });
    let arm = Arm::new(&r.env);
    let mut edited = writable(&arm.get(&id).await?);
    let others = edited["properties"]["securityRules"]
        .as_array()
        .map_or(0, |a| a.len() - 1);
    if let Some(list) = edited["properties"]["securityRules"].as_array_mut() {
        list.retain(|x| x["name"] != tcp.as_str());
    }
    let fault = r.fault(&goal).await?;
    arm.put(&id, &edited)
        .await
        .with_context(|| format!("cannot write {id} without {tcp}"))?;
    let after = r.sample().await?;
    if goal.expect.iter().all(|e| e.holds(&after)) {
        bail!("{tcp} is still on {id} after the PUT without it");
    }
    r.notes.push(format!(
        "{tcp} (Inbound Allow, priority {}) deleted by hand from {} (a PUT of the NSG with its {others} other rule(s))",
        ours.iter()
            .find(|x| x["name"] == tcp.as_str())
            .map_or(json!(null), |x| x["properties"]["priority"].clone()),
        nsg["name"].as_str().unwrap_or_default(),
    ));
    r.measure(&goal, fault, LIMIT).await
}
