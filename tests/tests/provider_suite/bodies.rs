//! The suite's bodies, each written once against [`cloudnet_core::Cloud`] and a [`World`].
//! A body skips only what the cloud's capabilities say it lacks, and prints that it did.

use std::collections::BTreeSet;

use cloudnet_core::{
    AssignBlocks, AttachInterface, ErrorKind, LoadBalancerKind, LoadBalancerSpec, Rule,
};

use crate::world::{World, l4_spec};

fn skip(w: &dyn World, what: &str) {
    println!(
        "{}: skipped, the cloud's capabilities lack {what}",
        w.name()
    );
}

/// Two single blocks on node 0's first interface: two calls, two distinct addresses the mock
/// holds; released, the mock holds what it held before, and releasing again is fine. A cloud
/// that cannot hot-plug interfaces refuses an attach before any call.
pub async fn addresses_are_assigned_once_and_released_idempotently(w: &dyn World) {
    let addresses = &w.cloud().addresses;
    let caps = addresses.capabilities();
    let node = w.node(0);
    let described = addresses.describe_node(&node).await.expect("describe");
    let nic = described.interfaces.iter().find(|i| i.index == 0);
    let nic = nic.expect("the node's first interface").clone();
    let kind = caps.block_kinds[0];
    assert!(
        described.limits.block_kinds.contains(&kind),
        "{described:?}"
    );
    let before = w.blocks_in_mock(&node, &nic.id.0);

    let request = AssignBlocks {
        interface: nic.id.clone(),
        kind,
        count: 1,
        prefix_len: None,
    };
    let mut got = BTreeSet::new();
    for _ in 0..2 {
        let calls = w.calls();
        let blocks = addresses.assign_blocks(&node, &request).await;
        let blocks = blocks.expect("assign one block");
        assert_eq!(blocks.len(), 1, "{}: {blocks:?}", w.name());
        let made = w.mutating_since(&calls);
        assert_eq!(made.values().sum::<u64>(), 1, "{}: {made:?}", w.name());
        assert!(got.insert(blocks[0].cidr), "{}: given twice", w.name());
    }
    let overlap: Vec<_> = got.iter().filter(|b| before.contains(b)).collect();
    assert!(overlap.is_empty(), "{}: already held {overlap:?}", w.name());
    let held = w.blocks_in_mock(&node, &nic.id.0);
    assert_eq!(held, &before | &got, "{}: the mock's blocks", w.name());
    let now = addresses.describe_node(&node).await.expect("describe");
    let listed = now.interface(&nic.id).expect("the interface").blocks.iter();
    let listed: BTreeSet<_> = listed.map(|b| b.cidr).collect();
    assert!(got.is_subset(&listed), "{}: {listed:?}", w.name());

    let release: Vec<_> = got.iter().copied().collect();
    let released = addresses.release_blocks(&node, &nic.id, &release).await;
    released.expect("release");
    assert_eq!(w.blocks_in_mock(&node, &nic.id.0), before, "{}", w.name());
    let calls = w.calls();
    let again = addresses.release_blocks(&node, &nic.id, &release).await;
    again.expect("releasing blocks already gone is fine");
    let made = w.mutating_since(&calls);
    assert!(made.is_empty(), "{}: released again: {made:?}", w.name());
    assert_eq!(w.blocks_in_mock(&node, &nic.id.0), before, "{}", w.name());

    let attach = AttachInterface {
        subnet_id: nic.subnet_id.clone(),
        security_groups: nic.security_groups.clone(),
        initial_blocks: 1,
        block_kind: kind,
        description: "cloudnet pods".into(),
    };
    if caps.hot_plug_interfaces {
        let added = addresses.attach_interface(&node, &attach).await;
        let added = added.expect("attach an interface");
        assert_eq!(
            w.blocks_in_mock(&node, &added.id.0).len(),
            1,
            "{}",
            w.name()
        );
        let detached = addresses.detach_interface(&node, &added.id).await;
        detached.expect("detach");
        let after = addresses.describe_node(&node).await.expect("describe");
        assert!(after.interface(&added.id).is_none(), "{}", w.name());
        assert!(w.blocks_in_mock(&node, &added.id.0).is_empty());
    } else {
        let calls = w.total_calls();
        let e = addresses
            .attach_interface(&node, &attach)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{}: {e}", w.name());
        assert!(e.to_string().contains("hot_plug_interfaces"), "{e}");
        assert_eq!(
            w.total_calls(),
            calls,
            "{}: no call for a refused attach",
            w.name()
        );
    }
}

