//! Leader election against the embedded Kubernetes API through the real `kube::Client`.

use std::time::Duration;

use cloudnet_controllers::leader::{ElectionConfig, Elector};
use cloudnet_kubesim::{ADMIN, Config, KubeSim};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use tokio::time::Instant;

fn config(identity: &str) -> ElectionConfig {
    config_with(identity, 2000, 1500)
}

fn config_with(identity: &str, lease_ms: u64, renew_ms: u64) -> ElectionConfig {
    ElectionConfig {
        lease_duration: Duration::from_millis(lease_ms),
        renew_deadline: Duration::from_millis(renew_ms),
        retry_period: Duration::from_millis(100),
        ..ElectionConfig::new("default", "cloudnet-controller", identity)
    }
}

/// Samples both replicas every 10 ms until `until`; panics if both ever lead at once.
async fn never_two_leaders(a: &Elector, b: &Elector, until: Instant) -> (u32, u32) {
    let (la, lb) = (a.leadership(), b.leadership());
    let (mut a_led, mut b_led) = (0, 0);
    while Instant::now() < until {
        let (x, y) = (la.is_leader(), lb.is_leader());
        assert!(!(x && y), "two leaders at once");
        a_led += u32::from(x);
        b_led += u32::from(y);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (a_led, b_led)
}

async fn wait_leader(e: &Elector, within: Duration) -> Duration {
    let start = Instant::now();
    while !e.leadership().is_leader() {
        assert!(start.elapsed() < within, "no leadership within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_and_a_takeover_within_the_lease_after_a_crash() {
    let api = KubeSim::start(Config::default()).await.expect("api");
    let client = api.client_for(ADMIN).await.expect("client");
    let a = Elector::start(client.clone(), config("a")).expect("a");
    wait_leader(&a, Duration::from_secs(5)).await;
    let b = Elector::start(client.clone(), config("b")).expect("b");
    let (a_led, b_led) = never_two_leaders(&a, &b, Instant::now() + Duration::from_secs(3)).await;
    assert!(
        a_led > 0 && b_led == 0,
        "a keeps the lease by renewing ({a_led}, {b_led})"
    );

    // a crashes: no release. b must wait the lease out, and a's own view must have ended
    // before b starts (renew deadline < lease duration).
    let old = a.leadership();
    a.abort();
    let took = wait_leader(&b, Duration::from_secs(5)).await;
    assert!(
        !old.is_leader(),
        "the crashed leader still believes it leads"
    );
    assert!(
        took <= Duration::from_millis(2000 + 1000),
        "takeover took {took:?}, more than the lease duration plus a second"
    );
    let leases: Api<Lease> = Api::namespaced(client, "default");
    let lease = leases.get("cloudnet-controller").await.expect("lease");
    let spec = lease.spec.expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("b"));
    assert_eq!(spec.lease_transitions, Some(1));
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lease_is_taken_at_once_and_racing_replicas_never_both_lead() {
    let api = KubeSim::start(Config::default()).await.expect("api");
    let client = api.client_for(ADMIN).await.expect("client");
    // Start together: they race for the create; exactly one wins. A long lease, so a
    // takeover that waited it out instead of seeing the release would show.
    let a = Elector::start(client.clone(), config_with("a", 6000, 4000)).expect("a");
    let b = Elector::start(client.clone(), config_with("b", 6000, 4000)).expect("b");
    let (a_led, b_led) = never_two_leaders(&a, &b, Instant::now() + Duration::from_secs(2)).await;
    assert!(
        (a_led > 0) != (b_led > 0),
        "exactly one leads ({a_led}, {b_led})"
    );
    let (leader, follower) = if a_led > 0 { (a, b) } else { (b, a) };
    leader.shutdown().await;
    let took = wait_leader(&follower, Duration::from_secs(5)).await;
    assert!(
        took < Duration::from_millis(3000),
        "a released lease took {took:?} to change hands"
    );
    follower.shutdown().await;
}
