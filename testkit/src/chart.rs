//! The Helm chart's RBAC, rendered once per test binary with the machine's `helm`, so the
//! end-to-end suites run the controller and ipamd under exactly what the chart installs.
//!
//! ```text
//!  helm template cloudnet deploy/helm/cloudnet -n kube-system --set clusterName=...
//!       --show-only templates/rbac-controller.yaml --show-only templates/rbac-node.yaml
//!       ──▶ YAML (ClusterRoles, bindings, the leader-election Role) ──▶ kubesim with RBAC on
//! ```

use std::path::PathBuf;
use std::sync::OnceLock;

/// The release and namespace the suites install as (the names every part agrees on).
pub const RELEASE: &str = "cloudnet";
pub const NAMESPACE: &str = "kube-system";
/// The API identities of the chart's two ServiceAccounts.
pub const CONTROLLER_IDENTITY: &str = "system:serviceaccount:kube-system:cloudnet-controller";
pub const NODE_IDENTITY: &str = "system:serviceaccount:kube-system:cloudnet-node";
/// The chart's RBAC templates.
pub const RBAC_TEMPLATES: &[&str] = &["templates/rbac-controller.yaml", "templates/rbac-node.yaml"];

/// `deploy/helm/cloudnet` in this repository.
pub fn chart_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/helm/cloudnet")
}

/// helm, which `scripts/setup.sh` installs.
pub fn helm() -> Option<PathBuf> {
    crate::tool("helm")
}

/// The chart's RBAC objects as `helm template` renders them with the default values
/// (`provider: aws`), as YAML; rendered on first use. `None` when helm is missing and the
/// developer opted out (`CLOUDNET_SKIP_EXTERNAL=1`); a failing render panics with helm's
/// message.
pub fn rbac_yaml() -> Option<&'static str> {
    rbac_yaml_for("aws")
}

/// [`rbac_yaml`] for `provider` (`aws`, `gcp` or `azure`): the chart grants each cloud's
/// controller what that cloud's dialect reads (ingress-gce's reads TLS Secrets, for one).
pub fn rbac_yaml_for(provider: &str) -> Option<&'static str> {
    static AWS: OnceLock<Option<String>> = OnceLock::new();
    static GCP: OnceLock<Option<String>> = OnceLock::new();
    static AZURE: OnceLock<Option<String>> = OnceLock::new();
    let (cell, values): (_, &[&str]) = match provider {
        "aws" => (&AWS, &[]),
        "gcp" => (&GCP, &["provider=gcp"]),
        "azure" => (
            &AZURE,
            &[
                "provider=azure",
                "azure.vnetName=vnet",
                "azure.subnetName=subnet",
                "azure.routeTableName=routes",
            ],
        ),
        other => panic!("no chart provider {other:?} (aws, gcp or azure)"),
    };
    cell.get_or_init(|| {
        let helm = helm()?;
        let mut cmd = std::process::Command::new(&helm);
        cmd.args(["template", RELEASE]).arg(chart_dir()).args([
            "--namespace",
            NAMESPACE,
            "--set",
            "clusterName=cloudnet-test",
        ]);
        for value in values {
            cmd.args(["--set", value]);
        }
        for template in RBAC_TEMPLATES {
            cmd.args(["--show-only", template]);
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", helm.display()));
        assert!(
            out.status.success(),
            "helm template failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    })
    .as_deref()
}
