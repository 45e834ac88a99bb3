//! The embedded API as the end-to-end suites run the controller against it: RBAC enforced,
//! with exactly the RBAC objects the Helm chart renders (`cloudnet_testkit::chart`), the
//! controller acting as the chart's `cloudnet-controller` ServiceAccount, and the test itself
//! as the admin (system:masters) setting the scene. A request RBAC refuses fails the test
//! when its [`RbacApi`] guard drops.
#![allow(dead_code)]

use cloudnet_kubesim::{ADMIN, Config, Handle, KubeSim};

pub use cloudnet_testkit::chart::{CONTROLLER_IDENTITY, NODE_IDENTITY};

/// The API and its clients.
pub struct RbacApi {
    pub handle: Handle,
    /// The test's own client (system:masters).
    pub admin: kube::Client,
    /// The controller's client: the chart's ServiceAccount.
    pub controller: kube::Client,
}

/// Starts the API from `config` under the chart's RBAC. Without helm and with
/// `CLOUDNET_SKIP_EXTERNAL=1`, RBAC stays off (and the controller still acts as its
/// ServiceAccount); a missing helm otherwise fails the test naming scripts/setup.sh.
pub async fn start(config: Config) -> RbacApi {
    start_for("aws", config).await
}

/// [`start`] under the RBAC the chart renders for `provider` (`aws`, `gcp`, `azure`).
pub async fn start_for(provider: &str, config: Config) -> RbacApi {
    let objects = cloudnet_testkit::chart::rbac_yaml_for(provider).map(|yaml| {
        cloudnet_kubesim::rbac::objects_from_yaml(yaml).expect("the chart renders YAML")
    });
    let mut config = config
        .with_identity(CONTROLLER_IDENTITY)
        .with_identity(NODE_IDENTITY);
    config.rbac = objects.is_some();
    let handle = KubeSim::start(config).await.expect("the API starts");
    if let Some(objects) = &objects {
        handle.install(objects).expect("the chart's RBAC installs");
    }
    let admin = handle.client_for(ADMIN).await.expect("admin client");
    let controller = handle
        .client_for(CONTROLLER_IDENTITY)
        .await
        .expect("controller client");
    RbacApi {
        handle,
        admin,
        controller,
    }
}

/// Panics listing every request RBAC refused.
pub fn assert_no_denials(handle: &Handle) {
    let denials = handle.auth().denials();
    assert!(
        denials.is_empty(),
        "the chart's RBAC refused requests:\n{}",
        denials
            .iter()
            .map(|d| format!("{}: {}", d.identity, d.message))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

impl Drop for RbacApi {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_no_denials(&self.handle);
            return;
        }
        // The test failed for another reason: a refusal may be why.
        for d in self.handle.auth().denials() {
            eprintln!("refused by the chart's RBAC: {}: {}", d.identity, d.message);
        }
    }
}
