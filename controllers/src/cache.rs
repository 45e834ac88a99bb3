//! Helpers for the controllers' caches (kube-runtime reflector stores).

use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::reflector::store::WriterDropped;
use kube::runtime::reflector::{self, Lookup, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use crate::metrics::{Reconciles, WatchErrors};

/// How often a watch that keeps failing the same way is logged again.
const REPEAT_LOG: Duration = Duration::from_secs(300);

/// Waits until the store holds its first full list.
///
/// kube-runtime's `Store::wait_until_ready` sits on a one-shot receiver that remembers only
/// the last task to poll it: with two waiters (a `Controller`'s own applier and a
/// garbage collector, say) the first is never woken. Polling again every 200 ms registers
/// the caller anew, so every waiter sees the store become ready.
pub async fn wait_ready<K>(store: &Store<K>) -> Result<(), WriterDropped>
where
    K: 'static + Clone + Lookup,
    K::DynamicType: Eq + Hash + Clone,
{
    loop {
        if let Ok(done) =
            tokio::time::timeout(Duration::from_millis(200), store.wait_until_ready()).await
        {
            return done;
        }
    }
}

/// A cache of every `K` in the cluster, and the stream of objects its watch touched (the
/// cache is fed only while the stream is polled). The watch's errors are logged and counted
/// in `errors` (see [`report_errors`]).
pub fn reflect<K>(
    client: &Client,
    errors: WatchErrors,
) -> (Store<K>, impl futures::Stream<Item = K> + use<K>)
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let watch = watcher(Api::<K>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(writer);
    let events = report_errors(watch, &K::kind(&()), errors)
        .map(Ok::<_, watcher::Error>)
        .touched_objects()
        .filter_map(|r| std::future::ready(r.ok()));
    (store, events)
}

/// The events of a watch of `kind`, its errors taken out: each is counted in `errors` and
/// logged, the first of a run at once, the same error again at most every five minutes (with
/// how many it stood for), and the watch's next full list as its recovery. A watch the API
/// refuses (RBAC without the grant) retries with backoff forever, and its cache never
/// becomes ready: this is where that shows.
pub fn report_errors<K, S>(
    events: S,
    kind: &str,
    errors: WatchErrors,
) -> impl futures::Stream<Item = watcher::Event<K>> + use<K, S>
where
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
{
    let kind = kind.to_string();
    let mut log = ErrorLog::default();
    events.filter_map(move |event| {
        let out = match event {
            Ok(event) => {
                if matches!(event, watcher::Event::InitDone) && log.recovered() {
                    tracing::info!(controller = errors.controller(), kind, "Watch recovered");
                }
                Some(event)
            }
            Err(error) => {
                errors.inc(&kind);
                if let Some(repeats) = log.failed(error.to_string(), Instant::now()) {
                    tracing::warn!(
                        controller = errors.controller(),
                        kind,
                        %error,
                        repeats,
                        "Watch failed; retrying"
                    );
                }
                None
            }
        };
        std::future::ready(out)
    })
}

/// Which of a watch's errors to log: a new error at once, the same one again only after
/// [`REPEAT_LOG`].
#[derive(Debug, Default)]
struct ErrorLog {
    /// The last error logged, and when.
    last: Option<(String, Instant)>,
    /// Errors since then that were not logged.
    unlogged: u64,
}

impl ErrorLog {
    /// The watch failed with `message`: `Some(errors not logged since the last one)` when
    /// this one is to be logged.
    fn failed(&mut self, message: String, now: Instant) -> Option<u64> {
        if let Some((last, at)) = &self.last
            && *last == message
            && now.duration_since(*at) < REPEAT_LOG
        {
            self.unlogged += 1;
            return None;
        }
        self.last = Some((message, now));
        Some(std::mem::take(&mut self.unlogged))
    }

    /// The watch listed again: true when it had failed.
    fn recovered(&mut self) -> bool {
        self.unlogged = 0;
        self.last.take().is_some()
    }
}

/// [`reflect`] for the objects a controller reconciles: each object its watch touches counts
/// in `metrics` as waiting (under `key`) until its reconcile starts. The stream is what
/// `Controller::for_stream` takes.
pub fn reflect_queued<K, F>(
    client: &Client,
    metrics: Reconciles,
    key: F,
) -> (
    Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + use<K, F>,
)
where
    F: Fn(&K) -> String + Send + 'static,
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (store, events) = reflect::<K>(client, metrics.watch_errors());
    let events = events.inspect(move |obj| metrics.queued(key(obj))).map(Ok);
    (store, events)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Node, Secret};
    use serde_json::json;

    use super::*;
    use crate::metrics::ControllerMetrics;

    #[test]
    fn a_repeated_error_is_logged_again_only_after_a_while() {
        let mut log = ErrorLog::default();
        let t0 = Instant::now();
        assert_eq!(log.failed("403".into(), t0), Some(0));
        assert_eq!(log.failed("403".into(), t0 + Duration::from_secs(30)), None);
        assert_eq!(log.failed("403".into(), t0 + Duration::from_secs(60)), None);
        // Five minutes on, the same error again, with the two it stood for.
        assert_eq!(log.failed("403".into(), t0 + REPEAT_LOG), Some(2));
        // A different error is logged at once.
        let t1 = t0 + REPEAT_LOG + Duration::from_secs(1);
        assert_eq!(log.failed("410".into(), t1), Some(0));
        assert!(log.recovered());
        assert!(!log.recovered(), "one recovery per run of errors");
        // After a recovery the same error is news again.
        assert_eq!(log.failed("410".into(), t1), Some(0));
    }

    /// A watch RBAC refuses is counted (and logged) while its cache waits; a granted one
    /// next to it syncs and counts nothing.
    #[tokio::test]
    async fn a_forbidden_watch_counts_in_the_watch_errors() {
        let identity = "watch-tester";
        let config = cloudnet_kubesim::Config::default()
            .with_identity(identity)
            .with_rbac();
        let api = cloudnet_kubesim::KubeSim::start(config)
            .await
            .expect("the API starts");
        api.install(&[
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "nodes-only"},
                "rules": [{"apiGroups": [""], "resources": ["nodes"],
                    "verbs": ["get", "list", "watch"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "nodes-only"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "nodes-only"},
                "subjects": [{"kind": "User", "name": identity}]}),
        ])
        .expect("the RBAC objects install");
        let client = api.client_for(identity).await.expect("client");
        let metrics = ControllerMetrics::default().controller("ingress");
        let errors = metrics.watch_errors();

        let (nodes, node_events) = reflect::<Node>(&client, errors.clone());
        let (secrets, secret_events) = reflect::<Secret>(&client, errors.clone());
        let feed = tokio::spawn(async move {
            futures::future::join(
                node_events.for_each(|_| std::future::ready(())),
                secret_events.for_each(|_| std::future::ready(())),
            )
            .await
        });

        tokio::time::timeout(Duration::from_secs(10), wait_ready(&nodes))
            .await
            .expect("the granted watch syncs")
            .expect("the store's writer lives");
        tokio::time::timeout(Duration::from_secs(10), async {
            while errors.get("Secret") == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the refused Secret watch is counted");
        assert_eq!(errors.get("Node"), 0);
        assert!(
            tokio::time::timeout(Duration::from_millis(300), wait_ready(&secrets))
                .await
                .is_err(),
            "the Secret cache cannot be ready"
        );
        let denials = api.auth().denials();
        assert!(
            denials
                .iter()
                .any(|d| d.identity == identity && d.message.contains("secrets")),
            "the API refused the Secret list: {denials:?}"
        );
        feed.abort();
    }
}
