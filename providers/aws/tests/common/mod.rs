//! The mock cloud and a provider pointed at it through the real SDK.
#![allow(dead_code)]

pub mod specs;
pub mod wire;

use std::collections::BTreeMap;
use std::net::IpAddr;

use aws_config::SdkConfig;
use aws_sdk_ec2::types::TagSpecification;
use aws_sdk_elasticloadbalancingv2::types::{Listener, Rule};
use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider};
use cloudnet_core::ownership::TAG_CLUSTER;
use cloudnet_core::{
    AttachInterface, BlockKind, BudgetConfig, NodeRef, Op, OpClass, Rate, Route, RouteState,
    RouteTarget, Service,
};
use cloudnet_mockcloud::{Config, Handle, MockCloud, World};

pub const VPC: &str = "vpc-0c10d0e7000000001";
pub const NODES_SG: &str = "sg-0c10d0e7000000001";
pub const NODE1: &str = "i-0c10d0e7000000001";
pub const NODE2: &str = "i-0c10d0e7000000002";
pub const PRIVATE_A: &str = "subnet-0c10d0e70000000a2";
pub const POD_CIDR: &str = "10.200.0.0/16";

pub struct Env {
    pub mock: Handle,
    pub sdk: SdkConfig,
    pub provider: AwsProvider,
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    /// The provider's configuration and SDK (calls counted), for [`Env::fresh_provider`].
    config: AwsConfig,
    counted: SdkConfig,
}

/// Rates high enough that the budget never shapes a functional test.
pub fn fast_budget() -> BudgetConfig {
    let mut b = BudgetConfig::default();
    for op in Op::all() {
        b.rates.insert(op, Rate::new(1000.0, 1000));
    }
    b
}

pub async fn start() -> Env {
    start_with(|_| {}).await
}

pub async fn start_with(tune: impl FnOnce(&mut AwsConfig)) -> Env {
    start_counted(tune).await.0
}

/// Like [`start_with`], with the provider's calls counted on the wire (the test clients'
/// own calls are not).
pub async fn start_counted(tune: impl FnOnce(&mut AwsConfig)) -> (Env, wire::Wire) {
    start_in(World::default(), tune).await
}

/// Like [`start_counted`], in the given world.
pub async fn start_in(world: World, tune: impl FnOnce(&mut AwsConfig)) -> (Env, wire::Wire) {
    let mock = MockCloud::start(Config::ephemeral(world))
        .await
        .expect("the mock cloud starts");
    let sdk = wire::mock_sdk(&mock.endpoint_url(), "AKIDTEST").await;
    let wire = wire::Wire::default();
    let counted = wire.counting(&sdk);
    let mut config = AwsConfig::new("prod");
    config.vpc_id = Some(VPC.into());
    config.node_security_group = Some(NODES_SG.into());
    config.pod_cidrs = vec![POD_CIDR.parse().unwrap()];
    config.budget = fast_budget();
    tune(&mut config);
    let provider = AwsProvider::from_sdk_config(&counted, config.clone(), AwsMetrics::default())
        .expect("provider");
    let env = Env {
        ec2: aws_sdk_ec2::Client::new(&sdk),
        elb: aws_sdk_elasticloadbalancingv2::Client::new(&sdk),
        mock,
        sdk,
        provider,
        config,
        counted,
    };
    (env, wire)
}

impl Env {
    /// A new provider with the same configuration and none of the first one's caches (a
    /// restarted controller's); its calls are counted on the same wire.
    pub fn fresh_provider(&self) -> AwsProvider {
        AwsProvider::from_sdk_config(&self.counted, self.config.clone(), AwsMetrics::default())
            .expect("provider")
    }

