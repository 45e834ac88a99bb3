//! Test harness shared by the cross-crate suites: the clouds a contract test runs against and
//! SDK clients pointed at them.
//!
//! ```text
//!   contract case (one async fn, real aws-sdk-* calls)
//!        ├── run against cloudnet-mockcloud (in process, loopback)
//!        └── run against moto (moto_server from the project's venv, loopback)
//! ```
//!
//! [`contract!`] writes both halves of a case; it is the one harness of every suite that runs
//! against both clouds (this crate's contract suites and `cloudnet-aws`'s provider tests).
//! A case is `async fn case(f: F)` for any [`Fixture`] `F`: [`CloudUnderTest`] itself, or a
//! suite's own environment built on it.
//!
//! moto is found by `cloudnet_testkit::moto` (the venv `scripts/setup.sh` makes, then PATH).
//! When it is missing the moto half fails, naming `scripts/setup.sh`, unless
//! `CLOUDNET_SKIP_EXTERNAL=1`.

use std::future::Future;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

pub const REGION: &str = "us-west-2";

/// SDK configuration for a loopback cloud: static test credentials, no retries (a contract
/// test must see the cloud's first answer), short timeouts.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "AKIDCLOUDNETTEST",
            "secret",
            None,
            None,
            "static",
        ))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .load()
        .await
}

pub async fn ec2_client(endpoint: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk_config(endpoint).await)
}

pub async fn elbv2_client(endpoint: &str) -> aws_sdk_elasticloadbalancingv2::Client {
    aws_sdk_elasticloadbalancingv2::Client::new(&sdk_config(endpoint).await)
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A moto server child process on a loopback port, killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which cloud a contract case is running against (for the rare place where AWS leaves a
/// choice and the two differ within what AWS documents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudKind {
    MockCloud,
    Moto,
}

/// A cloud under test: where it listens and what it is.
#[derive(Debug, Clone)]
pub struct CloudUnderTest {
    pub kind: CloudKind,
    pub endpoint: String,
}

impl CloudUnderTest {
    pub async fn ec2(&self) -> aws_sdk_ec2::Client {
        ec2_client(&self.endpoint).await
    }

    pub async fn elbv2(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        elbv2_client(&self.endpoint).await
    }

    pub fn is_moto(&self) -> bool {
        self.kind == CloudKind::Moto
    }
}

/// What a contract case is handed: built from the cloud under test before the case runs.
pub trait Fixture: Sized {
    fn build(cloud: CloudUnderTest) -> impl Future<Output = Self>;
}

impl Fixture for CloudUnderTest {
    async fn build(cloud: CloudUnderTest) -> Self {
        cloud
    }
}

/// Builds the case's fixture from `cloud` and runs the case (what both halves of
/// [`contract!`] call).
pub async fn run_case<F, Fut>(cloud: CloudUnderTest, case: impl FnOnce(F) -> Fut)
where
    F: Fixture,
    Fut: Future<Output = ()>,
{
    case(F::build(cloud).await).await;
}

/// The mock cloud of one case, with its default world; stops when dropped.
pub struct MockGuard {
    pub handle: cloudnet_mockcloud::Handle,
}

impl MockGuard {
    pub async fn start() -> MockGuard {
        let config = cloudnet_mockcloud::Config::ephemeral(cloudnet_mockcloud::World::default());
        match cloudnet_mockcloud::MockCloud::start(config).await {
            Ok(handle) => MockGuard { handle },
            Err(e) => panic!("the mock cloud does not start: {e}"),
        }
    }

    pub fn cloud(&self) -> CloudUnderTest {
        CloudUnderTest {
            kind: CloudKind::MockCloud,
            endpoint: self.handle.endpoint_url(),
        }
    }
}

/// The moto half of a case: the shared moto server as a cloud, or None (skip) when moto is
/// missing and `CLOUDNET_SKIP_EXTERNAL=1`. Panics when moto is missing otherwise, or when it
/// does not start.
pub fn moto_cloud() -> Option<CloudUnderTest> {
    shared_moto().map(|endpoint| CloudUnderTest {
        kind: CloudKind::Moto,
        endpoint: endpoint.to_string(),
    })
}

/// `contract!(case)` runs `async fn case(f: impl Fixture)` against the mock cloud and against
/// moto; `contract!(case, mock_only = "why")` only against the mock cloud, with the reason
/// written where the next reader looks (and listed in docs/contract-suite.md).
#[macro_export]
macro_rules! contract {
    ($case:ident) => {
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mockcloud() {
                let mock = $crate::MockGuard::start().await;
                $crate::run_case(mock.cloud(), super::$case).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn moto() {
                if let Some(cloud) = $crate::moto_cloud() {
                    $crate::run_case(cloud, super::$case).await;
                }
            }
        }
    };
    ($case:ident, mock_only = $reason:literal) => {
        mod $case {
            #[doc = $reason]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mockcloud() {
                let mock = $crate::MockGuard::start().await;
                $crate::run_case(mock.cloud(), super::$case).await;
            }
        }
    };
}

/// One moto server for the whole test binary. It watches this process and exits with it, so
/// no server outlives the tests even though statics are never dropped. None when moto is
/// missing and `CLOUDNET_SKIP_EXTERNAL=1`; a panic when it is missing otherwise or does not
/// start.
pub fn shared_moto() -> Option<&'static str> {
    static MOTO: std::sync::OnceLock<Option<(Moto, String)>> = std::sync::OnceLock::new();
    MOTO.get_or_init(|| {
        let bin = cloudnet_testkit::moto()?;
        match Moto::start(&bin) {
            Ok(moto) => {
                let endpoint = moto.endpoint.clone();
                Some((moto, endpoint))
            }
            Err(why) => panic!("{why}"),
        }
    })
    .as_ref()
    .map(|(_, e)| e.as_str())
}

impl Moto {
    /// Starts `bin` (moto_server) under a watchdog shell that stops it when this process
    /// ends, or says why it cannot.
    pub fn start(bin: &std::path::Path) -> Result<Moto, String> {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let script = format!(
            "\"$0\" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
             while kill -0 {parent} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.5; done; \
             kill $m 2>/dev/null",
            parent = std::process::id()
        );
        let child = Command::new("bash")
            .arg("-c")
            .arg(script)
            .arg(bin)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(moto);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "{} did not listen on port {port} within 60 s",
            bin.display()
        ))
    }
}

/// Runs a command line client (the aws CLI, gcloud): its stdout when it exits 0, else its
/// stderr (or why it could not start).
pub fn run_client(command: &mut std::process::Command) -> Result<String, String> {
    let out = command.output().map_err(|e| e.to_string())?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        Err(text(&out.stderr))
    }
}
