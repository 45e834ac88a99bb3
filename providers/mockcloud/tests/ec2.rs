//! EC2 through the real aws-sdk-ec2 client: every action, and AWS's rules.

mod common;

use aws_sdk_ec2::error::SdkError;
use aws_sdk_ec2::operation::attach_network_interface::{
    AttachNetworkInterfaceError, AttachNetworkInterfaceOutput,
};
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification};
use common::{ec2, interface, interfaces_where, new_interface, start};

const VPC: &str = "vpc-0c10d0e7000000001";
const PRIVATE_A: &str = "subnet-0c10d0e70000000a2";
const PRIVATE_B: &str = "subnet-0c10d0e70000000b2";
const NODE_1: &str = "i-0c10d0e7000000001";
const NODE_SG: &str = "sg-0c10d0e7000000001";

fn filter(name: &str, values: &[&str]) -> Filter {
    let mut f = Filter::builder().name(name);
    for v in values {
        f = f.values(*v);
    }
    f.build()
}

/// The route to `destination` in route table `table`.
async fn route_to(
    c: &aws_sdk_ec2::Client,
    table: &str,
    destination: &str,
) -> aws_sdk_ec2::types::Route {
    let read = c.describe_route_tables().route_table_ids(table);
    let tables = read.send().await.expect("DescribeRouteTables").route_tables;
    let routes = tables.into_iter().flatten().flat_map(|t| t.routes);
    let mut to = routes
        .flatten()
        .filter(|r| r.destination_cidr_block.as_deref() == Some(destination));
    to.next().expect("the route")
}

/// `AttachNetworkInterface` of `eni` to `instance` at `index`, as the SDK answers it.
async fn attach(
    c: &aws_sdk_ec2::Client,
    eni: &str,
    instance: &str,
    index: i32,
) -> Result<AttachNetworkInterfaceOutput, SdkError<AttachNetworkInterfaceError>> {
    c.attach_network_interface()
        .network_interface_id(eni)
        .instance_id(instance)
        .device_index(index)
        .send()
        .await
}

fn tags(rt: ResourceType, pairs: &[(&str, &str)]) -> TagSpecification {
    let mut s = TagSpecification::builder().resource_type(rt);
    for (k, v) in pairs {
        s = s.tags(Tag::builder().key(*k).value(*v).build());
    }
    s.build()
}

#[tokio::test]
async fn the_default_world_describes_itself() {
    let h = start().await;
    let c = ec2(&h).await;
    let zones = c.describe_availability_zones().send().await.unwrap();
    let names: Vec<_> = zones
        .availability_zones()
        .iter()
        .filter_map(|z| z.zone_name())
        .collect();
    assert_eq!(names, ["us-west-2a", "us-west-2b", "us-west-2c"]);
    assert_eq!(zones.availability_zones()[0].zone_id(), Some("usw2-az1"));

    let vpcs = c.describe_vpcs().send().await.unwrap();
    assert_eq!(vpcs.vpcs()[0].cidr_block(), Some("192.168.0.0/16"));

    let elb = c
        .describe_subnets()
        .filters(filter("tag:kubernetes.io/role/elb", &["1"]))
        .send()
        .await
        .unwrap();
    assert_eq!(elb.subnets().len(), 3);
    let s = &elb.subnets()[0];
    // A /19 has 8192 addresses, 5 reserved.
    assert_eq!(s.available_ip_address_count(), Some(8187));

    let inst = c.describe_instances().send().await.unwrap();
    let all: Vec<_> = inst
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    assert_eq!(all.len(), 2);
    let i = all
        .iter()
        .find(|i| i.instance_id() == Some(NODE_1))
        .unwrap();
    assert_eq!(
        i.state().and_then(|s| s.name()).map(|n| n.as_str()),
        Some("running")
    );
    assert_eq!(i.instance_type().map(|t| t.as_str()), Some("m5.large"));
    assert_eq!(i.network_interfaces().len(), 1);
    let eni = &i.network_interfaces()[0];
    assert_eq!(eni.attachment().and_then(|a| a.device_index()), Some(0));
    assert_eq!(eni.private_ip_address(), i.private_ip_address());
    assert_eq!(i.tags()[0].key(), Some("Name"));

    let types = c
        .describe_instance_types()
        .instance_types("m5.large".into())
        .send()
        .await
        .unwrap();
    let net = types.instance_types()[0].network_info().unwrap();
    assert_eq!(net.maximum_network_interfaces(), Some(3));
    assert_eq!(net.ipv4_addresses_per_interface(), Some(10));
    assert_eq!(
        types.instance_types()[0].hypervisor().map(|h| h.as_str()),
        Some("nitro")
    );
    assert_code!(
        c.describe_instance_types()
            .instance_types("m5.nonsense".into())
            .send()
            .await,
        "InvalidParameterValue"
    );
    let sgs = c
        .describe_security_groups()
        .group_ids(NODE_SG)
        .send()
        .await
        .unwrap();
    assert_eq!(
        sgs.security_groups()[0].group_name(),
        Some("cloudnet-nodes")
    );
    h.shutdown().await;
}

