//! The controller's repertoire through the provider under deploy/iam/gcp's custom role, as
//! the mock cloud enforces it: node alias ranges (assign, release), routes (create, replace,
//! delete), an external and an internal L4 stack with node targets, an L7 stack (HTTP and
//! HTTPS with a pre-shared and an uploaded certificate, NEGs with pod endpoints attached and
//! detached, a drifted URL map and firewall rule written back), all deleted. Compute Engine must
//! refuse nothing, and every permission the role grants must have been used, except the
//! few listed below with the reason no scenario here reaches them. A role without one of
//! the permissions is refused with Compute Engine's 403 `forbidden`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use cloudnet_core::{
    Addresses, AssignBlocks, BlockKind, InterfaceId, LoadBalancers, NodeRef, Route, RouteState,
    RouteTarget, Routes, Scheme, Target,
};
use cloudnet_gcp::{CredentialsChoice, GcpLoadBalancers, GcpProvider};
use cloudnet_mockcloud::Handle;
use cloudnet_mockcloud::faults::{FaultKind, FaultRule, Trigger};
use cloudnet_mockcloud::grants::{GrantSpec, Granted, RoleSource, unused};

mod common;
#[path = "support/lb_specs.rs"]
mod lb_specs;

const CONTROLLER_SA: &str = "cloudnet-controller@cloudnet-sandbox.iam.gserviceaccount.com";
const ROLE: &str = "cloudnet-controller";

/// Granted permissions no scenario here calls, each with the reason.
const UNUSED_ALLOWED: &[(&str, &str)] = &[
    (
        "compute.globalAddresses.get",
        "only for an Ingress naming a reserved address (kubernetes.io/ingress.global-static-ip-name)",
    ),
    (
        "compute.globalAddresses.use",
        "the same: a forwarding rule on a reserved address",
    ),
    (
        "compute.healthChecks.update",
        "only when an L7 health check drifts or its BackendConfig changes",
    ),
    (
        "compute.regionHealthChecks.update",
        "only when an L4 health check drifts or its annotations change",
    ),
    (
        "compute.targetHttpProxies.setUrlMap",
        "only when someone points our HTTP proxy at another URL map",
    ),
    (
        "compute.targetHttpsProxies.setUrlMap",
        "only when someone points our HTTPS proxy at another URL map",
    ),
    (
        "compute.targetHttpsProxies.setSslCertificates",
        "only when an Ingress's certificates change",
    ),
    (
        "compute.globalForwardingRules.setTarget",
        "only when someone points our forwarding rule at another proxy",
    ),
];

fn role_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/iam/gcp/controller-role.yaml")
}

/// The built-in GKE-like world with room for pods on both nodes; node 1 runs as the
/// controller's service account (the Workload Identity one), which the role is bound to.
async fn start(role: RoleSource) -> Handle {
    let mut gcp = common::with_pod_ranges();
    gcp.instances[0].service_account = Some(CONTROLLER_SA.into());
    gcp.iam = Some(GrantSpec {
        roles: BTreeMap::from([(ROLE.to_string(), role)]),
        bindings: BTreeMap::from([(CONTROLLER_SA.to_string(), ROLE.to_string())]),
        base_dir: None,
    });
    common::start_gcp(gcp).await
}

/// The provider as the controller's service account: its token from node 1's metadata server.
async fn provider(h: &Handle) -> GcpProvider {
    let mut c = common::config(h, "prod");
    c.metadata_endpoint = Some(format!(
        "{}/_mockcloud/gce-metadata/us-central1-a/gke-cloudnet-node-1",
        h.endpoint_url()
    ));
    c.credentials = CredentialsChoice::MetadataServer;
    GcpProvider::connect(c).await.expect("provider connects")
}

fn node(name: &str, zone: &str) -> NodeRef {
    NodeRef {
        name: name.into(),
        instance_id: name.into(),
        zone: Some(zone.into()),
    }
}

fn pod_route(dest: &str, instance: &str) -> Route {
    Route {
        table: "cloudnet".into(),
        destination: dest.parse().expect("cidr"),
        target: RouteTarget::Instance(instance.into()),
        node: Some(instance.into()),
        state: RouteState::Active,
        owned: true,
    }
}

/// The certificate the HTTPS listener names, made by someone else (no permission check).
fn certificate(h: &Handle) {
    let cert = cloudnet_mockcloud::gcp::self_managed_certificate("shop-cert").expect("a key pair");
    common::mock_post(h, &["global", "sslCertificates"], cert);
}

/// Operations that stay RUNNING once per scope, so each kind is polled.
fn slow_operations(h: &Handle) {
    for method in [
        "routes.insert",
        "instances.updateNetworkInterface",
        "regionBackendServices.insert",
    ] {
        h.with_cloud(|c| {
            c.faults.add(FaultRule {
                service: "compute".into(),
                action: method.into(),
                kind: FaultKind::OperationRunning { ms: 60 },
                trigger: Trigger::Once,
            })
        });
    }
}

