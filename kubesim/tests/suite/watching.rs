//! Watches: resume from a resourceVersion, bookmarks, selector transitions, 410 Expired and
//! the kube-runtime watcher's relist.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use serde_json::json;

use crate::{WAIT, list_version, start, start_with};

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).expect("cm")
}

fn event_name(e: &WatchEvent<ConfigMap>) -> (String, String) {
    match e {
        WatchEvent::Added(o) => ("ADDED".into(), o.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Modified(o) => (
            "MODIFIED".into(),
            o.metadata.name.clone().unwrap_or_default(),
        ),
        WatchEvent::Deleted(o) => (
            "DELETED".into(),
            o.metadata.name.clone().unwrap_or_default(),
        ),
        WatchEvent::Bookmark(b) => ("BOOKMARK".into(), b.metadata.resource_version.clone()),
        WatchEvent::Error(e) => ("ERROR".into(), e.code.to_string()),
    }
}

/// Creates `a`, changes it, creates `b`, deletes `a`; returns the resourceVersion of the
/// first create.
async fn four_changes(api: &Api<ConfigMap>) -> String {
    let first = api
        .create(&PostParams::default(), &cm("a"))
        .await
        .expect("create");
    let from = first.metadata.resource_version.clone().expect("rv");
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "w"}})),
    )
    .await
    .expect("patch");
    api.create(&PostParams::default(), &cm("b"))
        .await
        .expect("create");
    api.delete("a", &Default::default()).await.expect("delete");
    from
}

#[tokio::test]
async fn watch_resumes_from_a_resource_version() {
    let (_h, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let from = four_changes(&api).await;
    let stream = api
        .watch(&WatchParams::default().timeout(10), &from)
        .await
        .expect("watch");
    let events: Vec<(String, String)> = tokio::time::timeout(
        WAIT,
        stream.take(3).map_ok(|e| event_name(&e)).try_collect(),
    )
    .await
    .expect("in time")
    .expect("events");
    assert_eq!(
        events,
        [
            ("MODIFIED".into(), "a".into()),
            ("ADDED".into(), "b".into()),
            ("DELETED".into(), "a".into())
        ]
    );

    // A watch without a resourceVersion starts with the current objects.
    let stream = api
        .watch(&WatchParams::default().timeout(10), "0")
        .await
        .expect("watch");
    let events: Vec<(String, String)> = tokio::time::timeout(
        WAIT,
        stream.take(1).map_ok(|e| event_name(&e)).try_collect(),
    )
    .await
    .expect("in time")
    .expect("events");
    assert_eq!(events, [("ADDED".into(), "b".into())]);
}

#[tokio::test]
async fn label_watch_sees_objects_enter_and_leave() {
    let (_h, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let start_rv = list_version(&api).await;
    api.create(&PostParams::default(), &cm("x"))
        .await
        .expect("create");
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"sel": "yes"}}})),
    )
    .await
    .expect("label");
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"sel": "no"}}})),
    )
    .await
    .expect("relabel");
    let stream = api
        .watch(
            &WatchParams::default().labels("sel=yes").timeout(10),
            &start_rv,
        )
        .await
        .expect("watch");
    let events: Vec<(String, String)> = tokio::time::timeout(
        WAIT,
        stream.take(2).map_ok(|e| event_name(&e)).try_collect(),
    )
    .await
    .expect("in time")
    .expect("events");
    assert_eq!(
        events,
        [("ADDED".into(), "x".into()), ("DELETED".into(), "x".into())]
    );
}

