//! `cloudnet sandbox`: the mock cloud, the embedded Kubernetes API, nodes registered from the
//! cloud's instances, the simulated cluster components, and the manifests applied, on one
//! machine with no cloud account and no cluster.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use base64::Engine;
use cloudnet_kubesim::sim::kubelet::RangeAddressSource;
use cloudnet_kubesim::sim::node::{NodeRegistration, register_node};
use cloudnet_mockcloud::ec2::InstanceState;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{
    AuthInfo, Cluster, Context as KubeContext, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;

use crate::controller::{self, Controllers};
use crate::manifests::{self, Document};
use crate::pod_addresses::{IpamdAddresses, PodAddresses};
use crate::summary::Summary;

/// The field manager the sandbox applies manifests as.
pub const FIELD_MANAGER: &str = "cloudnet-sandbox";

#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Manifests to apply: files or directories of YAML/JSON (several documents per file).
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<PathBuf>,
    /// Where to write the kubeconfig for kubectl [default: <temp dir>/cloudnet-sandbox/kubeconfig].
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Where the mock cloud listens (point AWS clients here with --endpoint-url).
    #[arg(long, default_value = cloudnet_mockcloud::server::DEFAULT_LISTEN)]
    pub mockcloud_listen: SocketAddr,
    /// Where the Kubernetes API listens (HTTPS).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub api_listen: SocketAddr,
    /// The mock cloud's world file [default: the built-in eksctl-style VPC with two m5.large nodes].
    #[arg(long)]
    pub world: Option<PathBuf>,
    /// Apply, wait for the objects to settle, print the summary and exit.
    #[arg(long)]
    pub exit_after_apply: bool,
    /// How long to wait for the workload to settle before printing the summary.
    #[arg(long, default_value_t = 60)]
    pub settle_timeout_secs: u64,
    /// Where pods get their addresses: `vpc` (ENI secondary addresses through an ipamd per
    /// node, as on a cluster) or `range` (a /24 per node, no cloud calls per pod; for worlds
    /// too big to warm every node's pool).
    #[arg(long, value_enum, default_value_t = PodAddresses::Vpc)]
    pub pod_addresses: PodAddresses,
}

impl SandboxArgs {
    /// Options for tests: ephemeral ports, a kubeconfig in `dir`.
    pub fn ephemeral(dir: &std::path::Path) -> SandboxArgs {
        SandboxArgs {
            files: Vec::new(),
            kubeconfig: Some(dir.join("kubeconfig")),
            mockcloud_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            world: None,
            exit_after_apply: true,
            settle_timeout_secs: 60,
            pod_addresses: PodAddresses::Vpc,
        }
    }
}

/// The outcome of applying one document.
#[derive(Debug, Clone)]
pub struct Applied {
    pub object: String,
    pub result: Result<(), String>,
}

/// A running sandbox.
pub struct Sandbox {
    pub cloud: cloudnet_mockcloud::Handle,
    pub api: cloudnet_kubesim::server::Handle,
    pub kubeconfig: PathBuf,
    pub nodes: Vec<NodeRegistration>,
    client: kube::Client,
    controllers: Controllers,
    /// The nodes' ipamds, in `vpc` mode.
    pub ipamd: Option<Arc<IpamdAddresses>>,
    _simulation: cloudnet_kubesim::sim::Simulation,
}

/// The kubeconfig of `identity` on the sandbox's API, as kube's own type (what kube and
/// kubectl read), so no hand-written YAML can drift from the format.
pub fn kubeconfig_for(
    server: &str,
    ca_pem: Option<&str>,
    identity: &str,
    token: &str,
) -> Kubeconfig {
    let context = format!("{identity}@kubesim");
    Kubeconfig {
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        clusters: vec![NamedCluster {
            name: "kubesim".into(),
            cluster: Some(Cluster {
                server: Some(server.into()),
                certificate_authority_data: ca_pem
                    .map(|pem| base64::engine::general_purpose::STANDARD.encode(pem)),
                ..Cluster::default()
            }),
            ..NamedCluster::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: identity.into(),
            auth_info: Some(AuthInfo {
                token: Some(token.to_string().into()),
                ..AuthInfo::default()
            }),
            ..NamedAuthInfo::default()
        }],
        contexts: vec![NamedContext {
            name: context.clone(),
            context: Some(KubeContext {
                cluster: "kubesim".into(),
                user: Some(identity.into()),
                namespace: Some("default".into()),
                ..KubeContext::default()
            }),
            ..NamedContext::default()
        }],
        current_context: Some(context),
        ..Kubeconfig::default()
    }
}

