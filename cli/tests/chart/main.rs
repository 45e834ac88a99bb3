//! The Helm chart `deploy/helm/cloudnet`, checked with the tools its users run: `helm lint` and
//! `helm template` (the EKS example values and the defaults), its schema refusing bad values with
//! a clear message, `kubernetes-validate --strict`, every object decoded as its k8s-openapi type
//! without losing a field, the rendered flags parsed by the binaries' own parsers, the RBAC it
//! renders, and the whole chart applied to the sandbox's API with kubectl and read back.
//!
//! helm and kubernetes-validate come from `deploy/scripts/setup-chart-tests.sh` (run by
//! `scripts/setup.sh`); a missing one fails these tests (`cloudnet_testkit::tool`).
//!
//! The ServiceMonitor (prometheus-operator's CRD) has no schema in kubernetes-validate and no
//! k8s-openapi type, and the sandbox has no such CRD: it is checked against the fields of
//! `monitoring.coreos.com/v1` it uses and against the metrics Service it selects, and left out of
//! the apply. The chart's CRDs are validated as CustomResourceDefinitions and applied first.

mod apply;
mod clouds;
mod flags;
mod rbac;
mod readme;
mod usage;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

/// The Kubernetes version the objects are validated against: the one k8s-openapi is built for
/// (`v1_33` in the workspace), within kubernetes-validate's range.
pub const K8S_VERSION: &str = "1.33.0";

pub fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

pub fn chart() -> PathBuf {
    repo().join("deploy/helm/cloudnet")
}

pub fn eks_values() -> String {
    repo()
        .join("examples/helm/values-eks.yaml")
        .display()
        .to_string()
}

pub fn helm() -> Option<PathBuf> {
    cloudnet_testkit::helm()
}

pub fn run(program: &Path, args: &[String]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()))
}

pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `helm template cloudnet <chart> <args>`: the rendered YAML, or helm's error.
pub fn template(helm: &Path, args: &[&str]) -> Result<String, String> {
    let mut all = strings(&["template", "cloudnet"]);
    all.push(chart().display().to_string());
    all.extend(strings(args));
    let out = run(helm, &all);
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

/// The renders every check runs on: the EKS example, the defaults, and routes instead of pod IPAM.
pub fn renders(helm: &Path) -> Vec<(&'static str, Vec<Value>)> {
    let eks = eks_values();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("eks", vec!["-n", "kube-system", "-f", &eks]),
        (
            "defaults",
            vec!["-n", "kube-system", "--set", "clusterName=demo"],
        ),
        (
            "routes",
            vec![
                "-n",
                "kube-system",
                "--set",
                "clusterName=demo,features.podIpam=false,features.routes=true,features.ingress=false",
                "--set",
                "clusterCidr={10.244.0.0/16},routeTableIds={rtb-0123456789abcdef0}",
            ],
        ),
    ];
    cases
        .into_iter()
        .map(|(name, args)| {
            let yaml = template(helm, &args).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, documents(&yaml))
        })
        .collect()
}

/// The non-empty YAML documents of `text`, as JSON.
pub fn documents(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// The chart's CRDs (`crds/`, installed by Helm before the templates).
pub fn chart_crds() -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart().join("crds"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| documents(&std::fs::read_to_string(f).unwrap()))
        .collect()
}

/// A Role's rules, one per (apiGroup, resource): (apiGroup, resource, resourceNames, verbs).
pub fn role_rules(role: &Value) -> Vec<(String, String, Vec<String>, Vec<String>)> {
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let mut out = Vec::new();
    for r in role["rules"].as_array().unwrap() {
        for g in list(&r["apiGroups"]) {
            for res in list(&r["resources"]) {
                out.push((g.clone(), res, list(&r["resourceNames"]), list(&r["verbs"])));
            }
        }
    }
    out
}

pub fn kind_name(o: &Value) -> (String, String) {
    (
        o["kind"].as_str().unwrap().to_string(),
        o["metadata"]["name"].as_str().unwrap().to_string(),
    )
}

pub fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|o| kind_name(o) == (kind.to_string(), name.to_string()))
        .unwrap_or_else(|| panic!("no {kind}/{name} rendered"))
}

