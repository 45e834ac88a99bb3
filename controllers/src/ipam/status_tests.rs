use super::*;
use crate::ipam::target::{PoolKnobs, pool_target};
use crate::ipam::test_node::NodeFixture;

/// An m5.large with `secondaries` addresses on its primary interface.
fn node(secondaries: u32) -> NodeInterfaces {
    NodeFixture::m5().with_primary_addresses(secondaries).0
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).expect("a time")
}

fn status_of(
    n: &NodeInterfaces,
    in_use: u32,
    failure: Option<&Error>,
    previous: Option<&NodeNetworkStatus>,
    now: i64,
) -> NodeNetworkStatus {
    let empty = BTreeSet::new();
    let t = pool_target(&PoolKnobs::default(), counts(n, in_use, &empty));
    build(StatusInput {
        previous,
        node: n,
        in_use,
        offered: &empty,
        released: vec![],
        target: &t,
        failure,
        blocked: None,
        generation: Some(1),
        now: at(now),
    })
}

fn cond(s: &NodeNetworkStatus, t: &str) -> (String, String) {
    let c = condition(s, t).expect("condition set");
    (c.status.clone(), c.reason.clone())
}

#[test]
fn a_pool_at_target_is_ready_with_counts() {
    let s = status_of(&node(9), 0, None, None, 100);
    assert_eq!(cond(&s, READY), ("True".into(), "PoolAtTarget".into()));
    assert_eq!(cond(&s, SUBNET_EXHAUSTED).0, "False");
    assert_eq!(cond(&s, LIMIT_REACHED).0, "False");
    assert_eq!(cond(&s, SYNCED).0, "True");
    assert_eq!(s.summary.addresses, 9);
    assert_eq!(s.summary.interfaces, 1);
    assert_eq!(s.summary.target, 9);
    assert_eq!(s.limits.as_ref().map(|l| l.max_interfaces), Some(3));
    assert_eq!(s.interfaces[0].blocks.len(), 10);
    assert!(s.interfaces[0].blocks[0].primary);
}

#[test]
fn subnet_exhaustion_names_the_cloud_code() {
    let err = Error::InsufficientCapacity {
        code: "InsufficientFreeAddressesInSubnet".into(),
        message: "subnet-a has no free addresses".into(),
    };
    let s = status_of(&node(0), 0, Some(&err), None, 100);
    assert_eq!(
        cond(&s, SUBNET_EXHAUSTED),
        ("True".into(), "InsufficientFreeAddressesInSubnet".into())
    );
    assert_eq!(
        cond(&s, READY),
        ("False".into(), "InsufficientFreeAddressesInSubnet".into())
    );
    assert_eq!(cond(&s, SYNCED).0, "False");
}

#[test]
fn a_full_node_reports_its_limit() {
    let mut n = node(9);
    for idx in 1..3 {
        let mut i = n.interfaces[0].clone();
        i.id = InterfaceId(format!("eni-{idx}"));
        i.index = idx;
        n.interfaces.push(i);
    }
    let s = status_of(&n, 27, None, None, 100);
    assert_eq!(
        cond(&s, LIMIT_REACHED),
        ("True".into(), "InstanceLimit".into())
    );
    assert_eq!(cond(&s, READY).0, "True", "27 of 27 is all it can hold");
    assert_eq!(s.summary.addresses, 27);
}

#[test]
fn transition_times_move_only_on_change() {
    let first = status_of(&node(9), 0, None, None, 100);
    let same = status_of(&node(9), 0, None, Some(&first), 200);
    let t = |s: &NodeNetworkStatus| condition(s, READY).map(|c| c.last_transition_time.0);
    assert_eq!(t(&same), Some(at(100)));
    let changed = status_of(&node(9), 1, None, Some(&same), 300);
    assert_eq!(cond(&changed, READY).0, "False");
    assert_eq!(t(&changed), Some(at(300)));
}

#[test]
fn counts_read_back_from_a_status_match_the_cloud_view() {
    let n = node(7);
    let s = status_of(&n, 3, None, None, 100);
    let offered: BTreeSet<IpNet> = ["10.0.0.100/32".parse().expect("cidr")].into();
    let from_status = counts_from_status(&s, 3, &offered).expect("limits known");
    assert_eq!(from_status, counts(&n, 3, &offered));
    assert_eq!(from_status.held, 6);
    assert!(counts_from_status(&NodeNetworkStatus::default(), 0, &offered).is_none());
}

#[test]
fn a_status_reads_back_into_the_same_node() {
    let n = node(4);
    let s = status_of(&n, 0, None, None, 100);
    assert_eq!(node_from_status(&s, &n.node).as_ref(), Some(&n));
}
