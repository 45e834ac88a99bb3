//! Watch streams: store changes as newline-delimited JSON events, or as length-prefixed
//! protobuf `WatchEvent` frames when the client accepts `application/vnd.kubernetes.protobuf`
//! (built-in kinds; custom resources stay JSON, as on the real API), bookmarks, and the 410
//! `ERROR` event when the requested resourceVersion has left the history.
//!
//! ```text
//!  JSON:      {"type":"ADDED","object":{...}}\n ...
//!  protobuf:  [u32 BE length][WatchEvent{type, object.raw = "k8s\0" + Unknown{Pod}}] ...
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::time::{Instant, Interval};

use crate::error::{Reason, StatusError};
use crate::protobuf;
use crate::resources::ResourceInfo;
use crate::respond::{Format, error_response, render};
use crate::store::{ListOptions, Store, Watch, WatchItem, WatchStart};
use crate::table::{Printer, TableRequest};

struct Stream {
    watch: Watch,
    store: Arc<Store>,
    info: ResourceInfo,
    ticker: Option<Interval>,
    deadline: Option<Instant>,
    encoding: Encoding,
    /// Whether the Table column definitions have been sent (only the first event carries
    /// them).
    columns_sent: bool,
}

/// How the events of a watch are written.
pub enum Encoding {
    Json,
    /// Table objects (`kubectl get -w`), JSON.
    Table(TableRequest, Printer),
    Protobuf,
}

impl Encoding {
    /// Tables when asked for, else protobuf when the client prefers it and the kind has a
    /// protobuf form, else JSON.
    pub fn choose(
        table: Option<(TableRequest, Printer)>,
        format: Format,
        info: &ResourceInfo,
    ) -> Encoding {
        match table {
            Some((t, p)) => Encoding::Table(t, p),
            None if format == Format::Protobuf
                && protobuf::supports(&info.api_version(), &info.kind) =>
            {
                Encoding::Protobuf
            }
            None => Encoding::Json,
        }
    }

    fn content_type(&self) -> &'static str {
        match self {
            Encoding::Protobuf => protobuf::envelope::WATCH_MEDIA_TYPE,
            _ => "application/json",
        }
    }

    /// One event; an object protobuf cannot carry is logged and sent as an ERROR event.
    fn event(&self, kind: &str, object: &Value) -> Bytes {
        match self {
            Encoding::Protobuf => match protobuf::envelope::watch_frame(kind, object) {
                Ok(frame) => Bytes::from(frame),
                Err(error) => {
                    tracing::warn!(%error, "Watch event not encodable as protobuf");
                    let status = error.to_status();
                    Bytes::from(
                        protobuf::envelope::watch_frame("ERROR", &status).unwrap_or_default(),
                    )
                }
            },
            _ => line(kind, object),
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.store.end_watch(self.watch.id);
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut out = format!("{{\"type\":\"{kind}\",\"object\":").into_bytes();
    if serde_json::to_writer(&mut out, object).is_err() {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

async fn tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn watch_response(body: Body, content_type: &'static str) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

/// Serves `GET ...?watch=1`.
pub fn serve(
    store: Arc<Store>,
    info: ResourceInfo,
    namespace: Option<String>,
    opts: ListOptions,
    query: &HashMap<String, String>,
    bookmark_interval: Duration,
    encoding: Encoding,
) -> Response {
    let start = match query.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => WatchStart::Now,
        Some(rv) => match rv.parse() {
            Ok(rv) => WatchStart::After(rv),
            Err(_) => {
                return error_response(&StatusError::bad_request(format!(
                    "invalid resourceVersion {rv:?}"
                )));
            }
        },
    };
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true" || v == "1");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t));
    let watch = match store.watch(&info, namespace.as_deref(), &opts, start) {
        Ok(w) => w,
        Err(e) if e.reason == Reason::Expired => {
            let mut status = e.to_status();
            status["code"] = json!(410);
            let content_type = encoding.content_type();
            return watch_response(Body::from(encoding.event("ERROR", &status)), content_type);
        }
        Err(e) => return error_response(&e),
    };
    let ticker = bookmarks
        .then(|| tokio::time::interval_at(Instant::now() + bookmark_interval, bookmark_interval));
    let state = Stream {
        watch,
        store,
        info,
        ticker,
        deadline: timeout,
        encoding,
        columns_sent: false,
    };
    let content_type = state.encoding.content_type();
    let stream = futures::stream::unfold(state, |mut st| async move {
        loop {
            let item = tokio::select! {
                item = st.watch.rx.recv() => item?,
                () = tick(&mut st.ticker) => {
                    st.store.bookmark(st.watch.id);
                    continue;
                }
                () = until(st.deadline) => return None,
            };
            let bytes = match (item, &st.encoding) {
                (WatchItem::Event { kind, object }, Encoding::Table(request, printer)) => {
                    let doc =
                        request.table(printer, &st.info, &[object], json!({}), !st.columns_sent);
                    st.columns_sent = true;
                    line(kind, &doc)
                }
                (WatchItem::Bookmark(rv), Encoding::Table(request, printer)) => {
                    let meta = json!({"resourceVersion": rv.to_string()});
                    line(
                        "BOOKMARK",
                        &request.table(printer, &st.info, &[], meta, false),
                    )
                }
                (WatchItem::Event { kind, object }, encoding) => {
                    if object["apiVersion"].as_str() == Some(&st.info.api_version()) {
                        encoding.event(kind, &object)
                    } else {
                        encoding.event(kind, &render(&st.info, &object))
                    }
                }
                (WatchItem::Bookmark(rv), encoding) => encoding.event(
                    "BOOKMARK",
                    &json!({
                        "kind": st.info.kind,
                        "apiVersion": st.info.api_version(),
                        "metadata": {"resourceVersion": rv.to_string()},
                    }),
                ),
            };
            return Some((Ok::<_, Infallible>(bytes), st));
        }
    });
    watch_response(Body::from_stream(stream), content_type)
}
