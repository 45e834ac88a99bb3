//! A bad value in one of the cloud's own annotations on a live Service: the controller must
//! warn (a Warning Event, `InvalidConfiguration`), make no load balancer write while the
//! value is bad, and keep the running load balancer serving; once the value is fixed it
//! converges with no downtime.
//!
//! | cloud | annotation | bad | fixed |
//! |---|---|---|---|
//! | AWS | `service.beta.kubernetes.io/aws-load-balancer-nlb-target-type` | `bogus` | `ip` |
//! | GCP | `networking.gke.io/load-balancer-type` | `Bogus` | `External` |
//! | Azure | `service.beta.kubernetes.io/azure-load-balancer-internal` | `maybe` | `false` |
//!
//! The fixed value means what the Service had before (no annotation: `ip` targets with
//! `SERVE_CLASSLESS_SERVICES`, an external load balancer on GCP and Azure).

use std::time::Duration;

use anyhow::{Result, bail};

use crate::run::{Fault, Metrics, Run};
use crate::stack::{LIMIT, stack_goal, up_stack, wait_warning};
use crate::workload;

pub async fn body(r: &mut Run) -> Result<Metrics> {
    up_stack(r).await?;
    let cloud = r.env.options.cloud;
    let (key, bad, good) = bad_annotation(cloud);
    let fault = r.fault(&stack_goal(3)).await?;
    workload::annotate(&r.env.client, key, Some(bad)).await?;
    let warned = wait_warning(r, "InvalidConfiguration").await?;
    r.hold(r.env.options.scaled(Duration::from_secs(10)))
        .await?;
    let writes_before_fix = controller_writes_since(r, fault).await?;
    if writes_before_fix > 0 {
        bail!(
            "the controller made {writes_before_fix} load balancer write(s) for a Service with a bad annotation"
        );
    }
    r.notes.push(format!(
        "{key}: {bad:?} warned in {:.1} s, 0 load balancer writes, then set to {good:?}",
        warned.as_secs_f64()
    ));
    workload::annotate(&r.env.client, key, Some(good)).await?;
    let mut m = r.measure(&stack_goal(3), fault, LIMIT).await?;
    if m.downtime_ms > 0 {
        bail!(
            "the Service's load balancer stopped serving for {} ms over a bad annotation",
            m.downtime_ms
        );
    }
    m.reaction_ms = Some(warned.as_millis() as u64);
    Ok(m)
}

/// One of the cloud's own Service annotations, the value that is bad, and the one that
/// fixes it (meaning what the Service had before: no change to its load balancer).
fn bad_annotation(cloud: crate::Cloud) -> (&'static str, &'static str, &'static str) {
    match cloud {
        crate::Cloud::Aws => (
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type",
            "bogus",
            "ip",
        ),
        crate::Cloud::Gcp => ("networking.gke.io/load-balancer-type", "Bogus", "External"),
        crate::Cloud::Azure => (
            "service.beta.kubernetes.io/azure-load-balancer-internal",
            "maybe",
            "false",
        ),
    }
}

/// Whether a call of the call log writes a load balancer's part: ELBv2 on AWS; on GCP any
/// Compute Engine call but an instance's or a route's (the pod IPAM's and the route
/// controller's); on Azure a load balancer or public IP write.
fn load_balancer_call(cloud: crate::Cloud, call: &str) -> bool {
    match cloud {
        crate::Cloud::Aws => call.starts_with("elbv2:"),
        crate::Cloud::Gcp => {
            call.starts_with("compute:")
                && !call.starts_with("compute:instances.")
                && !call.starts_with("compute:routes.")
        }
        crate::Cloud::Azure => {
            call.starts_with("arm:Microsoft.Network/loadBalancers/")
                || call.starts_with("arm:Microsoft.Network/publicIPAddresses/")
        }
    }
}

/// The controller's mutating load balancer calls since the fault.
async fn controller_writes_since(r: &Run, fault: Fault) -> Result<usize> {
    let (calls, _) = crate::observe::calls_since(&r.env, fault.seq).await?;
    let cloud = r.env.options.cloud;
    Ok(calls
        .iter()
        .filter(|c| {
            c.caller == cloud.controller_caller()
                && c.is_mutating()
                && load_balancer_call(cloud, &c.call)
        })
        .count())
}

#[cfg(test)]
mod tests {
    use super::{bad_annotation, load_balancer_call};
    use crate::Cloud;

    #[test]
    fn a_load_balancer_write_is_told_from_the_pod_ipams_and_the_routes_on_each_cloud() {
        for (cloud, call, lb) in [
            (Cloud::Aws, "elbv2:ModifyListener", true),
            (Cloud::Aws, "ec2:AssignPrivateIpAddresses", false),
            (Cloud::Gcp, "compute:regionBackendServices.patch", true),
            (Cloud::Gcp, "compute:forwardingRules.insert", true),
            (
                Cloud::Gcp,
                "compute:instances.updateNetworkInterface",
                false,
            ),
            (Cloud::Gcp, "compute:routes.insert", false),
            (
                Cloud::Azure,
                "arm:Microsoft.Network/loadBalancers/write",
                true,
            ),
            (
                Cloud::Azure,
                "arm:Microsoft.Network/publicIPAddresses/write",
                true,
            ),
            (
                Cloud::Azure,
                "arm:Microsoft.Network/networkInterfaces/write",
                false,
            ),
        ] {
            assert_eq!(load_balancer_call(cloud, call), lb, "{call} on {cloud}");
        }
    }

    #[test]
    fn each_cloud_breaks_one_of_its_own_annotations_and_fixes_it_to_another_value() {
        for cloud in crate::clouds::CLOUDS {
            let (key, bad, good) = bad_annotation(cloud);
            assert_ne!(bad, good);
            let own = match cloud {
                Cloud::Aws => "aws-",
                Cloud::Gcp => "gke.io/",
                Cloud::Azure => "azure-",
            };
            assert!(key.contains(own), "{key} on {cloud}");
        }
    }
}
