//! The backend against two independent clouds: every case below is one `async fn` over an
//! [`Env`] and runs against the mock cloud and against moto (`moto_server`, one per test
//! binary, from `cloudnet_tests::shared_moto`), so the mock cannot drift from an independent
//! implementation unnoticed. Cases moto cannot express (it deviates from AWS there) run on
//! the mock cloud only, with the reason next to them.
//!
//! Each case builds its own world through the SDK, the same way on both clouds: a VPC, four
//! subnets (public and private in two zones, role-tagged for load balancers), the nodes'
//! security group and two `m5.large` instances from `RunInstances`, and a cluster name of its
//! own, so cases share moto without seeing each other's resources.
//!
//! moto has no call counter, so calls are counted on the wire: the provider is built from an
//! `SdkConfig` whose HTTP client is wrapped by [`Counting`], which reads the `Action` of every
//! request the provider sends. "Zero mutating calls" is asserted on that count (everything
//! not `Describe*`), on both clouds.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_ec2::types::{Filter, InstanceType, ResourceType, Tag, TagSpecification};
use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider};
use cloudnet_core::ownership::{TAG_CLUSTER, TAG_CREATED_AT, TAG_NODE};
use cloudnet_core::{
    Addresses, AssignBlocks, BlockKind, BudgetConfig, HealthCheck, HealthState, InterfaceId,
    LoadBalancerKind, LoadBalancerSpec, LoadBalancers, NodeRef, Op, Owner, OwnerKind, Protocol,
    Rate, RouteState, RouteTarget, Routes, Target,
};
use cloudnet_tests::{CloudKind, contract};
use common::specs;
use common::wire::{Wire, WireCalls};
use common::{attach_req, create_interface, route, zone_names};

const ZONE_A: &str = "us-west-2a";
const ZONE_B: &str = "us-west-2b";
const VPC_CIDR: &str = "10.0.0.0/16";
const POD_CIDR: &str = "10.200.0.0/16";

// ---------------------------------------------------------------------------------------------
// Counting calls on the wire

/// Calls per action, as the provider sent them, counted on the wire.
#[derive(Debug, Clone, Default)]
struct Calls(Wire);

impl Calls {
    fn snapshot(&self) -> WireCalls {
        self.0.snapshot()
    }

    fn count(&self, action: &str) -> u64 {
        self.snapshot().sent.get(action).copied().unwrap_or(0)
    }

    /// Calls that change state made since `before` (every action but `Describe*`).
    fn mutating_since(&self, before: &WireCalls) -> BTreeMap<String, u64> {
        self.snapshot()
            .since(before)
            .sent
            .into_iter()
            .filter(|(action, _)| !action.starts_with("Describe"))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The world each case builds

/// What a case built on its cloud.
struct Net {
    vpc: String,
    private_a: String,
    private_a_cidr: String,
    nodes_sg: String,
    node1: String,
    node2: String,
}

struct Env {
    kind: CloudKind,
    cluster: String,
    ec2: aws_sdk_ec2::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    provider: AwsProvider,
    /// The provider's SDK config (counting) and config, for a second provider.
    counting: SdkConfig,
    config: AwsConfig,
    calls: Calls,
    net: Net,
}

fn fast_budget() -> BudgetConfig {
    let mut b = BudgetConfig::default();
    for op in Op::all() {
        b.rates.insert(op, Rate::new(1000.0, 1000));
    }
    b
}

fn unique_cluster() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "c{}x{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn tag_spec(kind: ResourceType, tags: &[(&str, &str)]) -> TagSpecification {
    let mut b = TagSpecification::builder().resource_type(kind);
    for (k, v) in tags {
        b = b.tags(tag(k, v));
    }
    b.build()
}

async fn subnet(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
    cidr: &str,
    zone: &str,
    tags: &[(&str, &str)],
) -> String {
    let tags = tag_spec(ResourceType::Subnet, tags);
    common::create_subnet(ec2, vpc, cidr, zone, Some(tags)).await
}

async fn build_net(ec2: &aws_sdk_ec2::Client, cluster: &str) -> Net {
    let vpc = common::create_vpc(ec2, VPC_CIDR).await;
    let k8s = format!("kubernetes.io/cluster/{cluster}");
    let public = [("kubernetes.io/role/elb", "1"), (k8s.as_str(), "shared")];
    let private = [
        ("kubernetes.io/role/internal-elb", "1"),
        (k8s.as_str(), "shared"),
    ];
    subnet(ec2, &vpc, "10.0.0.0/20", ZONE_A, &public).await;
    subnet(ec2, &vpc, "10.0.16.0/20", ZONE_B, &public).await;
    let private_a_cidr = "10.0.32.0/20".to_string();
    let private_a = subnet(ec2, &vpc, &private_a_cidr, ZONE_A, &private).await;
    subnet(ec2, &vpc, "10.0.48.0/20", ZONE_B, &private).await;
    let nodes_sg = ec2
        .create_security_group()
        .group_name(format!("{cluster}-nodes"))
        .description("cluster nodes")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    // Two m5.large nodes in the first private subnet.
    let launch = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(2)
        .max_count(2);
    let launch = launch
        .instance_type(InstanceType::M5Large)
        .subnet_id(&private_a);
    let out = launch.security_group_ids(&nodes_sg).send().await;
    let launched = out.expect("RunInstances").instances;
    let ids: Vec<String> = launched
        .into_iter()
        .flatten()
        .filter_map(|i| i.instance_id)
        .collect();
    assert_eq!(ids.len(), 2, "RunInstances launched two");
    Net {
        vpc,
        private_a,
        private_a_cidr,
        nodes_sg,
        node1: ids[0].clone(),
        node2: ids[1].clone(),
    }
}

/// The SDK config of the test clients, with the provider's copy counting its calls.
async fn counted(endpoint: &str, calls: &Calls) -> (SdkConfig, SdkConfig) {
    let sdk = cloudnet_tests::sdk_config(endpoint).await;
    let counting = calls.0.counting(&sdk);
    (sdk, counting)
}

impl Env {
    async fn start(kind: CloudKind, endpoint: &str) -> Env {
        let calls = Calls::default();
        let (sdk, counting) = counted(endpoint, &calls).await;
        let ec2 = aws_sdk_ec2::Client::new(&sdk);
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
        let cluster = unique_cluster();
        let net = build_net(&ec2, &cluster).await;
        let mut config = AwsConfig::new(&cluster);
        config.vpc_id = Some(net.vpc.clone());
        config.node_security_group = Some(net.nodes_sg.clone());
        config.pod_cidrs = vec![POD_CIDR.parse().unwrap()];
        config.budget = fast_budget();
        let provider =
            AwsProvider::from_sdk_config(&counting, config.clone(), AwsMetrics::default()).unwrap();
        Env {
            kind,
            cluster,
            ec2,
            elb,
            provider,
            counting,
            config,
            calls,
            net,
        }
    }

