//! The binary's HTTP endpoints: `/metrics` (Prometheus text), `/healthz` (the process
//! serves), `/readyz` (every controller's caches are synced).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;

/// What the endpoints read.
#[derive(Clone)]
pub struct Health {
    registry: Arc<Mutex<Registry>>,
    /// One flag per controller; ready when all are set.
    ready: Arc<Vec<(String, Arc<AtomicBool>)>>,
}

impl Health {
    pub fn new(registry: Registry, ready: Vec<(String, Arc<AtomicBool>)>) -> Health {
        Health {
            registry: Arc::new(Mutex::new(registry)),
            ready: Arc::new(ready),
        }
    }

    /// The controllers not ready yet.
    pub fn not_ready(&self) -> Vec<String> {
        self.ready
            .iter()
            .filter(|(_, r)| !r.load(Ordering::Relaxed))
            .map(|(n, _)| n.clone())
            .collect()
    }
}

pub fn router(health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(health)
}

async fn metrics(State(h): State<Health>) -> impl IntoResponse {
    let mut out = String::new();
    let encoded = match h.registry.lock() {
        Ok(r) => prometheus_client::encoding::text::encode(&mut out, &r).is_ok(),
        Err(_) => false,
    };
    if !encoded {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            String::new(),
        );
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
}

async fn readyz(State(h): State<Health>) -> impl IntoResponse {
    let waiting = h.not_ready();
    if waiting.is_empty() {
        (StatusCode::OK, "ok".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("waiting for: {}", waiting.join(", ")),
        )
    }
}

/// Serves until the shutdown future completes.
pub async fn serve(
    addr: SocketAddr,
    health: Health,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> crate::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "Serving /metrics, /healthz, /readyz");
    axum::serve(listener, router(health))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("writes");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("reads");
        out
    }

    #[tokio::test]
    async fn health_readiness_and_metrics() {
        let mut registry = Registry::default();
        let m = crate::ipam::metrics::AllocatorMetrics::register(&mut registry);
        m.round(crate::ipam::metrics::RoundResult::Idle);
        let ready = Arc::new(AtomicBool::new(false));
        let health = Health::new(registry, vec![("ipam-allocator".into(), ready.clone())]);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move { axum::serve(listener, router(health)).await });

        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        let r = get(addr, "/readyz").await;
        assert!(r.starts_with("HTTP/1.1 503"), "{r}");
        assert!(r.contains("waiting for: ipam-allocator"), "{r}");
        ready.store(true, Ordering::Relaxed);
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        let r = get(addr, "/metrics").await;
        assert!(
            r.contains(r#"cloudnet_ipam_rounds_total{result="idle"} 1"#),
            "{r}"
        );
        server.abort();
    }
}
