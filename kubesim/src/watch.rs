//! Watch streams: store changes as newline-delimited JSON events, bookmarks, and the 410
//! `ERROR` event when the requested resourceVersion has left the history.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::time::{Instant, Interval};

use crate::error::{Reason, StatusError};
use crate::resources::ResourceInfo;
use crate::respond::{error_response, render};
use crate::store::{ListOptions, Store, Watch, WatchItem, WatchStart};
use crate::table::{Printer, TableRequest};

struct Stream {
    watch: Watch,
    store: Arc<Store>,
    info: ResourceInfo,
    ticker: Option<Interval>,
    deadline: Option<Instant>,
    /// Set when the client asked for Table objects; the flag says whether the column
    /// definitions have been sent (only the first event carries them).
    table: Option<(TableRequest, Printer, bool)>,
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

fn watch_response(body: Body) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
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
    table: Option<(TableRequest, Printer)>,
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
            return watch_response(Body::from(line("ERROR", &status)));
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
        table: table.map(|(t, p)| (t, p, false)),
    };
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
            let bytes = match (item, st.table.as_mut()) {
                (WatchItem::Event { kind, object }, Some((request, printer, sent))) => {
                    let doc = request.table(printer, &st.info, &[object], json!({}), !*sent);
                    *sent = true;
                    line(kind, &doc)
                }
                (WatchItem::Bookmark(rv), Some((request, printer, _))) => {
                    let meta = json!({"resourceVersion": rv.to_string()});
                    line(
                        "BOOKMARK",
                        &request.table(printer, &st.info, &[], meta, false),
                    )
                }
                (WatchItem::Event { kind, object }, None) => {
                    if object["apiVersion"].as_str() == Some(&st.info.api_version()) {
                        line(kind, &object)
                    } else {
                        line(kind, &render(&st.info, &object))
                    }
                }
                (WatchItem::Bookmark(rv), None) => line(
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
    watch_response(Body::from_stream(stream))
}