#[tokio::test]
async fn bookmarks_carry_the_current_version() {
    let config = cloudnet_kubesim::Config {
        bookmark_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let (_h, client) = start_with(config).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let rv = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    // A change elsewhere moves the version the bookmark reports.
    let secrets: Api<Secret> = Api::namespaced(client, "default");
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "s"}})).expect("secret");
    let written = secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create");
    let stream = api
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .expect("watch");
    let first = tokio::time::timeout(WAIT, stream.boxed().try_next())
        .await
        .expect("in time")
        .expect("event");
    match first {
        Some(WatchEvent::Bookmark(b)) => assert_eq!(
            Some(b.metadata.resource_version),
            written.metadata.resource_version
        ),
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_from_a_compacted_version_gets_410() {
    let config = cloudnet_kubesim::Config {
        history_limit: 5,
        ..Default::default()
    };
    let (_h, client) = start_with(config).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..20 {
        api.create(&PostParams::default(), &cm(&format!("c{i}")))
            .await
            .expect("create");
    }
    let stream = api
        .watch(&WatchParams::default().timeout(10), "1")
        .await
        .expect("watch answers");
    let first = tokio::time::timeout(WAIT, stream.boxed().try_next())
        .await
        .expect("in time")
        .expect("event");
    match first {
        Some(WatchEvent::Error(e)) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    let (code, _) = crate::get_json(
        &client,
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=1",
    )
    .await;
    assert_eq!(
        code, 200,
        "the 410 travels inside the watch stream, as the real API sends it"
    );
}

/// A kube-runtime watcher of ConfigMaps whose `next` answers the next event and counts the
/// 410s it reports on the way (it reports one, then relists on the next poll).
struct Watching<S> {
    events: S,
    expired: usize,
}

impl<S> Watching<S>
where
    S: futures::Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>> + Unpin,
{
    async fn next(&mut self) -> watcher::Event<ConfigMap> {
        loop {
            match tokio::time::timeout(WAIT, self.events.try_next())
                .await
                .expect("in time")
            {
                Ok(Some(event)) => return event,
                Err(watcher::Error::WatchError(status)) if status.code == 410 => self.expired += 1,
                other => panic!("unexpected watcher item {other:?}"),
            }
        }
    }
}

/// The API started with `config`, a watcher of the default namespace's ConfigMaps that has
/// listed and seen `first` created.
async fn watching_first(
    config: cloudnet_kubesim::Config,
) -> (
    cloudnet_kubesim::server::Handle,
    kube::Client,
    Api<ConfigMap>,
    Watching<
        impl futures::Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>> + Unpin,
    >,
) {
    let (handle, client) = start_with(config).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut w = Watching {
        events: watcher(api.clone(), watcher::Config::default()).boxed(),
        expired: 0,
    };
    assert!(matches!(w.next().await, watcher::Event::Init));
    assert!(matches!(w.next().await, watcher::Event::InitDone));
    api.create(&PostParams::default(), &cm("first"))
        .await
        .expect("create");
    assert!(
        matches!(w.next().await, watcher::Event::Apply(o) if o.metadata.name.as_deref() == Some("first"))
    );
    (handle, client, api, w)
}

#[tokio::test]
async fn runtime_watcher_relists_after_410() {
    let config = cloudnet_kubesim::Config {
        history_limit: 5,
        bookmark_interval: Duration::from_secs(3600),
        ..Default::default()
    };
    let (handle, client, api, mut w) = watching_first(config).await;
    // While the watcher is not polled: history moves on past its version and its stream ends.
    let secrets: Api<Secret> = Api::namespaced(client, "default");
    for i in 0..20 {
        let s: Secret =
            serde_json::from_value(json!({"metadata": {"name": format!("s{i}")}})).expect("secret");
        secrets
            .create(&PostParams::default(), &s)
            .await
            .expect("create");
    }
    api.create(&PostParams::default(), &cm("during-gap"))
        .await
        .expect("create");
    for i in 20..30 {
        let s: Secret =
            serde_json::from_value(json!({"metadata": {"name": format!("s{i}")}})).expect("secret");
        secrets
            .create(&PostParams::default(), &s)
            .await
            .expect("create");
    }
    handle.close_watches();
    // The watcher reconnects from its old version, gets 410, and relists.
    let mut relisted = Vec::new();
    let mut relisting = false;
    loop {
        match w.next().await {
            watcher::Event::Init => relisting = true,
            watcher::Event::InitApply(o) => relisted.extend(o.metadata.name),
            watcher::Event::InitDone => break,
            // Delivered live before the stream ended.
            watcher::Event::Apply(o)
                if !relisting && o.metadata.name.as_deref() == Some("during-gap") => {}
            watcher::Event::Apply(o) | watcher::Event::Delete(o) => {
                panic!("unexpected event for {:?}", o.metadata.name)
            }
        }
    }
    relisted.sort();
    assert_eq!(relisted, ["during-gap", "first"]);
    assert_eq!(w.expired, 1, "the watcher saw one 410");
}

#[tokio::test]
async fn expiring_the_watch_history_makes_a_watcher_that_saw_everything_relist() {
    let config = cloudnet_kubesim::Config {
        bookmark_interval: Duration::from_secs(3600),
        ..Default::default()
    };
    let (handle, _client, api, mut w) = watching_first(config).await;
    // The watcher has seen the latest change; the history is expired all the same.
    let floor = handle.expire_watches();
    let mut relisted = Vec::new();
    loop {
        match w.next().await {
            watcher::Event::Init => {}
            watcher::Event::InitApply(o) => relisted.extend(o.metadata.name),
            watcher::Event::InitDone => break,
            other => panic!("unexpected event before the relist ended: {other:?}"),
        }
    }
    assert_eq!(relisted, ["first"]);
    assert_eq!(w.expired, 1, "the watcher saw one 410");
    // A watch from the new list's resourceVersion is served: changes arrive again.
    api.create(&PostParams::default(), &cm("second"))
        .await
        .expect("create");
    assert!(
        matches!(w.next().await, watcher::Event::Apply(o) if o.metadata.name.as_deref() == Some("second"))
    );
    assert_eq!(w.expired, 1);
    let listed = list_version(&api).await;
    assert!(listed.parse::<u64>().expect("a number") > floor);
}

#[tokio::test]
async fn a_stopped_server_refuses_connections_and_serves_the_same_store_again() {
    let (mut handle, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &cm("kept"))
        .await
        .expect("create");
    let stream = api
        .watch(&WatchParams::default().timeout(60), "0")
        .await
        .expect("watch");
    let mut stream = stream.boxed();
    assert!(matches!(
        tokio::time::timeout(WAIT, stream.try_next())
            .await
            .expect("in time"),
        Ok(Some(WatchEvent::Added(_)))
    ));
    let addr = handle.addr();
    handle.stop_serving().await;
    assert!(!handle.serving());
    let rest = tokio::time::timeout(WAIT, async {
        let mut items = 0;
        while let Ok(Some(_)) = stream.try_next().await {
            items += 1;
        }
        items
    })
    .await
    .expect("the open watch is cut");
    assert_eq!(rest, 0, "nothing after the cut");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "new connections are refused"
    );
    assert!(api.list(&ListParams::default()).await.is_err());
    handle.resume_serving().await.expect("serves again");
    assert_eq!(handle.addr(), addr);
    let names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .expect("the same client lists again")
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(names, ["kept"], "the store outlived the server");
}

/// The messages of a protobuf watch stream, from the upstream `.proto` files' field numbers
/// (apimachinery `meta/v1` WatchEvent, `runtime` RawExtension/Unknown/TypeMeta, `core/v1`
/// ConfigMap/ObjectMeta), decoded with prost apart from the server's own codec.
mod wire {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WatchEvent {
        #[prost(string, optional, tag = "1")]
        pub r#type: Option<String>,
        #[prost(message, optional, tag = "2")]
        pub object: Option<RawExtension>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RawExtension {
        #[prost(bytes = "vec", optional, tag = "1")]
        pub raw: Option<Vec<u8>>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeMeta {
        #[prost(string, optional, tag = "1")]
        pub api_version: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub kind: Option<String>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Unknown {
        #[prost(message, optional, tag = "1")]
        pub type_meta: Option<TypeMeta>,
        #[prost(bytes = "vec", optional, tag = "2")]
        pub raw: Option<Vec<u8>>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ObjectMeta {
        #[prost(string, optional, tag = "1")]
        pub name: Option<String>,
        #[prost(string, optional, tag = "3")]
        pub namespace: Option<String>,
        #[prost(string, optional, tag = "6")]
        pub resource_version: Option<String>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ConfigMap {
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<ObjectMeta>,
        #[prost(btree_map = "string, string", tag = "2")]
        pub data: std::collections::BTreeMap<String, String>,
    }
}

/// Reads length-prefixed frames: (event type, kind, name, data["k"]).
fn protobuf_events(mut body: &[u8]) -> Vec<(String, String, String, String)> {
    use prost::Message;
    let mut out = Vec::new();
    while !body.is_empty() {
        assert!(body.len() >= 4, "a frame's length is cut");
        let len = u32::from_be_bytes([body[0], body[1], body[2], body[3]]) as usize;
        let frame = &body[4..4 + len];
        body = &body[4 + len..];
        let event = wire::WatchEvent::decode(frame).expect("WatchEvent");
        let raw = event.object.and_then(|o| o.raw).expect("object.raw");
        assert_eq!(&raw[..4], b"k8s\0", "the object carries the envelope");
        let unknown = wire::Unknown::decode(&raw[4..]).expect("Unknown");
        let type_meta = unknown.type_meta.unwrap_or_default();
        assert_eq!(type_meta.api_version.as_deref(), Some("v1"));
        let kind = type_meta.kind.unwrap_or_default();
        let (name, data) = if kind == "ConfigMap" {
            let cm = wire::ConfigMap::decode(unknown.raw.unwrap_or_default().as_slice())
                .expect("ConfigMap");
            let meta = cm.metadata.unwrap_or_default();
            assert!(meta.resource_version.is_some_and(|rv| !rv.is_empty()));
            (
                meta.name.unwrap_or_default(),
                cm.data.get("k").cloned().unwrap_or_default(),
            )
        } else {
            (String::new(), String::new())
        };
        out.push((event.r#type.unwrap_or_default(), kind, name, data));
    }
    out
}

#[tokio::test]
async fn watches_are_served_as_protobuf_frames_when_asked_for() {
    use http_body_util::BodyExt;
    let (_h, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let from = four_changes(&api).await;

    let watch = |accept: &'static str, rv: String| {
        let client = client.clone();
        async move {
            let request = http::Request::builder()
                .uri(format!(
                    "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=1"
                ))
                .header("accept", accept)
                .body(kube::client::Body::empty())
                .expect("request builds");
            let response = client.send(request).await.expect("watch answered");
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap_or_default()
                .to_string();
            let body = tokio::time::timeout(WAIT, response.into_body().collect())
                .await
                .expect("the watch ends at its timeout")
                .expect("body")
                .to_bytes();
            (content_type, body)
        }
    };
    // client-go's Accept for a protobuf client.
    let (content_type, body) = watch(
        "application/vnd.kubernetes.protobuf, application/json",
        from.clone(),
    )
    .await;
    assert_eq!(
        content_type,
        "application/vnd.kubernetes.protobuf;stream=watch"
    );
    let s = |v: &str| v.to_string();
    assert_eq!(
        protobuf_events(&body),
        vec![
            (s("MODIFIED"), s("ConfigMap"), s("a"), s("w")),
            (s("ADDED"), s("ConfigMap"), s("b"), s("v")),
            (s("DELETED"), s("ConfigMap"), s("a"), s("w")),
        ]
    );
    // From resourceVersion 0: the objects there are now, as ADDED.
    let (_, body) = watch("application/vnd.kubernetes.protobuf", s("0")).await;
    assert_eq!(
        protobuf_events(&body),
        vec![(s("ADDED"), s("ConfigMap"), s("b"), s("v"))]
    );
    // JSON stays the default.
    let (content_type, body) = watch("application/json", from).await;
    assert_eq!(content_type, "application/json");
    assert_eq!(
        String::from_utf8_lossy(&body).lines().count(),
        3,
        "newline-delimited JSON"
    );
}
