//! The chart on GKE and AKS: the example values render, pass `kubernetes-validate --strict`,
//! put the cloud's settings in the controller's environment (CLOUD_PROVIDER, GCP_*, AZURE_*)
//! as the binaries read them, the Workload Identity annotation and label where each cloud's
//! webhook looks, `patch` on nodes only where the pod-range allocator writes podCIDRs (GCP),
//! and refuse another cloud's values. The README's GKE and AKS install commands are these.

use std::collections::BTreeMap;

use clap::CommandFactory;
use serde_json::Value;

use super::{chart_crds, container, documents, find, helm, repo, role_rules, temp_dir, template};

/// The names the controller reads on Azure (fixed across the controller, ipamd and sandbox).
const AZURE_ENV: &[&str] = &[
    "AZURE_SUBSCRIPTION_ID",
    "AZURE_RESOURCE_GROUP",
    "AZURE_LOCATION",
    "AZURE_VNET_NAME",
    "AZURE_SUBNET_NAME",
    "AZURE_ROUTE_TABLE_NAME",
    "AZURE_ARM_ENDPOINT",
    "AZURE_IMDS_ENDPOINT",
    "AZURE_CA_FILE",
    "AZURE_CREDENTIALS",
    "AZURE_STATIC_TOKEN",
    "AZURE_APPGW_NAME",
];

fn example(name: &str) -> String {
    repo()
        .join(format!("examples/helm/values-{name}.yaml"))
        .display()
        .to_string()
}

fn render(cloud: &str) -> Vec<Value> {
    let helm = helm().expect("helm");
    let yaml = template(&helm, &["-n", "kube-system", "-f", &example(cloud)])
        .unwrap_or_else(|e| panic!("{cloud}: {e}"));
    documents(&yaml)
}

/// A container's literal environment.
fn env(c: &Value) -> BTreeMap<String, String> {
    c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn node_verbs(docs: &[Value]) -> Vec<String> {
    role_rules(find(docs, "ClusterRole", "cloudnet-controller"))
        .into_iter()
        .find(|(g, r, _, _)| g.is_empty() && r == "nodes")
        .expect("a nodes rule")
        .3
}

#[test]
fn gke_values_render_workload_identity_the_gcp_settings_and_node_patch() {
    let Some(helm) = helm() else { return };
    let docs = render("gke");
    let sa = find(&docs, "ServiceAccount", "cloudnet-controller");
    assert_eq!(
        sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"],
        "cloudnet-controller@my-project.iam.gserviceaccount.com"
    );
    assert!(sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].is_null());
    let deploy = find(&docs, "Deployment", "cloudnet-controller");
    let c = container(deploy, "containers", "controller");
    let e = env(c);
    for (k, v) in [
        ("CLOUD_PROVIDER", "gcp"),
        ("GCP_PROJECT", "my-project"),
        ("GCP_REGION", "us-central1"),
        ("GCP_NETWORK", "prod-vpc"),
        ("GCP_POD_RANGE_NAME", "pods"),
        ("GCP_NODE_POD_PREFIX_LENGTH", "24"),
    ] {
        assert_eq!(e.get(k).map(String::as_str), Some(v), "{k} in {e:?}");
    }
    let args = super::flags::args_of(c);
    assert!(
        args.contains(&"--ingress-class=gce,gce-internal".to_string()),
        "{args:?}"
    );
    assert!(
        !args
            .iter()
            .any(|a| a.starts_with("--region") || a.starts_with("--vpc-id"))
    );
    assert_eq!(node_verbs(&docs), ["get", "list", "watch", "patch"]);
    let secrets = |docs: &[Value]| {
        role_rules(find(docs, "ClusterRole", "cloudnet-controller"))
            .into_iter()
            .find(|(g, r, _, _)| g.is_empty() && r == "secrets")
            .map(|r| r.3)
    };
    // spec.tls's Secrets: read under ingress-gce's dialect only.
    assert_eq!(
        secrets(&docs),
        Some(vec!["list".to_string(), "watch".to_string()])
    );

    // The controller's own parser takes the rendered flags and environment as GCP settings.
    use cloudnet_controllers::flags::Args;
    let mut argv = vec!["cloudnet-controller".to_string()];
    argv.extend(args.iter().cloned());
    argv.extend(super::flags::env_as_flags(c, &Args::command()));
    let parsed = <Args as clap::Parser>::try_parse_from(&argv)
        .unwrap_or_else(|e| panic!("the controller refuses the GKE render: {e}"));
    assert_eq!(parsed.cloud.provider.as_str(), "gcp");
    assert_eq!(parsed.cloud.gcp_project.as_deref(), Some("my-project"));
    let ds = find(&docs, "DaemonSet", "cloudnet-node");
    assert_eq!(
        env(container(ds, "containers", "ipamd"))["CLOUD_PROVIDER"],
        "gcp"
    );

    // The same with AWS: no patch on nodes (the AWS allocator never writes podCIDRs).
    let aws =
        documents(&template(&helm, &["-n", "kube-system", "--set", "clusterName=demo"]).unwrap());
    assert_eq!(node_verbs(&aws), ["get", "list", "watch"]);
    assert_eq!(
        secrets(&aws),
        None,
        "no Secrets outside ingress-gce's dialect"
    );
    assert_eq!(
        env(container(
            find(&aws, "Deployment", "cloudnet-controller"),
            "containers",
            "controller"
        ))["CLOUD_PROVIDER"],
        "aws"
    );
}

