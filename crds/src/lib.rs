//! cloudnet's custom resources: the Rust types are the source, the YAML in `crds/*.yaml` is
//! generated from them (`cargo run -p cloudnet-crds --bin crdgen`), together with the same files
//! under the Helm chart's `deploy/helm/cloudnet/crds/`; a test fails when either committed copy
//! differs from what the types generate. [`install_crds`] installs them into a cluster as the
//! chart does (server-side apply, then each waited on until established).
//!
//! | Kind | Scope | Written by | For |
//! |---|---|---|---|
//! | [`NodeNetwork`] | cluster, one per node, owned by the Node | ipamd (spec), allocator (status) | pod address pool of one node |
//! | [`InterfaceConfig`] | cluster | the administrator | subnet and security groups for new interfaces (custom networking) |
//! | [`IngressClassParams`] | cluster | the administrator | what an IngressClass imposes on its Ingresses (scheme, group, subnets, tags, ...) |
//! | [`TargetGroupBinding`] | namespaced | the user (spec), the controller (status) | a Service port's targets in a target group made outside Kubernetes |
//! | [`BackendConfig`] | namespaced | the user | ingress-gce's backend service settings of a Service port (a subset: health check, timeout, connection draining) |

pub mod backend_config;
pub mod ingress_class_params;
pub mod install;
pub mod interface_config;
pub mod node_network;
pub mod target_group_binding;

pub use backend_config::{
    BackendConfig, BackendConfigSpec, ConnectionDrainingConfig, HealthCheckConfig,
};
pub use ingress_class_params::{
    Attribute, IngressClassParams, IngressClassParamsSpec, IngressGroupParams, SubnetSelector,
    SubnetTag,
};
pub use install::{InstallError, install_crds};
pub use interface_config::{InterfaceConfig, InterfaceConfigSpec};
pub use node_network::{
    AZURE_WARM_IP_TARGET, BlockStatus, InterfaceLimits, InterfaceStatus, NodeNetwork,
    NodeNetworkSpec, NodeNetworkStatus, PoolPolicy, PoolSummary, ReleaseOffer,
};
pub use target_group_binding::{
    BindingTargetType, ServiceReference, TargetGroupBinding, TargetGroupBindingSpec,
    TargetGroupBindingStatus,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD of the suite with the file it is committed in, in a fixed order.
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("nodenetworks.yaml", NodeNetwork::crd()),
        ("interfaceconfigs.yaml", InterfaceConfig::crd()),
        ("targetgroupbindings.yaml", TargetGroupBinding::crd()),
        ("ingressclassparams.yaml", IngressClassParams::crd()),
        ("backendconfigs.yaml", BackendConfig::crd()),
    ]
}

/// The directories, relative to this crate's Cargo.toml, the CRD files are committed in: the
/// crate's own and the Helm chart's `crds/` (Helm installs the files there before the templates).
pub const OUTPUT_DIRS: [&str; 2] = [".", "../deploy/helm/cloudnet/crds"];