    /// Calls per `service:Action` so far, as `GET /_mockcloud/calls` reports them.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.mock.with_cloud(|c| c.calls.clone())
    }

    /// Calls that change state made between two snapshots, by action.
    /// Ensures `spec` again, asserting that nothing needed a change: no mutating call.
    pub async fn ensure_again(
        &self,
        spec: &cloudnet_core::LoadBalancerSpec,
    ) -> cloudnet_core::LoadBalancerStatus {
        use cloudnet_core::LoadBalancers;
        let before = self.calls();
        let status = self.provider.ensure(spec).await.expect("ensure again");
        let made = self.mutating_since(&before);
        assert!(made.is_empty(), "ensuring {:?} again: {made:?}", spec.owner);
        status
    }

    pub fn mutating_since(&self, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
        specs::calls_since(&self.calls(), before)
            .into_iter()
            .filter(|(k, _)| specs::is_mutating(k))
            .collect()
    }

    pub fn count(&self, key: &str) -> u64 {
        self.calls().get(key).copied().unwrap_or(0)
    }

    /// Adds a fault rule (the JSON `POST /_mockcloud/faults` takes).
    pub fn fault(&self, rule: serde_json::Value) -> u64 {
        let rule = serde_json::from_value(rule).expect("a fault rule");
        self.mock.with_cloud(|c| c.faults.add(rule))
    }

    pub fn clear_faults(&self) {
        self.mock.with_cloud(|c| c.faults.clear());
    }

    pub fn state(&self) -> serde_json::Value {
        self.mock
            .with_cloud(|c| serde_json::to_value(c.dump()).expect("state serialises"))
    }
}

/// An instance as `DescribeInstances` shows it.
pub async fn instance(ec2: &aws_sdk_ec2::Client, id: &str) -> aws_sdk_ec2::types::Instance {
    let out = ec2.describe_instances().instance_ids(id).send().await;
    let reservations = out.expect("describe instances").reservations().to_vec();
    reservations[0].instances()[0].clone()
}

/// An instance's private IP.
pub async fn instance_ip(ec2: &aws_sdk_ec2::Client, id: &str) -> IpAddr {
    let found = instance(ec2, id).await;
    let ip = found.private_ip_address().expect("a private IP");
    ip.parse().expect("an IP")
}

/// A new VPC of `cidr`: its ID.
pub async fn create_vpc(ec2: &aws_sdk_ec2::Client, cidr: &str) -> String {
    let out = ec2.create_vpc().cidr_block(cidr).send().await;
    let vpc = out.expect("create VPC").vpc().cloned().expect("a VPC");
    vpc.vpc_id().expect("a VPC ID").to_string()
}

/// A new subnet of `vpc` in `zone`, tagged at creation when `tags` are given: its ID.
pub async fn create_subnet(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
    cidr: &str,
    zone: &str,
    tags: Option<TagSpecification>,
) -> String {
    let out = ec2
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .availability_zone(zone)
        .set_tag_specifications(tags.map(|t| vec![t]))
        .send()
        .await;
    let subnet = out
        .expect("create subnet")
        .subnet()
        .cloned()
        .expect("a subnet");
    subnet.subnet_id().expect("a subnet ID").to_string()
}

/// The route table of the default world's VPC, tagged with `tags` (key, value): its ID.
pub async fn tagged_route_table(ec2: &aws_sdk_ec2::Client, tags: &[(&str, &str)]) -> String {
    let filter = aws_sdk_ec2::types::Filter::builder()
        .name("vpc-id")
        .values(VPC)
        .build();
    let out = ec2.describe_route_tables().filters(filter).send().await;
    let tables = out.expect("describe route tables").route_tables().to_vec();
    let id = tables[0].route_table_id().expect("a route table ID");
    let tags = tags
        .iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(*k).value(*v).build());
    let tagged = ec2
        .create_tags()
        .resources(id)
        .set_tags(Some(tags.collect()));
    tagged.send().await.expect("tag the route table");
    id.to_string()
}

/// A target group made outside the provider (as Terraform would), TCP on `port` in the
/// default world's VPC: its ARN.
pub async fn foreign_target_group(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    name: &str,
    port: i32,
    kind: aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum,
) -> String {
    use aws_sdk_elasticloadbalancingv2::types::ProtocolEnum;
    let create = elb.create_target_group().name(name).vpc_id(VPC);
    let create = create
        .protocol(ProtocolEnum::Tcp)
        .port(port)
        .target_type(kind);
    let out = create.send().await.expect("create target group");
    let group = &out.target_groups()[0];
    group.target_group_arn().expect("an ARN").to_string()
}

/// The request for one pod interface in `subnet` with `initial` blocks of `kind`.
pub fn attach_req(subnet: &str, initial: u32, kind: BlockKind) -> AttachInterface {
    AttachInterface {
        subnet_id: subnet.into(),
        security_groups: vec![],
        initial_blocks: initial,
        block_kind: kind,
        description: "cloudnet pods".into(),
    }
}