/// Routes: created (the mock holds them), created again without a mutating call, moved to
/// another node, deleted (twice: the second finds nothing and is fine); a route someone else
/// put in the table is listed as not ours and never changed.
pub async fn routes_are_created_replaced_and_deleted_and_foreign_ones_untouched(w: &dyn World) {
    let routes = &w.cloud().routes;
    let foreign = w.foreign_route().await;
    let foreign_hop = w.routes_in_mock()[&foreign].clone();

    let listed = routes.list().await.expect("list");
    let theirs = listed.iter().find(|r| r.destination == foreign);
    assert!(
        !theirs.expect("the foreign route is listed").owned,
        "{}",
        w.name()
    );
    assert!(listed.iter().all(|r| !r.owned), "{}: {listed:?}", w.name());

    let (r1, r2) = (w.route(1, 0), w.route(2, 1));
    routes.create(&r1).await.expect("create");
    routes.create(&r2).await.expect("create");
    let held = w.routes_in_mock();
    assert!(held.contains_key(&r1.destination) && held.contains_key(&r2.destination));
    let calls = w.calls();
    routes.create(&r1).await.expect("create again");
    let made = w.mutating_since(&calls);
    assert!(made.is_empty(), "{}: created again: {made:?}", w.name());
    let ours = routes.list().await.expect("list");
    let ours: BTreeSet<_> = ours
        .iter()
        .filter(|r| r.owned)
        .map(|r| r.destination)
        .collect();
    assert_eq!(ours, BTreeSet::from([r1.destination, r2.destination]));

    // The node of range 1 is replaced: the route now leads to node 1.
    let hop = held[&r1.destination].clone();
    let moved = w.route(1, 1);
    routes.create(&moved).await.expect("replace");
    let held = w.routes_in_mock();
    assert_ne!(held[&r1.destination], hop, "{}: not moved", w.name());
    assert_eq!(held[&r1.destination], held[&r2.destination], "{}", w.name());

    for r in [&moved, &r2, &moved] {
        routes.delete(r).await.expect("delete");
    }
    let held = w.routes_in_mock();
    assert!(!held.contains_key(&r1.destination) && !held.contains_key(&r2.destination));
    assert_eq!(
        held.get(&foreign),
        Some(&foreign_hop),
        "{}: foreign changed",
        w.name()
    );
    assert!(routes.list().await.expect("list").iter().all(|r| !r.owned));
}

/// The L4 spec of this cloud for Service `default/<name>`.
fn l4(w: &dyn World, name: &str) -> LoadBalancerSpec {
    let (kind, port, _) = w.l4_members();
    l4_spec(name, kind, port)
}

/// An L4 Service load balancer: the mock holds it after one ensure; a second ensure makes no
/// mutating call and answers the same status.
pub async fn an_l4_load_balancer_is_ensured_and_ensured_again_without_a_change(w: &dyn World) {
    let lbs = &w.cloud().load_balancers;
    let spec = l4(w, "dns");
    assert!(w.our_resources().is_empty(), "{}", w.name());
    let status = lbs.ensure(&spec).await.expect("ensure");
    assert_eq!(status.groups.len(), 1, "{}: {status:?}", w.name());
    let reachable = !status.ips.is_empty() || status.dns_name.is_some();
    assert!(
        reachable,
        "{}: no address or DNS name: {status:?}",
        w.name()
    );
    let made = w.our_resources();
    assert!(!made.is_empty(), "{}: the mock holds nothing", w.name());
    let owned = lbs.list_owned().await.expect("list owned");
    assert_eq!(owned.len(), 1, "{}: {owned:?}", w.name());
    assert_eq!((&owned[0].id, &owned[0].owner), (&status.id, &spec.owner));

    let calls = w.calls();
    let again = lbs.ensure(&spec).await.expect("ensure again");
    let changed = w.mutating_since(&calls);
    assert!(
        changed.is_empty(),
        "{}: ensured again: {changed:?}",
        w.name()
    );
    assert_eq!(again.id, status.id);
    assert_eq!(w.our_resources(), made, "{}", w.name());
}

/// Members follow `sync_targets`: added, unchanged without a call, removed.
pub async fn targets_are_added_and_removed_and_unchanged_ones_make_no_call(w: &dyn World) {
    let lbs = &w.cloud().load_balancers;
    let spec = l4(w, "dns");
    let (_, _, members) = w.l4_members();
    let group = spec.groups[0].key.clone();
    let status = lbs.ensure(&spec).await.expect("ensure");
    let ips = |t: &[cloudnet_core::Target]| t.iter().map(|t| t.ip).collect::<BTreeSet<_>>();

    // Syncs `targets`: (registered, deregistered), and whether a call changed anything.
    let sync = async |targets: &[cloudnet_core::Target]| {
        let calls = w.calls();
        let sync = lbs.sync_targets(&status.id, &group, targets).await;
        let sync = sync.expect("sync");
        assert_eq!(w.members_in_mock(), ips(targets), "{}", w.name());
        let made = w.mutating_since(&calls);
        ((sync.registered, sync.deregistered), made)
    };
    let (two, one) = (&members[..2], &members[..1]);
    assert_eq!(sync(two).await.0, (2, 0), "{}", w.name());
    let (counts, made) = sync(two).await;
    assert_eq!(counts, (0, 0), "{}", w.name());
    assert!(made.is_empty(), "{}: the same members: {made:?}", w.name());
    assert_eq!(sync(one).await.0, (0, 1), "{}", w.name());
    let calls = w.calls();
    lbs.ensure(&spec).await.expect("ensure keeps the members");
    assert!(w.mutating_since(&calls).is_empty(), "{}", w.name());
    assert_eq!(w.members_in_mock(), ips(one), "{}", w.name());
}