pub fn container<'a>(workload: &'a Value, list: &str, name: &str) -> &'a Value {
    workload["spec"]["template"]["spec"][list]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {list} {name}"))
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cloudnet-chart-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn write_documents(path: &Path, docs: &[Value]) {
    let text: String = docs
        .iter()
        .map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap()))
        .collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn lint_and_template_with_the_eks_values_and_the_defaults() {
    let Some(helm) = helm() else { return };
    let eks = eks_values();
    let chart = chart().display().to_string();
    for args in [
        // --strict: a lint warning fails too.
        vec!["lint", "--strict", &chart, "-n", "kube-system", "-f", &eks],
        vec![
            "lint",
            "--strict",
            &chart,
            "-n",
            "kube-system",
            "--set",
            "clusterName=demo",
        ],
    ] {
        let out = run(&helm, &strings(&args));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("1 chart(s) linted, 0 chart(s) failed"),
            "{text}"
        );
    }

    let all = renders(&helm);
    let objects = |name: &str| -> BTreeSet<(String, String)> {
        all.iter()
            .find(|(n, _)| *n == name)
            .unwrap()
            .1
            .iter()
            .map(kind_name)
            .collect()
    };
    let set = |pairs: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        pairs
            .iter()
            .map(|(k, n)| (k.to_string(), n.to_string()))
            .collect()
    };
    let base = [
        ("ServiceAccount", "cloudnet-controller"),
        ("Deployment", "cloudnet-controller"),
        ("PodDisruptionBudget", "cloudnet-controller"),
        ("Service", "cloudnet-controller-metrics"),
        ("ClusterRole", "cloudnet-controller"),
        ("ClusterRoleBinding", "cloudnet-controller"),
        ("Role", "cloudnet-controller-leader-election"),
        ("RoleBinding", "cloudnet-controller-leader-election"),
    ];
    let node = [
        ("ServiceAccount", "cloudnet-node"),
        ("DaemonSet", "cloudnet-node"),
        ("ClusterRole", "cloudnet-node"),
        ("ClusterRoleBinding", "cloudnet-node"),
    ];
    let mut defaults = set(&base);
    defaults.extend(set(&node));
    assert_eq!(objects("defaults"), defaults);
    let mut eks_objects = defaults.clone();
    eks_objects.insert(("ServiceMonitor".into(), "cloudnet-controller".into()));
    assert_eq!(objects("eks"), eks_objects);
    // Without pod IPAM there is no node daemon and no identity for it.
    assert_eq!(objects("routes"), set(&base));

    let eks = &all[0].1;
    // IRSA: the controller's account carries the role; the node's carries none.
    let sa = find(eks, "ServiceAccount", "cloudnet-controller");
    assert_eq!(
        sa["metadata"]["annotations"],
        json!({ "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/cloudnet-controller" })
    );
    assert!(find(eks, "ServiceAccount", "cloudnet-node")["metadata"]["annotations"].is_null());

    let deploy = find(eks, "Deployment", "cloudnet-controller");
    let spec = &deploy["spec"]["template"]["spec"];
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(spec["priorityClassName"], "system-cluster-critical");
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    assert_eq!(spec["serviceAccountName"], "cloudnet-controller");
    let anti =
        &spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(
        anti["podAffinityTerm"]["topologyKey"],
        "kubernetes.io/hostname"
    );
    let c = container(deploy, "containers", "controller");
    assert_eq!(
        c["image"],
        "111122223333.dkr.ecr.us-west-2.amazonaws.com/cloudnet:0.1.0"
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for want in [
        "--cluster-name=prod-eks",
        "--region=us-west-2",
        "--vpc-id=vpc-0a1b2c3d4e5f67890",
        "--warm-ip-target=5",
        "--minimum-ip-target=10",
        "--interface-config-label=topology.kubernetes.io/zone",
        "--default-target-type=ip",
        "--leader-election=true",
    ] {
        assert!(args.contains(&want), "{want} not in {args:?}");
    }
    let pdb = find(eks, "PodDisruptionBudget", "cloudnet-controller");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(pdb["spec"]["selector"], deploy["spec"]["selector"]);

    let ds = find(eks, "DaemonSet", "cloudnet-node");
    let spec = &ds["spec"]["template"]["spec"];
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["tolerations"], json!([{ "operator": "Exists" }]));
    assert_eq!(
        ds["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"],
        "10%"
    );
    let paths: BTreeSet<&str> = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["hostPath"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        BTreeSet::from([
            "/opt/cni/bin",
            "/etc/cni/net.d",
            "/run/cloudnet/ipamd",
            "/run/cloudnet/checkpoint"
        ])
    );
    assert!(container(ds, "initContainers", "install-cni")["args"][0] == "install");
}

