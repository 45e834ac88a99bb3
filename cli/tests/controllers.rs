//! The sandbox runs `cloudnet-controller`'s controllers through the AWS SDK against the mock
//! cloud, under their own API identity and the chart's RBAC, and an ipamd per node: what a Service's status and a
//! pod's IP show came through the path a cluster uses, and the mock cloud's state agrees.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use cloudnet_cli::controller;
use cloudnet_cli::sandbox::{Sandbox, SandboxArgs};
use cloudnet_kubesim::Access;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(90);

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cloudnet-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The sandbox enforcing exactly the RBAC the Helm chart renders (RBAC off only when helm is
/// missing and `CLOUDNET_SKIP_EXTERNAL=1`).
fn under_chart_rbac(dir: &std::path::Path) -> SandboxArgs {
    let mut args = SandboxArgs::ephemeral(dir);
    if let Some(yaml) = cloudnet_testkit::chart::rbac_yaml() {
        let rendered = dir.join("rbac.yaml");
        std::fs::write(&rendered, yaml).unwrap();
        args.rbac = true;
        args.files = vec![rendered];
    }
    args
}

/// Fails listing every request the chart's RBAC refused.
fn assert_no_denials(sandbox: &Sandbox) {
    let denials = sandbox.api.auth().denials();
    assert!(
        denials.is_empty(),
        "refused by the chart's RBAC: {denials:?}"
    );
}

async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Targets registered in the mock cloud, over every target group (`id` or `id:port`).
fn targets(sandbox: &Sandbox) -> BTreeSet<String> {
    let state = sandbox
        .cloud
        .with_cloud(|c| serde_json::to_value(c.dump()).expect("state"));
    state["elbv2"]["target_groups"]
        .as_object()
        .map(|groups| {
            groups
                .values()
                .filter_map(|g| g["targets"].as_object())
                .flat_map(|t| t.keys().cloned())
                .collect()
        })
        .unwrap_or_default()
}

/// The controller ran under deploy/iam's controller policy with its own key: IAM refused
/// nothing, and every cloud write was the controller's.
fn assert_within_policy(sandbox: &Sandbox) {
    let (denied, writers) = sandbox.cloud.with_cloud(|c| {
        let writers = c
            .call_log
            .callers_of(|call| !call.split(':').nth(1).unwrap_or("").starts_with("Describe"));
        (c.call_log.denied_by_caller().clone(), writers)
    });
    assert!(denied.is_empty(), "calls refused by IAM: {denied:?}");
    assert_eq!(writers, [controller::ACCESS_KEY]);
}

fn counts(sandbox: &Sandbox) -> (usize, usize) {
    sandbox
        .cloud
        .with_cloud(|c| (c.elbv2.load_balancer_count(), c.elbv2.target_group_count()))
}

async fn deploy_web(client: &kube::Client, replicas: i32) {
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}
            }
        }
    }))
    .expect("deployment");
    Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &deployment)
        .await
        .expect("deployment created");
}

/// A LoadBalancer Service with no class, as a user of a cluster's in-tree provider writes it.
fn load_balancer_service(annotations: serde_json::Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "annotations": annotations},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}]
        }
    }))
    .expect("service")
}

