//! The machine's own `kubectl` against the embedded API, with the example manifests.
//!
//! kubectl is found by `cloudnet_testkit::kubectl` (the project venv, then PATH); without it
//! the test fails naming `scripts/setup.sh`, unless `CLOUDNET_SKIP_EXTERNAL=1`.

use std::path::{Path, PathBuf};

use cloudnet_kubesim::Handle;
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::{WAIT, assert_contains, eventually, start_cluster, start_kubectl};

pub(crate) struct Kubectl {
    pub(crate) bin: PathBuf,
    pub(crate) kubeconfig: PathBuf,
    pub(crate) cache: PathBuf,
}

impl Kubectl {
    /// The machine's kubectl, found by the shared test kit, pointed at `handle` as the admin
    /// through a kubeconfig in a fresh temp dir. A missing kubectl fails the test run (naming
    /// `scripts/setup.sh`); `None` only when `CLOUDNET_SKIP_EXTERNAL=1`, and the test skips.
    pub(crate) fn for_handle(handle: &Handle) -> Option<Kubectl> {
        Self::for_identity(handle, cloudnet_kubesim::ADMIN)
    }

    /// As [`Kubectl::for_handle`], with a kubeconfig holding `identity`'s token.
    pub(crate) fn for_identity(handle: &Handle, identity: &str) -> Option<Kubectl> {
        let bin = cloudnet_testkit::kubectl()?;
        let dir =
            std::env::temp_dir().join(format!("kubesim-kubectl-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let kubeconfig = dir.join("kubeconfig");
        handle
            .write_kubeconfig(&kubeconfig, identity)
            .expect("kubeconfig");
        Some(Kubectl {
            bin,
            kubeconfig,
            cache: dir.join("cache"),
        })
    }

    /// The temp dir holding the kubeconfig and cache; tests put their manifests here too.
    pub(crate) fn dir(&self) -> &Path {
        self.kubeconfig
            .parent()
            .expect("the kubeconfig is in a dir")
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args);
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        cmd
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    pub(crate) async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let output = tokio::time::timeout(Duration::from_secs(90), self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
            .expect("kubectl runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    pub(crate) async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args).await;
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }

    /// `kubectl get KIND NAME -o jsonpath=PATH`, trimmed.
    pub(crate) async fn jsonpath(&self, kind: &str, name: &str, path: &str) -> String {
        let format = format!("jsonpath={path}");
        let out = self.ok(&["get", kind, name, "-o", &format]).await;
        out.trim().to_string()
    }
}

/// The first line of kubectl's table output names exactly these columns, in order.
fn assert_columns(out: &str, want: &[&str]) {
    let header = out.lines().next().unwrap_or_default();
    // Names may contain one space ("NOMINATED NODE"), so find them in order instead of
    // splitting.
    let mut rest = header.trim();
    for name in want {
        let at = rest
            .find(name)
            .unwrap_or_else(|| panic!("column {name} in {header:?}"));
        assert!(
            rest[..at].trim().is_empty(),
            "{name} comes next in {header:?}"
        );
        rest = &rest[at + name.len()..];
    }
    assert!(
        rest.trim().is_empty(),
        "no columns beyond {want:?}: {header:?}"
    );
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/web.yaml")
}

/// kubectl's columns for a Service; `-o wide` adds SELECTOR.
const SERVICE_COLUMNS: [&str; 6] = [
    "NAME",
    "TYPE",
    "CLUSTER-IP",
    "EXTERNAL-IP",
    "PORT(S)",
    "AGE",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_against_the_embedded_api() {
    let Some((handle, client, k)) = start_kubectl().await else {
        return;
    };
    let dir = k.dir();
    let _sim = start_cluster(&handle, "m5.large", 29);
    let manifests = examples();
    let manifests = manifests.to_str().expect("utf-8 path");

    let out = k.ok(&["apply", "-f", manifests]).await;
    assert_contains(
        &out,
        &["deployment.apps/web created", "service/web created"],
    );
    let out = k.ok(&["apply", "-f", manifests]).await;
    assert_contains(
        &out,
        &["deployment.apps/web unchanged", "service/web unchanged"],
    );

    let out = k.ok(&["get", "deployments,services"]).await;
    assert_contains(&out, &["deployment.apps/web", "service/web"]);
    // Server-side printing: the columns a real cluster prints.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    eventually(WAIT, "the web pods to be ready", || async {
        let d = deployments.get("web").await.ok()?;
        (d.status?.ready_replicas == Some(3)).then_some(())
    })
    .await;
    let out = k.ok(&["get", "pods"]).await;
    assert_columns(&out, &["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{out}");
    for row in &rows {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert!(
            cells[0].starts_with("web-") && cells[1..4] == ["1/1", "Running", "0"],
            "{out}"
        );
    }
    let out = k.ok(&["get", "pods", "-o", "wide"]).await;
    assert_columns(
        &out,
        &[
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES",
        ],
    );
    assert!(
        out.lines()
            .skip(1)
            .all(|l| l.contains("10.244.") && l.contains("node-a") && l.contains("<none>")),
        "{out}"
    );
    let out = k.ok(&["get", "svc", "web"]).await;
    assert_columns(&out, &SERVICE_COLUMNS);
    let cells: Vec<&str> = out
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(
        cells.len() == 6
            && cells[..2] == ["web", "ClusterIP"]
            && cells[2].starts_with("10.100.")
            && cells[3..5] == ["<none>", "80/TCP"],
        "{out}"
    );
    let out = k.ok(&["get", "svc", "web", "-o", "wide"]).await;
    assert_columns(&out, &[&SERVICE_COLUMNS[..], &["SELECTOR"]].concat());
    assert!(out.contains("app=web"), "{out}");
    let out = k.ok(&["get", "deployments"]).await;
    assert_columns(&out, &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("web") && l.contains("3/3")),
        "{out}"
    );
    let out = k.ok(&["get", "nodes"]).await;
    assert_columns(&out, &["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
    assert!(out.contains("node-a") && out.contains("Ready"), "{out}");
    let out = k.ok(&["get", "namespaces"]).await;
    assert_columns(&out, &["NAME", "STATUS", "AGE"]);
    assert!(out.contains("Active"), "{out}");
    let out = k.ok(&["get", "endpointslices"]).await;
    assert_columns(&out, &["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]);
    assert_contains(&out, &["IPv4", "80", "10.244."]);

    let out = k.ok(&["get", "deployment", "web", "-o", "yaml"]).await;
    assert_contains(&out, &["replicas: 3", "image: nginx"]);
    let out = k.ok(&["describe", "deployment", "web"]).await;
    assert_contains(&out, &["Name:", "web", "nginx"]);
    let out = k.ok(&["describe", "service", "web"]).await;
    assert_contains(&out, &["Selector:", "app=web"]);
    let out = k.ok(&["scale", "deployment", "web", "--replicas=5"]).await;
    assert!(out.contains("scaled"), "{out}");
    let out = k.jsonpath("deployment", "web", "{.spec.replicas}").await;
    assert_eq!(out.trim(), "5");

    let out = k
        .ok(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            manifests,
        ])
        .await;
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    let out = k.jsonpath("deployment", "web", "{.spec.replicas}").await;
    assert_eq!(out.trim(), "3", "server-side apply sets replicas back");

    // get -w prints a line when something changes.
    let mut watch = k
        .command(&["get", "configmaps", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let stdout = watch.stdout.take().expect("stdout");
    eventually(WAIT, "kubectl's watch to open", || async {
        (handle.store().stats().watchers > 0).then_some(())
    })
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "watched-by-kubectl"}})).expect("cm");
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let mut lines = BufReader::new(stdout).lines();
    let seen = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("watched-by-kubectl") {
                return true;
            }
        }
        false
    })
    .await;
    let _ = watch.kill().await;
    assert_eq!(
        seen.ok(),
        Some(true),
        "kubectl get -w printed the new configmap"
    );

    let out = k.ok(&["delete", "-f", manifests]).await;
    assert!(
        out.contains("deployment.apps \"web\" deleted") && out.contains("service \"web\" deleted"),
        "{out}"
    );
    let (ok, _, err) = k.run(&["get", "deployment", "web"]).await;
    assert!(!ok && err.contains("NotFound"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
