//! `events.k8s.io/v1` Events are a view of the core Events: one storage, two API versions,
//! as on the real API server. Tested with kube's `Recorder` (which writes events.k8s.io),
//! a core client, raw requests and the machine's kubectl.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent};
use k8s_openapi::api::events::v1::Event as V1Event;
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::json;

use crate::kubectl::Kubectl;
use crate::{WAIT, api_error, assert_contains, get_json, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_storage_two_versions() {
    let (handle, client) = start().await;

    // Discovery lists the resource with every verb.
    let (code, list) = get_json(&client, "/apis/events.k8s.io/v1").await;
    assert_eq!(code, 200);
    let events = list["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "events"))
        .expect("events listed")
        .clone();
    assert_eq!(events["kind"], "Event");
    assert_eq!(events["namespaced"], true);
    for verb in ["create", "get", "list", "watch", "patch", "delete"] {
        assert!(
            events["verbs"]
                .as_array()
                .is_some_and(|v| v.contains(&json!(verb))),
            "{verb} in {events}"
        );
    }

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let app = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "app"}})).expect("cm"),
        )
        .await
        .expect("configmap");
    let reference = app.object_ref(&());
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let v1: Api<V1Event> = Api::namespaced(client.clone(), "default");

    // A watch through events.k8s.io sees Events written through either version.
    let mut watch = v1
        .watch(&WatchParams::default(), "0")
        .await
        .expect("watch")
        .boxed();

    // kube's Recorder writes through events.k8s.io/v1: create, then a merge patch with
    // `series` for the repeat.
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "cloudnet-test".into(),
            instance: Some("test-0".into()),
        },
    );
    let published = Event {
        type_: EventType::Warning,
        reason: "BadAnnotation".into(),
        note: Some("annotation x is not known".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder
        .publish(&published, &reference)
        .await
        .expect("publish");
    recorder
        .publish(&published, &reference)
        .await
        .expect("publish again");

    let as_core: Vec<CoreEvent> = core
        .list(&ListParams::default())
        .await
        .expect("core list")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("BadAnnotation"))
        .collect();
    assert_eq!(as_core.len(), 1, "the repeat is one Event: {as_core:?}");
    let e = &as_core[0];
    assert_eq!(e.message.as_deref(), Some("annotation x is not known"));
    assert_eq!(e.type_.as_deref(), Some("Warning"));
    assert_eq!(e.involved_object.kind.as_deref(), Some("ConfigMap"));
    assert_eq!(e.involved_object.name.as_deref(), Some("app"));
    assert_eq!(e.involved_object.uid, app.metadata.uid);
    assert_eq!(e.reporting_component.as_deref(), Some("cloudnet-test"));
    assert_eq!(e.reporting_instance.as_deref(), Some("test-0"));
    assert_eq!(e.action.as_deref(), Some("Reconcile"));
    assert_eq!(e.series.as_ref().and_then(|s| s.count), Some(2));
    assert!(e.event_time.is_some());
    assert_eq!(e.count, None);
    let recorded_name = e.metadata.name.clone().expect("name");

    // A core Event, as client-go's legacy recorder writes it, read through events.k8s.io.
    let legacy: CoreEvent = serde_json::from_value(json!({
        "metadata": {"name": "app.legacy"},
        "involvedObject": {"apiVersion": "v1", "kind": "ConfigMap", "name": "app",
            "namespace": "default", "uid": app.metadata.uid},
        "reason": "Synced", "message": "synced the configmap", "type": "Normal",
        "source": {"component": "legacy-controller", "host": "node-a"},
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:09Z",
        "count": 4
    }))
    .expect("event");
    core.create(&PostParams::default(), &legacy)
        .await
        .expect("core create");
    let seen = v1.get("app.legacy").await.expect("events.k8s.io get");
    assert_eq!(seen.note.as_deref(), Some("synced the configmap"));
    assert_eq!(seen.reason.as_deref(), Some("Synced"));
    let regarding = seen.regarding.as_ref().expect("regarding");
    assert_eq!(regarding.name.as_deref(), Some("app"));
    assert_eq!(regarding.kind.as_deref(), Some("ConfigMap"));
    let source = seen.deprecated_source.as_ref().expect("deprecatedSource");
    assert_eq!(source.component.as_deref(), Some("legacy-controller"));
    assert_eq!(source.host.as_deref(), Some("node-a"));
    assert_eq!(seen.deprecated_count, Some(4));
    assert!(seen.deprecated_first_timestamp.is_some() && seen.deprecated_last_timestamp.is_some());
    assert!(seen.event_time.is_none());

    // The watch saw: the Recorder's ADDED and MODIFIED, then the core Event's ADDED, all in
    // the events.k8s.io form.
    let mut seen_by_watch = Vec::new();
    while seen_by_watch.len() < 3 {
        let next = tokio::time::timeout(WAIT, watch.try_next())
            .await
            .expect("watch event in time")
            .expect("watch stream")
            .expect("watch open");
        match next {
            WatchEvent::Added(e) | WatchEvent::Modified(e) => seen_by_watch.push((
                e.metadata.name.clone().unwrap_or_default(),
                e.note.clone(),
                e.series.as_ref().map(|s| s.count),
            )),
            other => panic!("unexpected watch event {other:?}"),
        }
    }
    assert_eq!(
        seen_by_watch,
        vec![
            (
                recorded_name.clone(),
                Some("annotation x is not known".into()),
                None
            ),
            (
                recorded_name.clone(),
                Some("annotation x is not known".into()),
                Some(2)
            ),
            (
                "app.legacy".into(),
                Some("synced the configmap".into()),
                None
            ),
        ]
    );

    // Field selectors use each version's names; the core names are refused on events.k8s.io.
    let cases = [
        ("regarding.name=app,reason=Synced", 1),
        ("reportingController=cloudnet-test", 1),
    ];
    crate::assert_field_selections(&v1, &cases).await;
    let (code, reason) = api_error(
        v1.list(&ListParams::default().fields("involvedObject.name=app"))
            .await,
    );
    assert_eq!((code, reason.as_str()), (400, "BadRequest"));

    // Strict creation rules of events.k8s.io/v1.
    let bare: V1Event = serde_json::from_value(json!({
        "metadata": {"name": "bare"}, "reason": "Why", "type": "Normal",
        "regarding": {"kind": "ConfigMap", "name": "app"}
    }))
    .expect("event");
    match v1.create(&PostParams::default(), &bare).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422);
            assert_eq!(
                status.message,
                "Event.events.k8s.io \"bare\" is invalid: [eventTime: Required value, reportingController: Required value, reportingInstance: Required value, action: Required value]"
            );
        }
        other => panic!("expected 422, got {other:?}"),
    }
    assert!(core.get_opt("bare").await.expect("get").is_none());

    // The machine's kubectl, through both versions.
    if let Some(k) = Kubectl::for_handle(&handle) {
        // kubectl get events.events.k8s.io reads events.k8s.io: the core write shows.
        let (ok, out, trace) = k.run(&["get", "events.events.k8s.io", "-A", "-v=6"]).await;
        assert!(
            ok && trace.contains("/apis/events.k8s.io/v1/events"),
            "{trace}"
        );
        assert_contains(
            &out,
            &[
                "BadAnnotation",
                "annotation x is not known",
                "Synced",
                "configmap/app",
            ],
        );
        // kubectl events reads the core Events: the Recorder's events.k8s.io writes show.
        let (ok, _, trace) = k.run(&["events", "-v=6"]).await;
        assert!(
            ok && trace.contains("/api/v1/namespaces/default/events"),
            "{trace}"
        );
        let out = k.ok(&["events"]).await;
        assert_contains(
            &out,
            &[
                "BadAnnotation",
                "annotation x is not known",
                "synced the configmap",
                "ConfigMap/app",
            ],
        );
        let out = k
            .ok(&["events", "--for", "configmap/app", "--types", "Warning"])
            .await;
        assert!(
            out.contains("BadAnnotation") && !out.contains("Synced"),
            "{out}"
        );
        let out = k
            .ok(&["get", "events.v1.events.k8s.io", "app.legacy", "-o", "json"])
            .await;
        let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(doc["apiVersion"], "events.k8s.io/v1");
        assert_eq!(doc["note"], "synced the configmap");
        assert_eq!(doc["deprecatedCount"], 4);
        let _ = std::fs::remove_dir_all(k.dir());
    }

    // Errors name the version asked through.
    let (code, status) = get_json(
        &client,
        "/apis/events.k8s.io/v1/namespaces/default/events/missing",
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(
        status["message"],
        "events.events.k8s.io \"missing\" not found"
    );

    // A dry-run create through events.k8s.io is validated, answered and not stored.
    let mut dry: V1Event = serde_json::from_value(json!({
        "metadata": {"name": "dry"}, "reason": "Why", "type": "Normal", "action": "Act",
        "eventTime": "2026-01-01T00:00:00.000000Z", "note": "not stored",
        "reportingController": "c", "reportingInstance": "i",
        "regarding": {"kind": "ConfigMap", "name": "app", "namespace": "default"}
    }))
    .expect("event");
    let answered = v1
        .create(
            &PostParams {
                dry_run: true,
                ..PostParams::default()
            },
            &dry,
        )
        .await
        .expect("dry-run create");
    assert_eq!(answered.note.as_deref(), Some("not stored"));
    assert!(core.get_opt("dry").await.expect("get").is_none());
    dry.metadata.name = Some("wet".into());
    v1.create(&PostParams::default(), &dry)
        .await
        .expect("create");
    let wet = core.get("wet").await.expect("core get");
    assert_eq!(wet.message.as_deref(), Some("not stored"));
    assert_eq!(wet.reporting_component.as_deref(), Some("c"));
    v1.delete("wet", &DeleteParams::default())
        .await
        .expect("delete");

    // Deleting through one version deletes it from both.
    v1.delete("app.legacy", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(core.get_opt("app.legacy").await.expect("get").is_none());
    let left = core.list(&ListParams::default()).await.expect("list").items;
    assert_eq!(left.len(), 1, "{left:?}");
}
