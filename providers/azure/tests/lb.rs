//! Standard Load Balancers for Services against the mock cloud's ARM port.

mod common;
#[path = "support/lb_world.rs"]
mod lb_world;

use std::sync::Arc;

use cloudnet_azure::AzureLoadBalancers;
use cloudnet_azure::client::network_client;
use cloudnet_core::{ErrorKind, LoadBalancerKind, LoadBalancers, Scheme, Target};
use common::{service, wide_budget};
use lb_world::{LbWorld, listed};

/// Load balancers and public IPs named `k8s-...` in the resource group, as ARM lists them.
async fn leftovers(
    client: &azure_mgmt_network::Client,
    cfg: &cloudnet_azure::AzureConfig,
) -> usize {
    let ours = |name: &Option<String>| name.as_deref().is_some_and(|x| x.starts_with("k8s-"));
    let (rg, sub) = (&cfg.resource_group, &cfg.subscription);
    let lbs = client.load_balancers_client().list(rg, sub).into_stream();
    let pips = client.public_ip_addresses_client().list(rg, sub);
    let lbs = listed(lbs, |p| {
        p.value.iter().filter(|l| ours(&l.resource.name)).count()
    });
    let pips = listed(pips.into_stream(), |p| {
        p.value.iter().filter(|i| ours(&i.resource.name)).count()
    });
    lbs.await + pips.await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_load_balancer_is_ensured_once_synced_and_deleted_whole() {
    let w = LbWorld::new().await;
    let (cfg, client, policy, lbs) = (&w.cfg, &w.client, &w.policy, &w.lbs);
    for scheme in [Scheme::InternetFacing, Scheme::Internal] {
        let spec = service(
            if scheme == Scheme::Internal {
                "dns-int"
            } else {
                "web"
            },
            scheme,
        );
        let expected = if scheme == Scheme::Internal { 1 } else { 2 };
        let before = policy.counts.mutating();
        let calls_before = policy.counts.total();
        let status = lbs.ensure(&spec).await.unwrap();
        let created = policy.counts.mutating() - before;
        // The minimum is one read and one write per resource (public IP, load balancer); the
        // client library adds an operation poll and a final GET after each write.
        let writes = expected;
        let minimum = 2 * writes;
        let calls = policy.counts.total() - calls_before;
        println!(
            "{scheme:?} create: {calls} calls, minimum {minimum}, {:?}",
            policy.counts.snapshot()
        );
        // The first ensure also reads the node subnet, once per process, for its NSG (this
        // world has none: no rule is kept).
        let discovery = u64::from(scheme == Scheme::InternetFacing);
        assert_eq!(calls, minimum + 2 * writes + discovery);
        let expected = if scheme == Scheme::Internal { 1 } else { 2 };
        assert_eq!(
            created, expected,
            "{scheme:?}: the public IP (when public) and one load balancer PUT"
        );
        assert_eq!(status.ips.len(), 1, "{status:?}");
        assert_eq!(status.groups.len(), 2);
        if scheme == Scheme::Internal {
            assert!(
                status.ips[0].to_string().starts_with("10.224."),
                "{:?}",
                status.ips
            );
        }

        // Second ensure: reads only.
        let before = policy.counts.mutating();
        let again = lbs.ensure(&spec).await.unwrap();
        assert_eq!(
            policy.counts.mutating() - before,
            0,
            "{:?}",
            policy.counts.snapshot()
        );
        assert_eq!(again.id, status.id);

        // Members: one PUT, then none for the same set; ensure keeps them.
        let g = &spec.groups[0].key;
        let targets = [
            Target {
                ip: "10.224.0.40".parse().unwrap(),
                port: 8080,
            },
            Target {
                ip: "10.224.0.41".parse().unwrap(),
                port: 8080,
            },
        ];
        let before = policy.counts.mutating();
        let sync = lbs.sync_targets(&status.id, g, &targets).await.unwrap();
        assert_eq!((sync.registered, sync.deregistered), (2, 0));
        assert_eq!(sync.health.len(), 2);
        let sync = lbs.sync_targets(&status.id, g, &targets).await.unwrap();
        assert_eq!((sync.registered, sync.deregistered), (0, 0));
        assert_eq!(policy.counts.mutating() - before, 1);
        let kept = lbs.ensure(&spec).await.unwrap();
        assert_eq!(kept.groups[0].targets.len(), 2);
        assert_eq!(
            policy.counts.mutating() - before,
            1,
            "ensure leaves the members alone"
        );
        assert_eq!(
            lbs.target_health(&kept.groups[0].id).await.unwrap().len(),
            2
        );

        // A changed spec: one PUT.
        let mut changed = spec.clone();
        changed.listeners.pop();
        changed.groups.pop();
        let before = policy.counts.mutating();
        let after = lbs.ensure(&changed).await.unwrap();
        assert_eq!(policy.counts.mutating() - before, 1);
        assert_eq!(after.groups.len(), 1);
    }
    assert_eq!(
        policy
            .counts
            .of("Microsoft.Network/virtualNetworks/subnets/read"),
        1
    );
    assert_eq!(
        policy
            .counts
            .of("Microsoft.Network/networkSecurityGroups/read"),
        0
    );
    let owned = lbs.list_owned().await.unwrap();
    assert_eq!(owned.len(), 2);
    assert_eq!(
        leftovers(client, cfg).await,
        3,
        "two load balancers and one public IP"
    );
    for o in &owned {
        lbs.delete(&o.id).await.unwrap();
        lbs.delete(&o.id).await.unwrap();
    }
    assert!(lbs.list_owned().await.unwrap().is_empty());
    assert_eq!(
        leftovers(client, cfg).await,
        0,
        "no load balancer or public IP left"
    );
}

#[tokio::test]
async fn tcp_on_a_gateway_and_foreign_load_balancers_are_refused() {
    let w = LbWorld::new().await;
    let (cfg, policy, lbs) = (&w.cfg, &w.policy, &w.lbs);
    // An Application Gateway listens on HTTP(S) only.
    let mut l7 = service("web", Scheme::InternetFacing);
    l7.kind = LoadBalancerKind::Application;
    assert_eq!(
        lbs.ensure(&l7).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    // The same name owned by another Service of another cluster is not taken over.
    let mine = service("web", Scheme::Internal);
    lbs.ensure(&mine).await.unwrap();
    let mut other = cfg.as_ref().clone();
    other.cluster = "other".into();
    let (client2, _) = network_client(&other, wide_budget()).unwrap();
    let theirs = AzureLoadBalancers::new(client2, Arc::new(other));
    let status = lbs.ensure(&mine).await.unwrap();
    assert_eq!(
        theirs.delete(&status.id).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        policy.counts.of("Microsoft.Network/loadBalancers/delete"),
        0
    );
}

#[tokio::test]
async fn service_annotations_shape_the_frontend_probes_and_rules() {
    use cloudnet_azure::lb::attributes;
    let w = LbWorld::new().await;
    let (cfg, client, policy, lbs) = (&w.cfg, &w.client, &w.policy, &w.lbs);
    let mut spec = service("api", Scheme::Internal);
    for (k, v) in [
        (attributes::PROBE_REQUEST_PATH, "/healthz"),
        (attributes::TCP_IDLE_TIMEOUT, "30"),
    ] {
        spec.attributes.insert(k.into(), v.into());
    }
    lbs.ensure(&spec).await.unwrap();
    let lb = client
        .load_balancers_client()
        .get(
            &cfg.resource_group,
            lbs.name(&spec.owner),
            &cfg.subscription,
        )
        .await
        .unwrap();
    let p = lb.properties.unwrap();
    let probe = p.probes[0].properties.as_ref().unwrap();
    assert_eq!(format!("{:?}", probe.protocol), "Http");
    assert_eq!(probe.request_path.as_deref(), Some("/healthz"));
    let rule = p.load_balancing_rules[0].properties.as_ref().unwrap();
    assert_eq!(rule.idle_timeout_in_minutes, Some(30));

    // Bad values are refused before any write.
    let writes = policy.counts.mutating();
    for (k, v) in [
        (attributes::TCP_IDLE_TIMEOUT, "1"),
        (attributes::PROBE_PROTOCOL, "icmp"),
    ] {
        let mut bad = spec.clone();
        bad.attributes.insert(k.into(), v.into());
        let e = lbs.ensure(&bad).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{k}");
    }
    assert_eq!(policy.counts.mutating(), writes);
    // A subnet that does not exist: ARM's InvalidResourceReference, nothing created.
    let mut elsewhere = service("other", Scheme::Internal);
    elsewhere
        .attributes
        .insert(attributes::INTERNAL_SUBNET.into(), "no-such-subnet".into());
    let e = lbs.ensure(&elsewhere).await.unwrap_err();
    assert_eq!(e.code(), "InvalidResourceReference", "{e}");
    assert_eq!(lbs.list_owned().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_named_public_ip_is_used_and_a_users_one_is_never_changed_or_deleted() {
    use azure_mgmt_network::models::{
        IpAllocationMethod, PublicIpAddress, PublicIpAddressPropertiesFormat, PublicIpAddressSku,
        Resource, public_ip_address_sku,
    };
    use cloudnet_azure::lb::attributes;
    let w = LbWorld::new().await;
    let (cfg, client, policy, lbs) = (&w.cfg, &w.client, &w.policy, &w.lbs);
    // The user's own static IP.
    let user_ip = client
        .public_ip_addresses_client()
        .create_or_update(
            &cfg.resource_group,
            "shop-static-ip",
            PublicIpAddress {
                resource: Resource {
                    location: Some(cfg.location.clone()),
                    ..Default::default()
                },
                sku: Some(PublicIpAddressSku {
                    name: Some(public_ip_address_sku::Name::Standard),
                    tier: None,
                }),
                properties: Some(Box::new(PublicIpAddressPropertiesFormat {
                    public_ip_allocation_method: Some(IpAllocationMethod::Static),
                    ..Default::default()
                })),
                ..Default::default()
            },
            &cfg.subscription,
        )
        .await
        .unwrap();
    let mut spec = service("web", Scheme::InternetFacing);
    spec.attributes
        .insert(attributes::PIP_NAME.into(), "shop-static-ip".into());
    let writes = policy
        .counts
        .of("Microsoft.Network/publicIPAddresses/write");
    let status = lbs.ensure(&spec).await.unwrap();
    assert_eq!(
        policy
            .counts
            .of("Microsoft.Network/publicIPAddresses/write"),
        writes,
        "the user's IP is not written"
    );
    let user_addr: std::net::IpAddr = user_ip
        .properties
        .unwrap()
        .ip_address
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(status.ips, vec![user_addr]);
    lbs.delete(&status.id).await.unwrap();
    assert!(
        client
            .public_ip_addresses_client()
            .get(&cfg.resource_group, "shop-static-ip", &cfg.subscription)
            .await
            .is_ok(),
        "the user's IP stays"
    );

    // A DNS label on the suite's own IP: set at creation, changed in place, deleted with it.
    let mut spec = service("blog", Scheme::InternetFacing);
    spec.attributes
        .insert(attributes::DNS_LABEL_NAME.into(), "blog-demo".into());
    let status = lbs.ensure(&spec).await.unwrap();
    let pip = format!("{}-pip", lbs.name(&spec.owner));
    assert_eq!(
        dns_label(client, cfg, &pip).await.as_deref(),
        Some("blog-demo")
    );
    let before = policy.counts.mutating();
    lbs.ensure(&spec).await.unwrap();
    assert_eq!(policy.counts.mutating(), before);
    spec.attributes
        .insert(attributes::DNS_LABEL_NAME.into(), "blog-two".into());
    lbs.ensure(&spec).await.unwrap();
    assert_eq!(policy.counts.mutating(), before + 1, "one public IP PUT");
    assert_eq!(
        dns_label(client, cfg, &pip).await.as_deref(),
        Some("blog-two")
    );
    lbs.delete(&status.id).await.unwrap();
    assert!(
        client
            .public_ip_addresses_client()
            .get(&cfg.resource_group, pip, &cfg.subscription)
            .await
            .is_err()
    );
}

async fn dns_label(
    client: &azure_mgmt_network::Client,
    cfg: &cloudnet_azure::AzureConfig,
    pip: &str,
) -> Option<String> {
    client
        .public_ip_addresses_client()
        .get(&cfg.resource_group, pip, &cfg.subscription)
        .await
        .unwrap()
        .properties
        .unwrap()
        .dns_settings
        .and_then(|d| d.domain_name_label)
}
