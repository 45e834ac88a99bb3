use super::*;
use crate::ipam::test_node::{NodeFixture, ip};

fn caps() -> AddressCapabilities {
    AddressCapabilities {
        hot_plug_interfaces: true,
        block_kinds: vec![BlockKind::SecondaryIp, BlockKind::Prefix],
        max_blocks_per_call: 49,
    }
}

fn new_if() -> Option<NewInterface> {
    Some(NewInterface {
        subnet_id: "subnet-a".into(),
        security_groups: vec![],
    })
}

fn run(knobs: &PoolKnobs, node: &NodeInterfaces, in_use: u32, offers: &[ReleaseOffer]) -> Plan {
    run_on(&caps(), knobs, node, in_use, offers)
}

fn run_on(
    capabilities: &AddressCapabilities,
    knobs: &PoolKnobs,
    node: &NodeInterfaces,
    in_use: u32,
    offers: &[ReleaseOffer],
) -> Plan {
    plan(&PlanInput {
        knobs,
        node,
        capabilities,
        in_use,
        offers,
        released: &[],
        new_interface: new_if(),
    })
}

fn assigns(p: &Plan) -> Vec<(String, u32)> {
    p.steps
        .iter()
        .filter_map(|s| match s {
            Step::Assign(a) => Some((a.interface.0.clone(), a.count)),
            _ => None,
        })
        .collect()
}

fn attaches(p: &Plan) -> Vec<u32> {
    p.steps
        .iter()
        .filter_map(|s| match s {
            Step::Attach(a) => Some(a.initial_blocks),
            _ => None,
        })
        .collect()
}

#[test]
fn a_fresh_node_fills_its_primary_interface_first() {
    let n = NodeFixture::m5().0;
    let p = run(&PoolKnobs::default(), &n, 0, &[]);
    assert_eq!(assigns(&p), vec![("eni-0".into(), 9)]);
    assert!(attaches(&p).is_empty());
}

#[test]
fn twenty_seven_wanted_means_primary_plus_two_new_interfaces() {
    let n = NodeFixture::m5().0;
    let k = PoolKnobs {
        minimum_ip_target: 27,
        ..Default::default()
    };
    let p = run(&k, &n, 0, &[]);
    assert_eq!(assigns(&p), vec![("eni-0".into(), 9)]);
    assert_eq!(attaches(&p), vec![9, 9]);
    assert_eq!(p.unplaced_blocks, 0);
    assert!(!p.target.limit_reached);
}

#[test]
fn max_eni_stops_new_interfaces() {
    let n = NodeFixture::m5().with_primary_addresses(9).0;
    let k = PoolKnobs {
        max_eni: Some(1),
        minimum_ip_target: 20,
        ..Default::default()
    };
    let p = run(&k, &n, 0, &[]);
    assert!(p.steps.is_empty(), "{:?}", p.steps);
    assert!(p.target.limit_reached);
}

#[test]
fn without_an_interface_config_no_interface_is_attached() {
    let n = NodeFixture::m5().with_primary_addresses(9).0;
    let p = plan(&PlanInput {
        knobs: &PoolKnobs::default(),
        node: &n,
        capabilities: &caps(),
        in_use: 1,
        offers: &[],
        released: &[],
        new_interface: None,
    });
    assert!(p.steps.is_empty());
    assert_eq!(p.unplaced_blocks, 9);
}

#[test]
fn clouds_without_hot_plug_only_fill_existing_interfaces() {
    let n = NodeFixture::m5().with_primary_addresses(5).0;
    let mut c = caps();
    c.hot_plug_interfaces = false;
    let p = run_on(&c, &PoolKnobs::default(), &n, 5, &[]);
    assert_eq!(assigns(&p), vec![("eni-0".into(), 4)]);
    assert_eq!(p.unplaced_blocks, 9);
}

#[test]
fn azure_nodes_get_ip_configurations_in_batches_on_their_one_nic() {
    let mut n = NodeFixture::m5().0;
    n.limits.block_kinds = vec![BlockKind::IpConfiguration];
    n.limits.max_blocks_per_interface = 256;
    n.limits.max_interfaces = 1;
    let mut c = caps();
    c.hot_plug_interfaces = false;
    c.block_kinds = vec![BlockKind::IpConfiguration];
    c.max_blocks_per_call = 16;
    let k = PoolKnobs {
        warm_ip_target: 40,
        ..Default::default()
    };
    let p = run_on(&c, &k, &n, 0, &[]);
    assert_eq!(p.kind, BlockKind::IpConfiguration);
    assert_eq!(
        assigns(&p),
        vec![
            ("eni-0".into(), 16),
            ("eni-0".into(), 16),
            ("eni-0".into(), 8)
        ]
    );
    assert!(
        p.steps
            .iter()
            .all(|s| matches!(s, Step::Assign(a) if a.kind == BlockKind::IpConfiguration))
    );
    assert_eq!(p.unplaced_blocks, 0);
}