#[test]
fn aks_values_render_workload_identity_and_the_azure_settings() {
    if helm().is_none() {
        return;
    }
    let docs = render("aks");
    let sa = find(&docs, "ServiceAccount", "cloudnet-controller");
    assert_eq!(
        sa["metadata"]["annotations"]["azure.workload.identity/client-id"],
        "0b4c6f2e-8d1a-4e3b-9c5d-7a6f1e2d3c4b"
    );
    let deploy = find(&docs, "Deployment", "cloudnet-controller");
    assert_eq!(
        deploy["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"],
        "true"
    );
    // The label is on the pod, not on the selector (a selector change would orphan pods).
    assert!(deploy["spec"]["selector"]["matchLabels"]["azure.workload.identity/use"].is_null());
    let e = env(container(deploy, "containers", "controller"));
    for (k, v) in [
        ("CLOUD_PROVIDER", "azure"),
        (
            "AZURE_SUBSCRIPTION_ID",
            "8f5d3c2a-1b4e-4c6d-9a7f-0e1d2c3b4a59",
        ),
        ("AZURE_RESOURCE_GROUP", "MC_prod_prod-aks_eastus"),
        ("AZURE_LOCATION", "eastus"),
        ("AZURE_VNET_NAME", "aks-vnet-12345678"),
        ("AZURE_SUBNET_NAME", "aks-subnet"),
        (
            "AZURE_ROUTE_TABLE_NAME",
            "aks-agentpool-12345678-routetable",
        ),
        ("AZURE_CREDENTIALS", "workload-identity"),
        ("AZURE_APPGW_NAME", "prod-aks-appgw"),
    ] {
        assert_eq!(e.get(k).map(String::as_str), Some(v), "{k} in {e:?}");
    }
    for k in e.keys().filter(|k| k.starts_with("AZURE_")) {
        assert!(
            AZURE_ENV.contains(&k.as_str()),
            "{k} is not one of the controller's names"
        );
    }
    assert!(!e.keys().any(|k| k.starts_with("GCP_")));
    // When the controller reads the Azure names, it reads every one the chart sets.
    let cmd = cloudnet_controllers::flags::Args::command();
    let reads = |name: &str| {
        cmd.get_arguments()
            .any(|a| a.get_env().is_some_and(|n| n == name))
    };
    if reads("AZURE_VNET_NAME") {
        for k in e.keys() {
            assert!(reads(k), "the controller reads no {k}");
        }
    }
    assert_eq!(node_verbs(&docs), ["get", "list", "watch"]);
}

