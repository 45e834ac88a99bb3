//! core/v1 Events as the real components' event recorders write them, so `kubectl get
//! events` and `kubectl describe` show what the simulated scheduler, kubelet and Deployment
//! controller did.
//!
//! The recorder aggregates like client-go's: the same event for the same object again bumps
//! `count` and `lastTimestamp` of one Event instead of adding another. Its name is
//! `<object>.<hash of object uid, reason, message, component>`, so finding it is a lookup,
//! not a scan of every Event.
//!
//! Like client-go's `EventCorrelator`, events about one object from one source with the same
//! type and reason but different messages are recorded one by one up to 10 distinct messages
//! in 10 minutes; the rest go into one Event, `(combined from similar events): <latest
//! message>`, counted up. So a 10,000-replica ReplicaSet's `SuccessfulCreate` events make 11
//! Event objects, not 10,000.
//!
//! Events expire as the real API server's do (its `--event-ttl`, one hour by default):
//! [`expire`] deletes those last seen longer ago than the TTL, and the simulation runs it
//! every minute.

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::compact::Doc;
use crate::error::{Reason, StatusError};
use crate::meta;
use crate::store::{DeleteOptions, Store};

/// How long an Event is kept after it was last seen: the real API server's default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Who reports: `default-scheduler`, `kubelet` (with its node), `deployment-controller`.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    pub component: &'a str,
    pub host: Option<&'a str>,
}

/// One event about an object.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    /// `spec.containers{name}` for a container's events.
    pub field_path: Option<String>,
    pub event_type: EventType,
    pub reason: &'a str,
    pub message: String,
}

