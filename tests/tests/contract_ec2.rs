//! EC2 behaviours the suite relies on, checked against the mock cloud and against moto with the
//! real aws-sdk-ec2. Where a case is mock-only, the reason says what moto does not model.

mod common;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, InstanceType, IpPermission, IpRange, NetworkInterfaceStatus, ResourceType, Tag,
    TagSpecification,
};
use cloudnet_tests::{CloudKind, CloudUnderTest, contract};
use common::{code, unique};

/// A VPC 10.<n>.0.0/16 with one /24 subnet in us-west-2a and an m5.large in it.
struct Net {
    vpc: String,
    subnet: String,
    instance: String,
}

async fn vpc_and_subnet(ec2: &Client, subnet_cidr_prefix: u8) -> (String, String) {
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .expect("CreateVpc")
        .vpc
        .and_then(|v| v.vpc_id)
        .expect("vpc id");
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block(format!("10.0.1.0/{subnet_cidr_prefix}"))
        .availability_zone("us-west-2a")
        .send()
        .await
        .expect("CreateSubnet")
        .subnet
        .and_then(|s| s.subnet_id)
        .expect("subnet id");
    (vpc, subnet)
}

async fn net(ec2: &Client, instance_type: InstanceType) -> Net {
    let (vpc, subnet) = vpc_and_subnet(ec2, 24).await;
    let instance = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(instance_type)
        .subnet_id(&subnet)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .expect("RunInstances")
        .instances()
        .first()
        .and_then(|i| i.instance_id.clone())
        .expect("instance id");
    Net {
        vpc,
        subnet,
        instance,
    }
}

fn eni_tags(key: &str, value: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(ResourceType::NetworkInterface)
        .tags(Tag::builder().key(key).value(value).build())
        .build()
}

/// Interfaces tagged by [`eni_tags`] as `cluster`'s.
fn cluster_filter(cluster: &str) -> Filter {
    Filter::builder()
        .name("tag:cloudnet.io/cluster")
        .values(cluster)
        .build()
}

async fn create_eni(ec2: &Client, subnet: &str, secondary: i32, tag_value: &str) -> String {
    // AWS refuses a count of 0 (InvalidParameterValue): leave it out instead.
    ec2.create_network_interface()
        .subnet_id(subnet)
        .set_secondary_private_ip_address_count((secondary > 0).then_some(secondary))
        .tag_specifications(eni_tags("cloudnet.io/cluster", tag_value))
        .send()
        .await
        .expect("CreateNetworkInterface")
        .network_interface
        .and_then(|n| n.network_interface_id)
        .expect("eni id")
}

async fn route_table(ec2: &Client, vpc: &str) -> String {
    ec2.create_route_table()
        .vpc_id(vpc)
        .send()
        .await
        .expect("CreateRouteTable")
        .route_table
        .and_then(|r| r.route_table_id)
        .expect("route table id")
}

/// The routes of route table `table`.
async fn routes_of(ec2: &Client, table: &str) -> Vec<aws_sdk_ec2::types::Route> {
    let out = ec2
        .describe_route_tables()
        .route_table_ids(table)
        .send()
        .await;
    let tables = out.expect("DescribeRouteTables").route_tables().to_vec();
    tables[0].routes().to_vec()
}

async fn attach(
    ec2: &Client,
    eni: &str,
    instance: &str,
    index: i32,
) -> Result<
    aws_sdk_ec2::operation::attach_network_interface::AttachNetworkInterfaceOutput,
    aws_sdk_ec2::error::SdkError<
        aws_sdk_ec2::operation::attach_network_interface::AttachNetworkInterfaceError,
    >,
> {
    ec2.attach_network_interface()
        .network_interface_id(eni)
        .instance_id(instance)
        .device_index(index)
        .send()
        .await
}

async fn subnet_free(ec2: &Client, subnet: &str) -> i32 {
    ec2.describe_subnets()
        .subnet_ids(subnet)
        .send()
        .await
        .expect("DescribeSubnets")
        .subnets()[0]
        .available_ip_address_count
        .expect("count")
}

