//! The rendered chart (CRDs, then the templates) applied to `cloudnet sandbox`'s API with the
//! machine's kubectl, and every object read back with what the chart set.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use serde_json::Value;

use super::{chart_crds, helm, kind_name, renders, temp_dir, write_documents};

/// Every field set in `want` is in `have` with the same value (the server adds defaults).
fn contains(have: &Value, want: &Value, path: &str, missing: &mut Vec<String>) {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => {
            for (k, v) in w {
                match h.get(k) {
                    Some(hv) => contains(hv, v, &format!("{path}.{k}"), missing),
                    None => missing.push(format!("{path}.{k}")),
                }
            }
        }
        (Value::Array(h), Value::Array(w)) if h.len() == w.len() => {
            for (i, (hv, wv)) in h.iter().zip(w).enumerate() {
                contains(hv, wv, &format!("{path}[{i}]"), missing);
            }
        }
        (Value::Number(h), Value::Number(w)) if h.as_f64() == w.as_f64() => {}
        _ if have == want => {}
        _ => missing.push(format!("{path}: {want} != {have}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_chart_applies_to_the_sandbox_api_and_reads_back() {
    use cloudnet_cli::sandbox::{Sandbox, SandboxArgs};
    let Some(helm) = helm() else { return };
    let Some(kubectl) = cloudnet_testkit::kubectl() else {
        return;
    };
    let dir = temp_dir("apply");
    let docs: Vec<Value> = renders(&helm)
        .into_iter()
        .find(|(n, _)| *n == "eks")
        .unwrap()
        .1
        .into_iter()
        .filter(|o| o["kind"] != "ServiceMonitor")
        .collect();
    let crds = dir.join("crds.yaml");
    write_documents(&crds, &chart_crds());
    let objects = dir.join("objects.yaml");
    write_documents(&objects, &docs);

    let sandbox = Sandbox::start(&SandboxArgs::ephemeral(&dir.join("sandbox")))
        .await
        .unwrap();
    let kubeconfig = sandbox.kubeconfig.clone();
    let want = docs.clone();
    let crd_docs = chart_crds();
    let checked = tokio::task::spawn_blocking(move || {
        let kubectl_run = |args: &[&str]| -> Output {
            Command::new(&kubectl)
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(args)
                .output()
                .unwrap()
        };
        for file in [&crds, &objects] {
            let out = kubectl_run(&["apply", "-f", file.to_str().unwrap()]);
            assert!(
                out.status.success(),
                "kubectl apply -f {}: {}{}",
                file.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut checked = 0;
        for o in want.iter().chain(crd_docs.iter()) {
            let (kind, name) = kind_name(o);
            let mut args = vec![
                "get".to_string(),
                kind.to_lowercase(),
                name.clone(),
                "-o".into(),
                "json".into(),
            ];
            if let Some(ns) = o["metadata"]["namespace"].as_str() {
                args.extend(["-n".to_string(), ns.to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = kubectl_run(&args);
            assert!(
                out.status.success(),
                "kubectl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let have: Value = serde_json::from_slice(&out.stdout).unwrap();
            let mut missing = Vec::new();
            contains(&have, o, "", &mut missing);
            assert!(
                missing.is_empty(),
                "{kind}/{name} read back without {missing:?}"
            );
            checked += 1;
        }
        // NOTES.txt's checks, run as printed, answer against this API (the sandbox's own
        // controller holds the Lease; its allocator made a NodeNetwork per node).
        let text = |args: &[&str]| -> String {
            let out = kubectl_run(args);
            assert!(
                out.status.success(),
                "kubectl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let holder = text(&[
            "-n",
            "kube-system",
            "get",
            "lease",
            "cloudnet-controller",
            "-o",
            "jsonpath={.spec.holderIdentity}{\"\\n\"}",
        ]);
        assert!(!holder.is_empty(), "the Lease has a holder");
        let role = text(&[
            "-n",
            "kube-system",
            "get",
            "serviceaccount",
            "cloudnet-controller",
            "-o",
            "jsonpath={.metadata.annotations.eks\\.amazonaws\\.com/role-arn}{\"\\n\"}",
        ]);
        assert_eq!(role, "arn:aws:iam::111122223333:role/cloudnet-controller");
        // The allocator may still be making them: wait up to 30 s for both.
        let mut networks = String::new();
        for _ in 0..60 {
            networks = text(&["get", "nodenetworks", "-o", "name"]);
            if networks.lines().count() == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        assert_eq!(networks.lines().count(), 2, "{networks}");
        checked
    })
    .await;
    sandbox.shutdown().await;
    let checked = checked.unwrap();
    assert_eq!(checked, docs.len() + chart_crds().len());
    let kinds: BTreeMap<String, usize> = docs.iter().fold(BTreeMap::new(), |mut m, o| {
        *m.entry(kind_name(o).0).or_default() += 1;
        m
    });
    assert_eq!(kinds.get("ClusterRole"), Some(&2), "{kinds:?}");
    std::fs::remove_dir_all(dir).unwrap();
}