/// The interfaces tagged as `cluster`'s.
pub async fn cluster_enis(
    ec2: &aws_sdk_ec2::Client,
    cluster: &str,
) -> Vec<aws_sdk_ec2::types::NetworkInterface> {
    let filter = aws_sdk_ec2::types::Filter::builder()
        .name(format!("tag:{TAG_CLUSTER}"))
        .values(cluster)
        .build();
    let out = ec2
        .describe_network_interfaces()
        .filters(filter)
        .send()
        .await;
    out.expect("describe network interfaces")
        .network_interfaces()
        .to_vec()
}

/// Sends a `CreateNetworkInterface` made outside the provider: the new interface's ID.
pub async fn create_interface(
    create: aws_sdk_ec2::operation::create_network_interface::builders::CreateNetworkInterfaceFluentBuilder,
) -> String {
    let out = create.send().await.expect("create network interface");
    let eni = out.network_interface().expect("an interface");
    eni.network_interface_id().expect("an ID").to_string()
}

/// The IDs of the interfaces `provider` lists as orphans older than `age`.
pub async fn orphan_ids(provider: &AwsProvider, age: std::time::Duration) -> Vec<String> {
    use cloudnet_core::Addresses;
    let orphans = provider.list_orphans(age).await.expect("list orphans");
    orphans.into_iter().map(|o| o.id.0).collect()
}

/// The zone names of load balancer `lb`, sorted.
pub fn zone_names(lb: &aws_sdk_elasticloadbalancingv2::types::LoadBalancer) -> Vec<&str> {
    let mut zones: Vec<_> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.zone_name())
        .collect();
    zones.sort();
    zones
}

/// Asserts that `err` is the node's interface limit.
pub fn assert_interface_limit(err: &cloudnet_core::Error) {
    use cloudnet_core::{Error, Limit};
    let limit = Limit::InterfacesPerNode;
    let hit = matches!(err, Error::LimitExceeded { limit: l, .. } if *l == limit);
    assert!(hit, "not the interface limit: {err:?}");
}

/// The listeners of load balancer `arn`.
pub async fn listeners(elb: &aws_sdk_elasticloadbalancingv2::Client, arn: &str) -> Vec<Listener> {
    let out = elb.describe_listeners().load_balancer_arn(arn).send().await;
    out.expect("describe listeners").listeners().to_vec()
}

/// The listener on `port`.
pub fn on_port(listeners: &[Listener], port: i32) -> &Listener {
    let found = listeners.iter().find(|l| l.port() == Some(port));
    found.unwrap_or_else(|| panic!("no listener on {port}"))
}

/// The rules of `listener`, its default rule included.
pub async fn rules(elb: &aws_sdk_elasticloadbalancingv2::Client, listener: &Listener) -> Vec<Rule> {
    let arn = listener.listener_arn().expect("a listener ARN");
    let out = elb.describe_rules().listener_arn(arn).send().await;
    out.expect("describe rules").rules().to_vec()
}

/// Whether security group `group` lets another group in on port 8080 (the backend rule on
/// the nodes' group).
pub async fn lets_a_group_in_on_8080(ec2: &aws_sdk_ec2::Client, group: &str) -> bool {
    let out = ec2.describe_security_groups().group_ids(group).send().await;
    let out = out.expect("describe security groups");
    out.security_groups()[0]
        .ip_permissions()
        .iter()
        .any(|p| p.from_port() == Some(8080) && !p.user_id_group_pairs().is_empty())
}

/// An active route of ours in `table` to `dest` through `instance`.
pub fn route(table: &str, dest: &str, instance: &str) -> Route {
    Route {
        table: table.into(),
        destination: dest.parse().unwrap(),
        target: RouteTarget::Instance(instance.into()),
        node: None,
        state: RouteState::Active,
        owned: true,
    }
}

pub fn node(instance: &str) -> NodeRef {
    NodeRef {
        name: format!("node-{instance}"),
        instance_id: instance.into(),
        zone: None,
    }
}

pub const LB_MUTATE: Op = Op::new(Service::LoadBalancing, OpClass::Mutate);
pub const LB_DESCRIBE: Op = Op::new(Service::LoadBalancing, OpClass::Describe);
