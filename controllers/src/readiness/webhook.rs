//! The optional mutating webhook, served over HTTPS on its own address: `POST /mutate-v1-pod`
//! answers AdmissionReview v1 with [`super::inject::respond`]. It reads Namespaces, Services
//! and TargetGroupBindings from its own caches; a Service is "ours" when a load balancer
//! controller of this process has published `ip` groups for it in [`Gates`]. It always
//! allows the pod, and is registered with `failurePolicy: Ignore`, so a webhook that is down
//! delays nothing (the pod just has no injected gate).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use cloudnet_crds::{BindingTargetType, TargetGroupBinding};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

use super::gates::Gates;
use super::inject::{NamespaceView, respond, review_namespace};
use crate::error::{Error, Result};
use crate::metrics::WatchErrors;

/// Where and with which certificate the webhook serves.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub addr: SocketAddr,
    /// PEM certificate chain and private key (from the Secret cert-manager or the chart
    /// writes).
    pub cert_pem: String,
    pub key_pem: String,
}

/// The TLS configuration for a PEM chain and key.
pub fn tls_config(cert_pem: &str, key_pem: &str) -> Result<Arc<rustls::ServerConfig>> {
    let bad = |what: &str, e: &dyn std::fmt::Display| Error::Config(format!("webhook {what}: {e}"));
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad("certificate", &e))?;
    if chain.is_empty() {
        return Err(Error::Config(
            "webhook certificate: no PEM certificate".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| bad("key", &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("TLS", &e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| bad("certificate and key", &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[derive(Clone)]
struct Caches {
    gates: Gates,
    namespaces: Store<Namespace>,
    services: Store<Service>,
    bindings: Store<TargetGroupBinding>,
}

impl Caches {
    fn view(&self, namespace: &str) -> NamespaceView {
        let labels = self
            .namespaces
            .state()
            .iter()
            .find(|n| n.name_any() == namespace)
            .map(|n| n.labels().clone())
            .unwrap_or_default();
        let selectors: BTreeMap<String, BTreeMap<String, String>> = self
            .services
            .state()
            .iter()
            .filter(|s| s.namespace().as_deref() == Some(namespace))
            .filter_map(|s| {
                let selector = s.spec.as_ref()?.selector.clone()?;
                Some((s.name_any(), selector))
            })
            .collect();
        let services = selectors
            .iter()
            .filter(|(name, _)| !self.gates.groups_for_service(namespace, name).is_empty())
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        let bindings = self
            .bindings
            .state()
            .iter()
            .filter(|b| b.namespace().as_deref() == Some(namespace))
            .filter(|b| b.spec.target_type == BindingTargetType::Ip)
            .filter_map(|b| {
                let selector = selectors.get(&b.spec.service_ref.name)?;
                Some((b.name_any(), selector.clone()))
            })
            .collect();
        NamespaceView {
            labels,
            services,
            bindings,
        }
    }
}

async fn mutate(State(caches): State<Caches>, Json(review): Json<Value>) -> Json<Value> {
    let view = review_namespace(&review)
        .map(|ns| caches.view(ns))
        .unwrap_or_default();
    Json(respond(&review, &view))
}

/// A cache of every `K`, and the future that keeps it fed (it ends only when the watch does).
fn cache<K>(
    client: &Client,
    errors: &WatchErrors,
) -> (Store<K>, impl std::future::Future<Output = ()> + use<K>)
where
    K: kube::Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (store, events) = crate::cache::reflect::<K>(client, errors.clone());
    (store, events.for_each(|_| std::future::ready(())))
}

/// Serves the webhook until `shutdown` resolves; its watches' errors count in `errors`.
pub async fn run(
    client: Client,
    gates: Gates,
    settings: WebhookSettings,
    errors: WatchErrors,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let config = tls_config(&settings.cert_pem, &settings.key_pem)?;
    let (namespaces, ns_feed) = cache::<Namespace>(&client, &errors);
    let (services, svc_feed) = cache::<Service>(&client, &errors);
    let (bindings, binding_feed) = cache::<TargetGroupBinding>(&client, &errors);
    let caches = Caches {
        gates,
        namespaces,
        services,
        bindings,
    };
    let router = Router::new()
        .route("/mutate-v1-pod", post(mutate))
        .with_state(caches);
    let listener = tokio::net::TcpListener::bind(settings.addr).await?;
    tracing::info!(addr = %settings.addr, "Serving the pod readiness gate webhook");
    let serve = serve_tls(listener, router, config);
    tokio::select! {
        () = serve => Ok(()),
        () = shutdown => Ok(()),
        () = ns_feed => Err(Error::Stopped("the webhook's Namespace watch")),
        () = svc_feed => Err(Error::Stopped("the webhook's Service watch")),
        () = binding_feed => Err(Error::Stopped("the webhook's TargetGroupBinding watch")),
    }
}

async fn serve_tls(
    listener: tokio::net::TcpListener,
    router: Router,
    config: Arc<rustls::ServerConfig>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(error) => {
                tracing::warn!(%error, "Failed to accept a webhook connection");
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        connections.spawn(
            async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    tracing::debug!("Webhook TLS handshake failed");
                    return;
                };
                let io = hyper_util::rt::TokioIo::new(tls);
                if let Err(error) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await
                {
                    tracing::debug!(%error, "Webhook connection ended with an error");
                }
            }
            .instrument(tracing::debug_span!("webhook_connection", %peer)),
        );
    }
}