/// A container's arguments that start with `flag=`.
fn args_of(
    docs: &[Value],
    kind: &str,
    name: &str,
    container_name: &str,
    flag: &str,
) -> Vec<String> {
    let prefix = format!("{flag}=");
    container(find(docs, kind, name), "containers", container_name)["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str()?.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

#[test]
fn on_aks_pools_keep_azure_cnis_batch_unless_an_ip_target_is_given() {
    let Some(helm) = helm() else {
        return;
    };
    let warm = |docs: &[Value]| {
        (
            args_of(
                docs,
                "Deployment",
                "cloudnet-controller",
                "controller",
                "--warm-ip-target",
            ),
            args_of(
                docs,
                "DaemonSet",
                "cloudnet-node",
                "ipamd",
                "--warm-ip-target",
            ),
        )
    };
    let aks = |extra: &[&str]| {
        let mut a = vec!["-n", "kube-system", "-f"];
        let values = example("aks");
        a.push(&values);
        a.extend_from_slice(extra);
        documents(&template(&helm, &a).expect("renders"))
    };
    // A whole Azure NIC (255 addresses per node) is never the default: 16, as Azure CNI.
    assert_eq!(
        warm(&aks(&[])),
        (vec!["16".to_string()], vec!["16".to_string()])
    );
    assert_eq!(
        warm(&aks(&["--set", "pool.warmIpTarget=5"])),
        (vec!["5".to_string()], vec!["5".to_string()])
    );
    // A minimum given: the minimum decides, ipamd offers nothing back by itself.
    assert_eq!(
        warm(&aks(&["--set", "pool.minimumIpTarget=30"])),
        (vec!["0".to_string()], vec![])
    );
    // Elsewhere the VPC CNI's defaults (WARM_ENI_TARGET=1).
    let eks = documents(
        &template(&helm, &["-n", "kube-system", "--set", "clusterName=demo"]).expect("renders"),
    );
    assert_eq!(warm(&eks), (vec!["0".to_string()], vec![]));
}

#[test]
fn gke_and_aks_renders_pass_kubernetes_validate_strict() {
    let Some(validate) = cloudnet_testkit::kubernetes_validate() else {
        return;
    };
    if helm().is_none() {
        return;
    }
    let dir = temp_dir("clouds");
    for cloud in ["gke", "aks"] {
        let mut objects = render(cloud);
        objects.extend(chart_crds());
        super::validate_strict(&validate, &dir, cloud, &objects);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn another_clouds_values_are_refused() {
    let Some(helm) = helm() else { return };
    let cases: &[(&[&str], &str)] = &[
        (
            &["--set", "provider=gcp,vpcId=vpc-0123456789abcdef0"],
            "vpcId is an AWS value; provider is gcp",
        ),
        (
            &[
                "--set",
                "provider=azure,azure.vnetName=v,azure.subnetName=s,azure.routeTableName=r,controller.serviceAccount.roleArn=arn:aws:iam::111122223333:role/x",
            ],
            "controller.serviceAccount.roleArn is an AWS value; provider is azure",
        ),
        (
            &["--set", "region=us-west-2,gcp.project=my-project"],
            "gcp.project is a GCP value; provider is aws",
        ),
        (
            &[
                "--set",
                "provider=gcp,azure.clientId=0b4c6f2e-8d1a-4e3b-9c5d-7a6f1e2d3c4b",
            ],
            "azure.clientId is an Azure value; provider is gcp",
        ),
        (
            &["--set", "azure.applicationGateway.name=appgw"],
            "azure.applicationGateway.name is an Azure value; provider is aws",
        ),
        (
            &[
                "--set",
                "provider=azure,azure.vnetName=v,azure.subnetName=s,azure.routeTableName=r,azure.applicationGateway.name=-bad",
            ],
            "at '/azure/applicationGateway/name'",
        ),
        (
            &[
                "--set",
                "provider=azure,azure.vnetName=v,azure.subnetName=s",
            ],
            "provider azure needs azure.routeTableName",
        ),
        (&["--set", "provider=openstack"], "at '/provider'"),
        (
            &["--set", "provider=gcp,gcp.serviceAccount=not-an-email"],
            "at '/gcp/serviceAccount'",
        ),
    ];
    for (args, wanted) in cases {
        let mut all = vec!["-n", "kube-system", "--set", "clusterName=demo"];
        all.extend_from_slice(args);
        let err = template(&helm, &all).expect_err(&format!("{args:?} was accepted"));
        assert!(err.contains(wanted), "{args:?}: {wanted:?} not in {err}");
    }
}

#[test]
fn the_readme_installs_on_gke_and_aks_with_these_values() {
    if helm().is_none() {
        return;
    }
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for (heading, values, iam) in [
        (
            "## Install on GKE",
            "gke",
            "deploy/iam/gcp/controller-role.yaml",
        ),
        (
            "## Install on AKS",
            "aks",
            "deploy/iam/azure/controller-role.json",
        ),
    ] {
        let start = readme
            .find(heading)
            .unwrap_or_else(|| panic!("README has {heading}"));
        let rest = &readme[start + 3..];
        let section = &rest[..rest.find("\n## ").map_or(rest.len(), |i| i + 1)];
        let cmd = format!(
            "helm install cloudnet deploy/helm/cloudnet -n kube-system -f examples/helm/values-{values}.yaml"
        );
        assert!(section.contains(&cmd), "{heading}: {cmd}");
        assert!(section.contains(iam), "{heading} names {iam}");
        assert!(section.contains("deploy/iam/README.md"));
        // The command's values render.
        render(values);
    }
}