#[test]
fn bad_values_are_refused_with_a_clear_message() {
    let Some(helm) = helm() else { return };
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--set", "provider=openstack"],
            &[
                "at '/provider'",
                "value must be one of 'aws', 'gcp', 'azure'",
            ],
        ),
        (
            &[
                "--set",
                "controller.serviceAccount.roleArn=arn:aws:iam::12:role/x",
            ],
            &[
                "at '/controller/serviceAccount/roleArn'",
                "does not match pattern",
            ],
        ),
        (
            &["--set-string", "controller.replicas=2"],
            &["at '/controller/replicas'", "got string, want integer"],
        ),
        (
            &["--set", "controler.replicas=2"],
            &["additional properties 'controler' not allowed"],
        ),
        (
            &["--set", "region=us_west_2"],
            &["at '/region'", "does not match pattern"],
        ),
        (
            &["--set", "vpcId=vpc-12"],
            &["at '/vpcId'", "does not match pattern"],
        ),
        (
            &["--set", "node.maxUnavailable=ten"],
            &["at '/node/maxUnavailable'"],
        ),
        (
            &["--set", "features.routes=true"],
            &["features.routes needs clusterCidr"],
        ),
        (
            &[
                "--set",
                "features.podIpam=false,features.serviceLoadBalancers=false,features.ingress=false,features.targetGroupBinding=false",
            ],
            &["every controller is switched off"],
        ),
    ];
    for (args, wanted) in cases {
        let mut all = vec!["-n", "kube-system", "--set", "clusterName=demo"];
        all.extend_from_slice(args);
        let err = template(&helm, &all).expect_err(&format!("{args:?} was accepted"));
        for w in *wanted {
            assert!(err.contains(w), "{args:?}: {w:?} not in {err}");
        }
    }
    // The defaults alone: the cluster's name is required.
    let err = template(&helm, &["-n", "kube-system"]).unwrap_err();
    assert!(err.contains("at '/clusterName'"), "{err}");
    // Another namespace: the service accounts' identities would not be the ones the IAM trust
    // policy and the RBAC name.
    let err = template(&helm, &["-n", "default", "--set", "clusterName=demo"]).unwrap_err();
    assert!(err.contains("cloudnet installs into kube-system"), "{err}");
}

/// `kubernetes-validate --strict` on `objects` (written to `dir/<name>.yaml`): every one passes.
pub fn validate_strict(validate: &Path, dir: &Path, name: &str, objects: &[Value]) {
    let file = dir.join(format!("{name}.yaml"));
    write_documents(&file, objects);
    let out = run(
        validate,
        &strings(&["--strict", "-k", K8S_VERSION, &file.display().to_string()]),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name}: {text}");
    let passed = text
        .lines()
        .filter(|l| l.contains(" passed for resource "))
        .count();
    assert_eq!(
        passed,
        objects.len(),
        "{name}: every object validated: {text}"
    );
}

#[test]
fn every_rendered_object_passes_kubernetes_validate_strict() {
    let Some(helm) = helm() else { return };
    let Some(validate) = cloudnet_testkit::kubernetes_validate() else {
        return;
    };
    let dir = temp_dir("validate");
    for (name, docs) in renders(&helm) {
        let (monitors, objects): (Vec<Value>, Vec<Value>) = docs
            .into_iter()
            .partition(|o| o["kind"] == "ServiceMonitor");
        let mut objects = objects;
        objects.extend(chart_crds());
        validate_strict(&validate, &dir, name, &objects);
        for m in &monitors {
            service_monitor_is_well_formed(m, &objects);
        }
    }
    // The check can fail: a misspelled field is refused.
    let mut bad =
        documents(&template(&helm, &["-n", "kube-system", "--set", "clusterName=demo"]).unwrap());
    let deploy = bad.iter_mut().find(|o| o["kind"] == "Deployment").unwrap();
    deploy["spec"]["template"]["spec"]["priorityClass"] = json!("system-cluster-critical");
    let file = dir.join("bad.yaml");
    write_documents(&file, &bad);
    let out = run(
        &validate,
        &strings(&["--strict", "-k", K8S_VERSION, &file.display().to_string()]),
    );
    assert!(!out.status.success());
    std::fs::remove_dir_all(dir).unwrap();
}

