//! Starting and stopping the API server, and the clients and kubeconfigs that reach it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::auth::{Auth, Identity};
use crate::error::{Error, Result};
use crate::http::{self, App, Settings};
use crate::store::Store;
use crate::tls;

/// The identity every default configuration has, with full access.
pub const ADMIN: &str = "admin";

/// How to start the API.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Bearer token → identity.
    pub tokens: Vec<(String, Identity)>,
    /// Changes kept for watches to resume from; older resourceVersions get 410 Gone.
    pub history_limit: usize,
    /// How often a watch that allows bookmarks gets one.
    pub bookmark_interval: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Serve HTTPS with a generated CA (kubectl sends tokens only over HTTPS).
    pub tls: bool,
    /// How long a deleted namespace stays untouched before the namespace controller empties
    /// it (the real controller's 5 s), so clients deleting a namespace and its objects in one
    /// go find the objects still there.
    pub namespace_deletion_grace: Duration,
    /// Objects one namespace may hold; one more is 403 `exceeded quota`, like a
    /// ResourceQuota.
    pub max_objects_per_namespace: usize,
    /// Enforce RBAC ([`crate::rbac`]): the default roles are installed and every request
    /// must be allowed by a stored role bound to its identity (`system:masters` aside).
    /// Off: every known token may do everything.
    pub rbac: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tokens: vec![(random_token(), Identity::master(ADMIN))],
            history_limit: 10_000,
            bookmark_interval: Duration::from_secs(5),
            max_body_bytes: 3 * 1024 * 1024,
            tls: true,
            namespace_deletion_grace: Duration::from_secs(5),
            max_objects_per_namespace: crate::store::quota::DEFAULT_OBJECTS_PER_NAMESPACE,
            rbac: false,
        }
    }
}

impl Config {
    /// Adds an identity with a fresh token.
    pub fn with_identity(mut self, name: &str) -> Self {
        self.tokens.push((random_token(), Identity::new(name)));
        self
    }

    /// Adds `identity` with a fresh token.
    pub fn with(mut self, identity: Identity) -> Self {
        self.tokens.push((random_token(), identity));
        self
    }

    /// Switches RBAC enforcement on.
    pub fn with_rbac(mut self) -> Self {
        self.rbac = true;
        self
    }
}

fn random_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Entry point of the embedded API.
pub struct KubeSim;

impl KubeSim {
    /// Binds the listener and serves the API in a background task.
    pub async fn start(config: Config) -> Result<Handle> {
        crate::tls::install_default_crypto_provider();
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        let store = Arc::new(Store::new(config.history_limit));
        store.set_namespace_quota(config.max_objects_per_namespace);
        let auth = Arc::new(Auth::new(config.tokens.clone()));
        if config.rbac {
            crate::rbac::bootstrap::install(&store).map_err(Error::Bootstrap)?;
        }
        let app = Arc::new(App {
            store: store.clone(),
            auth: auth.clone(),
            settings: Settings {
                max_body_bytes: config.max_body_bytes,
                bookmark_interval: config.bookmark_interval,
                server_address: addr.to_string(),
                rbac: config.rbac,
            },
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let router = http::router(app);
        let cert = if config.tls {
            Some(tls::generate()?)
        } else {
            None
        };
        let tls_config = cert.as_ref().map(|c| c.server_config.clone());
        let task = spawn_server(listener, router.clone(), tls_config.clone(), stopped);
        // The control plane's own controller: without it, deleted namespaces would stay
        // Terminating. The simulated cluster components are started apart ([`crate::sim`]).
        let namespace_store = store.clone();
        let grace = config.namespace_deletion_grace;
        let namespace_controller = tokio::spawn(
            async move {
                let s = namespace_store.clone();
                crate::sim::run(
                    namespace_store,
                    &[("v1", "Namespace")],
                    "namespaces",
                    move || {
                        let s = s.clone();
                        async move { crate::sim::namespaces::sync(&s, grace) }
                    },
                )
                .await;
            }
            .instrument(tracing::info_span!("namespace-controller")),
        );
        tracing::info!(%addr, tls = config.tls, "API server listening");
        Ok(Handle {
            addr,
            store,
            auth,
            ca_pem: cert.map(|c| c.ca_pem),
            rbac: config.rbac,
            router,
            tls: tls_config,
            stop: Some(stop),
            task: Some(task),
            namespace_controller,
        })
    }
}

fn spawn_server(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    stopped: oneshot::Receiver<()>,
) -> JoinHandle<()> {
    let span = match listener.local_addr() {
        Ok(addr) => tracing::info_span!("kubesim", %addr),
        Err(_) => tracing::info_span!("kubesim"),
    };
    tokio::spawn(serve(listener, router, tls, stopped).instrument(span))
}

/// Accepts connections until `stopped`, then cuts every open one (the connections are tasks
/// of this one: aborting it cuts them too).
async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut stopped: oneshot::Receiver<()>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(error) => {
                tracing::warn!(%error, "Failed to accept a connection");
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        connections.spawn(
            async move {
                let served = match acceptor {
                    Some(acceptor) => match acceptor.accept(tcp).await {
                        Ok(tls) => {
                            hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                                .await
                        }
                        Err(error) => {
                            tracing::debug!(%error, "TLS handshake failed");
                            return;
                        }
                    },
                    None => {
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                            .await
                    }
                };
                if let Err(error) = served {
                    tracing::debug!(%error, "Connection ended with an error");
                }
            }
            .instrument(tracing::debug_span!("connection", %peer)),
        );
    }
    connections.abort_all();
}

/// A running API server. Dropping it stops the server.
pub struct Handle {
    addr: SocketAddr,
    store: Arc<Store>,
    auth: Arc<Auth>,
    ca_pem: Option<String>,
    rbac: bool,
    /// What [`Handle::resume_serving`] serves again.
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    namespace_controller: JoinHandle<()>,
}

impl Handle {
    /// `https://127.0.0.1:<port>` (or `http://` without TLS).
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// PEM of the CA that signed the serving certificate, when serving HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Direct, in-process access to the object store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Whether RBAC is enforced.
    pub fn rbac(&self) -> bool {
        self.rbac
    }

