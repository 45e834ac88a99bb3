//! Which scenarios have a meaning on which cloud. An AWS fault with a real analogue on
//! another cloud runs as that analogue there; one without is "not applicable" with the
//! reason; one whose analogue the harness does not make yet is "not built", naming it. A
//! scenario that does not run is never counted as passed.

use crate::clouds::Cloud;

/// Whether a scenario runs on a cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// It runs (as the cloud's analogue of the fault where the fault is a cloud's).
    Runs,
    /// The fault has no counterpart on the cloud: the reason.
    NotApplicable(&'static str),
    /// The fault has a counterpart on the cloud that the harness does not make yet: what
    /// it would be.
    NotBuilt(&'static str),
    /// It runs and fails for a known reason (a bug not fixed yet): `cloudnet faults run`
    /// runs it and reports the failure; the CI test leaves it out, printing why.
    KnownFailure(&'static str),
}

const GCP_POD_RANGE: &str = "a GKE node's pod range is one alias range (a /24, 110 pods) given when the node joins: adding pods makes no cloud call, so there is no interface or address request to fault";

/// Whether `scenario` runs on `cloud`, and why not.
pub fn support(scenario: &str, cloud: Cloud) -> Support {
    use Support::*;
    match (cloud, scenario) {
        (Cloud::Aws, _) => Runs,
        (
            Cloud::Gcp,
            "controller-killed-after-eni-create" | "eni-eventually-consistent" | "eni-attach-limit",
        ) => NotApplicable(GCP_POD_RANGE),
        (Cloud::Gcp, "subnet-exhausted") => NotApplicable(
            "pods take addresses from the node's alias range, not from the node subnetwork: a full subnetwork stops new nodes, not pods",
        ),
        (Cloud::Azure, "eni-attach-limit") => NotApplicable(
            "Azure's limit is 256 ipConfigurations per NIC and AKS runs at most 30 pods a node (Azure CNI): the pod limit is reached long before the NIC's, and the allocator adds no NICs",
        ),
        (_, "ingress-group-member-moved") => NotApplicable(
            "IngressGroups are the AWS Load Balancer Controller's: ingress-gce makes one load balancer per Ingress, and AGIC's dialect one gateway per Ingress or one shared by all (AZURE_APPGW_NAME), with no named groups to move between",
        ),
        _ => Runs,
    }
}

/// How a scenario's fault is made on `cloud` where that differs from AWS's.
pub fn analogue(scenario: &str, cloud: Cloud) -> Option<&'static str> {
    Some(match (cloud, scenario) {
        (Cloud::Aws, _) => return None,
        (Cloud::Gcp, "controller-killed-after-load-balancer") => {
            "the controller SIGKILLed at its first forwardingRules.insert (made to fail until then): backend service, health check and NEGs made, no forwarding rule; restarted 10 s later"
        }
        (Cloud::Azure, "controller-killed-after-load-balancer") => {
            "the controller SIGKILLed at its first load balancer PUT (made to fail until then): the public IP made, no load balancer; restarted 10 s later"
        }
        (Cloud::Azure, "controller-killed-after-eni-create") => {
            "the controller SIGKILLed right after its first NIC PUT adding ipConfigurations (pods scaled 3 -> 20); restarted 10 s later"
        }
        (Cloud::Azure, "eni-eventually-consistent") => {
            "every NIC PUT's operation held InProgress for 2 s while pods are scaled 3 -> 20"
        }
        (Cloud::Azure, "drift-listener-deleted") => {
            "the Service's load-balancing rules deleted by hand (a PUT of the load balancer without them, as the operator)"
        }
        (Cloud::Azure, "foreign-load-balancer-under-our-name") => {
            "a Standard Load Balancer without tags, made by the operator under the name the Service's takes"
        }
        (Cloud::Azure, "drift-security-group-rule-revoked") => {
            "a LoadBalancer Service's TCP allow rule (`<load balancer>-TCP`) deleted by hand from the cluster's network security group on the node subnet (a PUT of the NSG without it, the other rules kept): the load balancer's clients are refused until it is back"
        }
        (Cloud::Azure, "drift-rule-edited") => {
            "an Ingress of AGIC's class (azure-application-gateway): the path rule for /shop of its Application Gateway's URL path map edited by hand to match /edited (a PUT of the gateway, as the operator)"
        }
        (Cloud::Azure, "instance-terminated") => {
            "the node scale set scaled in by one by hand (capacity 2 -> 1: the second node's instance deleted with its NIC); its Node and pods then deleted, as the cloud node lifecycle controller and the pod garbage collector do"
        }
        (Cloud::Azure, "subnet-exhausted") => {
            "the node subnet cut to a /25; another user's NIC takes all its free addresses but one (one ipConfiguration each), then is deleted"
        }
        (Cloud::Gcp, "drift-listener-deleted") => {
            "the Service's forwarding rule deleted by hand (forwardingRules.delete)"
        }
        (Cloud::Gcp, "instance-terminated") => {
            "the second node's VM instance deleted (instances.delete); its Node and pods then deleted, as the cloud node lifecycle controller and the pod garbage collector do"
        }
        (Cloud::Gcp, "throttling-storm") => {
            "half of all Compute Engine calls 429 rateLimitExceeded for 60 s while three pods are added"
        }
        (Cloud::Azure, "throttling-storm") => {
            "half of all ARM calls 429 TooManyRequests (Retry-After: 1) for 60 s while three pods are added"
        }
        (Cloud::Gcp, "5xx-bursts") => {
            "every second Compute Engine call a 500 backendError for 30 s while three pods are added"
        }
        (Cloud::Azure, "5xx-bursts") => {
            "every second ARM call a 500 InternalServerError for 30 s while three pods are added"
        }
        (Cloud::Gcp, "drift-security-group-rule-revoked") => {
            "an Ingress (class gce): its firewall rule letting Google's front ends and health checkers (130.211.0.0/22, 35.191.0.0/16) reach the pods deleted by hand (firewalls.delete, as the operator)"
        }
        (Cloud::Gcp, "drift-rule-edited") => {
            "an Ingress (class gce) URL map's path rule for /shop edited by hand to match /edited (urlMaps.update, as the operator)"
        }
        (Cloud::Gcp, "foreign-load-balancer-under-our-name") => {
            "a forwarding rule (with its own regional backend service) without our description made by the operator under the name the Service's takes; removed by hand 10 s later"
        }
        (Cloud::Gcp, "bad-annotation-on-live-service") => {
            "a live Service's networking.gke.io/load-balancer-type set to `Bogus`, fixed (`External`) 10 s later"
        }
        (Cloud::Azure, "bad-annotation-on-live-service") => {
            "a live Service's service.beta.kubernetes.io/azure-load-balancer-internal set to `maybe`, fixed (`false`) 10 s later"
        }
        (Cloud::Gcp, "dropped-connections") => {
            "every third Compute Engine connection dropped for 30 s while three pods are added"
        }
        (Cloud::Azure, "dropped-connections") => {
            "every third ARM connection dropped for 30 s while three pods are added"
        }
        _ => return None,
    })
}

/// The scenarios of `names` that do not run on `cloud`, as a Markdown table with why (none:
/// empty).
pub fn not_run_table<'a>(cloud: Cloud, names: impl IntoIterator<Item = &'a str>) -> String {
    let rows: Vec<String> = names
        .into_iter()
        .filter_map(|name| match support(name, cloud) {
            Support::Runs | Support::KnownFailure(_) => None,
            Support::NotApplicable(why) => Some(format!("| {name} | not applicable | {why} |\n")),
            Support::NotBuilt(what) => {
                Some(format!("| {name} | not built | its analogue: {what} |\n"))
            }
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "\nNot run on {cloud} (never counted as passed):\n\n| scenario | status | why |\n|---|---|---|\n{}",
        rows.concat()
    )
}