async fn vpcs_and_subnets(cloud: CloudUnderTest) {
    let ec2 = cloud.ec2().await;
    let (vpc, subnet) = vpc_and_subnet(&ec2, 24).await;
    let found = ec2
        .describe_subnets()
        .filters(Filter::builder().name("vpc-id").values(&vpc).build())
        .send()
        .await
        .unwrap();
    assert_eq!(found.subnets().len(), 1);
    let s = &found.subnets()[0];
    assert_eq!(s.subnet_id(), Some(subnet.as_str()));
    assert_eq!(s.cidr_block(), Some("10.0.1.0/24"));
    assert_eq!(s.availability_zone(), Some("us-west-2a"));
    // 256 minus AWS's 5 reserved addresses.
    assert_eq!(s.available_ip_address_count(), Some(251));
    let bad = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("192.168.0.0/24")
        .send()
        .await;
    assert_eq!(code(bad), "InvalidSubnet.Range");
    let missing = ec2
        .describe_subnets()
        .subnet_ids("subnet-0000000000000000f")
        .send()
        .await;
    assert_eq!(code(missing), "InvalidSubnetID.NotFound");
}
contract!(vpcs_and_subnets);

async fn network_interface_lifecycle(cloud: CloudUnderTest) {
    let ec2 = cloud.ec2().await;
    let n = net(&ec2, InstanceType::M5Large).await;
    let cluster = unique("lifecycle");
    let eni = create_eni(&ec2, &n.subnet, 2, &cluster).await;

    let by_tag = ec2
        .describe_network_interfaces()
        .filters(cluster_filter(&cluster))
        .filters(Filter::builder().name("status").values("available").build())
        .send()
        .await
        .unwrap();
    let found = by_tag.network_interfaces();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].network_interface_id(), Some(eni.as_str()));
    assert_eq!(
        found[0].private_ip_addresses().len(),
        3,
        "primary + 2 secondary"
    );
    assert_eq!(found[0].vpc_id(), Some(n.vpc.as_str()));
    assert_eq!(found[0].tag_set().len(), 1);

    let attachment = ec2
        .attach_network_interface()
        .network_interface_id(&eni)
        .instance_id(&n.instance)
        .device_index(1)
        .send()
        .await
        .expect("AttachNetworkInterface")
        .attachment_id
        .expect("attachment id");
    let attached = ec2
        .describe_network_interfaces()
        .filters(
            Filter::builder()
                .name("attachment.instance-id")
                .values(&n.instance)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = attached
        .network_interfaces()
        .iter()
        .filter_map(|i| i.network_interface_id())
        .collect();
    assert!(ids.contains(&eni.as_str()), "{ids:?}");
    let mine = attached
        .network_interfaces()
        .iter()
        .find(|i| i.network_interface_id() == Some(&eni))
        .unwrap();
    assert_eq!(mine.status(), Some(&NetworkInterfaceStatus::InUse));
    assert_eq!(mine.attachment().and_then(|a| a.device_index()), Some(1));

    ec2.detach_network_interface()
        .attachment_id(&attachment)
        .send()
        .await
        .expect("Detach");
    ec2.delete_network_interface()
        .network_interface_id(&eni)
        .send()
        .await
        .expect("Delete");
    let gone = ec2
        .describe_network_interfaces()
        .network_interface_ids(&eni)
        .send()
        .await;
    assert_eq!(code(gone), "InvalidNetworkInterfaceID.NotFound");
    let again = ec2
        .delete_network_interface()
        .network_interface_id(&eni)
        .send()
        .await;
    assert_eq!(code(again), "InvalidNetworkInterfaceID.NotFound");
}
contract!(network_interface_lifecycle);

async fn attached_interfaces_cannot_be_deleted(cloud: CloudUnderTest) {
    let ec2 = cloud.ec2().await;
    let n = net(&ec2, InstanceType::M5Large).await;
    let eni = create_eni(&ec2, &n.subnet, 0, &unique("inuse")).await;
    attach(&ec2, &eni, &n.instance, 1).await.unwrap();
    let r = ec2
        .delete_network_interface()
        .network_interface_id(&eni)
        .send()
        .await;
    assert_eq!(code(r), "InvalidNetworkInterface.InUse");
}
contract!(
    attached_interfaces_cannot_be_deleted,
    mock_only =
        "moto deletes an attached ENI without complaint; AWS answers InvalidNetworkInterface.InUse"
);