fn fnv(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Distinct messages recorded one by one per object, source, type and reason (client-go's
/// `maxEvents`).
const MAX_SIMILAR: usize = 10;
/// How long the distinct messages are remembered (client-go's `maxIntervalInSeconds`).
const SIMILAR_WINDOW: Duration = Duration::from_secs(600);
/// Past this many remembered keys, expired ones are dropped (client-go keeps an LRU of 4096).
const SIMILAR_KEYS: usize = 4096;
pub const COMBINED: &str = "(combined from similar events): ";

struct Similar {
    last: Instant,
    messages: HashSet<u64>,
}

static SIMILAR: LazyLock<Mutex<HashMap<u64, Similar>>> = LazyLock::new(Mutex::default);

/// Keeps the `SIMILAR_KEYS` keys seen most recently, as client-go's LRU does (here in
/// batches: the table is trimmed when it reaches twice that).
fn forget_least_recent(seen: &mut HashMap<u64, Similar>) {
    let mut times: Vec<Instant> = seen.values().map(|s| s.last).collect();
    let cut = times.len() - SIMILAR_KEYS;
    let (_, oldest_kept, _) = times.select_nth_unstable(cut);
    let oldest_kept = *oldest_kept;
    seen.retain(|_, s| s.last >= oldest_kept);
}

/// Whether an event with message key `message` goes into the combined Event of `key`.
fn combine(key: u64, message: u64) -> bool {
    let now = Instant::now();
    let mut seen = SIMILAR.lock().unwrap_or_else(|e| e.into_inner());
    if seen.len() > SIMILAR_KEYS {
        seen.retain(|_, s| now.duration_since(s.last) < SIMILAR_WINDOW);
    }
    if seen.len() >= 2 * SIMILAR_KEYS {
        forget_least_recent(&mut seen);
    }
    let record = seen.entry(key).or_insert_with(|| Similar {
        last: now,
        messages: HashSet::new(),
    });
    if now.duration_since(record.last) >= SIMILAR_WINDOW {
        record.messages.clear();
    }
    record.last = now;
    if record.messages.len() < MAX_SIMILAR {
        record.messages.insert(message);
        return false;
    }
    true
}

/// Records `event` about `object`; a failure to record is logged, never the caller's error,
/// as with the real recorders.
pub fn record(store: &Store, object: &Value, event: &Event<'_>, source: &Source<'_>) {
    record_scoped(store, object, event, source, meta::uid(object));
}

/// [`record`] about an object with no uid of its own (the ReplicaSet a Deployment would
/// have); `scope` (unique among all objects, e.g. the owner's uid and a name) keys the
/// aggregation instead.
pub fn record_scoped(
    store: &Store,
    object: &Value,
    event: &Event<'_>,
    source: &Source<'_>,
    scope: &str,
) {
    if let Err(error) = try_record(store, object, event, source, scope) {
        tracing::debug!(%error, reason = event.reason, "Failed to record an event");
    }
}

fn try_record(
    store: &Store,
    object: &Value,
    event: &Event<'_>,
    source: &Source<'_>,
    scope: &str,
) -> Result<(), StatusError> {
    let info = super::info(store, "v1", "Event")?;
    let name = meta::name(object);
    let uid = meta::uid(object);
    let namespace = match meta::namespace(object) {
        "" => "default",
        ns => ns,
    };
    let field_path = event.field_path.as_deref().unwrap_or_default();
    let host = source.host.unwrap_or_default();
    let similar = fnv(&[
        scope,
        name,
        namespace,
        event.kind,
        field_path,
        event.event_type.as_str(),
        event.reason,
        source.component,
        host,
    ]);
    let (key, message) = if combine(similar, fnv(&[&event.message])) {
        (
            fnv(&[scope, field_path, event.reason, COMBINED, source.component]),
            format!("{COMBINED}{}", event.message),
        )
    } else {
        (
            fnv(&[
                scope,
                field_path,
                event.reason,
                &event.message,
                source.component,
            ]),
            event.message.clone(),
        )
    };
    let event_name = format!("{name}.{key:016x}");
    let now = meta::now();
    for _ in 0..4 {
        match store.get(&info, Some(namespace), &event_name) {
            Ok(existing) => {
                let mut updated = (*existing).clone();
                updated["count"] = json!(existing["count"].as_i64().unwrap_or(1) + 1);
                updated["lastTimestamp"] = json!(now);
                updated["message"] = json!(message);
                match store.update(&info, Some(namespace), &event_name, updated, false) {
                    Err(e) if e.reason == Reason::Conflict => continue,
                    other => return other.map(|_| ()),
                }
            }
            Err(e) if e.reason == Reason::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut involved = json!({
            "apiVersion": event.api_version,
            "kind": event.kind,
            "name": name,
        });
        if !uid.is_empty() {
            involved["uid"] = json!(uid);
            involved["resourceVersion"] = json!(meta::resource_version(object));
        }
        if !meta::namespace(object).is_empty() {
            involved["namespace"] = json!(namespace);
        }
        if let Some(path) = &event.field_path {
            involved["fieldPath"] = json!(path);
        }
        let mut reporter = json!({"component": source.component});
        if let Some(host) = source.host {
            reporter["host"] = json!(host);
        }
        let doc = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": event_name, "namespace": namespace},
            "involvedObject": involved,
            "reason": event.reason,
            "message": message,
            "type": event.event_type.as_str(),
            "source": reporter,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "eventTime": null,
            "reportingComponent": source.component,
            "reportingInstance": source.host.unwrap_or_default(),
        });
        match store.create(&info, Some(namespace), doc) {
            Err(e) if e.reason == Reason::AlreadyExists => continue,
            // The namespace is going: its events go with it.
            Err(e) if matches!(e.reason, Reason::Forbidden | Reason::NotFound) => return Ok(()),
            other => return other.map(|_| ()),
        }
    }
    Ok(())
}

/// When `event` was last seen: `lastTimestamp`, else `eventTime`, else its creation.
fn last_seen<'a>(event: impl Doc<'a>) -> Option<DateTime<Utc>> {
    [
        &["lastTimestamp"][..],
        &["eventTime"],
        &["metadata", "creationTimestamp"],
    ]
    .into_iter()
    .filter_map(|path| event.str_at(path))
    .find_map(|t| DateTime::parse_from_rfc3339(t).ok())
    .map(|t| t.with_timezone(&Utc))
}