    /// Tokens and the access record.
    pub fn auth(&self) -> &Arc<Auth> {
        &self.auth
    }

    /// Adds an identity with a fresh token (or returns the token it has).
    pub fn add_identity(&self, name: &str) -> String {
        if let Some(token) = self.auth.token_for(name) {
            return token;
        }
        let token = random_token();
        self.auth.add_token(token.clone(), Identity::new(name));
        token
    }

    /// Stores objects (e.g. RBAC objects rendered from a chart) as they are, in process.
    pub fn install(&self, objects: &[serde_json::Value]) -> Result<()> {
        for obj in objects {
            let api_version = obj["apiVersion"].as_str().unwrap_or_default();
            let kind = obj["kind"].as_str().unwrap_or_default();
            let info = self.store.resource(api_version, kind).ok_or_else(|| {
                crate::error::StatusError::bad_request(format!(
                    "{api_version} {kind} is not served"
                ))
            })?;
            let ns = obj["metadata"]["namespace"]
                .as_str()
                .filter(|_| info.namespaced);
            self.store.create(&info, ns, obj.clone())?;
        }
        Ok(())
    }

    /// A kubeconfig document for `identity`.
    pub fn kubeconfig_yaml(&self, identity: &str) -> Result<String> {
        let token = self
            .auth
            .token_for(identity)
            .ok_or_else(|| Error::UnknownIdentity(identity.to_string()))?;
        let ca = match &self.ca_pem {
            Some(pem) => format!(
                "\n    certificate-authority-data: {}",
                base64::engine::general_purpose::STANDARD.encode(pem)
            ),
            None => String::new(),
        };
        Ok(format!(
            "apiVersion: v1
kind: Config
clusters:
- name: kubesim
  cluster:
    server: {url}{ca}
users:
- name: {identity}
  user:
    token: {token}
contexts:
- name: {identity}@kubesim
  context:
    cluster: kubesim
    user: {identity}
    namespace: default
current-context: {identity}@kubesim
preferences: {{}}
",
            url = self.url()
        ))
    }

    /// Writes a kubeconfig for `identity` to `path`.
    pub fn write_kubeconfig(&self, path: &Path, identity: &str) -> Result<()> {
        let yaml = self.kubeconfig_yaml(identity)?;
        std::fs::write(path, yaml).map_err(|source| Error::WriteKubeconfig {
            path: path.to_path_buf(),
            source,
        })
    }

    /// A `kube::Client` acting as `identity`.
    pub async fn client_for(&self, identity: &str) -> Result<kube::Client> {
        crate::tls::install_default_crypto_provider();
        let yaml = self.kubeconfig_yaml(identity)?;
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&yaml).map_err(Error::Kubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .map_err(Error::Kubeconfig)?;
        kube::Client::try_from(config).map_err(Error::Client)
    }

    /// Ends every open watch; clients see their streams close and reconnect.
    pub fn close_watches(&self) {
        self.store.end_all_watches();
    }

    /// Expires the watch history, as etcd's compaction does, and ends every open watch:
    /// every client resuming its watch from a resourceVersion it has seen gets 410 Expired
    /// and must list again. Answers the resourceVersion watches may start from now.
    pub fn expire_watches(&self) -> u64 {
        let floor = self.store.compact();
        self.store.end_all_watches();
        floor
    }

    /// Whether the server accepts connections (see [`Handle::stop_serving`]).
    pub fn serving(&self) -> bool {
        self.task.is_some()
    }

    /// Stops serving as an API server process that goes down while etcd keeps the data:
    /// the listener closes (new connections are refused) and every open connection and
    /// watch is cut. The store, the tokens and the control plane's own controller stay;
    /// [`Handle::resume_serving`] serves again on the same address.
    pub async fn stop_serving(&mut self) {
        self.store.end_all_watches();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.join_server().await;
    }

    /// Waits up to 5 s for the stopped server's task, then aborts it.
    async fn join_server(&mut self) {
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    /// Serves again on the same address, with the same store, tokens and certificate (the
    /// kubeconfigs written before stay valid). Nothing happens when it serves already.
    pub async fn resume_serving(&mut self) -> Result<()> {
        if self.task.is_some() {
            return Ok(());
        }
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .map_err(|source| Error::Bind {
                addr: self.addr,
                source,
            })?;
        let (stop, stopped) = oneshot::channel::<()>();
        self.task = Some(spawn_server(
            listener,
            self.router.clone(),
            self.tls.clone(),
            stopped,
        ));
        self.stop = Some(stop);
        tracing::info!(addr = %self.addr, "API server listening again");
        Ok(())
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        self.stop_now();
        self.join_server().await;
    }

    fn stop_now(&mut self) {
        self.namespace_controller.abort();
        self.store.end_all_watches();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop_now();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