async fn secondary_addresses(cloud: CloudUnderTest) {
    let ec2 = cloud.ec2().await;
    let n = net(&ec2, InstanceType::M5Large).await;
    let eni = create_eni(&ec2, &n.subnet, 0, &unique("addr")).await;
    let assigned = ec2
        .assign_private_ip_addresses()
        .network_interface_id(&eni)
        .secondary_private_ip_address_count(3)
        .send()
        .await
        .expect("AssignPrivateIpAddresses");
    let ips: Vec<String> = assigned
        .assigned_private_ip_addresses()
        .iter()
        .filter_map(|a| a.private_ip_address.clone())
        .collect();
    if cloud.kind == CloudKind::Moto {
        // moto lists the primary address among the newly assigned ones; AWS lists only the
        // new ones.
        assert_eq!(ips.len(), 4);
    } else {
        assert_eq!(ips.len(), 3);
    }
    for ip in &ips {
        assert!(ip.starts_with("10.0.1."), "{ip}");
    }
    let described = ec2
        .describe_network_interfaces()
        .network_interface_ids(&eni)
        .send()
        .await
        .unwrap();
    let all: Vec<_> = described.network_interfaces()[0]
        .private_ip_addresses()
        .iter()
        .filter_map(|a| a.private_ip_address())
        .collect();
    assert_eq!(all.len(), 4);
    let mut dedup = all.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 4, "no address twice: {all:?}");

    ec2.unassign_private_ip_addresses()
        .network_interface_id(&eni)
        .private_ip_addresses(&ips[ips.len() - 1])
        .send()
        .await
        .expect("UnassignPrivateIpAddresses");
    let after = ec2
        .describe_network_interfaces()
        .network_interface_ids(&eni)
        .send()
        .await
        .unwrap();
    let remaining = after.network_interfaces()[0].private_ip_addresses().len();
    if cloud.kind == CloudKind::Moto {
        // moto keeps an unassigned address on the interface; AWS removes it.
        assert!(remaining >= 3);
    } else {
        assert_eq!(remaining, 3);
    }
}
contract!(secondary_addresses);

async fn addresses_per_interface_are_limited(cloud: CloudUnderTest) {
    let ec2 = cloud.ec2().await;
    let n = net(&ec2, InstanceType::M5Large).await;
    let eni = create_eni(&ec2, &n.subnet, 0, &unique("limit")).await;
    attach(&ec2, &eni, &n.instance, 1).await.unwrap();
    // m5.large: 10 IPv4 addresses per ENI, the primary included.
    let ok = ec2
        .assign_private_ip_addresses()
        .network_interface_id(&eni)
        .secondary_private_ip_address_count(9)
        .send()
        .await;
    assert!(ok.is_ok(), "{ok:?}");
    let over = ec2
        .assign_private_ip_addresses()
        .network_interface_id(&eni)
        .secondary_private_ip_address_count(1)
        .send()
        .await;
    assert_eq!(code(over), "PrivateIpAddressLimitExceeded");
}
contract!(
    addresses_per_interface_are_limited,
    mock_only = "moto enforces no per-instance-type IP limits"
);

async fn interfaces_per_instance_are_limited(cloud: CloudUnderTest) {
    let ec2 = cloud.ec2().await;
    let n = net(&ec2, InstanceType::M5Large).await;
    // m5.large: 3 ENIs; the primary is at index 0.
    for index in 1..=2 {
        let eni = create_eni(&ec2, &n.subnet, 0, &unique("enilimit")).await;
        attach(&ec2, &eni, &n.instance, index).await.unwrap();
    }
    let eni = create_eni(&ec2, &n.subnet, 0, &unique("enilimit")).await;
    let r = attach(&ec2, &eni, &n.instance, 3).await;
    assert_eq!(code(r), "AttachmentLimitExceeded");
}
contract!(
    interfaces_per_instance_are_limited,
    mock_only = "moto enforces no ENI limits per instance type"
);

