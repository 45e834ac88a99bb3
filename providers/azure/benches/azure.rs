//! The Azure backend against the mock cloud's ARM port: 200 nodes joining at once (route
//! table PUTs, time), a Service load balancer's and an Ingress's Application Gateway's first
//! and second ensure (calls against the minimum), and the gateway's pod IPs synced in one
//! batch. Prints the numbers; exits non-zero when an invariant breaks (more table PUTs than
//! windows the arrivals span plus one, any write on a second ensure or on a sync with nothing
//! to change, more than one gateway PUT for a batch of pod IPs).
//!
//! `cargo bench -p cloudnet-azure --bench azure`

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudnet_azure::client::network_client;
use cloudnet_azure::{AzureLoadBalancers, AzureRoutes};
use cloudnet_core::{
    Action, BackendGroup, HealthCheck, IpAddressType, Listener, LoadBalancerId, LoadBalancerKind,
    LoadBalancerSpec, LoadBalancers, Owner, OwnerKind, Protocol, Route, RouteState, RouteTarget,
    Routes, Scheme, Subnets, Target, TargetKind, WeightedGroup,
};

const NODES: usize = 200;

async fn routes(window: Duration) -> Result<(), String> {
    let h = common::start(|w| w.scale_sets[0].capacity = NODES as u64).await;
    let mut cfg = common::config(&h).await;
    cfg.route_batch_window = window;
    let cfg = Arc::new(cfg);
    let (client, policy) =
        network_client(&cfg, common::wide_budget()).map_err(|e| e.to_string())?;
    let routes = AzureRoutes::new(client, cfg.clone());
    let started = Instant::now();
    let joins = (0..NODES).map(|i| {
        let routes = routes.clone();
        let r = Route {
            table: cfg.route_table_id(),
            destination: format!("10.244.{i}.0/24").parse().expect("cidr"),
            target: RouteTarget::Instance(common::instance_id(&cfg, i)),
            node: Some(format!("node-{i}")),
            state: RouteState::Active,
            owned: true,
        };
        tokio::spawn(async move { routes.create(&r).await })
    });
    for j in futures::future::join_all(joins).await {
        j.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
    }
    let took = started.elapsed();
    let puts = policy.counts.of("Microsoft.Network/routeTables/write");
    println!(
        "routes: {NODES} nodes joining at once (batch window {:?}): {puts} route table PUT(s), {} calls in all, {took:?}",
        cfg.route_batch_window,
        policy.counts.total()
    );
    // Changes arriving within one window share a PUT: at most one PUT per window the
    // arrivals (spread by each node's NIC read) span, and one more for stragglers.
    let bound = (took.as_secs_f64() / window.as_secs_f64()).ceil() as u64 + 1;
    if puts > bound {
        return Err(format!(
            "{puts} table PUTs for {NODES} nodes joining at once (bound {bound})"
        ));
    }
    Ok(())
}

fn service() -> LoadBalancerSpec {
    let key = |p: u16| format!("shop/web:{p}");
    LoadBalancerSpec {
        owner: Owner::namespaced("demo", OwnerKind::Service, "shop", "web"),
        kind: LoadBalancerKind::Network,
        scheme: Scheme::InternetFacing,
        ip_address_type: IpAddressType::Ipv4,
        listeners: [80u16, 443]
            .iter()
            .map(|p| Listener {
                port: *p,
                protocol: Protocol::Tcp,
                certificates: vec![],
                ssl_policy: None,
                default_action: Action::Forward {
                    groups: vec![WeightedGroup {
                        group: key(*p),
                        weight: 1,
                    }],
                },
                rules: vec![],
            })
            .collect(),
        groups: [80u16, 443]
            .iter()
            .map(|p| BackendGroup {
                key: key(*p),
                protocol: Protocol::Tcp,
                port: 8000 + p,
                target_kind: TargetKind::PodIp,
                health_check: HealthCheck::defaults_for(Protocol::Tcp),
                attributes: BTreeMap::new(),
            })
            .collect(),
        attributes: BTreeMap::new(),
        subnets: Subnets::Discover,
        security_groups: vec![],
        source_ranges: vec![],
        tags: BTreeMap::new(),
    }
}

/// Two ensures of `spec`: the first creates (a read and a write per resource at the least:
/// public IP and load balancer or gateway), the second must write nothing.
async fn ensure(label: &str, spec: LoadBalancerSpec) -> Result<(), String> {
    let h = common::start(|_| {}).await;
    let cfg = Arc::new(common::config(&h).await);
    let (client, policy) =
        network_client(&cfg, common::wide_budget()).map_err(|e| e.to_string())?;
    let l7 = spec.kind == LoadBalancerKind::Application;
    if l7 {
        common::gateway_subnet(&client, &cfg).await;
    }
    let lbs = AzureLoadBalancers::new(client, cfg);
    let report = |pass: &str, took: Duration, calls: u64, writes: u64, minimum: u64| {
        println!(
            "ensure {label} ({pass}): {calls} calls (minimum {minimum}), {writes} writes, {took:?}"
        );
    };
    let (c0, w0, t0) = (
        policy.counts.total(),
        policy.counts.mutating(),
        Instant::now(),
    );
    let status = lbs.ensure(&spec).await.map_err(|e| e.to_string())?;
    report(
        "first",
        t0.elapsed(),
        policy.counts.total() - c0,
        policy.counts.mutating() - w0,
        4,
    );
    let (c1, w1, t1) = (
        policy.counts.total(),
        policy.counts.mutating(),
        Instant::now(),
    );
    lbs.ensure(&spec).await.map_err(|e| e.to_string())?;
    let writes = policy.counts.mutating() - w1;
    report(
        "second",
        t1.elapsed(),
        policy.counts.total() - c1,
        writes,
        2,
    );
    if writes != 0 {
        return Err(format!("{writes} writes on the second ensure of {label}"));
    }
    if l7 {
        sync_gateway_pool(&lbs, &policy, &status.id, &spec.groups[0].key).await?;
    }
    Ok(())
}

/// 100 pod IPs into a gateway pool at once, then the same again.
async fn sync_gateway_pool(
    lbs: &AzureLoadBalancers,
    policy: &cloudnet_azure::CallPolicy,
    id: &LoadBalancerId,
    group: &str,
) -> Result<(), String> {
    let targets: Vec<Target> = (0..100u8)
        .map(|i| Target {
            ip: std::net::IpAddr::from([10, 244, 1, i]),
            port: 8080,
        })
        .collect();
    for pass in ["first", "second"] {
        let (c, w, t) = (
            policy.counts.total(),
            policy.counts.mutating(),
            Instant::now(),
        );
        let sync = lbs
            .sync_targets(id, group, &targets)
            .await
            .map_err(|e| e.to_string())?;
        let writes = policy.counts.mutating() - w;
        println!(
            "sync_targets gateway pool, 100 pod IPs ({pass}): {} calls (minimum {}), {writes} writes, {} registered, {:?}",
            policy.counts.total() - c,
            if pass == "first" { 2 } else { 1 },
            sync.registered,
            t.elapsed()
        );
        let want = u64::from(pass == "first");
        if writes != want {
            return Err(format!(
                "{writes} gateway writes for the {pass} sync (want {want})"
            ));
        }
    }
    Ok(())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let out = rt.block_on(async {
        routes(Duration::from_secs(2)).await?;
        routes(Duration::from_millis(500)).await?;
        ensure("Service load balancer", service()).await?;
        ensure("Ingress application gateway", common::ingress("web")).await
    });
    if let Err(e) = out {
        eprintln!("invariant broken: {e}");
        std::process::exit(1);
    }
}