/// A ServiceMonitor uses only fields of `monitoring.coreos.com/v1` and selects the controller's
/// metrics Service on a port that Service has.
fn service_monitor_is_well_formed(m: &Value, objects: &[Value]) {
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    let set = |k: &[&str]| -> BTreeSet<String> { k.iter().map(|s| s.to_string()).collect() };
    assert_eq!(m["apiVersion"], "monitoring.coreos.com/v1");
    assert!(
        keys(&m["spec"]).is_subset(&set(&[
            "selector",
            "namespaceSelector",
            "endpoints",
            "jobLabel"
        ])),
        "{m}"
    );
    for e in m["spec"]["endpoints"].as_array().unwrap() {
        assert!(
            keys(e).is_subset(&set(&[
                "port",
                "path",
                "interval",
                "scheme",
                "scrapeTimeout"
            ])),
            "{e}"
        );
    }
    let svc = objects
        .iter()
        .find(|o| o["kind"] == "Service" && o["metadata"]["name"] == "cloudnet-controller-metrics")
        .expect("the metrics Service");
    let labels = svc["metadata"]["labels"].as_object().unwrap();
    for (k, v) in m["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(
            labels.get(k),
            Some(v),
            "the ServiceMonitor selects the metrics Service"
        );
    }
    let port = &m["spec"]["endpoints"][0]["port"];
    assert!(
        svc["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| &p["name"] == port)
    );
    assert_eq!(
        m["spec"]["namespaceSelector"]["matchNames"],
        json!(["kube-system"])
    );
}

/// Decodes `o` as `T` and serialises it again; the JSON must be the same (a misspelled or
/// misplaced field is dropped by the typed decode and shows up here).
fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(o: &Value) {
    let typed: T = serde_json::from_value(o.clone())
        .unwrap_or_else(|e| panic!("{:?} does not decode: {e}", kind_name(o)));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(&back, o, "{:?} lost or changed a field", kind_name(o));
}

fn decode(o: &Value) -> bool {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
    use k8s_openapi::api::core::v1::{Service, ServiceAccount};
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    match o["kind"].as_str().unwrap() {
        "Deployment" => round_trips::<Deployment>(o),
        "DaemonSet" => round_trips::<DaemonSet>(o),
        "Service" => round_trips::<Service>(o),
        "ServiceAccount" => round_trips::<ServiceAccount>(o),
        "PodDisruptionBudget" => round_trips::<PodDisruptionBudget>(o),
        "ClusterRole" => round_trips::<ClusterRole>(o),
        "ClusterRoleBinding" => round_trips::<ClusterRoleBinding>(o),
        "Role" => round_trips::<Role>(o),
        "RoleBinding" => round_trips::<RoleBinding>(o),
        "CustomResourceDefinition" => round_trips::<CustomResourceDefinition>(o),
        _ => return false,
    }
    true
}

#[test]
fn every_rendered_object_decodes_as_its_typed_object_without_losing_a_field() {
    let Some(helm) = helm() else { return };
    for (name, docs) in renders(&helm) {
        let undecoded: Vec<_> = docs
            .iter()
            .chain(chart_crds().iter())
            .filter(|o| !decode(o))
            .map(kind_name)
            .collect();
        let expected: Vec<(String, String)> = if name == "eks" {
            vec![("ServiceMonitor".into(), "cloudnet-controller".into())]
        } else {
            vec![]
        };
        assert_eq!(
            undecoded, expected,
            "{name}: only the ServiceMonitor has no k8s-openapi type"
        );
    }
    // The check can fail: a field in the wrong place is lost.
    let helm_docs =
        documents(&template(&helm, &["-n", "kube-system", "--set", "clusterName=demo"]).unwrap());
    let mut deploy = find(&helm_docs, "Deployment", "cloudnet-controller").clone();
    deploy["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = json!({});
    let lost = std::panic::catch_unwind(|| decode(&deploy));
    assert!(lost.is_err(), "a misspelled field must not round-trip");
}

/// The status code of `GET <path>` on `addr` (HTTP/1.1, connection closed after).
pub async fn http_status(addr: std::net::SocketAddr, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line from {addr}{path}: {out:?}"))
}

/// The (liveness, readiness) probe paths of a rendered container.
pub fn probe_paths(container: &Value) -> (String, String) {
    let path = |probe: &str| {
        container[probe]["httpGet"]["path"]
            .as_str()
            .unwrap()
            .to_string()
    };
    (path("livenessProbe"), path("readinessProbe"))
}