async fn device_index_is_unique(cloud: CloudUnderTest) {
    let ec2 = cloud.ec2().await;
    let n = net(&ec2, InstanceType::M5Large).await;
    let a = create_eni(&ec2, &n.subnet, 0, &unique("idx")).await;
    let b = create_eni(&ec2, &n.subnet, 0, &unique("idx")).await;
    attach(&ec2, &a, &n.instance, 1).await.unwrap();
    let r = attach(&ec2, &b, &n.instance, 1).await;
    assert_eq!(code(r), "InvalidParameterValue");
}
contract!(
    device_index_is_unique,
    mock_only = "moto attaches two ENIs at one device index"
);

async fn subnets_run_out_of_addresses(cloud: CloudUnderTest) {
    let ec2 = cloud.ec2().await;
    // A /28 holds 16 addresses, 5 of them reserved by AWS.
    let (_, subnet) = vpc_and_subnet(&ec2, 28).await;
    assert_eq!(subnet_free(&ec2, &subnet).await, 11);
    let eni = create_eni(&ec2, &subnet, 9, &unique("full")).await;
    assert_eq!(subnet_free(&ec2, &subnet).await, 1);
    let r = ec2
        .assign_private_ip_addresses()
        .network_interface_id(&eni)
        .secondary_private_ip_address_count(2)
        .send()
        .await;
    assert_eq!(code(r), "InsufficientFreeAddressesInSubnet");
    ec2.delete_network_interface()
        .network_interface_id(&eni)
        .send()
        .await
        .unwrap();
    assert_eq!(
        subnet_free(&ec2, &subnet).await,
        11,
        "deleting an ENI frees its addresses"
    );
}
contract!(
    subnets_run_out_of_addresses,
    mock_only = "moto does not run subnets out of addresses"
);

async fn prefix_delegation(cloud: CloudUnderTest) {
    let ec2 = cloud.ec2().await;
    let n = net(&ec2, InstanceType::M5Large).await;
    let eni = create_eni(&ec2, &n.subnet, 0, &unique("prefix")).await;
    let out = ec2
        .assign_private_ip_addresses()
        .network_interface_id(&eni)
        .ipv4_prefix_count(2)
        .send()
        .await
        .expect("prefixes");
    let prefixes: Vec<String> = out
        .assigned_ipv4_prefixes()
        .iter()
        .filter_map(|p| p.ipv4_prefix.clone())
        .collect();
    assert_eq!(prefixes.len(), 2);
    for p in &prefixes {
        let (ip, len) = p.split_once('/').unwrap();
        assert_eq!(len, "28");
        let last: u8 = ip.rsplit('.').next().unwrap().parse().unwrap();
        assert_eq!(last % 16, 0, "aligned on /28: {p}");
    }
    let both = ec2
        .assign_private_ip_addresses()
        .network_interface_id(&eni)
        .ipv4_prefix_count(1)
        .secondary_private_ip_address_count(1)
        .send()
        .await;
    assert_eq!(code(both), "InvalidParameterCombination");
    ec2.unassign_private_ip_addresses()
        .network_interface_id(&eni)
        .ipv4_prefixes(&prefixes[0])
        .send()
        .await
        .expect("unassign prefix");
    let d = ec2
        .describe_network_interfaces()
        .network_interface_ids(&eni)
        .send()
        .await
        .unwrap();
    assert_eq!(d.network_interfaces()[0].ipv4_prefixes().len(), 1);
}
contract!(
    prefix_delegation,
    mock_only = "moto ignores prefix delegation"
);

