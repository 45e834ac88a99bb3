//! Test harness shared by the cross-crate suites: the clouds a contract test runs against and
//! SDK clients pointed at them.
//!
//! ```text
//!   contract case (one async fn, real aws-sdk-* calls)
//!        ├── run against cloudnet-mockcloud (in process, loopback)
//!        └── run against moto (moto_server from the project's venv, loopback)
//! ```
//!
//! moto is found at `$CLOUDNET_MOTO_SERVER`, else `bin/moto_server` in `$CLOUDNET_VENV`
//! (default `$HOME/.cache/cloudnet/venv`)
//! (installed by `scripts/setup.sh`). When it is missing the moto half of a case is skipped
//! with a message, except under CI (`CI` set), where that is a failure.

use std::net::TcpListener;
use std::path::PathBuf;
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

impl Moto {
    fn binary() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("CLOUDNET_MOTO_SERVER") {
            return Some(PathBuf::from(p));
        }
        let venv = match std::env::var_os("CLOUDNET_VENV") {
            Some(v) => PathBuf::from(v),
            None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/cloudnet/venv"),
        };
        let p = venv.join("bin/moto_server");
        p.exists().then_some(p)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when a missing moto must fail the run rather than skip.
pub fn moto_required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("CLOUDNET_REQUIRE_MOTO").is_some()
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
}

/// One moto server for the whole test binary. It watches this process and exits with it, so
/// no server outlives the tests even though statics are never dropped.
pub fn shared_moto() -> Result<&'static str, String> {
    static MOTO: std::sync::OnceLock<Result<(Moto, String), String>> = std::sync::OnceLock::new();
    MOTO.get_or_init(|| {
        let moto = Moto::start()?;
        let endpoint = moto.endpoint.clone();
        Ok((moto, endpoint))
    })
    .as_ref()
    .map(|(_, e)| e.as_str())
    .map_err(Clone::clone)
}

impl Moto {
    /// Starts moto under a watchdog shell that stops it when this process ends, or says why
    /// it cannot (a missing binary outside CI is a skip).
    pub fn start() -> Result<Moto, String> {
        let Some(bin) = Moto::binary() else {
            return Err("moto_server not found: run scripts/setup.sh".into());
        };
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
            .arg(&bin)
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
            "moto_server did not listen on port {port} within 60 s"
        ))
    }
}
