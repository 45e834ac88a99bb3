//! The machine's own `kubectl` against the embedded API, with the example manifests.
//!
//! kubectl is looked up on PATH; without it the test fails when `CI` is set and is skipped
//! (with the reason printed) otherwise.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::{WAIT, eventually, start};

fn find_kubectl() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    fn command(&self, args: &[&str]) -> Command {
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
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
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

    async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args).await;
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/web.yaml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_against_the_embedded_api() {
    let Some(bin) = find_kubectl() else {
        if std::env::var_os("CI").is_some() {
            panic!("kubectl is not on PATH; the kubectl tests need it in CI (install kubectl)");
        }
        println!("Skipping the kubectl tests: kubectl is not on PATH");
        return;
    };
    let (handle, client) = start().await;
    let dir =
        std::env::temp_dir().join(format!("kubesim-kubectl-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join("kubeconfig");
    handle
        .write_kubeconfig(&kubeconfig, cloudnet_kubesim::ADMIN)
        .expect("kubeconfig");
    let k = Kubectl {
        bin,
        kubeconfig,
        cache: dir.join("cache"),
    };
    let manifests = examples();
    let manifests = manifests.to_str().expect("utf-8 path");

    let out = k.ok(&["apply", "-f", manifests]).await;
    assert!(
        out.contains("deployment.apps/web created") && out.contains("service/web created"),
        "{out}"
    );
    let out = k.ok(&["apply", "-f", manifests]).await;
    assert!(
        out.contains("deployment.apps/web unchanged") && out.contains("service/web unchanged"),
        "{out}"
    );

    let out = k.ok(&["get", "deployments,services"]).await;
    assert!(
        out.contains("deployment.apps/web") && out.contains("service/web"),
        "{out}"
    );
    let out = k.ok(&["get", "deployment", "web", "-o", "yaml"]).await;
    assert!(
        out.contains("replicas: 3") && out.contains("image: nginx"),
        "{out}"
    );
    let out = k.ok(&["describe", "deployment", "web"]).await;
    assert!(
        out.contains("Name:") && out.contains("web") && out.contains("nginx"),
        "{out}"
    );
    let out = k.ok(&["describe", "service", "web"]).await;
    assert!(
        out.contains("Selector:") && out.contains("app=web"),
        "{out}"
    );
    let out = k.ok(&["scale", "deployment", "web", "--replicas=5"]).await;
    assert!(out.contains("scaled"), "{out}");
    let out = k
        .ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
        .await;
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
    let out = k
        .ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
        .await;
    assert_eq!(out.trim(), "3", "server-side apply sets replicas back");

    // get -w prints a line when something changes.
    let mut watch = k
        .command(&["get", "configmaps", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let stdout = watch.stdout.take().expect("stdout");
    eventually("kubectl's watch to open", || async {
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
    let _ = std::fs::remove_dir_all(&dir);
}