/// The YAML committed for one CRD: a header line, then the object.
pub fn render(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    let body = serde_yaml::to_string(crd)?;
    Ok(format!(
        "# Generated from the Rust types in crds/src by `cargo run -p cloudnet-crds --bin crdgen`.\n# Do not edit by hand.\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CI fails here when the committed YAML is not what the types generate.
    #[test]
    fn committed_yaml_matches_the_types() {
        let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for out in OUTPUT_DIRS {
            let dir = crate_dir.join(out);
            for (file, crd) in all() {
                let want = render(&crd).expect("render");
                let path = dir.join(file);
                let have = std::fs::read_to_string(&path).unwrap_or_default();
                assert!(
                    have == want,
                    "{} differs from the Rust types: run `cargo run -p cloudnet-crds --bin crdgen` and commit the result",
                    path.display()
                );
            }
            // Nothing else in the directory: a CRD dropped from the types goes from the chart too.
            let mut listed: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".yaml"))
                .collect();
            listed.sort();
            let mut want: Vec<String> = all().iter().map(|(f, _)| f.to_string()).collect();
            want.sort();
            assert_eq!(listed, want, "CRD files in {}", dir.display());
        }
    }

    #[test]
    fn node_network_round_trips_with_its_wire_names() {
        let json = serde_json::json!({
            "apiVersion": "cloudnet.io/v1alpha1",
            "kind": "NodeNetwork",
            "metadata": {"name": "ip-192-168-1-10.us-west-2.compute.internal"},
            "spec": {
                "providerID": "aws:///us-west-2a/i-0123456789abcdef0",
                "pool": {"warmIpTarget": 5, "prefixDelegation": true},
                "inUse": 3,
                "release": [{"interface": "eni-1", "block": "192.168.1.32/28"}]
            },
            "status": {
                "interfaces": [{"id": "eni-1", "index": 0, "subnetId": "subnet-1",
                    "blocks": [{"cidr": "192.168.1.10/32", "kind": "secondaryIp", "primary": true}]}],
                "released": ["192.168.1.32/28"]
            }
        });
        let nn: NodeNetwork = serde_json::from_value(json.clone()).expect("decode");
        assert_eq!(nn.spec.pool.warm_ip_target, Some(5));
        assert_eq!(nn.spec.release[0].block.to_string(), "192.168.1.32/28");
        let back = serde_json::to_value(&nn).expect("encode");
        assert_eq!(back["spec"], json["spec"]);
        assert_eq!(back["status"]["interfaces"], json["status"]["interfaces"]);
    }

    #[test]
    fn crds_are_cluster_scoped_with_a_status_subresource_where_written_by_two() {
        let nn = NodeNetwork::crd();
        assert_eq!(nn.spec.scope, "Cluster");
        let v = &nn.spec.versions[0];
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        assert_eq!(InterfaceConfig::crd().spec.scope, "Cluster");
        let tgb = TargetGroupBinding::crd();
        assert_eq!(tgb.spec.scope, "Namespaced");
        assert!(
            tgb.spec.versions[0]
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
    }

    #[test]
    fn target_group_binding_takes_the_load_balancer_controllers_field_names() {
        let json = serde_json::json!({
            "apiVersion": "cloudnet.io/v1alpha1",
            "kind": "TargetGroupBinding",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "targetGroupARN": "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/web/0123456789abcdef",
                "targetType": "ip",
                "serviceRef": {"name": "web", "port": 80}
            }
        });
        let tgb: TargetGroupBinding = serde_json::from_value(json.clone()).expect("decode");
        assert_eq!(tgb.spec.target_type, BindingTargetType::Ip);
        assert_eq!(
            tgb.spec.service_ref.port,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80)
        );
        assert_eq!(
            serde_json::to_value(&tgb).expect("encode")["spec"],
            json["spec"]
        );
        let bad = serde_json::json!({"targetGroupARN": "x", "targetType": "lambda",
            "serviceRef": {"name": "web", "port": "http"}});
        assert!(serde_json::from_value::<TargetGroupBindingSpec>(bad).is_err());
    }

    #[test]
    fn backend_config_takes_ingress_gces_group_kind_and_field_names() {
        let crd = BackendConfig::crd();
        assert_eq!(crd.spec.group, "cloud.google.com");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.versions[0].name, "v1");
        let json = serde_json::json!({
            "apiVersion": "cloud.google.com/v1",
            "kind": "BackendConfig",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "timeoutSec": 40,
                "connectionDraining": {"drainingTimeoutSec": 60},
                "healthCheck": {"checkIntervalSec": 15, "timeoutSec": 15, "healthyThreshold": 1,
                    "unhealthyThreshold": 2, "type": "HTTP", "requestPath": "/healthz", "port": 8080}
            }
        });
        let bc: BackendConfig = serde_json::from_value(json.clone()).expect("decode");
        assert_eq!(bc.spec.timeout_sec, Some(40));
        assert_eq!(
            bc.spec
                .connection_draining
                .as_ref()
                .map(|d| d.draining_timeout_sec),
            Some(60)
        );
        let hc = bc.spec.health_check.as_ref().expect("health check");
        assert_eq!((hc.r#type.as_deref(), hc.port), (Some("HTTP"), Some(8080)));
        assert_eq!(
            serde_json::to_value(&bc).expect("encode")["spec"],
            json["spec"]
        );
        // ingress-gce's fields outside the subset are ignored, not refused.
        let more = serde_json::json!({"cdn": {"enabled": true}, "timeoutSec": 5});
        let spec: BackendConfigSpec = serde_json::from_value(more).expect("decode");
        assert_eq!(spec.timeout_sec, Some(5));
    }
}