#[tokio::test]
async fn interfaces_attach_up_to_the_type_limit_and_in_use_ones_cannot_go() {
    let h = start().await;
    let c = ec2(&h).await;
    let mut enis = Vec::new();
    for i in 0..3 {
        let r = c
            .create_network_interface()
            .subnet_id(PRIVATE_A)
            .description(format!("extra {i}"))
            .groups(NODE_SG)
            .tag_specifications(tags(ResourceType::NetworkInterface, &[("cluster", "c1")]))
            .send()
            .await
            .unwrap();
        let eni = r.network_interface().unwrap();
        assert_eq!(eni.status().map(|s| s.as_str()), Some("available"));
        assert_eq!(eni.tag_set()[0].key(), Some("cluster"));
        enis.push(eni.network_interface_id().unwrap().to_string());
    }
    let a1 = attach(&c, &enis[0], NODE_1, 1).await.unwrap();
    // The same device index twice.
    assert_code!(
        attach(&c, &enis[1], NODE_1, 1).await,
        "InvalidParameterValue"
    );
    attach(&c, &enis[1], NODE_1, 2).await.unwrap();
    // m5.large takes three interfaces.
    assert_code!(
        attach(&c, &enis[2], NODE_1, 2).await,
        "InvalidParameterValue"
    );
    assert_code!(
        attach(&c, &enis[2], NODE_1, 3).await,
        "AttachmentLimitExceeded"
    );
    // Another zone.
    let other_id = new_interface(&c, PRIVATE_B).await;
    assert_code!(
        attach(&c, &other_id, NODE_1, 1).await,
        "InvalidParameterValue"
    );
    // Attached: cannot be deleted, nor attached again.
    assert_code!(
        c.delete_network_interface()
            .network_interface_id(&enis[0])
            .send()
            .await,
        "InvalidNetworkInterface.InUse"
    );
    let attached = interfaces_where(&c, vec![filter("attachment.instance-id", &[NODE_1])]).await;
    assert_eq!(attached.len(), 3);
    let in_use = vec![
        filter("status", &["in-use"]),
        filter("tag:cluster", &["c*"]),
    ];
    assert_eq!(interfaces_where(&c, in_use).await.len(), 2);

    // DeleteOnTermination through ModifyNetworkInterfaceAttribute.
    c.modify_network_interface_attribute()
        .network_interface_id(&enis[0])
        .attachment(
            aws_sdk_ec2::types::NetworkInterfaceAttachmentChanges::builder()
                .attachment_id(a1.attachment_id().unwrap())
                .delete_on_termination(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.modify_network_interface_attribute()
        .network_interface_id(&enis[1])
        .source_dest_check(
            aws_sdk_ec2::types::AttributeBooleanValue::builder()
                .value(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let d = interface(&c, &enis[1]).await;
    assert_eq!(d.source_dest_check(), Some(false));

    // Detach, then delete.
    let att = d
        .attachment()
        .and_then(|a| a.attachment_id())
        .unwrap()
        .to_string();
    c.detach_network_interface()
        .attachment_id(&att)
        .send()
        .await
        .unwrap();
    c.delete_network_interface()
        .network_interface_id(&enis[1])
        .send()
        .await
        .unwrap();
    assert_code!(
        c.describe_network_interfaces()
            .network_interface_ids(&enis[1])
            .send()
            .await,
        "InvalidNetworkInterfaceID.NotFound"
    );
    assert_code!(
        c.detach_network_interface()
            .attachment_id(&att)
            .send()
            .await,
        "InvalidAttachmentID.NotFound"
    );
    // The primary interface stays.
    let primary = interfaces_where(
        &c,
        vec![
            filter("attachment.instance-id", &[NODE_1]),
            filter("attachment.device-index", &["0"]),
        ],
    )
    .await;
    let primary_att = primary[0]
        .attachment()
        .and_then(|a| a.attachment_id())
        .unwrap()
        .to_string();
    assert_code!(
        c.detach_network_interface()
            .attachment_id(&primary_att)
            .send()
            .await,
        "OperationNotPermitted"
    );

    // Terminate: DeleteOnTermination interfaces go, others are detached.
    let t = c
        .terminate_instances()
        .instance_ids(NODE_1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        t.terminating_instances()[0]
            .current_state()
            .and_then(|s| s.name())
            .map(|n| n.as_str()),
        Some("shutting-down")
    );
    let left = interfaces_where(&c, vec![filter("subnet-id", &[PRIVATE_A])]).await;
    let ids: Vec<_> = left
        .iter()
        .filter_map(|e| e.network_interface_id())
        .collect();
    assert_eq!(
        ids,
        [enis[2].as_str()],
        "only the never-attached extra one stays"
    );
    let gone = c
        .describe_instances()
        .instance_ids(NODE_1)
        .send()
        .await
        .unwrap();
    let state = gone.reservations()[0].instances()[0]
        .state()
        .and_then(|s| s.name())
        .map(|n| n.as_str().to_string());
    assert_eq!(state.as_deref(), Some("terminated"));
    assert_code!(
        attach(&c, &enis[2], NODE_1, 1).await,
        "IncorrectInstanceState"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn not_found_codes_per_resource() {
    let h = start().await;
    let c = ec2(&h).await;
    assert_code!(
        c.describe_instances()
            .instance_ids("i-0000000000000dead")
            .send()
            .await,
        "InvalidInstanceID.NotFound"
    );
    assert_code!(
        c.describe_subnets()
            .subnet_ids("subnet-0000000000000dead")
            .send()
            .await,
        "InvalidSubnetID.NotFound"
    );
    assert_code!(
        c.describe_vpcs()
            .vpc_ids("vpc-0000000000000dead")
            .send()
            .await,
        "InvalidVpcID.NotFound"
    );
    assert_code!(
        c.describe_security_groups()
            .group_ids("sg-0000000000000dead")
            .send()
            .await,
        "InvalidGroup.NotFound"
    );
    assert_code!(
        c.describe_route_tables()
            .route_table_ids("rtb-0000000000000dead")
            .send()
            .await,
        "InvalidRouteTableID.NotFound"
    );
    assert_code!(
        c.delete_network_interface()
            .network_interface_id("eni-0000000000000dead")
            .send()
            .await,
        "InvalidNetworkInterfaceID.NotFound"
    );
    assert_code!(
        c.create_network_interface()
            .subnet_id("subnet-0000000000000dead")
            .send()
            .await,
        "InvalidSubnetID.NotFound"
    );
    assert_code!(
        c.create_tags()
            .resources("eni-0000000000000dead")
            .tags(Tag::builder().key("k").value("v").build())
            .send()
            .await,
        "InvalidNetworkInterfaceID.NotFound"
    );
    assert_code!(
        c.describe_network_interfaces()
            .filters(filter("no-such-filter", &["x"]))
            .send()
            .await,
        "InvalidParameterValue"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn describe_network_interfaces_filters_and_pages_like_ec2() {
    let h = start().await;
    let c = ec2(&h).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let r = c
            .create_network_interface()
            .subnet_id(PRIVATE_B)
            .description(format!("pool-{i:02}"))
            .tag_specifications(tags(
                ResourceType::NetworkInterface,
                &[("owner", if i % 2 == 0 { "even" } else { "odd" })],
            ))
            .send()
            .await
            .unwrap();
        ids.push(
            r.network_interface()
                .and_then(|e| e.network_interface_id())
                .unwrap()
                .to_string(),
        );
    }
    let odd = vec![
        filter("tag:owner", &["odd"]),
        filter("status", &["available"]),
        filter("vpc-id", &[VPC]),
    ];
    let ip = interfaces_where(&c, odd.clone()).await[0]
        .private_ip_address()
        .unwrap()
        .to_string();
    // Each set of filters and how many interfaces it matches.
    let cases = [
        (odd, 6),
        (vec![filter("description", &["pool-0?"])], 10),
        (vec![filter("tag-key", &["owner"])], 12),
        (vec![filter("private-ip-address", &[&ip])], 1),
        (vec![filter("network-interface-id", &[&ids[3]])], 1),
    ];
    for (filters, want) in cases {
        let what = format!("{filters:?}");
        assert_eq!(interfaces_where(&c, filters).await.len(), want, "{what}");
    }

    // Pages of 5 through the SDK's paginator: 12 created + 2 primaries.
    let pages: Vec<_> = c
        .describe_network_interfaces()
        .max_results(5)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(pages.len(), 3);
    let mut seen: Vec<String> = pages
        .into_iter()
        .flat_map(|p| p.unwrap().network_interfaces().to_vec())
        .filter_map(|e| e.network_interface_id().map(str::to_string))
        .collect();
    let n = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!((n, seen.len()), (14, 14));
    assert_code!(
        c.describe_network_interfaces().max_results(4).send().await,
        "InvalidParameterValue"
    );
    assert_code!(
        c.describe_network_interfaces()
            .max_results(5)
            .network_interface_ids(&ids[0])
            .send()
            .await,
        "InvalidParameterCombination"
    );
    assert_code!(
        c.describe_network_interfaces()
            .max_results(5)
            .next_token("garbage")
            .send()
            .await,
        "InvalidParameterValue"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn tags_on_every_resource() {
    let h = start().await;
    let c = ec2(&h).await;
    for id in [VPC, PRIVATE_A, NODE_SG, NODE_1] {
        c.create_tags()
            .resources(id)
            .tags(Tag::builder().key("team").value("net").build())
            .send()
            .await
            .unwrap();
    }
    let all = c
        .describe_tags()
        .filters(filter("key", &["team"]))
        .send()
        .await
        .unwrap();
    assert_eq!(all.tags().len(), 4);
    let types: Vec<_> = all
        .tags()
        .iter()
        .filter_map(|t| t.resource_type().map(|r| r.as_str().to_string()))
        .collect();
    assert!(types.contains(&"instance".to_string()));
    assert!(types.contains(&"security-group".to_string()));
    // Only the matching value goes.
    c.delete_tags()
        .resources(VPC)
        .tags(Tag::builder().key("team").value("other").build())
        .send()
        .await
        .unwrap();
    c.delete_tags()
        .resources(PRIVATE_A)
        .tags(Tag::builder().key("team").build())
        .send()
        .await
        .unwrap();
    let left = c
        .describe_tags()
        .filters(filter("key", &["team"]))
        .send()
        .await
        .unwrap();
    assert_eq!(left.tags().len(), 3);
    assert_code!(
        c.create_tags()
            .resources(VPC)
            .tags(Tag::builder().key("aws:reserved").value("x").build())
            .send()
            .await,
        "InvalidParameterValue"
    );
    let mut too_many = c.create_tags().resources(VPC);
    for i in 0..51 {
        too_many = too_many.tags(Tag::builder().key(format!("k{i}")).value("v").build());
    }
    assert_code!(too_many.send().await, "TagLimitExceeded");
    assert_code!(
        c.create_tags()
            .resources("bogus-123")
            .tags(Tag::builder().key("k").value("v").build())
            .send()
            .await,
        "InvalidID"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn vpcs_subnets_and_route_tables_follow_the_rules() {
    let h = start().await;
    let c = ec2(&h).await;
    let vpc = c
        .create_vpc()
        .cidr_block("10.1.0.0/16")
        .tag_specifications(tags(ResourceType::Vpc, &[("Name", "second")]))
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_string();
    assert_code!(
        c.create_vpc().cidr_block("10.0.0.0/8").send().await,
        "InvalidParameterValue"
    );
    let sn = c
        .create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block("10.1.0.0/28")
        .availability_zone("us-west-2c")
        .send()
        .await
        .unwrap();
    let subnet = sn.subnet().unwrap();
    assert_eq!(subnet.available_ip_address_count(), Some(11));
    let subnet_id = subnet.subnet_id().unwrap().to_string();
    assert_code!(
        c.create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block("10.1.0.0/24")
            .send()
            .await,
        "InvalidSubnet.Conflict"
    );
    assert_code!(
        c.create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block("10.2.0.0/24")
            .send()
            .await,
        "InvalidSubnet.Range"
    );
    // The main route table came with the VPC, with its local route.
    let main = c
        .describe_route_tables()
        .filters(filter("vpc-id", &[&vpc_id]))
        .filters(filter("association.main", &["true"]))
        .send()
        .await
        .unwrap();
    let routes = main.route_tables()[0].routes();
    assert_eq!(routes[0].gateway_id(), Some("local"));
    assert_eq!(routes[0].destination_cidr_block(), Some("10.1.0.0/16"));

    let rt = c.create_route_table().vpc_id(&vpc_id).send().await.unwrap();
    let rt_id = rt
        .route_table()
        .and_then(|r| r.route_table_id())
        .unwrap()
        .to_string();
    let assoc = c
        .associate_route_table()
        .route_table_id(&rt_id)
        .subnet_id(&subnet_id)
        .send()
        .await
        .unwrap();
    assert_code!(
        c.associate_route_table()
            .route_table_id(&rt_id)
            .subnet_id(&subnet_id)
            .send()
            .await,
        "Resource.AlreadyAssociated"
    );
    assert_code!(
        c.delete_route_table().route_table_id(&rt_id).send().await,
        "DependencyViolation"
    );
    assert_code!(
        c.delete_route()
            .route_table_id(&rt_id)
            .destination_cidr_block("10.1.0.0/16")
            .send()
            .await,
        "InvalidParameterValue"
    );
    assert_code!(
        c.create_route()
            .route_table_id(&rt_id)
            .destination_cidr_block("10.1.0.0/16")
            .gateway_id("igw-0123456789abcdef0")
            .send()
            .await,
        "RouteAlreadyExists"
    );
    assert_code!(
        c.delete_vpc().vpc_id(&vpc_id).send().await,
        "DependencyViolation"
    );
    c.disassociate_route_table()
        .association_id(assoc.association_id().unwrap())
        .send()
        .await
        .unwrap();
    c.delete_route_table()
        .route_table_id(&rt_id)
        .send()
        .await
        .unwrap();
    c.delete_subnet()
        .subnet_id(&subnet_id)
        .send()
        .await
        .unwrap();
    c.delete_vpc().vpc_id(&vpc_id).send().await.unwrap();
    assert_code!(
        c.describe_vpcs().vpc_ids(&vpc_id).send().await,
        "InvalidVpcID.NotFound"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn routes_to_instances_blackhole_when_the_instance_goes() {
    let h = start().await;
    let c = ec2(&h).await;
    let main = c
        .describe_route_tables()
        .filters(filter("vpc-id", &[VPC]))
        .send()
        .await
        .unwrap();
    let rt = main.route_tables()[0].route_table_id().unwrap().to_string();
    c.create_route()
        .route_table_id(&rt)
        .destination_cidr_block("100.64.1.0/24")
        .instance_id(NODE_1)
        .send()
        .await
        .unwrap();
    assert_code!(
        c.create_route()
            .route_table_id(&rt)
            .destination_cidr_block("100.64.1.0/24")
            .instance_id(NODE_1)
            .send()
            .await,
        "RouteAlreadyExists"
    );
    assert_code!(
        c.replace_route()
            .route_table_id(&rt)
            .destination_cidr_block("100.64.9.0/24")
            .instance_id(NODE_1)
            .send()
            .await,
        "InvalidRoute.NotFound"
    );
    assert_code!(
        c.delete_route()
            .route_table_id(&rt)
            .destination_cidr_block("100.64.9.0/24")
            .send()
            .await,
        "InvalidRoute.NotFound"
    );
    assert_code!(
        c.create_route()
            .route_table_id(&rt)
            .destination_cidr_block("100.64.2.0/24")
            .instance_id("i-0000000000000dead")
            .send()
            .await,
        "InvalidInstanceID.NotFound"
    );
    let route = route_to(&c, &rt, "100.64.1.0/24").await;
    assert_eq!(route.state().map(|s| s.as_str()), Some("active"));
    assert_eq!(route.instance_id(), Some(NODE_1));
    assert!(route.network_interface_id().is_some());
    c.terminate_instances()
        .instance_ids(NODE_1)
        .send()
        .await
        .unwrap();
    let route = route_to(&c, &rt, "100.64.1.0/24").await;
    assert_eq!(route.state().map(|s| s.as_str()), Some("blackhole"));
    c.replace_route()
        .route_table_id(&rt)
        .destination_cidr_block("100.64.1.0/24")
        .instance_id("i-0c10d0e7000000002")
        .send()
        .await
        .unwrap();
    let route = route_to(&c, &rt, "100.64.1.0/24").await;
    assert_eq!(route.state().map(|s| s.as_str()), Some("active"));
    c.delete_route()
        .route_table_id(&rt)
        .destination_cidr_block("100.64.1.0/24")
        .send()
        .await
        .unwrap();
    h.shutdown().await;
}

#[tokio::test]
async fn security_groups_and_instances() {
    let h = start().await;
    let c = ec2(&h).await;
    let sg = c
        .create_security_group()
        .group_name("lb")
        .description("load balancers")
        .vpc_id(VPC)
        .send()
        .await
        .unwrap();
    let sg_id = sg.group_id().unwrap().to_string();
    assert_code!(
        c.create_security_group()
            .group_name("lb")
            .description("again")
            .vpc_id(VPC)
            .send()
            .await,
        "InvalidGroup.Duplicate"
    );
    let perm = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build();
    c.authorize_security_group_ingress()
        .group_id(&sg_id)
        .ip_permissions(perm.clone())
        .send()
        .await
        .unwrap();
    assert_code!(
        c.authorize_security_group_ingress()
            .group_id(&sg_id)
            .ip_permissions(perm.clone())
            .send()
            .await,
        "InvalidPermission.Duplicate"
    );
    let d = c
        .describe_security_groups()
        .group_ids(&sg_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.security_groups()[0].ip_permissions()[0].from_port(),
        Some(443)
    );

    // An instance using the group keeps it from being deleted.
    let run = c
        .run_instances()
        .image_id("ami-12345678")
        .instance_type(aws_sdk_ec2::types::InstanceType::C54xlarge)
        .min_count(2)
        .max_count(2)
        .subnet_id(PRIVATE_B)
        .security_group_ids(&sg_id)
        .tag_specifications(tags(ResourceType::Instance, &[("role", "worker")]))
        .send()
        .await
        .unwrap();
    assert_eq!(run.instances().len(), 2);
    let new_id = run.instances()[0].instance_id().unwrap().to_string();
    assert_eq!(
        run.instances()[0]
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str()),
        Some("pending")
    );
    assert_code!(
        c.delete_security_group().group_id(&sg_id).send().await,
        "DependencyViolation"
    );
    c.modify_instance_attribute()
        .instance_id(&new_id)
        .source_dest_check(
            aws_sdk_ec2::types::AttributeBooleanValue::builder()
                .value(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let di = c
        .describe_instances()
        .filters(filter("tag:role", &["worker"]))
        .filters(filter("instance-state-name", &["running"]))
        .send()
        .await
        .unwrap();
    let insts: Vec<_> = di
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    assert_eq!(insts.len(), 2);
    let mine = insts
        .iter()
        .find(|i| i.instance_id() == Some(new_id.as_str()))
        .unwrap();
    assert_eq!(mine.source_dest_check(), Some(false));
    c.revoke_security_group_ingress()
        .group_id(&sg_id)
        .ip_permissions(perm.clone())
        .send()
        .await
        .unwrap();
    assert_code!(
        c.revoke_security_group_ingress()
            .group_id(&sg_id)
            .ip_permissions(perm)
            .send()
            .await,
        "InvalidPermission.NotFound"
    );
    let ids: Vec<String> = insts
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    c.terminate_instances()
        .set_instance_ids(Some(ids))
        .send()
        .await
        .unwrap();
    c.delete_security_group()
        .group_id(&sg_id)
        .send()
        .await
        .unwrap();
    h.shutdown().await;
}
