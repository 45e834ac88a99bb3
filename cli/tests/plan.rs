//! `cloudnet plan`: the examples' load balancers planned against an empty cloud (exit 2),
//! against a mock cloud that already has them (exit 0, reads only), and a bad object (exit 1).

use std::path::PathBuf;
use std::process::Command;

use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider};
use cloudnet_cli::manifests;
use cloudnet_cli::plan::{desired, plan};
use cloudnet_core::LoadBalancers;
use cloudnet_mockcloud::{Config, MockCloud, World};

const VPC: &str = "vpc-0c10d0e7000000001";
const NODE_SG: &str = "sg-0c10d0e7000000001";

fn examples() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples"))
}

fn cloudnet(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cloudnet"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "AKIDPLANTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("VPC_ID")
        .output()
        .expect("run cloudnet");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_examples_planned_against_an_empty_cloud_are_two_new_load_balancers() {
    let ex = examples();
    let (code, out, err) = cloudnet(&[
        "plan",
        "-f",
        ex.to_str().unwrap(),
        "--serve-classless-services",
        "true",
    ]);
    assert_eq!(code, Some(2), "{out}{err}");
    for want in [
        "service default/web-public: load balancer k8s-default-webpubli-",
        "ingress default/web: load balancer k8s-default-web-",
        "  + create listener 80",
        "  + create rule 1 of listener 80",
        "  + create rule 2 of listener 80",
        "Plan: 2 load balancers, 11 changes, 0 errors.",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    // Without the flag only the Ingress is ours (the Service has no class).
    let (code, out, _) = cloudnet(&["plan", "-f", ex.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, Some(2), "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["stacks"].as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(json["stacks"][0]["object"], "ingress default/web");
    assert_eq!(
        json["stacks"][0]["changeSet"]["changes"]
            .as_array()
            .map(Vec::len),
        Some(8),
        "{out}"
    );
}

#[test]
fn a_bad_object_is_an_error_with_exit_code_1() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bad
  annotations:
    alb.ingress.kubernetes.io/scheme: public
spec:
  ingressClassName: alb
  defaultBackend: {service: {name: missing, port: {number: 80}}}
"#,
    )
    .expect("write");
    let (code, out, err) = cloudnet(&["plan", "-f", file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("error: ingress default/bad: backend service default/missing does not exist"),
        "{out}"
    );
    assert!(
        out.contains(
            "error: ingress default/bad: annotation alb.ingress.kubernetes.io/scheme: \"public\": must be one of internal, internet-facing"
        ),
        "{out}"
    );
    let (code, _, err) = cloudnet(&["plan", "-f", file.to_str().unwrap(), "--provider", "gcp"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("only aws is built"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_that_matches_plans_no_change_and_planning_only_reads() {
    let cloud = MockCloud::start(Config::ephemeral(World::default()))
        .await
        .expect("mock cloud");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-west-2"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        .endpoint_url(cloud.endpoint_url())
        .load()
        .await;
    let mut aws = AwsConfig::new("sandbox");
    aws.vpc_id = Some(VPC.into());
    aws.node_security_group = Some(NODE_SG.into());
    let provider = AwsProvider::from_sdk_config(&sdk, aws, AwsMetrics::default()).expect("aws");
    let docs = manifests::load(&[examples()]).expect("examples");
    let is_read = |k: &str| {
        k.split_once(':')
            .is_some_and(|(_, a)| a.starts_with("Describe"))
    };
    let mutating = |cloud: &cloudnet_mockcloud::Handle| -> u64 {
        cloud.with_cloud(|c| {
            c.calls
                .iter()
                .filter(|(k, _)| !is_read(k))
                .map(|(_, n)| *n)
                .sum()
        })
    };

    // Empty cloud: changes, and not one mutating call.
    let (specs, errors) = desired(&docs, "sandbox", true);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(specs.len(), 2);
    let first = plan(&provider, specs.clone(), Vec::new()).await;
    assert_eq!(first.exit_code(), 2, "{}", first.render_text());
    assert_eq!(mutating(&cloud), 0, "planning made a mutating call");

    // Apply what was planned, then plan again: no change, still only reads.
    for (_, spec) in &specs {
        provider.ensure(spec).await.expect("ensure");
    }
    let applied = mutating(&cloud);
    let second = plan(&provider, specs, Vec::new()).await;
    assert_eq!(second.exit_code(), 0, "{}", second.render_text());
    assert_eq!(mutating(&cloud), applied, "planning made a mutating call");

    // The binary against that cloud: exit 0.
    let ex = examples();
    let endpoint = cloud.endpoint_url();
    let out = tokio::task::spawn_blocking(move || {
        cloudnet(&[
            "plan",
            "-f",
            ex.to_str().unwrap(),
            "--serve-classless-services",
            "true",
            "--endpoint",
            &endpoint,
            "--vpc-id",
            VPC,
            "--node-security-group",
            NODE_SG,
        ])
    })
    .await
    .expect("join");
    assert_eq!(out.0, Some(0), "{}{}", out.1, out.2);
    assert!(
        out.1
            .contains("Plan: 2 load balancers, 0 changes, 0 errors."),
        "{}",
        out.1
    );
    assert_eq!(
        mutating(&cloud),
        applied,
        "the binary's plan made a mutating call"
    );
    cloud.shutdown().await;
}

#[test]
fn ingress_class_params_in_the_files_are_applied_as_the_controller_applies_them() {
    let text = r#"
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: shared}
spec:
  controller: ingress.k8s.aws/alb
  parameters: {apiGroup: elbv2.k8s.aws, kind: IngressClassParams, name: shared}
---
apiVersion: elbv2.k8s.aws/v1beta1
kind: IngressClassParams
metadata: {name: shared}
spec:
  scheme: internet-facing
  targetType: ip
  group: {name: storefront}
  namespaceSelector: {matchLabels: {team: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: a
  namespace: shop
  annotations: {alb.ingress.kubernetes.io/scheme: internal}
spec:
  ingressClassName: shared
  rules: [{http: {paths: [{path: /a, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: b, namespace: shop}
spec:
  ingressClassName: shared
  rules: [{http: {paths: [{path: /b, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: c, namespace: default}
spec:
  ingressClassName: shared
  rules: [{http: {paths: [{path: /c, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
"#;
    let docs = manifests::parse(text, std::path::Path::new("params.yaml")).expect("parse");
    let (stacks, errors) = desired(&docs, "demo", false);
    // a and b join the params' group, internet-facing although a asks for internal.
    assert_eq!(stacks.len(), 1, "{stacks:?} {errors:?}");
    let (object, spec) = &stacks[0];
    assert_eq!(object, "group storefront", "{object}");
    assert_eq!(spec.scheme, cloudnet_core::Scheme::InternetFacing);
    let rules: usize = spec.listeners.iter().map(|l| l.rules.len()).sum();
    assert_eq!(rules, 2, "{:?}", spec.listeners);
    // c's namespace is not selected.
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("ingress default/c: ") && errors[0].contains("namespaceSelector"),
        "{errors:?}"
    );
}