/// Deleting a stack with members leaves nothing: not in `list_owned`, not in the mock; a
/// second delete finds nothing and is fine.
pub async fn delete_leaves_nothing_behind(w: &dyn World) {
    let lbs = &w.cloud().load_balancers;
    let spec = l4(w, "dns");
    let (_, _, members) = w.l4_members();
    let status = lbs.ensure(&spec).await.expect("ensure");
    let group = spec.groups[0].key.clone();
    lbs.sync_targets(&status.id, &group, &members[..2])
        .await
        .expect("sync");
    delete_whole(w, &status.id).await;
}

/// Deletes a stack and checks that nothing is left: not in `list_owned`, not in the mock's
/// resources, no member; a second delete finds nothing and is fine.
async fn delete_whole(w: &dyn World, id: &cloudnet_core::LoadBalancerId) {
    let lbs = &w.cloud().load_balancers;
    lbs.delete(id).await.expect("delete");
    assert!(lbs.list_owned().await.expect("list owned").is_empty());
    let left = w.our_resources();
    assert!(left.is_empty(), "{}: leftovers {left:?}", w.name());
    assert_eq!(w.members_in_mock(), BTreeSet::new(), "{}", w.name());
    lbs.delete(id).await.expect("delete again");
}

/// A resource under the name our stack would take, made by someone else: ensure is a
/// `Conflict` that names it, writes nothing, and the resource is as it was.
pub async fn a_foreign_resource_under_our_name_is_a_conflict_and_untouched(w: &dyn World) {
    let lbs = &w.cloud().load_balancers;
    let spec = l4(w, "web");
    let key = w.squat(&spec).await;
    let theirs = w.foreign_resource(&key).expect("the foreign resource");
    let calls = w.calls();
    let e = lbs.ensure(&spec).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{}: {e}", w.name());
    let made = w.mutating_since(&calls);
    assert!(made.is_empty(), "{}: {made:?}", w.name());
    assert_eq!(
        w.foreign_resource(&key),
        Some(theirs),
        "{}: changed",
        w.name()
    );
    assert!(lbs.list_owned().await.expect("list owned").is_empty());
}

/// Specs no cloud can build: each an `InvalidInput` whose message names the fault, before
/// any call.
pub async fn bad_input_is_a_clear_error_before_any_call(w: &dyn World) {
    let lbs = &w.cloud().load_balancers;
    let good = l4(w, "bad");
    let mut undefined = good.clone();
    undefined.groups.clear();
    let mut twice = good.clone();
    twice.listeners.push(twice.listeners[0].clone());
    let mut ruled = good.clone();
    let action = ruled.listeners[0].default_action.clone();
    ruled.listeners[0].rules.push(Rule {
        priority: 1,
        hosts: vec!["shop.example.com".into()],
        paths: vec![],
        conditions: vec![],
        action,
    });
    let cases = [
        (undefined, "backend group default/bad:80 is not defined"),
        (twice, "listener port 80 is used twice"),
        (ruled, "rules need an HTTP or HTTPS listener"),
    ];
    for (spec, says) in cases {
        let calls = w.total_calls();
        let e = lbs.ensure(&spec).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{}: {e}", w.name());
        assert!(e.to_string().contains(says), "{}: {e}", w.name());
        assert_eq!(w.total_calls(), calls, "{}: a call for {says:?}", w.name());
    }
    assert!(w.our_resources().is_empty(), "{}", w.name());
}

/// An L7 load balancer where the cloud has one: ensured, ensured again without a mutating
/// call, pod members synced, deleted without leftovers.
pub async fn an_l7_load_balancer_is_ensured_synced_and_deleted(w: &dyn World) {
    let lbs = &w.cloud().load_balancers;
    if !lbs
        .capabilities()
        .kinds
        .contains(&LoadBalancerKind::Application)
    {
        return skip(w, "L7 load balancers");
    }
    let (spec, members) = w.l7().await.expect("an L7 spec where the cloud has L7");
    let status = lbs.ensure(&spec).await.expect("ensure");
    assert_eq!(status.groups.len(), spec.groups.len(), "{}", w.name());
    assert!(!w.our_resources().is_empty(), "{}", w.name());
    let calls = w.calls();
    lbs.ensure(&spec).await.expect("ensure again");
    let made = w.mutating_since(&calls);
    assert!(made.is_empty(), "{}: ensured again: {made:?}", w.name());

    let pods = spec
        .groups
        .iter()
        .find(|g| g.target_kind == cloudnet_core::TargetKind::PodIp);
    let group = pods.expect("a pod group").key.clone();
    let sync = lbs.sync_targets(&status.id, &group, &members).await;
    let sync = sync.expect("sync");
    assert_eq!(sync.registered as usize, members.len(), "{}", w.name());
    let want: BTreeSet<_> = members.iter().map(|t| t.ip).collect();
    assert_eq!(w.members_in_mock(), want, "{}", w.name());

    delete_whole(w, &status.id).await;
}