/// Deletes the Events last seen more than `ttl` before `now`; returns how many went.
pub fn expire(store: &Store, ttl: Duration, now: DateTime<Utc>) -> Result<usize, StatusError> {
    let info = super::info(store, "v1", "Event")?;
    let ttl = chrono::Duration::from_std(ttl)
        .map_err(|e| StatusError::bad_request(format!("event TTL out of range: {e}")))?;
    let mut expired = 0;
    // Read in the store's compact form: there are a few Events per pod.
    for stored in super::stored_all(store, &info)? {
        let event = stored.doc();
        if last_seen(event).is_some_and(|seen| seen + ttl < now) {
            let gone = store.delete(
                &info,
                Some(event.meta("namespace")),
                event.meta("name"),
                &DeleteOptions::default(),
            );
            if gone.is_ok() {
                expired += 1;
            }
            super::ignore_race(gone)?;
        }
    }
    Ok(expired)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ReplicaSet's `SuccessfulCreate` Event with `message`.
    fn pod_created(message: String) -> Event<'static> {
        Event {
            api_version: "apps/v1",
            kind: "ReplicaSet",
            field_path: None,
            event_type: EventType::Normal,
            reason: "SuccessfulCreate",
            message,
        }
    }

    #[test]
    fn the_similar_event_table_keeps_the_most_recent_keys() {
        let base = Instant::now();
        let mut seen: HashMap<u64, Similar> = (0..2 * SIMILAR_KEYS as u64)
            .map(|i| {
                let similar = Similar {
                    last: base + Duration::from_millis(i),
                    messages: HashSet::from([i]),
                };
                (i, similar)
            })
            .collect();
        forget_least_recent(&mut seen);
        assert_eq!(seen.len(), SIMILAR_KEYS);
        assert!(
            seen.keys().all(|k| *k >= SIMILAR_KEYS as u64),
            "the oldest went"
        );
    }

    #[test]
    fn the_same_event_again_counts_up_and_another_is_new() {
        let store = Store::default();
        let pods = store.resource("v1", "Pod").expect("pods");
        let pod = store
            .create(
                &pods,
                Some("default"),
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                    "spec": {"containers": [{"name": "c", "image": "i"}]}}),
            )
            .expect("pod");
        let source = Source {
            component: "default-scheduler",
            host: None,
        };
        let scheduled = Event {
            api_version: "v1",
            kind: "Pod",
            field_path: None,
            event_type: EventType::Normal,
            reason: "Scheduled",
            message: "Successfully assigned default/p to a".into(),
        };
        record(&store, &pod, &scheduled, &source);
        record(&store, &pod, &scheduled, &source);
        record(
            &store,
            &pod,
            &Event {
                reason: "FailedScheduling",
                event_type: EventType::Warning,
                message: "0/1 nodes are available: 1 Too many pods.".into(),
                ..scheduled.clone()
            },
            &source,
        );
        let events = store.resource("v1", "Event").expect("events");
        let list = super::super::list_all(&store, &events).expect("list");
        assert_eq!(list.len(), 2);
        let first = list
            .iter()
            .find(|e| e["reason"] == "Scheduled")
            .expect("Scheduled");
        assert_eq!(first["count"], 2);
        assert_eq!(first["involvedObject"]["uid"], pod["metadata"]["uid"]);
        assert_eq!(first["source"]["component"], "default-scheduler");
    }

    #[test]
    fn past_ten_similar_messages_one_combined_event_counts_up() {
        let store = Store::default();
        let reference = json!({"metadata": {"name": "web-abc", "namespace": "default"}});
        let source = Source {
            component: "replicaset-controller",
            host: None,
        };
        let scope = uuid::Uuid::new_v4().to_string();
        for i in 0..13 {
            let event = pod_created(format!("Created pod: web-abc-{i}"));
            record_scoped(&store, &reference, &event, &source, &scope);
        }
        let events = store.resource("v1", "Event").expect("events");
        let list = super::super::list_all(&store, &events).expect("list");
        assert_eq!(list.len(), 11, "10 one by one and 1 combined");
        let combined: Vec<_> = list
            .iter()
            .filter(|e| {
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(COMBINED))
            })
            .collect();
        assert_eq!(combined.len(), 1);
        assert_eq!(combined[0]["count"], 3);
        assert_eq!(
            combined[0]["message"],
            "(combined from similar events): Created pod: web-abc-12"
        );
        assert_eq!(combined[0]["involvedObject"]["kind"], "ReplicaSet");
        assert_eq!(combined[0]["involvedObject"]["name"], "web-abc");
        assert!(combined[0]["involvedObject"].get("uid").is_none());
        // Another object's events are not combined with these.
        let other = json!({"metadata": {"name": "api-abc", "namespace": "default"}});
        let event = pod_created("Created pod: api-abc-0".into());
        record_scoped(&store, &other, &event, &source, &format!("{scope}-other"));
        let list = super::super::list_all(&store, &events).expect("list");
        assert!(
            list.iter()
                .any(|e| e["message"] == "Created pod: api-abc-0")
        );
    }

    #[test]
    fn events_last_seen_before_the_ttl_expire_and_the_others_stay() {
        let store = Store::default();
        let events = store.resource("v1", "Event").expect("events");
        for (name, last) in [
            ("old", "2026-11-30T19:59:00Z"),
            ("recent", "2026-11-30T20:59:30Z"),
        ] {
            store
                .create(
                    &events,
                    Some("default"),
                    json!({"apiVersion": "v1", "kind": "Event",
                        "metadata": {"name": name, "namespace": "default"},
                        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
                        "reason": "Scheduled", "message": "m", "type": "Normal", "count": 1,
                        "firstTimestamp": last, "lastTimestamp": last}),
                )
                .expect("event");
        }
        let now = DateTime::parse_from_rfc3339("2026-11-30T21:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(expire(&store, DEFAULT_TTL, now).expect("expire"), 1);
        let left = super::super::list_all(&store, &events).expect("list");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0]["metadata"]["name"], "recent");
        assert_eq!(expire(&store, DEFAULT_TTL, now).expect("expire"), 0);
        let later = now + chrono::Duration::hours(1);
        assert_eq!(expire(&store, DEFAULT_TTL, later).expect("expire"), 1);
    }
}