/// Writes `config` to `path` readable and writable by its owner only: it holds a bearer
/// token. The file is written next to `path` and renamed over it, so an existing file's
/// looser mode does not carry over and a reader never sees half a file. A file owned by
/// another user is refused: it is theirs, and replacing it would hand them our token's
/// place in their tools.
pub fn write_private_kubeconfig(path: &Path, config: &Kubeconfig) -> Result<()> {
    let yaml = serde_yaml::to_string(config).context("cannot serialise the kubeconfig")?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut file =
        private_file(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let written = (|| -> Result<()> {
        refuse_foreign_owner(path, &file)?;
        file.write_all(yaml.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Fails when `path` exists and belongs to someone other than the owner of `ours` (a file
/// this process just created, which tells our user id without asking the OS by name).
#[cfg(unix)]
fn refuse_foreign_owner(path: &Path, ours: &std::fs::File) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let me = ours
        .metadata()
        .context("cannot read our own file's owner")?
        .uid();
    match std::fs::symlink_metadata(path) {
        Ok(existing) => owner_check(path, existing.uid(), me),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot inspect {}", path.display())),
    }
}

#[cfg(not(unix))]
fn refuse_foreign_owner(_path: &Path, _ours: &std::fs::File) -> Result<()> {
    Ok(())
}

fn owner_check(path: &Path, owner: u32, me: u32) -> Result<()> {
    if owner == me {
        Ok(())
    } else {
        anyhow::bail!(
            "refusing to overwrite the kubeconfig {}: it belongs to user {owner}, not to this user ({me}); \
             choose another path with --kubeconfig",
            path.display()
        )
    }
}

/// The identities the sandbox issues: one per component, so the API's audit shows what each
/// needs.
pub const IDENTITIES: &[&str] = &[controller::IDENTITY, "cloudnet-sandbox"];

impl Sandbox {
    pub async fn start(args: &SandboxArgs) -> Result<Sandbox> {
        let world = match &args.world {
            Some(path) => cloudnet_mockcloud::World::load(path)?,
            None => cloudnet_mockcloud::World::default(),
        };
        let cloud = cloudnet_mockcloud::MockCloud::start(cloudnet_mockcloud::Config {
            listen: args.mockcloud_listen,
            world,
            ..cloudnet_mockcloud::Config::default()
        })
        .await
        .with_context(|| format!("cannot start the mock cloud on {}", args.mockcloud_listen))?;

        let mut config = cloudnet_kubesim::server::Config {
            listen: args.api_listen,
            ..Default::default()
        };
        for identity in IDENTITIES {
            config = config.with_identity(identity);
        }
        let api = cloudnet_kubesim::server::KubeSim::start(config)
            .await
            .with_context(|| format!("cannot start the Kubernetes API on {}", args.api_listen))?;

        let nodes = nodes_from_cloud(&cloud);
        for node in &nodes {
            register_node(api.store(), node)
                .map_err(|e| anyhow::anyhow!("cannot register node {}: {e}", node.name))?;
        }
        let client = api.client_for("cloudnet-sandbox").await?;
        controller::install_crds(&client, FIELD_MANAGER).await?;
        let host = nodes
            .first()
            .and_then(|n| n.provider_id.rsplit('/').next())
            .context("the world has no running instance for the controller to run on")?;
        let region = cloud.with_cloud(|c| c.ec2.region.clone());
        let controllers = Controllers::start(&api, &cloud.endpoint_url(), &region, host).await?;
        let (ipamd, simulation) = match args.pod_addresses {
            PodAddresses::Vpc => {
                let ipamd =
                    Arc::new(IpamdAddresses::start(&api, &cloud.endpoint_url(), &nodes).await?);
                let sim = cloudnet_kubesim::sim::start(api.store(), ipamd.clone());
                (Some(ipamd), sim)
            }
            PodAddresses::Range => {
                let source = Arc::new(RangeAddressSource::default());
                (None, cloudnet_kubesim::sim::start(api.store(), source))
            }
        };

        let kubeconfig = match &args.kubeconfig {
            Some(p) => p.clone(),
            None => std::env::temp_dir()
                .join("cloudnet-sandbox")
                .join("kubeconfig"),
        };
        if let Some(dir) = kubeconfig.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let admin = cloudnet_kubesim::server::ADMIN;
        let token = api
            .auth()
            .token_for(admin)
            .with_context(|| format!("the API issued no token for {admin}"))?;
        write_private_kubeconfig(
            &kubeconfig,
            &kubeconfig_for(&api.url(), api.ca_pem(), admin, &token),
        )?;
        Ok(Sandbox {
            cloud,
            api,
            kubeconfig,
            nodes,
            client,
            controllers,
            ipamd,
            _simulation: simulation,
        })
    }

    /// Applies documents with server-side apply, each on its own: one bad document does not
    /// stop the others.
    pub async fn apply(&self, docs: &[Document]) -> Vec<Applied> {
        let mut out = Vec::with_capacity(docs.len());
        for doc in docs {
            let result = self.apply_one(doc).await.map_err(|e| format!("{e:#}"));
            out.push(Applied {
                object: doc.display_name(),
                result: result.map_err(|e| format!("{}: {e}", doc.source)),
            });
        }
        out
    }

    async fn apply_one(&self, doc: &Document) -> Result<()> {
        let (group, version) = match doc.api_version().split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", doc.api_version()),
        };
        let gvk = GroupVersionKind::gvk(group, version, doc.kind());
        let (resource, caps) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .with_context(|| format!("{} {} is not served", doc.api_version(), doc.kind()))?;
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => Api::namespaced_with(
                self.client.clone(),
                doc.namespace().unwrap_or("default"),
                &resource,
            ),
            Scope::Cluster => Api::all_with(self.client.clone(), &resource),
        };
        api.patch(
            doc.name(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&doc.object),
        )
        .await?;
        Ok(())
    }

    /// Waits until every Deployment has its replicas ready, no pod is pending, every
    /// LoadBalancer Service has its address and every node's pool is Ready, or the timeout
    /// passes; answers whether it settled.
    pub async fn wait_settled(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.settled().await.unwrap_or(false) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn settled(&self) -> Result<bool> {
        let deployments: Api<DynamicObject> = Api::all_with(
            self.client.clone(),
            &kube::discovery::ApiResource::from_gvk(&GroupVersionKind::gvk(
                "apps",
                "v1",
                "Deployment",
            )),
        );
        for d in deployments.list(&ListParams::default()).await? {
            let want = d.data["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = d.data["status"]["readyReplicas"].as_i64().unwrap_or(0);
            if ready < want {
                return Ok(false);
            }
        }
        let pods: Api<DynamicObject> = Api::all_with(
            self.client.clone(),
            &kube::discovery::ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Pod")),
        );
        let pods = pods.list(&ListParams::default()).await?.items;
        let pending = pods
            .iter()
            .any(|p| p.data["status"]["phase"].as_str().unwrap_or("Pending") == "Pending");
        if pending {
            return Ok(false);
        }
        // A LoadBalancer Service is settled once the controller wrote where its load
        // balancer is.
        let services: Api<DynamicObject> = Api::all_with(
            self.client.clone(),
            &kube::discovery::ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Service")),
        );
        let waiting = services
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .any(|svc| {
                svc.data["spec"]["type"] == "LoadBalancer"
                    && svc.data["status"]["loadBalancer"]["ingress"]
                        .as_array()
                        .is_none_or(Vec::is_empty)
            });
        if waiting {
            return Ok(false);
        }
        // Every node's pool is as the allocator wants it.
        let networks: Api<DynamicObject> = Api::all_with(
            self.client.clone(),
            &kube::discovery::ApiResource::from_gvk(&GroupVersionKind::gvk(
                "cloudnet.io",
                "v1alpha1",
                "NodeNetwork",
            )),
        );
        let networks = networks.list(&ListParams::default()).await?.items;
        let ready = networks.iter().filter(|nn| {
            nn.data["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        });
        if ready.count() < self.nodes.len() {
            return Ok(false);
        }
        // With ipamd, each node's NodeNetwork counts the addresses its pods hold.
        if self.ipamd.is_none() {
            return Ok(true);
        }
        let in_use: i64 = networks
            .iter()
            .map(|nn| nn.data["spec"]["inUse"].as_i64().unwrap_or(0))
            .sum();
        let holding = pods
            .iter()
            .filter(|p| {
                p.data["spec"]["hostNetwork"] != true
                    && p.data["status"]["podIP"]
                        .as_str()
                        .is_some_and(|ip| !ip.is_empty())
            })
            .count();
        Ok(in_use == holding as i64)
    }

    /// What exists now, as the API shows it: the cloud's side comes through the
    /// controllers (Service status, NodeNetwork status).
    pub async fn summary(&self) -> Result<Summary> {
        Summary::collect(&self.client).await
    }

    /// An API client as the sandbox's own identity (what applies the manifests).
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Whether the controllers stopped on their own (a failure; see the log).
    pub fn controllers_stopped(&self) -> bool {
        self.controllers.has_stopped()
    }

    /// Stops the controllers first (they release their lease and leave the cloud as it is),
    /// then the simulation, the API and the mock cloud.
    pub async fn shutdown(self) {
        if let Err(error) = self.controllers.stop().await {
            tracing::warn!(
                error = format!("{error:#}"),
                "The controllers ended with an error"
            );
        }
        drop(self._simulation);
        if let Some(ipamd) = &self.ipamd {
            ipamd.stop().await;
        }
        self.api.shutdown().await;
        self.cloud.shutdown().await;
    }
}

/// A Node for every running instance, named as EKS names them, with the VPC CNI's max-pods
/// (ENIs x (IPv4 per ENI - 1) + 2).
pub fn nodes_from_cloud(cloud: &cloudnet_mockcloud::Handle) -> Vec<NodeRegistration> {
    cloud.with_cloud(|c| {
        let ec2 = &c.ec2;
        ec2.instances
            .values()
            .filter(|i| matches!(i.state, InstanceState::Running | InstanceState::Pending))
            .map(|i| {
                let max_pods = ec2
                    .instance_types
                    .get(&i.instance_type)
                    .map_or(110, |t| t.max_enis * t.ipv4_per_eni.saturating_sub(1) + 2);
                let ip = i.private_ip.to_string();
                NodeRegistration {
                    name: format!(
                        "ip-{}.{}.compute.internal",
                        ip.replace('.', "-"),
                        ec2.region
                    ),
                    provider_id: format!("aws:///{}/{}", i.availability_zone, i.id),
                    internal_ip: ip,
                    zone: i.availability_zone.clone(),
                    instance_type: i.instance_type.clone(),
                    max_pods,
                }
            })
            .collect()
    })
}

/// The `cloudnet sandbox` command.
pub async fn run(args: SandboxArgs) -> Result<()> {
    let docs = manifests::load(&args.files)?;
    let sandbox = Sandbox::start(&args).await?;
    println!(
        "Mock cloud:      {} (AWS EC2, ELBv2, IMDS; any credentials)",
        sandbox.cloud.endpoint_url()
    );
    println!("Kubernetes API:  {}", sandbox.api.url());
    println!("Kubeconfig:      {}", sandbox.kubeconfig.display());
    println!(
        "Controllers:     the pod address allocator and the Service controller (LoadBalancer \
         Services with no class too), through the AWS SDK as API user {}, leading on Lease {}/{}",
        controller::IDENTITY,
        controller::LEASE_NAMESPACE,
        controller::LEASE_NAME
    );
    println!(
        "Nodes:           {}",
        sandbox
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let mut failed = 0;
    if !docs.is_empty() {
        println!("\nApplying {} object(s):", docs.len());
        for applied in sandbox.apply(&docs).await {
            match &applied.result {
                Ok(()) => println!("  {} applied", applied.object),
                Err(e) => {
                    failed += 1;
                    println!("  {} FAILED: {e}", applied.object);
                }
            }
        }
        print!("\nWaiting for the workload to settle ... ");
        let settled = sandbox
            .wait_settled(Duration::from_secs(args.settle_timeout_secs))
            .await;
        println!(
            "{}",
            if settled {
                "done"
            } else {
                "timed out (see the summary)"
            }
        );
    }
    println!("\n{}", sandbox.summary().await?);

    if args.exit_after_apply {
        sandbox.shutdown().await;
        anyhow::ensure!(failed == 0, "{failed} object(s) failed to apply");
        return Ok(());
    }
    println!(
        "\nTry: kubectl --kubeconfig {} get pods,svc,ingress -A\n     aws --endpoint-url {} --region us-west-2 ec2 describe-network-interfaces\nCtrl-C stops the sandbox.",
        sandbox.kubeconfig.display(),
        sandbox.cloud.endpoint_url()
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    println!("Stopping.");
    sandbox.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod kubeconfig_tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cloudnet-kubeconfig-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn sample() -> Kubeconfig {
        kubeconfig_for(
            "https://127.0.0.1:6443",
            Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
            "admin",
            "s3cret-token",
        )
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_kubeconfig_reads_back_with_kube() {
        let dir = scratch("read");
        let path = dir.join("kubeconfig");
        write_private_kubeconfig(&path, &sample()).unwrap();
        let back = Kubeconfig::read_from(&path).unwrap();
        assert_eq!(back.current_context.as_deref(), Some("admin@kubesim"));
        let cluster = back.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:6443"));
        let ca = base64::engine::general_purpose::STANDARD
            .decode(cluster.certificate_authority_data.as_deref().unwrap())
            .unwrap();
        assert!(
            String::from_utf8(ca)
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("token: s3cret-token"), "{text}");
        assert_eq!(
            back.contexts[0].context.as_ref().unwrap().user.as_deref(),
            Some("admin")
        );
        // Nothing but the file is left in the directory.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private_even_over_a_world_readable_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("mode");
        let path = dir.join("kubeconfig");
        write_private_kubeconfig(&path, &sample()).unwrap();
        assert_eq!(mode(&path), 0o600);
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private_kubeconfig(&path, &sample()).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_ne!(std::fs::read_to_string(&path).unwrap(), "old");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn another_users_file_is_refused_by_owner() {
        let p = Path::new("/x/kubeconfig");
        assert!(owner_check(p, 1000, 1000).is_ok());
        let e = owner_check(p, 0, 1000).unwrap_err().to_string();
        assert!(
            e.contains("refusing to overwrite the kubeconfig /x/kubeconfig"),
            "{e}"
        );
        assert!(e.contains("belongs to user 0"), "{e}");
    }

    /// The whole path: a file another user owns is left as it is. Making such a file needs
    /// root (chown); the test machines run the suite as root.
    #[cfg(unix)]
    #[test]
    fn another_users_file_is_left_untouched() {
        let dir = scratch("foreign");
        let path = dir.join("kubeconfig");
        std::fs::write(&path, "theirs").unwrap();
        std::os::unix::fs::chown(&path, Some(65534), Some(65534))
            .expect("chown needs root: the suite runs as root");
        let e = write_private_kubeconfig(&path, &sample())
            .unwrap_err()
            .to_string();
        assert!(e.contains("belongs to user 65534"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "theirs");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
