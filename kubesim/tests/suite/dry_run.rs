//! `dryRun=All` on every write: validated, defaulted and admitted, never stored, no watch
//! event, no resourceVersion bump.

use std::sync::Arc;
use std::time::Duration;

use cloudnet_kubesim::sim::{self, kubelet::RangeAddressSource};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

use crate::{raw, start, start_kubectl};

/// The value of `key` in a ConfigMap's data.
fn value<'a>(cm: &'a ConfigMap, key: &str) -> Option<&'a str> {
    cm.data.as_ref()?.get(key).map(String::as_str)
}

fn dry() -> PostParams {
    PostParams {
        dry_run: true,
        ..PostParams::default()
    }
}

#[tokio::test]
async fn dry_run_writes_change_nothing() {
    let (handle, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let base: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "real"}, "data": {"a": "1"}}))
            .expect("cm");
    cms.create(&PostParams::default(), &base)
        .await
        .expect("create");
    let rv = handle.store().stats().resource_version;
    let mut events = cms
        .watch(&WatchParams::default(), &rv.to_string())
        .await
        .expect("watch")
        .boxed();

    // Create: the answer is the object as it would be stored, with a uid but no
    // resourceVersion; it is not there afterwards.
    let ghost: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "ghost"}})).expect("cm");
    let answer = cms.create(&dry(), &ghost).await.expect("dry create");
    assert!(answer.metadata.uid.is_some() && answer.metadata.resource_version.is_none());
    assert!(cms.get_opt("ghost").await.expect("get").is_none());
    // Still validated: a bad name is refused as without dryRun.
    let bad: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "Not_Valid"}})).expect("cm");
    match cms.create(&dry(), &bad).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 422),
        other => panic!("expected 422, got {other:?}"),
    }

    // Update, patch, apply and delete.
    let mut changed = cms.get("real").await.expect("get");
    changed.data = Some([("a".to_string(), "2".to_string())].into());
    let answer = cms
        .replace("real", &dry(), &changed)
        .await
        .expect("dry update");
    assert_eq!(value(&answer, "a"), Some("2"));
    let dry_patch = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    let answer = cms
        .patch(
            "real",
            &dry_patch,
            &Patch::Merge(json!({"data": {"b": "3"}})),
        )
        .await
        .expect("dry patch");
    assert_eq!(value(&answer, "b"), Some("3"));
    let apply = PatchParams {
        dry_run: true,
        ..PatchParams::apply("test")
    };
    cms.patch(
        "real",
        &apply,
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "real"}, "data": {"c": "4"}})),
    )
    .await
    .expect("dry apply");
    cms.patch(
        "applied",
        &apply,
        &Patch::Apply(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}}),
        ),
    )
    .await
    .expect("dry apply of a new object");
    cms.delete(
        "real",
        &DeleteParams {
            dry_run: true,
            ..DeleteParams::default()
        },
    )
    .await
    .expect("dry delete");

    let live = cms.get("real").await.expect("still there");
    assert_eq!(live.data, base.data);
    assert!(cms.get_opt("applied").await.expect("get").is_none());
    assert_eq!(
        handle.store().stats().resource_version,
        rv,
        "no resourceVersion bump"
    );
    let event = tokio::time::timeout(Duration::from_millis(500), events.next()).await;
    assert!(
        !matches!(
            event,
            Ok(Some(Ok(WatchEvent::Added(_)
                | WatchEvent::Modified(_)
                | WatchEvent::Deleted(_))))
        ),
        "no watch event: {event:?}"
    );

    // A dry-run Service gets an address it does not keep: the real create gets the same
    // first free one.
    let _sim = sim::start(handle.store(), Arc::new(RangeAddressSource::default()));
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(
        json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .expect("svc");
    let dry_ip = services
        .create(&dry(), &svc)
        .await
        .expect("dry")
        .spec
        .and_then(|s| s.cluster_ip);
    let real_ip = services
        .create(&PostParams::default(), &svc)
        .await
        .expect("real")
        .spec
        .and_then(|s| s.cluster_ip);
    assert!(dry_ip.is_some());
    assert_eq!(dry_ip, real_ip);

    // Only All exists.
    let (code, status) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps?dryRun=Some",
        "application/json",
        serde_json::to_vec(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
        )
        .expect("json"),
    )
    .await;
    assert_eq!((code, status["reason"].as_str()), (422, Some("Invalid")));
    assert_eq!(
        status["message"],
        "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: [\"Some\"]: supported values: \"All\""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_server_dry_run_and_diff() {
    let Some((handle, _client, k)) = start_kubectl().await else {
        return;
    };
    let dir = k.dir();
    let file = dir.join("cm.yaml");
    let write = |value: &str| {
        std::fs::write(
            &file,
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: \"{value}\"\n"),
        )
        .expect("manifest");
    };
    let path = file.to_str().expect("utf-8 path");

    write("1");
    let rv = handle.store().stats().resource_version;
    let out = k.ok(&["apply", "--dry-run=server", "-f", path]).await;
    assert!(
        out.contains("configmap/settings created (server dry run)"),
        "{out}"
    );
    let (ok, _, err) = k.run(&["get", "configmap", "settings"]).await;
    assert!(!ok && err.contains("NotFound"), "{err}");
    assert_eq!(handle.store().stats().resource_version, rv);

    // diff of a new object shows it whole (exit 1: differences found).
    let (ok, out, err) = k.run(&["diff", "-f", path]).await;
    assert!(!ok && out.contains("+  level: \"1\""), "{out}\n{err}");

    k.ok(&["apply", "-f", path]).await;
    let (ok, out, err) = k.run(&["diff", "-f", path]).await;
    assert!(ok && out.is_empty(), "no differences: {out}\n{err}");

    write("2");
    let (ok, out, err) = k.run(&["diff", "-f", path]).await;
    assert!(
        !ok && out.contains("-  level: \"1\"") && out.contains("+  level: \"2\""),
        "{out}\n{err}"
    );
    let rv = handle.store().stats().resource_version;
    let out = k.ok(&["apply", "--dry-run=server", "-f", path]).await;
    assert!(
        out.contains("configmap/settings configured (server dry run)"),
        "{out}"
    );
    let level = k.jsonpath("configmap", "settings", "{.data.level}").await;
    assert_eq!(level, "1", "the dry run left the object as it was");
    assert_eq!(handle.store().stats().resource_version, rv);
    let _ = std::fs::remove_dir_all(dir);
}