async fn routes(cloud: CloudUnderTest) {
    let ec2 = cloud.ec2().await;
    let n = net(&ec2, InstanceType::M5Large).await;
    let rtb = route_table(&ec2, &n.vpc).await;
    ec2.create_route()
        .route_table_id(&rtb)
        .destination_cidr_block("10.244.1.0/24")
        .instance_id(&n.instance)
        .send()
        .await
        .expect("CreateRoute");
    let dup = ec2
        .create_route()
        .route_table_id(&rtb)
        .destination_cidr_block("10.244.1.0/24")
        .instance_id(&n.instance)
        .send()
        .await;
    assert_eq!(code(dup), "RouteAlreadyExists");
    let routes = &routes_of(&ec2, &rtb).await;
    assert!(
        routes
            .iter()
            .any(|r| r.destination_cidr_block() == Some("10.0.0.0/16")
                && r.gateway_id() == Some("local")),
        "{routes:?}"
    );
    let ours = routes
        .iter()
        .find(|r| r.destination_cidr_block() == Some("10.244.1.0/24"))
        .expect("our route");
    assert_eq!(ours.instance_id(), Some(n.instance.as_str()));
    ec2.delete_route()
        .route_table_id(&rtb)
        .destination_cidr_block("10.244.1.0/24")
        .send()
        .await
        .expect("DeleteRoute");
    let again = ec2
        .delete_route()
        .route_table_id(&rtb)
        .destination_cidr_block("10.244.1.0/24")
        .send()
        .await;
    assert_eq!(code(again), "InvalidRoute.NotFound");
}
contract!(routes);

async fn the_local_route_is_immutable(cloud: CloudUnderTest) {
    let ec2 = cloud.ec2().await;
    let n = net(&ec2, InstanceType::M5Large).await;
    let rtb = route_table(&ec2, &n.vpc).await;
    let r = ec2
        .delete_route()
        .route_table_id(&rtb)
        .destination_cidr_block("10.0.0.0/16")
        .send()
        .await;
    assert_eq!(code(r), "InvalidParameterValue");
}
contract!(
    the_local_route_is_immutable,
    mock_only = "moto lets the local route be deleted; AWS refuses with InvalidParameterValue"
);

async fn routes_to_a_terminated_instance_become_blackholes(cloud: CloudUnderTest) {
    let ec2 = cloud.ec2().await;
    let n = net(&ec2, InstanceType::M5Large).await;
    let rtb = route_table(&ec2, &n.vpc).await;
    ec2.create_route()
        .route_table_id(&rtb)
        .destination_cidr_block("10.244.2.0/24")
        .instance_id(&n.instance)
        .send()
        .await
        .unwrap();
    ec2.terminate_instances()
        .instance_ids(&n.instance)
        .send()
        .await
        .unwrap();
    let routes = routes_of(&ec2, &rtb).await;
    let mut to_node = routes.iter();
    let route = to_node
        .find(|r| r.destination_cidr_block() == Some("10.244.2.0/24"))
        .expect("the route to the terminated node");
    assert_eq!(route.state().map(|s| s.as_str()), Some("blackhole"));
}
contract!(
    routes_to_a_terminated_instance_become_blackholes,
    mock_only = "moto keeps such routes active"
);

async fn tags(cloud: CloudUnderTest) {
    let ec2 = cloud.ec2().await;
    let (_, subnet) = vpc_and_subnet(&ec2, 24).await;
    let eni = create_eni(&ec2, &subnet, 0, &unique("tags")).await;
    ec2.create_tags()
        .resources(&eni)
        .tags(Tag::builder().key("a").value("1").build())
        .send()
        .await
        .unwrap();
    let d = ec2
        .describe_tags()
        .filters(Filter::builder().name("resource-id").values(&eni).build())
        .send()
        .await
        .unwrap();
    let mut keys: Vec<_> = d.tags().iter().filter_map(|t| t.key()).collect();
    keys.sort();
    assert_eq!(keys, vec!["a", "cloudnet.io/cluster"]);
    ec2.delete_tags()
        .resources(&eni)
        .tags(Tag::builder().key("a").build())
        .send()
        .await
        .unwrap();
    let eni_d = ec2
        .describe_network_interfaces()
        .network_interface_ids(&eni)
        .send()
        .await
        .unwrap();
    assert_eq!(eni_d.network_interfaces()[0].tag_set().len(), 1);
}
contract!(tags);