    /// Another provider for the same cluster and cloud, its config tuned (calls counted too).
    fn provider_with(&self, tune: impl FnOnce(&mut AwsConfig)) -> AwsProvider {
        let mut config = self.config.clone();
        tune(&mut config);
        AwsProvider::from_sdk_config(&self.counting, config, AwsMetrics::default()).unwrap()
    }

    fn is_moto(&self) -> bool {
        self.kind == CloudKind::Moto
    }

    fn node(&self, instance: &str) -> NodeRef {
        NodeRef {
            name: format!("node-{instance}"),
            instance_id: instance.into(),
            zone: Some(ZONE_A.into()),
        }
    }

    fn node1(&self) -> NodeRef {
        self.node(&self.net.node1)
    }

    /// ENIs tagged for this case's cluster.
    async fn cluster_enis(&self) -> Vec<aws_sdk_ec2::types::NetworkInterface> {
        common::cluster_enis(&self.ec2, &self.cluster).await
    }
}

impl cloudnet_tests::Fixture for Env {
    async fn build(cloud: cloudnet_tests::CloudUnderTest) -> Env {
        Env::start(cloud.kind, &cloud.endpoint).await
    }
}

// ---------------------------------------------------------------------------------------------
// Addresses

contract!(describe_node_reads_a_launched_instance);
async fn describe_node_reads_a_launched_instance(env: Env) {
    let n = env.provider.describe_node(&env.node1()).await.unwrap();
    assert_eq!(n.instance_type, "m5.large");
    assert_eq!(n.limits.max_interfaces, 3);
    assert_eq!(n.limits.max_blocks_per_interface, 10);
    assert_eq!(n.interfaces.len(), 1, "{:?}", n.interfaces);
    let primary = &n.interfaces[0];
    assert!(primary.is_primary());
    assert!(!primary.owned, "RunInstances' interface is not ours");
    assert_eq!(primary.subnet_id, env.net.private_a);
    assert_eq!(
        primary.subnet_cidr,
        Some(env.net.private_a_cidr.parse().unwrap())
    );
    let primary_ips: Vec<_> = primary.blocks.iter().filter(|b| b.primary).collect();
    assert_eq!(primary_ips.len(), 1, "{:?}", primary.blocks);
    let subnet: ipnet::IpNet = env.net.private_a_cidr.parse().unwrap();
    assert!(subnet.contains(&primary_ips[0].cidr.addr()));
    // Instance type limits are cached.
    env.provider.describe_node(&env.node1()).await.unwrap();
    assert_eq!(env.calls.count("DescribeInstanceTypes"), 1);
}

contract!(attach_tags_at_creation_attaches_and_sets_delete_on_termination);
async fn attach_tags_at_creation_attaches_and_sets_delete_on_termination(env: Env) {
    let node = env.node1();
    let i = env
        .provider
        .attach_interface(
            &node,
            &attach_req(&env.net.private_a, 2, BlockKind::SecondaryIp),
        )
        .await
        .unwrap();
    assert_eq!(i.index, 1);
    assert!(i.owned);
    assert_eq!(i.blocks.len(), 3, "primary + 2 secondary: {:?}", i.blocks);
    let enis = env.cluster_enis().await;
    assert_eq!(enis.len(), 1);
    let eni = &enis[0];
    assert_eq!(eni.network_interface_id(), Some(i.id.0.as_str()));
    let tags: BTreeMap<_, _> = eni
        .tag_set()
        .iter()
        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
        .collect();
    assert_eq!(tags[TAG_NODE], env.net.node1);
    assert!(tags[TAG_CREATED_AT].parse::<u64>().is_ok());
    assert_eq!(
        tags[&format!("kubernetes.io/cluster/{}", env.cluster)],
        "owned"
    );
    let att = eni.attachment().unwrap();
    assert_eq!(att.instance_id(), Some(env.net.node1.as_str()));
    assert_eq!(att.device_index(), Some(1));
    assert_eq!(env.calls.count("ModifyNetworkInterfaceAttribute"), 1);
    if !env.is_moto() {
        // moto ignores `Attachment.DeleteOnTermination` in ModifyNetworkInterfaceAttribute
        // (it keeps `false`), so the flag is read back from the mock cloud only.
        assert_eq!(att.delete_on_termination(), Some(true));
    }
    // The interface took the node's security groups.
    assert_eq!(eni.groups()[0].group_id(), Some(env.net.nodes_sg.as_str()));
    assert_eq!(env.calls.count("CreateNetworkInterface"), 1);
    // describe_node sees it, ours, at its index.
    let n = env.provider.describe_node(&node).await.unwrap();
    let seen = n.interface(&i.id).unwrap();
    assert!(seen.owned);
    assert_eq!(seen.index, 1);
}

contract!(secondary_ips_are_assigned_in_one_call_and_released);
async fn secondary_ips_are_assigned_in_one_call_and_released(env: Env) {
    let node = env.node1();
    let i = env
        .provider
        .attach_interface(
            &node,
            &attach_req(&env.net.private_a, 0, BlockKind::SecondaryIp),
        )
        .await
        .unwrap();
    let primary = i.blocks.iter().find(|b| b.primary).unwrap().cidr;
    let before = env.calls.count("AssignPrivateIpAddresses");
    let got = env
        .provider
        .assign_blocks(
            &node,
            &AssignBlocks {
                interface: i.id.clone(),
                kind: BlockKind::SecondaryIp,
                count: 4,
                prefix_len: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(env.calls.count("AssignPrivateIpAddresses") - before, 1);
    // moto lists the interface's primary address among the newly assigned ones (AWS lists
    // only the new ones). The provider passes the answer on, so on moto the primary shows up
    // here once: tolerated for moto only, and only that one address.
    let new: Vec<_> = if env.is_moto() {
        got.iter().filter(|b| b.cidr != primary).collect()
    } else {
        assert!(got.iter().all(|b| b.cidr != primary), "{got:?}");
        got.iter().collect()
    };
    assert_eq!(new.len(), 4, "{got:?}");
    assert!(
        new.iter()
            .all(|b| b.kind == BlockKind::SecondaryIp && !b.primary)
    );
    let n = env.provider.describe_node(&node).await.unwrap();
    let held: Vec<_> = n
        .interface(&i.id)
        .unwrap()
        .blocks
        .iter()
        .map(|b| b.cidr)
        .collect();
    assert_eq!(held.len(), 1 + 4, "{held:?}");
    assert!(new.iter().all(|b| held.contains(&b.cidr)));

    let release: Vec<_> = new[..2].iter().map(|b| b.cidr).collect();
    env.provider
        .release_blocks(&node, &i.id, &release)
        .await
        .unwrap();
    assert_eq!(env.calls.count("UnassignPrivateIpAddresses"), 1);
    if env.is_moto() {
        // moto answers UnassignPrivateIpAddresses but leaves the addresses on the interface,
        // so what is held afterwards is only checked on the mock cloud.
        return;
    }
    let n = env.provider.describe_node(&node).await.unwrap();
    let held: Vec<_> = n
        .interface(&i.id)
        .unwrap()
        .blocks
        .iter()
        .map(|b| b.cidr)
        .collect();
    assert_eq!(held.len(), 1 + 2, "{held:?}");
    assert!(release.iter().all(|r| !held.contains(r)));
    // Already released: fine, and no call.
    env.provider
        .release_blocks(&node, &i.id, &release)
        .await
        .unwrap();
    assert_eq!(env.calls.count("UnassignPrivateIpAddresses"), 1);
}

contract!(orphans_are_ours_unattached_and_old_then_deleted);
async fn orphans_are_ours_unattached_and_old_then_deleted(env: Env) {
    let create = |tags: Vec<(String, String)>| {
        let ec2 = env.ec2.clone();
        let subnet = env.net.private_a.clone();
        async move {
            let mut b = TagSpecification::builder().resource_type(ResourceType::NetworkInterface);
            for (k, v) in &tags {
                b = b.tags(tag(k, v));
            }
            let create = ec2.create_network_interface().subnet_id(subnet);
            create_interface(
                create.set_tag_specifications((!tags.is_empty()).then(|| vec![b.build()])),
            )
            .await
        }
    };
    let ours = |created: u64| {
        vec![
            (TAG_CLUSTER.to_string(), env.cluster.clone()),
            (TAG_CREATED_AT.to_string(), created.to_string()),
        ]
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let old = create(ours(1)).await;
    let fresh = create(ours(now)).await;
    let foreign = create(vec![]).await;
    let other_cluster = create(vec![(TAG_CLUSTER.into(), "someone-else".into())]).await;
    // Ours, old, but attached: not an orphan.
    let attached = env
        .provider
        .attach_interface(
            &env.node1(),
            &attach_req(&env.net.private_a, 0, BlockKind::SecondaryIp),
        )
        .await
        .unwrap();

    let orphans = env
        .provider
        .list_orphans(Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(
        orphans.iter().map(|o| o.id.0.clone()).collect::<Vec<_>>(),
        vec![old.clone()],
        "fresh, foreign and attached are not orphans"
    );
    assert_eq!(orphans[0].subnet_id, env.net.private_a);
    assert_eq!(orphans[0].created_at, Some(1));
    let mut all: Vec<_> = env
        .provider
        .list_orphans(Duration::ZERO)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id.0)
        .collect();
    all.sort();
    let mut want = vec![old.clone(), fresh.clone()];
    want.sort();
    assert_eq!(all, want);
    assert!(!all.contains(&attached.id.0));

    env.provider
        .delete_orphan(&InterfaceId(old.clone()))
        .await
        .unwrap();
    // Already gone is done.
    env.provider
        .delete_orphan(&InterfaceId(old.clone()))
        .await
        .unwrap();
    for not_ours in [&foreign, &other_cluster] {
        let err = env
            .provider
            .delete_orphan(&InterfaceId(not_ours.clone()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "NotOwned", "{not_ours}");
    }
    let left: Vec<_> = env
        .ec2
        .describe_network_interfaces()
        .filters(
            Filter::builder()
                .name("vpc-id")
                .values(&env.net.vpc)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .network_interfaces()
        .iter()
        .filter_map(|e| e.network_interface_id().map(str::to_string))
        .collect();
    assert!(!left.contains(&old));
    for kept in [&fresh, &foreign, &other_cluster, &attached.id.0] {
        assert!(left.contains(kept), "{kept} is untouched");
    }
}

contract!(detach_deletes_ours_and_refuses_the_primary);
async fn detach_deletes_ours_and_refuses_the_primary(env: Env) {
    let node = env.node1();
    let i = env
        .provider
        .attach_interface(
            &node,
            &attach_req(&env.net.private_a, 1, BlockKind::SecondaryIp),
        )
        .await
        .unwrap();
    env.provider.detach_interface(&node, &i.id).await.unwrap();
    assert!(env.cluster_enis().await.is_empty(), "detached and deleted");
    assert_eq!(env.calls.count("DetachNetworkInterface"), 1);
    assert_eq!(env.calls.count("DeleteNetworkInterface"), 1);
    // Already gone is done.
    env.provider.detach_interface(&node, &i.id).await.unwrap();
    let n = env.provider.describe_node(&node).await.unwrap();
    assert_eq!(n.interfaces.len(), 1);
    let primary = n.interfaces[0].id.clone();
    let err = env
        .provider
        .detach_interface(&node, &primary)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NotOwned");
}

contract!(
    the_interface_limit_is_a_clear_error,
    mock_only =
        "moto has no per-instance-type interface limit: it attaches a fourth ENI to an m5.large"
);
async fn the_interface_limit_is_a_clear_error(env: Env) {
    let req = attach_req(&env.net.private_a, 0, BlockKind::SecondaryIp);
    for _ in 0..2 {
        env.provider
            .attach_interface(&env.node1(), &req)
            .await
            .unwrap();
    }
    let err = env
        .provider
        .attach_interface(&env.node1(), &req)
        .await
        .unwrap_err();
    assert!(
        matches!(err, cloudnet_core::Error::LimitExceeded { .. }),
        "{err:?}"
    );
    assert_eq!(env.calls.count("CreateNetworkInterface"), 2);
}

contract!(
    prefixes_are_assigned_and_released,
    mock_only = "moto ignores Ipv4PrefixCount: no /28 prefix delegation"
);
async fn prefixes_are_assigned_and_released(env: Env) {
    let node = env.node1();
    let i = env
        .provider
        .attach_interface(&node, &attach_req(&env.net.private_a, 1, BlockKind::Prefix))
        .await
        .unwrap();
    assert!(
        i.blocks
            .iter()
            .any(|b| b.kind == BlockKind::Prefix && b.cidr.prefix_len() == 28),
        "the new interface holds its first /28: {:?}",
        i.blocks
    );
    let got = env
        .provider
        .assign_blocks(
            &node,
            &AssignBlocks {
                interface: i.id.clone(),
                kind: BlockKind::Prefix,
                count: 2,
                prefix_len: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|b| b.cidr.prefix_len() == 28));
    env.provider
        .release_blocks(&node, &i.id, &[got[0].cidr])
        .await
        .unwrap();
    let n = env.provider.describe_node(&node).await.unwrap();
    let prefixes = n
        .interface(&i.id)
        .unwrap()
        .blocks
        .iter()
        .filter(|b| b.kind == BlockKind::Prefix)
        .count();
    assert_eq!(prefixes, 2);
}

// ---------------------------------------------------------------------------------------------
// Routes

/// A route table of the case's VPC tagged for its cluster.
async fn cluster_table(env: &Env) -> String {
    let id = env
        .ec2
        .create_route_table()
        .vpc_id(&env.net.vpc)
        .send()
        .await
        .unwrap()
        .route_table()
        .unwrap()
        .route_table_id()
        .unwrap()
        .to_string();
    env.ec2
        .create_tags()
        .resources(&id)
        .tags(tag(
            &format!("kubernetes.io/cluster/{}", env.cluster),
            "owned",
        ))
        .send()
        .await
        .unwrap();
    id
}

async fn source_dest_check(env: &Env, instance: &str) -> Option<bool> {
    common::instance(&env.ec2, instance)
        .await
        .source_dest_check()
}

contract!(routes_are_created_replaced_listed_and_deleted);
async fn routes_are_created_replaced_listed_and_deleted(env: Env) {
    let table = cluster_table(&env).await;
    // A table of the VPC without the cluster tag is not ours.
    let untagged = env
        .ec2
        .create_route_table()
        .vpc_id(&env.net.vpc)
        .send()
        .await
        .unwrap()
        .route_table()
        .unwrap()
        .route_table_id()
        .unwrap()
        .to_string();

    let r = route(&table, "10.200.1.0/24", &env.net.node1);
    env.provider.create(&r).await.unwrap();
    assert_eq!(source_dest_check(&env, &env.net.node1).await, Some(false));
    let before = env.calls.snapshot();
    env.provider.create(&r).await.unwrap();
    assert_eq!(
        env.calls.mutating_since(&before),
        BTreeMap::new(),
        "an existing route is left alone"
    );
    assert_eq!(env.calls.count("CreateRoute"), 1);
    assert_eq!(env.calls.count("ModifyInstanceAttribute"), 1);

    let moved = route(&table, "10.200.1.0/24", &env.net.node2);
    env.provider.create(&moved).await.unwrap();
    assert_eq!(env.calls.count("ReplaceRoute"), 1);
    assert_eq!(source_dest_check(&env, &env.net.node2).await, Some(false));
    let listed = env.provider.list().await.unwrap();
    assert!(listed.iter().all(|r| r.table == table), "{listed:?}");
    let ours: Vec<_> = listed.iter().filter(|r| r.owned).collect();
    assert_eq!(ours.len(), 1, "{listed:?}");
    assert_eq!(ours[0].target, RouteTarget::Instance(env.net.node2.clone()));
    assert_eq!(ours[0].state, RouteState::Active);
    // Someone else's route in our table: listed, not ours.
    env.ec2
        .create_route()
        .route_table_id(&table)
        .destination_cidr_block("172.16.0.0/24")
        .instance_id(&env.net.node1)
        .send()
        .await
        .unwrap();
    let listed = env.provider.list().await.unwrap();
    assert!(
        listed
            .iter()
            .any(|r| !r.owned && r.destination.to_string() == "172.16.0.0/24"),
        "{listed:?}"
    );

    // Outside the pod CIDR or in a table not ours: refused, nothing sent.
    let before = env.calls.snapshot();
    for foreign in [
        route(&table, "172.16.0.0/24", &env.net.node1),
        route(&untagged, "10.200.2.0/24", &env.net.node1),
    ] {
        let err = env.provider.create(&foreign).await.unwrap_err();
        assert_eq!(err.code(), "NotOwned", "{foreign:?}");
        let err = Routes::delete(&env.provider, &foreign).await.unwrap_err();
        assert_eq!(err.code(), "NotOwned", "{foreign:?}");
    }
    assert_eq!(env.calls.mutating_since(&before), BTreeMap::new());

    Routes::delete(&env.provider, &moved).await.unwrap();
    // Already gone is done (the cloud's NotFound counts as deleted).
    Routes::delete(&env.provider, &moved).await.unwrap();
    assert!(env.provider.list().await.unwrap().iter().all(|r| !r.owned));
    let out = env
        .ec2
        .describe_route_tables()
        .route_table_ids(&table)
        .send()
        .await;
    let tables = out.expect("DescribeRouteTables").route_tables;
    let routes = tables
        .into_iter()
        .flatten()
        .flat_map(|t| t.routes.unwrap_or_default());
    let mut dests: Vec<_> = routes.filter_map(|r| r.destination_cidr_block).collect();
    dests.sort();
    assert_eq!(
        dests,
        vec![VPC_CIDR, "172.16.0.0/24"],
        "only ours was deleted"
    );
}

contract!(
    routes_to_a_terminated_node_are_blackholes,
    mock_only = "moto keeps a route to a terminated instance active"
);
async fn routes_to_a_terminated_node_are_blackholes(env: Env) {
    let table = cluster_table(&env).await;
    env.provider
        .create(&route(&table, "10.200.3.0/24", &env.net.node2))
        .await
        .unwrap();
    env.ec2
        .terminate_instances()
        .instance_ids(&env.net.node2)
        .send()
        .await
        .unwrap();
    let listed = env.provider.list().await.unwrap();
    let r = listed.iter().find(|r| r.owned).unwrap();
    assert_eq!(r.state, RouteState::Blackhole);
    Routes::delete(&env.provider, r).await.unwrap();
    assert!(env.provider.list().await.unwrap().iter().all(|r| !r.owned));
}

// ---------------------------------------------------------------------------------------------
// Load balancers

fn health(protocol: Protocol) -> HealthCheck {
    HealthCheck {
        // The mock cloud refuses an NLB timeout equal to the interval (the core's defaults).
        timeout_seconds: 6,
        ..HealthCheck::defaults_for(protocol)
    }
}

/// The tests' internal NLB ([`specs::nlb`]) for Service `default/<name>` of `cluster`.
fn nlb(cluster: &str, name: &str) -> LoadBalancerSpec {
    let mut spec = specs::nlb(name);
    spec.owner.cluster = cluster.into();
    spec
}

/// The core's ALB test spec (redirect, fixed response, host/path rules, weighted forward,
/// pod-IP and instance groups, attributes) with plain HTTP listeners: moto refuses HTTPS
/// listeners whose certificate is not in its ACM, and we do not manage certificates.
fn alb(cluster: &str) -> LoadBalancerSpec {
    let mut spec: LoadBalancerSpec =
        serde_json::from_str(include_str!("../../core/testdata/alb_spec.json")).unwrap();
    spec.owner.cluster = cluster.into();
    spec.security_groups.clear();
    for l in &mut spec.listeners {
        if l.protocol == Protocol::Https {
            l.protocol = Protocol::Http;
            l.certificates.clear();
            l.ssl_policy = None;
        }
    }
    spec
}

/// What the cloud holds for a load balancer, as plain comparable text: the load balancer,
/// its attributes, listeners, rules, target groups with attributes and tags.
async fn describe_stack(env: &Env, arn: &str) -> Vec<String> {
    let elb = &env.elb;
    let mut out = Vec::new();
    let lb = elb
        .describe_load_balancers()
        .load_balancer_arns(arn)
        .send()
        .await
        .unwrap();
    out.push(format!("{:?}", lb.load_balancers()));
    let attrs = elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(arn)
        .send()
        .await
        .unwrap();
    out.push(format!("{:?}", attrs.attributes()));
    for l in common::listeners(elb, arn).await {
        out.push(format!("{l:?}"));
        out.push(format!("{:?}", common::rules(elb, &l).await));
    }
    let groups = elb
        .describe_target_groups()
        .load_balancer_arn(arn)
        .send()
        .await
        .unwrap();
    for g in groups.target_groups() {
        let tg = g.target_group_arn().unwrap();
        out.push(format!("{g:?}"));
        let attrs = elb
            .describe_target_group_attributes()
            .target_group_arn(tg)
            .send()
            .await
            .unwrap();
        out.push(format!("{:?}", attrs.attributes()));
        let tags = elb.describe_tags().resource_arns(tg).send().await.unwrap();
        out.push(format!("{:?}", tags.tag_descriptions()));
    }
    out
}

async fn lb_arns(env: &Env) -> Vec<String> {
    let all = env.elb.describe_load_balancers().send().await.unwrap();
    all.load_balancers()
        .iter()
        .filter(|l| l.vpc_id() == Some(env.net.vpc.as_str()))
        .filter_map(|l| l.load_balancer_arn().map(str::to_string))
        .collect()
}

/// Target groups in the case's VPC (each case has its own).
async fn cluster_groups(env: &Env) -> Vec<String> {
    let all = env.elb.describe_target_groups().send().await.unwrap();
    let mut ours = Vec::new();
    for g in all.target_groups() {
        if g.vpc_id() != Some(env.net.vpc.as_str()) {
            continue;
        }
        ours.extend(g.target_group_arn().map(str::to_string));
    }
    ours
}

async fn vpc_group_names(env: &Env) -> Vec<String> {
    env.ec2
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name("vpc-id")
                .values(&env.net.vpc)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .security_groups()
        .iter()
        .filter_map(|g| g.group_name().map(str::to_string))
        .collect()
}

contract!(nlb_and_alb_stacks_are_built_idempotent_owned_and_deleted);
async fn nlb_and_alb_stacks_are_built_idempotent_owned_and_deleted(env: Env) {
    let nlb = nlb(&env.cluster, "dns");
    let alb = alb(&env.cluster);
    let n = env.provider.ensure(&nlb).await.unwrap();
    let a = env.provider.ensure(&alb).await.unwrap();
    assert_ne!(n.id, a.id);
    assert_eq!(n.groups.len(), 1);
    assert_eq!(a.groups.len(), 3);
    assert_eq!(lb_arns(&env).await.len(), 2);
    assert_eq!(cluster_groups(&env).await.len(), 4);

    // The NLB is internal, in the two private subnets (found by their role tags).
    let lb = env
        .elb
        .describe_load_balancers()
        .load_balancer_arns(&n.id.0)
        .send()
        .await
        .unwrap();
    let lb = &lb.load_balancers()[0];
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internal"));
    assert_eq!(zone_names(lb), vec![ZONE_A, ZONE_B]);
    assert!(
        lb.availability_zones()
            .iter()
            .any(|z| z.subnet_id() == Some(env.net.private_a.as_str()))
    );
    // The ALB: both listeners, the HTTP one with its two rules and the default.
    let listeners = common::listeners(&env.elb, &a.id.0).await;
    let mut ports: Vec<_> = listeners.iter().filter_map(|l| l.port()).collect();
    ports.sort();
    assert_eq!(ports, vec![80, 443]);
    let rules = common::rules(&env.elb, common::on_port(&listeners, 443)).await;
    assert_eq!(rules.len(), 3, "two rules and the default");
    // The managed group is let into the nodes' group.
    assert!(
        common::lets_a_group_in_on_8080(&env.ec2, &env.net.nodes_sg).await,
        "backend rule on the nodes' group"
    );

    // A second ensure: no mutating call on the wire, and the cloud describes the same stacks.
    let described = (
        describe_stack(&env, &n.id.0).await,
        describe_stack(&env, &a.id.0).await,
    );
    let before = env.calls.snapshot();
    assert_eq!(env.provider.ensure(&nlb).await.unwrap().id, n.id);
    assert_eq!(env.provider.ensure(&alb).await.unwrap().id, a.id);
    assert_eq!(
        env.calls.mutating_since(&before),
        BTreeMap::new(),
        "the second ensure mutates nothing"
    );
    assert_eq!(
        (
            describe_stack(&env, &n.id.0).await,
            describe_stack(&env, &a.id.0).await,
        ),
        described
    );

    let mut owned = env.provider.list_owned().await.unwrap();
    owned.sort_by(|x, y| x.id.0.cmp(&y.id.0));
    let mut want = vec![
        (n.id.clone(), nlb.owner.clone(), LoadBalancerKind::Network),
        (
            a.id.clone(),
            alb.owner.clone(),
            LoadBalancerKind::Application,
        ),
    ];
    want.sort_by(|x, y| x.0.0.cmp(&y.0.0));
    let got: Vec<_> = owned.into_iter().map(|o| (o.id, o.owner, o.kind)).collect();
    assert_eq!(got, want);

    LoadBalancers::delete(&env.provider, &a.id).await.unwrap();
    LoadBalancers::delete(&env.provider, &n.id).await.unwrap();
    assert!(lb_arns(&env).await.is_empty());
    assert!(cluster_groups(&env).await.is_empty());
    assert!(
        !vpc_group_names(&env)
            .await
            .iter()
            .any(|n| n.starts_with("k8s-")),
        "the managed group is gone"
    );
    let nodes = env
        .ec2
        .describe_security_groups()
        .group_ids(&env.net.nodes_sg)
        .send()
        .await
        .unwrap();
    assert!(
        nodes.security_groups()[0]
            .ip_permissions()
            .iter()
            .all(|p| p.user_id_group_pairs().is_empty()),
        "backend rule revoked"
    );
    assert!(env.provider.list_owned().await.unwrap().is_empty());
    // Already gone is done.
    LoadBalancers::delete(&env.provider, &a.id).await.unwrap();
}

contract!(ip_targets_are_registered_and_deregistered);
async fn ip_targets_are_registered_and_deregistered(env: Env) {
    let spec = nlb(&env.cluster, "api");
    let status = env.provider.ensure(&spec).await.unwrap();
    let key = "default/api:80";
    let t = |last: u8| Target {
        ip: format!("10.0.32.{last}").parse().unwrap(),
        port: 8080,
    };
    let want: Vec<Target> = (10..15).map(t).collect();
    let sync = env
        .provider
        .sync_targets(&status.id, key, &want)
        .await
        .unwrap();
    assert_eq!((sync.registered, sync.deregistered), (5, 0));
    assert_eq!(sync.health.len(), 5);
    let before = env.calls.snapshot();
    let again = env
        .provider
        .sync_targets(&status.id, key, &want)
        .await
        .unwrap();
    assert_eq!((again.registered, again.deregistered), (0, 0));
    assert_eq!(env.calls.mutating_since(&before), BTreeMap::new());

    let sync = env
        .provider
        .sync_targets(&status.id, key, &want[..3])
        .await
        .unwrap();
    assert_eq!((sync.registered, sync.deregistered), (0, 2));
    let tg = env
        .elb
        .describe_target_groups()
        .load_balancer_arn(&status.id.0)
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    let held = env
        .elb
        .describe_target_health()
        .target_group_arn(&tg)
        .send()
        .await
        .unwrap();
    let state_of = |ip: &str| {
        held.target_health_descriptions()
            .iter()
            .find(|d| d.target().and_then(|t| t.id()) == Some(ip))
            .and_then(|d| d.target_health())
            .and_then(|h| h.state())
            .map(|s| s.as_str().to_string())
    };
    for kept in &want[..3] {
        assert!(
            state_of(&kept.ip.to_string()).is_some(),
            "{kept:?} registered"
        );
    }
    for gone in &want[3..] {
        let state = state_of(&gone.ip.to_string());
        if env.is_moto() {
            // moto drops a deregistered target at once (no draining).
            assert_eq!(state, None, "{gone:?}");
        } else {
            assert_eq!(state.as_deref(), Some("draining"), "{gone:?}");
        }
    }
    if !env.is_moto() {
        let draining = sync
            .health
            .iter()
            .filter(|h| h.state == HealthState::Draining)
            .count();
        assert_eq!(draining, 2, "{:?}", sync.health);
    }
}

// ---------------------------------------------------------------------------------------------
// The shared backend security group

/// The rules on the nodes' group whose source is a security group: `(protocol, from, to,
/// source group)`.
async fn node_group_rules(env: &Env) -> Vec<(String, i32, i32, String)> {
    let out = env
        .ec2
        .describe_security_groups()
        .group_ids(&env.net.nodes_sg)
        .send()
        .await
        .unwrap();
    let mut rules = Vec::new();
    for p in out.security_groups()[0].ip_permissions() {
        for pair in p.user_id_group_pairs() {
            rules.push((
                p.ip_protocol().unwrap_or_default().to_string(),
                p.from_port().unwrap_or(-1),
                p.to_port().unwrap_or(-1),
                pair.group_id().unwrap_or_default().to_string(),
            ));
        }
    }
    rules.sort();
    rules
}

/// The case's security groups named `name`: `(id, tags)`.
async fn groups_named(env: &Env, name: &str) -> Vec<(String, BTreeMap<String, String>)> {
    env.ec2
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name("vpc-id")
                .values(&env.net.vpc)
                .build(),
        )
        .filters(Filter::builder().name("group-name").values(name).build())
        .send()
        .await
        .unwrap()
        .security_groups()
        .iter()
        .map(|g| {
            let tags = g
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
            (g.group_id().unwrap_or_default().to_string(), tags)
        })
        .collect()
}

fn backend_name(env: &Env) -> String {
    cloudnet_aws::lb::backend_sg::backend_sg(&env.cluster).name
}

/// ALB `i` of the case: the core's ALB spec under another Ingress name.
fn alb_n(cluster: &str, i: usize) -> LoadBalancerSpec {
    let mut spec = alb(cluster);
    spec.owner = Owner::namespaced(cluster, OwnerKind::Ingress, "shop", &format!("web{i}"));
    spec
}

async fn security_groups_of(env: &Env, arn: &str) -> Vec<String> {
    let out = env
        .elb
        .describe_load_balancers()
        .load_balancer_arns(arn)
        .send()
        .await
        .unwrap();
    out.load_balancers()[0].security_groups().to_vec()
}

contract!(ten_albs_share_one_backend_sg_and_one_node_rule);
async fn ten_albs_share_one_backend_sg_and_one_node_rule(env: Env) {
    let specs: Vec<_> = (0..10).map(|i| alb_n(&env.cluster, i)).collect();
    // All at once: concurrent ensures still make one group and one rule.
    let ids: Vec<_> = futures::future::join_all(specs.iter().map(|s| env.provider.ensure(s)))
        .await
        .into_iter()
        .map(|r| r.unwrap().id)
        .collect();
    assert_eq!(env.calls.count("CreateSecurityGroup"), 10 + 1);
    let backend = groups_named(&env, &backend_name(&env)).await;
    assert_eq!(backend.len(), 1, "exactly one backend security group");
    let (backend_id, tags) = &backend[0];
    assert_eq!(tags[TAG_CLUSTER], env.cluster);
    assert_eq!(tags["cloudnet.io/resource"], "backend-security-group");
    assert_eq!(
        node_group_rules(&env).await,
        vec![("tcp".to_string(), 8080, 8080, backend_id.clone())],
        "exactly one rule on the nodes' group, from the backend security group"
    );
    for id in &ids {
        let groups = security_groups_of(&env, &id.0).await;
        assert!(groups.contains(backend_id), "{groups:?}");
        assert_eq!(groups.len(), 2, "frontend and backend: {groups:?}");
    }

    // A second ensure of all ten: no mutating call.
    let before = env.calls.snapshot();
    for s in &specs {
        env.provider.ensure(s).await.unwrap();
    }
    assert_eq!(env.calls.mutating_since(&before), BTreeMap::new());

    // Deleting all but one keeps the group; the last one takes it and its rule.
    let (last, rest) = ids.split_last().unwrap();
    for id in rest {
        LoadBalancers::delete(&env.provider, id).await.unwrap();
    }
    assert_eq!(groups_named(&env, &backend_name(&env)).await.len(), 1);
    assert_eq!(node_group_rules(&env).await.len(), 1);
    LoadBalancers::delete(&env.provider, last).await.unwrap();
    assert!(groups_named(&env, &backend_name(&env)).await.is_empty());
    assert_eq!(node_group_rules(&env).await, vec![]);
    assert!(
        !vpc_group_names(&env)
            .await
            .iter()
            .any(|n| n.starts_with("k8s-")),
        "no managed group left"
    );
}

contract!(a_foreign_group_under_the_backend_name_is_a_conflict_and_untouched);
async fn a_foreign_group_under_the_backend_name_is_a_conflict_and_untouched(env: Env) {
    let name = backend_name(&env);
    let foreign = env
        .ec2
        .create_security_group()
        .group_name(&name)
        .description("someone else's")
        .vpc_id(&env.net.vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    let err = env.provider.ensure(&alb(&env.cluster)).await.unwrap_err();
    assert_eq!(err.code(), "NotOwned", "{err}");
    assert!(err.to_string().contains(&foreign), "{err}");
    assert_eq!(
        groups_named(&env, &name).await,
        vec![(foreign.clone(), BTreeMap::new())],
        "not tagged, not adopted"
    );
    assert_eq!(node_group_rules(&env).await, vec![], "not let in");
    assert!(lb_arns(&env).await.is_empty());
    assert_eq!(env.calls.count("CreateLoadBalancer"), 0);
}

contract!(the_per_alb_rule_is_kept_when_switched_off_and_migrated_when_on);
async fn the_per_alb_rule_is_kept_when_switched_off_and_migrated_when_on(env: Env) {
    let spec = alb(&env.cluster);
    let old = env.provider_with(|c| c.backend_security_group = false);
    let a = old.ensure(&spec).await.unwrap();
    let frontend = security_groups_of(&env, &a.id.0).await;
    assert_eq!(frontend.len(), 1, "only the managed group");
    assert_eq!(
        node_group_rules(&env).await,
        vec![("tcp".to_string(), 8080, 8080, frontend[0].clone())],
        "switched off: the ALB's own rule"
    );
    assert!(groups_named(&env, &backend_name(&env)).await.is_empty());

    // Switched on: the ALB carries the backend security group, whose rule replaces the old one.
    env.provider.ensure(&spec).await.unwrap();
    let backend = groups_named(&env, &backend_name(&env)).await;
    assert_eq!(backend.len(), 1);
    let backend_id = backend[0].0.clone();
    let mut want = vec![frontend[0].clone(), backend_id.clone()];
    want.sort();
    let mut got = security_groups_of(&env, &a.id.0).await;
    got.sort();
    assert_eq!(got, want);
    assert_eq!(
        node_group_rules(&env).await,
        vec![("tcp".to_string(), 8080, 8080, backend_id)]
    );
    let before = env.calls.snapshot();
    env.provider.ensure(&spec).await.unwrap();
    assert_eq!(env.calls.mutating_since(&before), BTreeMap::new());

    // Switched off again: the group comes off the ALB; the unused group goes with the
    // last delete even so.
    old.ensure(&spec).await.unwrap();
    assert_eq!(security_groups_of(&env, &a.id.0).await, frontend);
    LoadBalancers::delete(&old, &a.id).await.unwrap();
    assert!(groups_named(&env, &backend_name(&env)).await.is_empty());
    assert_eq!(node_group_rules(&env).await, vec![]);
}

contract!(
    a_backend_sg_still_in_use_is_left_and_deleted_by_a_later_delete,
    mock_only = "moto deletes a security group that an interface still uses (AWS answers DependencyViolation)"
);
async fn a_backend_sg_still_in_use_is_left_and_deleted_by_a_later_delete(env: Env) {
    let a = env.provider.ensure(&alb(&env.cluster)).await.unwrap();
    let backend_id = groups_named(&env, &backend_name(&env)).await[0].0.clone();
    // An interface that still uses the group, as a deleted load balancer's linger on AWS.
    let create = env.ec2.create_network_interface();
    let eni = create_interface(create.subnet_id(&env.net.private_a).groups(&backend_id)).await;
    LoadBalancers::delete(&env.provider, &a.id).await.unwrap();
    assert!(lb_arns(&env).await.is_empty());
    assert_eq!(
        groups_named(&env, &backend_name(&env)).await.len(),
        1,
        "DependencyViolation: left for later"
    );
    assert_eq!(
        node_group_rules(&env).await,
        vec![],
        "its rule is gone already"
    );

    env.ec2
        .delete_network_interface()
        .network_interface_id(&eni)
        .send()
        .await
        .unwrap();
    // The next delete (here: of the same, already gone, load balancer) finishes the job.
    LoadBalancers::delete(&env.provider, &a.id).await.unwrap();
    assert!(groups_named(&env, &backend_name(&env)).await.is_empty());
}

contract!(the_nodes_rule_widens_for_new_ports_and_is_restored_after_drift);
async fn the_nodes_rule_widens_for_new_ports_and_is_restored_after_drift(env: Env) {
    // Nothing cached between ensures, so each one reads the groups again.
    let provider = env.provider_with(|c| c.backend_cache_ttl = Duration::ZERO);
    provider.ensure(&alb_n(&env.cluster, 0)).await.unwrap();
    let backend_id = groups_named(&env, &backend_name(&env)).await[0].0.clone();
    let mut wide = alb_n(&env.cluster, 1);
    for g in &mut wide.groups {
        g.port = 9090;
    }
    provider.ensure(&wide).await.unwrap();
    assert_eq!(
        node_group_rules(&env).await,
        vec![("tcp".to_string(), 8080, 9090, backend_id.clone())],
        "still one rule, widened"
    );

    // An NLB with security groups carries the group too; its UDP port gets a udp rule.
    let user_sg = env
        .ec2
        .create_security_group()
        .group_name(format!("{}-user", env.cluster))
        .description("user's")
        .vpc_id(&env.net.vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    let mut dns = nlb(&env.cluster, "dns");
    dns.security_groups = vec![user_sg.clone()];
    dns.listeners[0].protocol = Protocol::Udp;
    dns.groups[0].protocol = Protocol::Udp;
    dns.groups[0].port = 30053;
    dns.groups[0].health_check = HealthCheck {
        port: cloudnet_core::HealthCheckPort::Port(8080),
        ..health(Protocol::Tcp)
    };
    let n = provider.ensure(&dns).await.unwrap();
    let mut want = vec![user_sg, backend_id.clone()];
    want.sort();
    let mut got = security_groups_of(&env, &n.id.0).await;
    got.sort();
    assert_eq!(got, want);
    assert_eq!(
        node_group_rules(&env).await,
        vec![
            ("tcp".to_string(), 8080, 9090, backend_id.clone()),
            ("udp".to_string(), 30053, 30053, backend_id.clone()),
        ]
    );

    // Revoked behind our back: the next ensure puts it back.
    env.ec2
        .revoke_security_group_ingress()
        .group_id(&env.net.nodes_sg)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(8080)
                .to_port(9090)
                .user_id_group_pairs(
                    aws_sdk_ec2::types::UserIdGroupPair::builder()
                        .group_id(&backend_id)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    // Each ensure restores what its own stack needs; the range grows back as the stacks
    // are ensured again (a resync ensures them all).
    provider.ensure(&alb_n(&env.cluster, 0)).await.unwrap();
    assert_eq!(
        node_group_rules(&env).await,
        vec![
            ("tcp".to_string(), 8080, 8080, backend_id.clone()),
            ("udp".to_string(), 30053, 30053, backend_id.clone()),
        ]
    );
    provider.ensure(&wide).await.unwrap();
    assert_eq!(
        node_group_rules(&env).await,
        vec![
            ("tcp".to_string(), 8080, 9090, backend_id.clone()),
            ("udp".to_string(), 30053, 30053, backend_id),
        ]
    );
}
