//! The introspection endpoint on localhost: the pool, the allocations and the interfaces as
//! JSON (as the VPC CNI's `/v1/enis`), Prometheus metrics, and health.
//!
//! | path               | answers                                                        |
//! |--------------------|----------------------------------------------------------------|
//! | `/v1/pool`         | counts, and each block with its interface and offered flag     |
//! | `/v1/allocations`  | every held address: container, interface name, pod, ENI        |
//! | `/v1/interfaces`   | the agreed interfaces and where the two sources disagree       |
//! | `/metrics`         | Prometheus text format                                          |
//! | `/healthz`         | 200 while the process serves                                    |
//! | `/readyz`          | 200 once the pool has been synced from both sources, else 503   |

use std::sync::Arc;

use axum::Router;
use axum::extract::State as AxState;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use serde_json::json;

use crate::core::{Core, now_ms};

#[derive(Clone)]
struct Ctx {
    core: Core,
    registry: Arc<Registry>,
}

pub fn router(core: Core, registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/v1/pool", get(pool))
        .route("/v1/allocations", get(allocations))
        .route("/v1/interfaces", get(interfaces))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(Ctx { core, registry })
}

async fn pool(AxState(c): AxState<Ctx>) -> Json<serde_json::Value> {
    let g = c.core.lock();
    let now = now_ms();
    let blocks: Vec<_> = g
        .state
        .blocks()
        .iter()
        .map(|(b, i)| json!({"block": b, "interface": i, "offered": g.state.is_offered(b)}))
        .collect();
    let cooling: Vec<_> = g
        .state
        .cooling(now)
        .map(|(a, until)| json!({"address": a, "untilMs": until}))
        .collect();
    Json(json!({
        "synced": g.synced,
        "counts": g.state.counts(now),
        "blocks": blocks,
        "cooling": cooling,
        "offered": g.state.offered().collect::<Vec<_>>(),
    }))
}

async fn allocations(AxState(c): AxState<Ctx>) -> Json<serde_json::Value> {
    let g = c.core.lock();
    Json(json!(g.state.allocations().collect::<Vec<_>>()))
}

async fn interfaces(AxState(c): AxState<Ctx>) -> Json<serde_json::Value> {
    let g = c.core.lock();
    Json(json!(g.agreement))
}

async fn metrics(AxState(c): AxState<Ctx>) -> Response {
    let mut out = String::new();
    match prometheus_client::encoding::text::encode(&mut out, &c.registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            out,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn readyz(AxState(c): AxState<Ctx>) -> (StatusCode, &'static str) {
    if c.core.lock().synced {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "pool not synced")
    }
}