async fn security_groups(cloud: CloudUnderTest) {
    let ec2 = cloud.ec2().await;
    let (vpc, _) = vpc_and_subnet(&ec2, 24).await;
    // AWS refuses group names that look like IDs (`sg-*`).
    let name = unique("web");
    let sg = ec2
        .create_security_group()
        .group_name(&name)
        .description("test")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let dup = ec2
        .create_security_group()
        .group_name(&name)
        .description("test")
        .vpc_id(&vpc)
        .send()
        .await;
    assert_eq!(code(dup), "InvalidGroup.Duplicate");
    let perm = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(80)
        .to_port(80)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build();
    ec2.authorize_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(perm.clone())
        .send()
        .await
        .unwrap();
    let again = ec2
        .authorize_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(perm.clone())
        .send()
        .await;
    assert_eq!(code(again), "InvalidPermission.Duplicate");
    let d = ec2
        .describe_security_groups()
        .group_ids(&sg)
        .send()
        .await
        .unwrap();
    assert_eq!(d.security_groups()[0].ip_permissions().len(), 1);
    ec2.revoke_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(perm)
        .send()
        .await
        .unwrap();
    ec2.delete_security_group()
        .group_id(&sg)
        .send()
        .await
        .unwrap();
    let gone = ec2.describe_security_groups().group_ids(&sg).send().await;
    assert_eq!(code(gone), "InvalidGroup.NotFound");
}
contract!(security_groups);

async fn instances(cloud: CloudUnderTest) {
    let ec2 = cloud.ec2().await;
    let n = net(&ec2, InstanceType::M5Large).await;
    let d = ec2
        .describe_instances()
        .instance_ids(&n.instance)
        .send()
        .await
        .unwrap();
    let i = &d.reservations()[0].instances()[0];
    assert_eq!(i.instance_type(), Some(&InstanceType::M5Large));
    assert_eq!(i.subnet_id(), Some(n.subnet.as_str()));
    assert!(
        i.private_ip_address()
            .unwrap_or_default()
            .starts_with("10.0.1.")
    );
    let primary = i
        .network_interfaces()
        .iter()
        .find(|e| e.attachment().and_then(|a| a.device_index()) == Some(0));
    assert!(
        primary.is_some(),
        "an instance has its primary ENI at index 0"
    );
    let types = ec2
        .describe_instance_types()
        .instance_types(InstanceType::M5Large)
        .send()
        .await
        .unwrap();
    let net_info = types.instance_types()[0].network_info().unwrap();
    assert_eq!(net_info.maximum_network_interfaces(), Some(3));
    assert_eq!(net_info.ipv4_addresses_per_interface(), Some(10));
    ec2.terminate_instances()
        .instance_ids(&n.instance)
        .send()
        .await
        .unwrap();
    let missing = ec2
        .describe_instances()
        .instance_ids("i-0000000000000000f")
        .send()
        .await;
    assert_eq!(code(missing), "InvalidInstanceID.NotFound");
}
contract!(instances);

async fn pagination(cloud: CloudUnderTest) {
    let ec2 = cloud.ec2().await;
    let (_, subnet) = vpc_and_subnet(&ec2, 24).await;
    let cluster = unique("pages");
    let mut created = Vec::new();
    for _ in 0..12 {
        created.push(create_eni(&ec2, &subnet, 0, &cluster).await);
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = ec2
            .describe_network_interfaces()
            .filters(cluster_filter(&cluster))
            .max_results(5)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(page.network_interfaces().len() <= 5);
        seen.extend(
            page.network_interfaces()
                .iter()
                .filter_map(|i| i.network_interface_id.clone()),
        );
        token = page.next_token.clone();
        if token.is_none() {
            break;
        }
        assert!(pages < 10, "pagination does not end");
    }
    seen.sort();
    created.sort();
    assert_eq!(seen, created, "every ENI exactly once");
    assert!(pages >= 3);
}
contract!(
    pagination,
    mock_only =
        "moto ignores MaxResults on DescribeNetworkInterfaces and answers everything in one page"
);