/// Running pods' addresses and nodes.
async fn pods_on(client: &kube::Client) -> Vec<(Ipv4Addr, String)> {
    Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("pods")
        .items
        .into_iter()
        .filter_map(|p| {
            let spec = p.spec?;
            if spec.host_network == Some(true) {
                return None;
            }
            let status = p.status?;
            if status.phase.as_deref() != Some("Running") {
                return None;
            }
            let ip = status.pod_ip?.parse().ok()?;
            Some((ip, spec.node_name?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classless_load_balancer_service_gets_an_nlb_with_the_pods_as_targets_and_leaves_none_behind()
 {
    let dir = temp_dir("lb");
    let sandbox = Sandbox::start(&under_chart_rbac(&dir))
        .await
        .expect("the sandbox starts");
    let client = sandbox.client().clone();
    deploy_web(&client, 3).await;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    services
        .create(
            &PostParams::default(),
            &load_balancer_service(json!({
                "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"
            })),
        )
        .await
        .expect("service created");

    let hostname = eventually("the hostname in the Service's status", || async {
        let s = services.get("web").await.ok()?;
        s.status?.load_balancer?.ingress?.first()?.hostname.clone()
    })
    .await;
    assert!(
        hostname.ends_with(".elb.us-west-2.amazonaws.com"),
        "{hostname}"
    );
    // ip targets: the three pods' addresses, which are VPC addresses (ENI secondaries), so
    // the load balancer accepts them as in-VPC targets.
    let pod_ips: BTreeSet<String> = eventually("three running pods", || async {
        let ips: BTreeSet<String> = pods_on(&client)
            .await
            .into_iter()
            .map(|(ip, _)| ip.to_string())
            .collect();
        (ips.len() == 3).then_some(ips)
    })
    .await;
    eventually("the three pods as targets", || async {
        let ids: BTreeSet<String> = targets(&sandbox)
            .iter()
            .map(|t| t.split(':').next().unwrap_or_default().to_string())
            .collect();
        (ids == pod_ips).then_some(())
    })
    .await;
    assert_eq!(counts(&sandbox), (1, 1), "one NLB, one target group");

    // The summary shows it from the Service's status, not from the cloud.
    assert!(sandbox.wait_settled(WAIT).await, "settles");
    let summary = sandbox.summary().await.expect("summary");
    let row = summary
        .services
        .iter()
        .find(|s| s[0] == "default/web")
        .expect("the Service in the summary");
    assert_eq!(row[3], hostname, "{summary}");
    assert_eq!(summary.load_balancers(), 1, "{summary}");

    // The controller wrote the status under its own identity, and holds the lease.
    let audit = sandbox.api.auth().audit();
    let wrote_status = |who: &str| {
        audit.get(who).is_some_and(|a| {
            a.iter().any(|x: &Access| {
                x.resource == "services/status" && matches!(x.verb.as_str(), "patch" | "update")
            })
        })
    };
    assert!(wrote_status(controller::IDENTITY), "{audit:?}");
    assert!(!wrote_status("cloudnet-sandbox"), "{audit:?}");
    let lease = Api::<Lease>::namespaced(client.clone(), controller::LEASE_NAMESPACE)
        .get(controller::LEASE_NAME)
        .await
        .expect("the controllers' lease");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some(controller::REPLICA)
    );

    services
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("the Service gone (finalizer released)", || async {
        services
            .get_opt("web")
            .await
            .ok()
            .and_then(|s| s.is_none().then_some(()))
    })
    .await;
    assert_eq!(counts(&sandbox), (0, 0), "no load balancer left");
    assert!(!sandbox.controllers_stopped());
    assert_within_policy(&sandbox);
    assert_no_denials(&sandbox);
    sandbox.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// Every ENI secondary address in the mock cloud, by the instance its interface is attached
/// to.
fn secondary_addresses(sandbox: &Sandbox) -> BTreeMap<Ipv4Addr, String> {
    sandbox.cloud.with_cloud(|c| {
        let mut out = BTreeMap::new();
        for eni in c.ec2.network_interfaces.values() {
            let Some(att) = &eni.attachment else {
                continue;
            };
            for ip in eni.private_ips.iter().filter(|ip| !ip.primary) {
                out.insert(ip.address, att.instance_id.clone());
            }
        }
        out
    })
}

/// The instance of each node.
fn instances(sandbox: &Sandbox) -> BTreeMap<String, String> {
    sandbox
        .nodes
        .iter()
        .map(|n| {
            let id = n.provider_id.rsplit('/').next().unwrap_or_default();
            (n.name.clone(), id.to_string())
        })
        .collect()
}

/// Every running pod holds its own address, and that address is a secondary address of an
/// ENI attached to the pod's node in the mock cloud. Returns the pods per node.
fn check_addresses(sandbox: &Sandbox, pods: &[(Ipv4Addr, String)]) -> BTreeMap<String, usize> {
    let cloud = secondary_addresses(sandbox);
    let instance_of = instances(sandbox);
    let mut seen = BTreeSet::new();
    let mut per_node = BTreeMap::new();
    for (ip, node) in pods {
        assert!(seen.insert(*ip), "{ip} is given to two pods: {pods:?}");
        let on = cloud.get(ip).unwrap_or_else(|| {
            panic!("{ip} (a pod on {node}) is no ENI secondary address in the mock cloud")
        });
        assert_eq!(
            Some(on),
            instance_of.get(node),
            "{ip} is on {on}'s ENI, but its pod runs on {node}"
        );
        *per_node.entry(node.clone()).or_insert(0) += 1;
    }
    per_node
}

async fn set_replicas(client: &kube::Client, replicas: i32) {
    Api::<Deployment>::namespaced(client.clone(), "default")
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await
        .expect("scaled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_get_their_nodes_eni_addresses_through_ipamd_and_give_them_back() {
    let dir = temp_dir("vpc");
    let sandbox = Sandbox::start(&under_chart_rbac(&dir))
        .await
        .expect("the sandbox starts");
    let client = sandbox.client().clone();
    let ipamd = sandbox
        .ipamd
        .clone()
        .expect("vpc mode runs an ipamd per node");

    // Three pods, then 30: more than one interface's worth per node, so the allocator
    // attaches interfaces while pods wait, and each address still is given once.
    deploy_web(&client, 3).await;
    for replicas in [3, 30] {
        set_replicas(&client, replicas).await;
        let pods = eventually(&format!("{replicas} pods running"), || async {
            let pods = pods_on(&client).await;
            (pods.len() == replicas as usize).then_some(pods)
        })
        .await;
        let per_node = check_addresses(&sandbox, &pods);
        for (node, n) in &per_node {
            let status = ipamd.status(node).await.expect("ipamd status");
            assert_eq!(status.assigned as usize, *n, "ipamd on {node}");
        }
    }

    // 58 pods fit the two nodes' max-pods (29 each), but an m5.large has 27 pod addresses
    // (3 ENIs x 9 secondaries): 54 run, and the other 4 wait with the kubelet's Event.
    set_replicas(&client, 58).await;
    let pods = eventually("54 pods running", || async {
        let pods = pods_on(&client).await;
        (pods.len() == 54).then_some(pods)
    })
    .await;
    let per_node = check_addresses(&sandbox, &pods);
    assert!(per_node.values().all(|n| *n == 27), "{per_node:?}");
    let pod_list = Api::<Pod>::namespaced(client.clone(), "default");
    let waiting = eventually(
        "the 4 waiting pods each with the kubelet's Event",
        || async {
            let waiting: BTreeSet<String> = pod_list
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_none())
                .filter_map(|p| p.metadata.name)
                .collect();
            let events =
                Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), "default")
                    .list(&ListParams::default())
                    .await
                    .ok()?;
            let told: BTreeSet<String> = events
                .items
                .into_iter()
                .filter(|e| {
                    e.reason.as_deref() == Some("FailedCreatePodSandBox")
                        && e.message
                            .as_deref()
                            .is_some_and(|m| m.contains("no free address in the pool"))
                })
                .filter_map(|e| e.involved_object.name)
                .collect();
            (waiting.len() == 4 && waiting.is_subset(&told)).then_some(waiting)
        },
    )
    .await;
    // Scaling down frees 24 addresses. A waiting pod that stays can only have one of them
    // (every node is at its 3 ENIs x 9), and only once it has cooled down
    // (IP_COOLDOWN_PERIOD, 30 s): no address goes to a new pod while a stale route may
    // still point at it.
    let scaled_down = std::time::Instant::now();
    set_replicas(&client, 30).await;
    eventually("back to 30 pods", || async {
        let pods = pods_on(&client).await;
        (pods.len() == 30).then_some(())
    })
    .await;
    let stayed: Vec<String> = pod_list
        .list(&ListParams::default())
        .await
        .expect("pods")
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .filter(|n| waiting.contains(n))
        .collect();
    if !stayed.is_empty() {
        assert!(
            scaled_down.elapsed() >= Duration::from_secs(25),
            "{stayed:?} got an address {:?} after the scale-down, inside the cooldown",
            scaled_down.elapsed()
        );
    }

    // A host-network pod shares its node's address and takes none from the pool.
    let node = &sandbox.nodes[0];
    let host_pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "agent", "namespace": "default"},
        "spec": {"nodeName": node.name, "hostNetwork": true,
                 "containers": [{"name": "agent", "image": "busybox"}]}
    }))
    .expect("pod");
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods_api
        .create(&PostParams::default(), &host_pod)
        .await
        .expect("host-network pod");
    let assigned = ipamd.status(&node.name).await.expect("status").assigned;
    let ip = eventually("the host-network pod running", || async {
        let s = pods_api.get("agent").await.ok()?.status?;
        (s.phase.as_deref() == Some("Running")).then_some(s.pod_ip?)
    })
    .await;
    assert_eq!(ip, node.internal_ip);
    assert_eq!(
        ipamd.status(&node.name).await.expect("status").assigned,
        assigned
    );

    assert!(sandbox.wait_settled(WAIT).await, "settles");
    let summary = sandbox.summary().await.expect("summary");
    let in_use: usize = summary
        .node_networks
        .iter()
        .map(|row| row[3].parse::<usize>().expect("a count"))
        .sum();
    assert_eq!(
        in_use, 30,
        "the NodeNetworks count the pods' addresses: {summary}"
    );

    // Deleting the pods returns their addresses to the pools: nothing is assigned, what
    // was assigned cools down before it is handed out again, and the API shows 0 in use.
    let deleted = std::time::Instant::now();
    Api::<Deployment>::namespaced(client.clone(), "default")
        .delete("web", &DeleteParams::default())
        .await
        .expect("deployment deleted");
    let cooling = eventually("every address back in its pool", || async {
        let mut cooling = 0;
        for node in instances(&sandbox).keys() {
            let status = ipamd.status(node).await.ok()?;
            if status.assigned != 0 {
                return None;
            }
            cooling += status.cooling;
        }
        (pods_on(&client).await.is_empty()).then_some(cooling)
    })
    .await;
    // IP_COOLDOWN_PERIOD is 30 s: until then the 30 just released are cooling (with those
    // the scale-down from 58 released, if that was less than 30 s ago).
    if deleted.elapsed() < Duration::from_secs(25) {
        assert!(
            (30..=54).contains(&cooling),
            "the 30 released addresses cool down: {cooling} cooling"
        );
    }
    eventually("spec.inUse back to 0", || async {
        let summary = sandbox.summary().await.ok()?;
        summary
            .node_networks
            .iter()
            .all(|row| row[3] == "0")
            .then_some(())
    })
    .await;
    assert!(!sandbox.controllers_stopped());
    assert_within_policy(&sandbox);
    assert_no_denials(&sandbox);
    sandbox.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}