#[test]
fn prefix_mode_asks_for_prefixes_where_the_node_supports_them() {
    let mut n = NodeFixture::m5().0;
    let k = PoolKnobs {
        prefix_delegation: true,
        ..Default::default()
    };
    let p = run(&k, &n, 0, &[]);
    assert_eq!(p.kind, BlockKind::Prefix);
    assert!(
        matches!(&p.steps[..], [Step::Assign(a)] if a.kind == BlockKind::Prefix && a.count == 1)
    );
    // A Xen type without prefix support falls back to single addresses.
    n.limits.block_kinds = vec![BlockKind::SecondaryIp];
    let p = run(&k, &n, 0, &[]);
    assert_eq!(p.kind, BlockKind::SecondaryIp);
    assert_eq!(assigns(&p), vec![("eni-0".into(), 9)]);
}

#[test]
fn calls_are_split_at_the_cloud_limit() {
    let n = NodeFixture::m5().0;
    let mut c = caps();
    c.max_blocks_per_call = 4;
    let p = plan(&PlanInput {
        knobs: &PoolKnobs::default(),
        node: &n,
        capabilities: &c,
        in_use: 0,
        offers: &[],
        released: &[],
        new_interface: new_if(),
    });
    assert_eq!(
        assigns(&p),
        vec![
            ("eni-0".into(), 4),
            ("eni-0".into(), 4),
            ("eni-0".into(), 1)
        ]
    );
}

fn offer(interface: &str, block: &str) -> ReleaseOffer {
    ReleaseOffer {
        interface: interface.into(),
        block: ip(block),
    }
}

#[test]
fn offers_are_checked_against_the_cloud() {
    let n = NodeFixture::m5().with_primary_addresses(9).0;
    let offers = [
        offer("eni-0", "10.0.0.100/32"),
        offer("eni-0", "10.0.0.10/32"),
        offer("eni-9", "10.0.9.100/32"),
        offer("eni-0", "10.0.0.250/32"),
    ];
    let k = PoolKnobs {
        warm_ip_target: 1,
        ..Default::default()
    };
    let p = run(&k, &n, 0, &offers);
    assert_eq!(
        p.steps[0],
        Step::Release {
            interface: InterfaceId("eni-0".into()),
            blocks: vec![ip("10.0.0.100/32")],
        }
    );
    let reasons: Vec<_> = p.refused.iter().map(|r| r.reason).collect();
    assert_eq!(reasons, vec!["PrimaryAddress", "InterfaceNotOnNode"]);
    assert_eq!(p.already_gone, vec![ip("10.0.0.250/32")]);
    // The offered block no longer counts: 8 held, 1 wanted.
    assert_eq!(p.target.held, 8);
}

#[test]
fn the_handshake_forgets_released_blocks_once_the_offer_is_dropped() {
    let n = NodeFixture::m5().with_primary_addresses(8).0;
    let offers = [offer("eni-0", "10.0.0.101/32")];
    let released = [ip("10.0.0.101/32"), ip("10.0.0.120/32")];
    let p = plan(&PlanInput {
        knobs: &PoolKnobs::default(),
        node: &n,
        capabilities: &caps(),
        in_use: 0,
        offers: &offers,
        released: &released,
        new_interface: new_if(),
    });
    // 10.0.0.101 was released already: no second release while its offer stays.
    assert!(
        !p.steps.iter().any(|s| matches!(s, Step::Release { .. })),
        "{:?}",
        p.steps
    );
    assert_eq!(p.released_kept, vec![ip("10.0.0.101/32")]);
}

#[test]
fn released_slots_are_reused_in_the_same_round() {
    // Full primary; the node offers 2 and asks for 9 more in use: 2 slots free up.
    let n = NodeFixture::m5().with_primary_addresses(9).0;
    let offers = [
        offer("eni-0", "10.0.0.100/32"),
        offer("eni-0", "10.0.0.101/32"),
    ];
    let k = PoolKnobs {
        warm_ip_target: 4,
        ..Default::default()
    };
    let p = run(&k, &n, 5, &offers);
    // held 7, wanted 9: two more, in the freed slots of eni-0.
    assert_eq!(assigns(&p), vec![("eni-0".into(), 2)]);
    assert!(matches!(p.steps[0], Step::Release { .. }));
}

#[test]
fn an_emptied_interface_of_ours_is_detached() {
    let n = NodeFixture::m5()
        .with_primary_addresses(9)
        .with_interface(1, 2)
        .0;
    let offers = [
        offer("eni-1", "10.0.1.100/32"),
        offer("eni-1", "10.0.1.101/32"),
    ];
    let p = run(&PoolKnobs::default(), &n, 0, &offers);
    assert_eq!(
        p.steps.last(),
        Some(&Step::Detach {
            interface: InterfaceId("eni-1".into())
        })
    );
    // The primary interface is never detached, even when empty.
    let n = NodeFixture::m5().with_interface(1, 9).0;
    let p = run(&PoolKnobs::default(), &n, 0, &[]);
    assert!(!p.steps.iter().any(|s| matches!(s, Step::Detach { .. })));
}

#[test]
fn an_idle_node_at_target_plans_nothing() {
    let n = NodeFixture::m5().with_primary_addresses(9).0;
    let p = run(&PoolKnobs::default(), &n, 0, &[]);
    assert!(p.is_idle());
    assert_eq!(p.target.excess_blocks, 0);
}
