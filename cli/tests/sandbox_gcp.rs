//! `cloudnet sandbox --provider gcp` as users run it, through the `cloudnet` binary: the
//! GKE-like world, pods addressed from their nodes' alias ranges, the Service's regional
//! passthrough load balancer and the Ingress's GCLB chain, and the summary naming the cloud.

mod support;

use support::{run_sandbox_binary, temp_dir};

#[test]
fn the_gcp_sandbox_addresses_pods_from_alias_ranges_and_makes_both_load_balancers() {
    let dir = temp_dir("gcp");
    let stdout = run_sandbox_binary("gcp", "gke", &dir);
    // The cloud is named, before and after.
    assert_eq!(stdout.matches("Cloud:").count(), 2, "{stdout}");
    assert!(
        stdout.contains("Cloud: gcp (mock Compute Engine"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Waiting for the workload to settle ... done"),
        "{stdout}"
    );
    // GKE's nodes, as GKE names them, in two zones.
    for (name, zone) in [
        ("gke-cloudnet-node-1", "us-central1-a"),
        ("gke-cloudnet-node-2", "us-central1-b"),
    ] {
        assert!(
            stdout.contains(&format!("gce://cloudnet-sandbox/{zone}/{name}")),
            "{stdout}"
        );
    }
    // Three pods running, every address inside the pods secondary range (10.4.0.0/14), each
    // its own.
    let ips: Vec<std::net::Ipv4Addr> = stdout
        .lines()
        .filter(|l| l.contains(" Running "))
        .filter_map(|l| l.split_whitespace().nth(2)?.parse().ok())
        .collect();
    assert_eq!(ips.len(), 3, "{stdout}");
    let in_pods_range = |ip: &std::net::Ipv4Addr| {
        let o = ip.octets();
        o[0] == 10 && (4..8).contains(&o[1])
    };
    assert!(ips.iter().all(in_pods_range), "{ips:?}");
    let mut distinct = ips.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{ips:?}");
    // web-public's passthrough load balancer and the web Ingress's GCLB, as their status
    // shows them.
    assert!(
        stdout.contains("Load balancers (from Service and Ingress status): 2"),
        "{stdout}"
    );
    // Each node's NodeNetwork: one interface, a /24 (256 addresses), Ready.
    let ready_ranges = stdout
        .lines()
        .filter(|l| l.starts_with("  gke-cloudnet-node-"))
        .filter(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.len() == 5 && cols[1] == "1" && cols[2] == "256" && cols[4] == "True"
        })
        .count();
    assert_eq!(ready_ranges, 2, "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}