async fn repertoire(h: &Handle) {
    slow_operations(h);
    let p = provider(h).await;
    // Node alias ranges: a block on each node, one released.
    let assign = AssignBlocks {
        interface: InterfaceId("nic0".into()),
        kind: BlockKind::AliasRange,
        count: 1,
        prefix_len: None,
    };
    let n2 = node("gke-cloudnet-node-2", "us-central1-b");
    p.describe_node(&n2).await.expect("describe");
    let got = p.assign_blocks(&n2, &assign).await.expect("assign");
    p.assign_blocks(&n2, &assign).await.expect("assign again");
    p.release_blocks(&n2, &InterfaceId("nic0".into()), &[got[0].cidr])
        .await
        .expect("release");

    // Routes: create, move to the other node (delete + insert), list, delete.
    let routes = &p;
    let r = pod_route("10.100.1.0/24", "gke-cloudnet-node-1");
    routes.create(&r).await.expect("create route");
    let moved = pod_route("10.100.1.0/24", "gke-cloudnet-node-2");
    routes.create(&moved).await.expect("replace route");
    routes.list().await.expect("list routes");
    routes.delete(&moved).await.expect("delete route");

    // Load balancers: L4 external and internal with node targets, L7 with pod NEGs.
    let lb = GcpLoadBalancers::new(p.clone()).await.expect("clients");
    for (name, scheme) in [
        ("dns", Scheme::InternetFacing),
        ("dns-int", Scheme::Internal),
    ] {
        let spec = lb_specs::service("prod", name, scheme);
        let status = lb.ensure(&spec).await.expect("ensure L4");
        let nodes: Vec<Target> = ["10.0.0.2", "10.0.0.3"]
            .iter()
            .map(|ip| Target {
                ip: ip.parse().expect("ip"),
                port: 30053,
            })
            .collect();
        let key = format!("shop/{name}:53u");
        lb.sync_targets(&status.id, &key, &nodes)
            .await
            .expect("L4 targets");
        lb.sync_targets(&status.id, &key, &nodes[..1])
            .await
            .expect("L4 one target fewer");
        LoadBalancers::delete(&lb, &status.id)
            .await
            .expect("delete L4");
    }
    certificate(h);
    let mut spec = lb_specs::ingress("prod", "web");
    // A TLS Secret's certificate beside the pre-shared one: uploaded, and deleted with the
    // stack.
    let (certificate, private_key) =
        cloudnet_mockcloud::gcp::key_pair(&["shop.example.com"]).expect("a key pair");
    let material = cloudnet_core::CertificateMaterial {
        source: "shop/web-tls".into(),
        certificate,
        private_key,
    };
    for l in spec.listeners.iter_mut().filter(|l| l.port == 443) {
        l.certificates
            .push(cloudnet_core::CertificateRef::Material(material.clone()));
    }
    let status = lb.ensure(&spec).await.expect("ensure L7");
    // Someone repoints a URL map: read back under its fingerprint and written whole.
    let planned = lb.plan(&spec).await.expect("plan").stack;
    let api = planned.service_of("shop/api:80").expect("api").name.clone();
    common::repoint_url_map(h, &planned.url_maps[0].name, &api);
    // ... and narrows the firewall rule: written back whole (`firewalls.update`).
    common::mock_call(
        h,
        "PATCH",
        &["global", "firewalls", &planned.firewalls[0].name],
        serde_json::json!({"sourceRanges": ["35.191.0.0/16"]}),
    );
    lb.ensure(&spec).await.expect("ensure repairs the drift");
    let pods: Vec<Target> = (0..4u32)
        .map(|i| Target {
            ip: IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 4, 0, 2)) + i)),
            port: 8080,
        })
        .collect();
    lb.sync_targets(&status.id, "shop/web:80", &pods)
        .await
        .expect("attach pods");
    lb.sync_targets(&status.id, "shop/web:80", &pods[..2])
        .await
        .expect("detach pods");
    lb.list_owned().await.expect("list owned");
    LoadBalancers::delete(&lb, &status.id)
        .await
        .expect("delete L7");
}

fn granted() -> BTreeSet<String> {
    let text = std::fs::read_to_string(role_file()).expect("role file");
    Granted::from_gcp_role(&text)
        .expect("a gcloud custom role")
        .allow
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repertoire_runs_within_the_role_and_uses_what_it_grants() {
    let h = start(RoleSource {
        file: Some(role_file()),
        ..RoleSource::default()
    })
    .await;
    repertoire(&h).await;
    let (refused, used) = h.with_cloud(|c| {
        (
            c.call_log.denied_by_caller().clone(),
            c.gcp
                .iam
                .as_ref()
                .and_then(|i| i.used().get(ROLE).cloned())
                .unwrap_or_default(),
        )
    });
    assert_eq!(refused, BTreeMap::new(), "calls refused by IAM");
    let granted = granted();
    let (surplus, stale) = unused(&granted, &used, UNUSED_ALLOWED);
    assert!(
        surplus.is_empty(),
        "granted by deploy/iam/gcp/controller-role.yaml but never called: {surplus:?}; used: {used:?}"
    );
    assert!(
        stale.is_empty(),
        "listed as unused but not granted or used after all: {stale:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_a_permission_is_refused_with_computes_403() {
    let text = std::fs::read_to_string(role_file()).expect("role file");
    let mut permissions = Granted::from_gcp_role(&text).expect("role").allow;
    permissions.retain(|p| p != "compute.instances.updateNetworkInterface");
    let h = start(RoleSource {
        permissions,
        ..RoleSource::default()
    })
    .await;
    let p = provider(&h).await;
    let assign = AssignBlocks {
        interface: InterfaceId("nic0".into()),
        kind: BlockKind::AliasRange,
        count: 1,
        prefix_len: None,
    };
    let e = p
        .assign_blocks(&node("gke-cloudnet-node-2", "us-central1-b"), &assign)
        .await
        .expect_err("refused");
    assert_eq!(e.code(), "forbidden", "{e}");
    assert!(
        e.to_string().contains(
            "Required 'compute.instances.updateNetworkInterface' permission for 'projects/cloudnet-sandbox/zones/us-central1-b/instances/gke-cloudnet-node-2'"
        ),
        "{e}"
    );
    let denied = h.with_cloud(|c| c.call_log.denied_by_caller().clone());
    assert_eq!(
        denied[CONTROLLER_SA]["compute:instances.updateNetworkInterface"], 1,
        "{denied:?}"
    );
}
