//! Helpers for the controllers' caches (kube-runtime reflector stores).

use std::fmt::Debug;
use std::hash::Hash;
use std::time::Duration;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::reflector::store::WriterDropped;
use kube::runtime::reflector::{self, Lookup, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use crate::metrics::Reconciles;

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
/// cache is fed only while the stream is polled).
pub fn reflect<K>(client: &Client) -> (Store<K>, impl futures::Stream<Item = K> + use<K>)
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let events = watcher(Api::<K>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .touched_objects()
        .filter_map(|r| std::future::ready(r.ok()));
    (store, events)
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
    let (store, events) = reflect::<K>(client);
    let events = events.inspect(move |obj| metrics.queued(key(obj))).map(Ok);
    (store, events)
}
