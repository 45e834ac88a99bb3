//! The Azure backend's settings (`--provider azure`, `CLOUD_PROVIDER=azure`), flattened into
//! [`crate::cloud_flags::CloudArgs`], and the [`AzureConfig`] they make.
//!
//! Subscription, resource group and location come from the flags when given, else from IMDS
//! (`/metadata/instance`) of the VM the controller runs on, as cloud-provider-azure reads
//! them from `azure.json` or the instance; the VNet, the node subnet and the kubenet route
//! table are the cluster's and are given (AKS writes them in `azure.json`). Credentials:
//! Workload Identity by default (the webhook injects `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
//! `AZURE_FEDERATED_TOKEN_FILE`), the VM's managed identity, or a static token (the mock).
//!
//! Every value is checked at start and a bad one is refused naming its variable.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use cloudnet_azure::{AzureConfig, CredentialsChoice, Instance};
use cloudnet_core::BudgetConfig;

/// The public cloud's Resource Manager.
pub const DEFAULT_ARM_ENDPOINT: &str = "https://management.azure.com";
/// Azure's instance metadata service.
pub const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// What the Workload Identity webhook injects into a pod labelled
/// `azure.workload.identity/use: "true"`.
pub const WORKLOAD_IDENTITY_ENV: &[&str] = &[
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
];

/// `--azure-credentials` (`AZURE_CREDENTIALS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AzureCredentials {
    /// AKS Workload Identity: the federated token the webhook injects, exchanged at Entra ID.
    #[default]
    WorkloadIdentity,
    /// The VM's managed identity through IMDS.
    ManagedIdentity,
    /// A fixed bearer token (`AZURE_STATIC_TOKEN`; the mock cloud takes any).
    Static,
}

/// The Azure flags, each also an environment variable.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AzureArgs {
    /// Azure: the subscription (a GUID); default: IMDS's `compute.subscriptionId`.
    #[arg(long, env = "AZURE_SUBSCRIPTION_ID")]
    pub azure_subscription_id: Option<String>,
    /// Azure: the resource group of the cluster's network (AKS: `MC_...`); default: IMDS's.
    #[arg(long, env = "AZURE_RESOURCE_GROUP")]
    pub azure_resource_group: Option<String>,
    /// Azure: the region (`eastus`); default: IMDS's `compute.location`.
    #[arg(long, env = "AZURE_LOCATION")]
    pub azure_location: Option<String>,
    /// Azure: the cluster's VNet, in the resource group.
    #[arg(long, env = "AZURE_VNET_NAME")]
    pub azure_vnet_name: Option<String>,
    /// Azure: the node subnet of the VNet.
    #[arg(long, env = "AZURE_SUBNET_NAME")]
    pub azure_subnet_name: Option<String>,
    /// Azure: the kubenet route table, in the resource group.
    #[arg(long, env = "AZURE_ROUTE_TABLE_NAME")]
    pub azure_route_table_name: Option<String>,
    /// Azure: the network security group the Service load balancers' allow rules go on, in
    /// the resource group (cloud-provider-azure's `securityGroupName`; AKS:
    /// `aks-agentpool-<id>-nsg`); default: the one on the node subnet.
    #[arg(long, env = "AZURE_SECURITY_GROUP_NAME")]
    pub azure_security_group_name: Option<String>,
    /// Azure: the Resource Manager endpoint (HTTPS); default `https://management.azure.com`.
    #[arg(long, env = "AZURE_ARM_ENDPOINT")]
    pub azure_arm_endpoint: Option<String>,
    /// Azure: the instance metadata service; default `http://169.254.169.254`.
    #[arg(long, env = "AZURE_IMDS_ENDPOINT")]
    pub azure_imds_endpoint: Option<String>,
    /// Azure: an extra CA certificate (PEM file) to trust for the ARM endpoint (the mock's).
    #[arg(long, env = "AZURE_CA_FILE")]
    pub azure_ca_file: Option<PathBuf>,
    /// Azure: where bearer tokens come from; default `workload-identity`.
    #[arg(long, env = "AZURE_CREDENTIALS", value_enum)]
    pub azure_credentials: Option<AzureCredentials>,
    /// Azure: the token of `AZURE_CREDENTIALS=static`.
    #[arg(long, env = "AZURE_STATIC_TOKEN", hide_env_values = true)]
    pub azure_static_token: Option<String>,
    /// Azure: the one Application Gateway every Ingress of AGIC's class is merged into (AGIC's
    /// `appgw.name`); made and owned by cloudnet, refused if it exists without cloudnet's
    /// tags. Unset: one gateway per Ingress.
    #[arg(long, env = "AZURE_APPGW_NAME")]
    pub azure_appgw_name: Option<String>,
}

/// The Azure settings as checked; `None`: discovered from IMDS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureSettings {
    pub subscription: Option<String>,
    pub resource_group: Option<String>,
    pub location: Option<String>,
    pub vnet: String,
    pub subnet: String,
    pub route_table: String,
    /// `None`: the node subnet's.
    pub security_group: Option<String>,
    pub arm_endpoint: String,
    pub imds_endpoint: String,
    /// The CA file's PEM, read at start.
    pub ca_pem: Option<String>,
    pub credentials: CredentialsChoice,
}

/// `8-4-4-4-12` hex digits.
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A Network resource name: 1 to `max` of letters, digits, `_`, `-`, `.`; a letter or digit
/// first; a letter, digit or `_` last (ARM's rule for VNets, subnets and route tables).
pub fn is_resource_name(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b[0].is_ascii_alphanumeric()
        && (b[b.len() - 1].is_ascii_alphanumeric() || b[b.len() - 1] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

/// A resource group name: 1 to 90 of letters, digits, `_`, `-`, `.`, `(`, `)`; not ending
/// in `.`.
fn is_resource_group(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 90
        && !s.ends_with('.')
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '(' | ')'))
}

impl AzureArgs {
    /// The Azure settings given, by their variable names (to refuse them on another cloud).
    pub fn given(&self) -> Vec<&'static str> {
        [
            (
                "AZURE_SUBSCRIPTION_ID",
                self.azure_subscription_id.is_some(),
            ),
            ("AZURE_RESOURCE_GROUP", self.azure_resource_group.is_some()),
            ("AZURE_LOCATION", self.azure_location.is_some()),
            ("AZURE_VNET_NAME", self.azure_vnet_name.is_some()),
            ("AZURE_SUBNET_NAME", self.azure_subnet_name.is_some()),
            (
                "AZURE_ROUTE_TABLE_NAME",
                self.azure_route_table_name.is_some(),
            ),
            (
                "AZURE_SECURITY_GROUP_NAME",
                self.azure_security_group_name.is_some(),
            ),
            ("AZURE_ARM_ENDPOINT", self.azure_arm_endpoint.is_some()),
            ("AZURE_IMDS_ENDPOINT", self.azure_imds_endpoint.is_some()),
            ("AZURE_CA_FILE", self.azure_ca_file.is_some()),
            ("AZURE_CREDENTIALS", self.azure_credentials.is_some()),
            ("AZURE_STATIC_TOKEN", self.azure_static_token.is_some()),
            ("AZURE_APPGW_NAME", self.azure_appgw_name.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    /// What IMDS is asked for, for the error message when it does not answer.
    pub fn undiscovered(&self) -> Vec<&'static str> {
        [
            (
                "AZURE_SUBSCRIPTION_ID",
                self.azure_subscription_id.is_none(),
            ),
            ("AZURE_RESOURCE_GROUP", self.azure_resource_group.is_none()),
            ("AZURE_LOCATION", self.azure_location.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, missing)| missing.then_some(name))
        .collect()
    }

    /// The settings, checked: empty and malformed values are refused naming the variable;
    /// the CA file is read. `env` looks up the Workload Identity webhook's variables.
    pub fn settings(
        &self,
        cluster: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<AzureSettings> {
        if cluster.trim().is_empty() {
            bail!("CLUSTER_NAME is empty");
        }
        if cluster.len() > 40
            || !cluster
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            bail!(
                "CLUSTER_NAME {cluster:?}: on Azure at most 40 letters, digits and '-' (it is part of resource names)"
            );
        }
        let optional =
            |name: &str, v: &Option<String>, ok: &dyn Fn(&str) -> bool, what: &str| match v
                .as_deref()
                .map(str::trim)
            {
                None => Ok(None),
                Some("") => bail!("{name} is set but empty; unset it to read it from IMDS"),
                Some(s) if !ok(s) => bail!("{name} {s:?} is not {what}"),
                Some(s) => Ok(Some(s.to_string())),
            };
        let required = |name: &str, v: &Option<String>, max: usize, what: &str| match v
            .as_deref()
            .map(str::trim)
        {
            None | Some("") => bail!("{name} is not set (the cluster's {what})"),
            Some(s) if !is_resource_name(s, max) => bail!(
                "{name} {s:?} is not a resource name (1-{max} letters, digits, '_', '-', '.')"
            ),
            Some(s) => Ok(s.to_string()),
        };
        let url = |name: &str, v: &Option<String>, default: &str, https: bool| {
            let s = v.as_deref().map(str::trim).unwrap_or(default);
            if s.is_empty() {
                bail!("{name} is set but empty; unset it for {default}");
            }
            let u = url::Url::parse(s).map_err(|e| anyhow::anyhow!("{name} {s:?}: {e}"))?;
            if https && u.scheme() != "https" {
                bail!("{name} {s:?} must be https:// (bearer tokens go only over TLS)");
            }
            if !matches!(u.scheme(), "http" | "https") {
                bail!("{name} {s:?} must be an http:// or https:// URL");
            }
            Ok(s.trim_end_matches('/').to_string())
        };
        let ca_pem = match &self.azure_ca_file {
            None => None,
            Some(path) if path.as_os_str().is_empty() => {
                bail!("AZURE_CA_FILE is set but empty; unset it to trust the public roots only")
            }
            Some(path) => {
                let pem = std::fs::read_to_string(path)
                    .with_context(|| format!("AZURE_CA_FILE {}: cannot read", path.display()))?;
                if !pem.contains("-----BEGIN CERTIFICATE-----") {
                    bail!("AZURE_CA_FILE {}: no PEM certificate in it", path.display());
                }
                Some(pem)
            }
        };
        let token = self
            .azure_static_token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let credentials = match self.azure_credentials.unwrap_or_default() {
            AzureCredentials::Static => match token {
                Some(t) => CredentialsChoice::Static(t.to_string()),
                None => bail!("AZURE_CREDENTIALS=static needs AZURE_STATIC_TOKEN"),
            },
            other => {
                if self.azure_static_token.is_some() {
                    bail!("AZURE_STATIC_TOKEN is only read with AZURE_CREDENTIALS=static");
                }
                if other == AzureCredentials::WorkloadIdentity {
                    let missing: Vec<&str> = WORKLOAD_IDENTITY_ENV
                        .iter()
                        .copied()
                        .filter(|v| env(v).is_none_or(|s| s.trim().is_empty()))
                        .collect();
                    if !missing.is_empty() {
                        bail!(
                            "AZURE_CREDENTIALS=workload-identity needs {} (the Workload Identity \
                             webhook injects them into pods labelled azure.workload.identity/use: \
                             \"true\"); or set AZURE_CREDENTIALS=managed-identity",
                            missing.join(", ")
                        );
                    }
                    CredentialsChoice::WorkloadIdentity
                } else {
                    CredentialsChoice::ManagedIdentity
                }
            }
        };
        Ok(AzureSettings {
            subscription: optional(
                "AZURE_SUBSCRIPTION_ID",
                &self.azure_subscription_id,
                &is_guid,
                "a subscription ID (a GUID)",
            )?,
            resource_group: optional(
                "AZURE_RESOURCE_GROUP",
                &self.azure_resource_group,
                &is_resource_group,
                "a resource group name (1-90 letters, digits, '_', '-', '.', '(', ')')",
            )?,
            location: optional(
                "AZURE_LOCATION",
                &self.azure_location,
                &|s: &str| {
                    s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                },
                "a region name (lowercase letters and digits, e.g. eastus)",
            )?,
            vnet: required("AZURE_VNET_NAME", &self.azure_vnet_name, 64, "VNet")?,
            subnet: required(
                "AZURE_SUBNET_NAME",
                &self.azure_subnet_name,
                80,
                "node subnet",
            )?,
            route_table: required(
                "AZURE_ROUTE_TABLE_NAME",
                &self.azure_route_table_name,
                80,
                "kubenet route table",
            )?,
            security_group: match self.azure_security_group_name.as_deref().map(str::trim) {
                None => None,
                Some("") => bail!(
                    "AZURE_SECURITY_GROUP_NAME is set but empty; unset it for the node subnet's"
                ),
                Some(s) if !is_resource_name(s, 80) => bail!(
                    "AZURE_SECURITY_GROUP_NAME {s:?} is not a resource name (1-80 letters, digits, '_', '-', '.')"
                ),
                Some(s) => Some(s.to_string()),
            },
            arm_endpoint: url(
                "AZURE_ARM_ENDPOINT",
                &self.azure_arm_endpoint,
                DEFAULT_ARM_ENDPOINT,
                true,
            )?,
            imds_endpoint: url(
                "AZURE_IMDS_ENDPOINT",
                &self.azure_imds_endpoint,
                DEFAULT_IMDS_ENDPOINT,
                false,
            )?,
            ca_pem,
            credentials,
        })
    }
}

impl AzureSettings {
    /// Whether IMDS must be asked (some of subscription, resource group, location unset).
    pub fn needs_imds(&self) -> bool {
        self.subscription.is_none() || self.resource_group.is_none() || self.location.is_none()
    }

    /// The backend's config: what the settings leave open from `instance` (IMDS's answer).
    pub fn config(
        &self,
        cluster: &str,
        instance: Option<&Instance>,
        budget: Option<&str>,
    ) -> anyhow::Result<AzureConfig> {
        let pick = |given: &Option<String>, name: &str, imds: fn(&Instance) -> &String| {
            given
                .clone()
                .or_else(|| instance.map(|i| imds(i).clone()))
                .with_context(|| format!("{name} is not set and IMDS was not asked"))
        };
        let instance = Instance {
            subscription_id: pick(&self.subscription, "AZURE_SUBSCRIPTION_ID", |i| {
                &i.subscription_id
            })?,
            resource_group_name: pick(&self.resource_group, "AZURE_RESOURCE_GROUP", |i| {
                &i.resource_group_name
            })?,
            location: pick(&self.location, "AZURE_LOCATION", |i| &i.location)?,
            name: String::new(),
            resource_id: String::new(),
            vm_size: String::new(),
        };
        let mut c = AzureConfig::new(
            &instance,
            &self.vnet,
            &self.subnet,
            &self.route_table,
            cluster,
        );
        c.endpoint = self.arm_endpoint.clone();
        c.security_group = self.security_group.clone();
        c.ca_pem = self.ca_pem.clone();
        c.credentials = self.credentials.clone();
        if let Some(b) = budget {
            c.budget = b.parse::<BudgetConfig>()?;
        }
        c.validate()?;
        Ok(c)
    }
}

/// Reads what IMDS says when the settings leave something open, then builds the config.
pub async fn resolve(
    settings: &AzureSettings,
    cluster: &str,
    budget: Option<&str>,
    undiscovered: &[&str],
) -> anyhow::Result<AzureConfig> {
    let instance = if settings.needs_imds() {
        let base = &settings.imds_endpoint;
        Some(
            cloudnet_azure::config::discover(base)
                .await
                .with_context(|| {
                    format!(
                        "{} not set, and IMDS at {base} is where they are found (off Azure, set them)",
                        undiscovered.join(", ")
                    )
                })?,
        )
    } else {
        None
    };
    settings.config(cluster, instance.as_ref(), budget)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        azure: AzureArgs,
    }

    fn parse(args: &[&str]) -> AzureArgs {
        T::try_parse_from(std::iter::once("t").chain(args.iter().copied()))
            .expect("parses")
            .azure
    }

    const NAMES: &[&str] = &[
        "--azure-vnet-name",
        "aks-vnet-1",
        "--azure-subnet-name",
        "aks-subnet",
        "--azure-route-table-name",
        "aks-rt",
    ];

    fn with(extra: &[&str]) -> AzureArgs {
        parse(&[NAMES, extra].concat())
    }

    fn wi_env(name: &str) -> Option<String> {
        WORKLOAD_IDENTITY_ENV
            .contains(&name)
            .then(|| "x".to_string())
    }

    fn err(a: &AzureArgs) -> String {
        a.settings("demo", wi_env).unwrap_err().to_string()
    }

    #[test]
    fn defaults_discover_and_use_workload_identity() {
        let a = with(&[]);
        let s = a.settings("demo", wi_env).expect("settings");
        assert_eq!(s.credentials, CredentialsChoice::WorkloadIdentity);
        assert_eq!(s.arm_endpoint, DEFAULT_ARM_ENDPOINT);
        assert_eq!(s.imds_endpoint, DEFAULT_IMDS_ENDPOINT);
        assert!(s.needs_imds());
        assert_eq!(s.security_group, None);
        assert_eq!(
            a.undiscovered(),
            [
                "AZURE_SUBSCRIPTION_ID",
                "AZURE_RESOURCE_GROUP",
                "AZURE_LOCATION"
            ]
        );
        let instance = Instance {
            subscription_id: "8f5d3c2a-1b4e-4c6d-9a7f-0e1d2c3b4a59".into(),
            resource_group_name: "MC_rg".into(),
            location: "eastus".into(),
            name: "vm".into(),
            resource_id: String::new(),
            vm_size: String::new(),
        };
        let c = s
            .config("demo", Some(&instance), Some("compute:mutate=2:10"))
            .expect("config");
        assert_eq!(
            (
                c.subscription.as_str(),
                c.resource_group.as_str(),
                c.location.as_str()
            ),
            ("8f5d3c2a-1b4e-4c6d-9a7f-0e1d2c3b4a59", "MC_rg", "eastus")
        );
        assert_eq!(
            (c.vnet.as_str(), c.subnet.as_str(), c.route_table.as_str()),
            ("aks-vnet-1", "aks-subnet", "aks-rt")
        );
        assert!(s.config("demo", None, None).is_err());
        assert!(s.config("demo", Some(&instance), Some("nonsense")).is_err());
    }

    #[test]
    fn given_values_win_over_imds() {
        let a = with(&[
            "--azure-subscription-id",
            "00000000-0000-4000-8000-000000000001",
            "--azure-resource-group",
            "MC_a_b_c",
            "--azure-location",
            "westeurope",
            "--azure-credentials",
            "static",
            "--azure-static-token",
            "t",
            "--azure-arm-endpoint",
            "https://127.0.0.1:4567/",
            "--azure-security-group-name",
            "aks-agentpool-1-nsg",
        ]);
        let s = a.settings("demo", |_| None).expect("settings");
        assert!(!s.needs_imds());
        assert!(a.undiscovered().is_empty());
        assert_eq!(s.credentials, CredentialsChoice::Static("t".into()));
        let c = s.config("demo", None, None).expect("config");
        assert_eq!(c.endpoint, "https://127.0.0.1:4567");
        assert_eq!(c.location, "westeurope");
        assert_eq!(c.security_group.as_deref(), Some("aks-agentpool-1-nsg"));
    }

    #[test]
    fn empty_and_invalid_values_are_refused_naming_the_variable() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--azure-subscription-id", " "],
                "AZURE_SUBSCRIPTION_ID is set but empty; unset it to read it from IMDS",
            ),
            (
                &["--azure-subscription-id", "my-sub"],
                "AZURE_SUBSCRIPTION_ID \"my-sub\" is not a subscription ID (a GUID)",
            ),
            (
                &["--azure-resource-group", "rg."],
                "AZURE_RESOURCE_GROUP \"rg.\"",
            ),
            (
                &["--azure-location", "East US"],
                "AZURE_LOCATION \"East US\"",
            ),
            (&["--azure-location", ""], "AZURE_LOCATION is set but empty"),
            (
                &["--azure-arm-endpoint", "http://127.0.0.1:4567"],
                "AZURE_ARM_ENDPOINT \"http://127.0.0.1:4567\" must be https://",
            ),
            (
                &["--azure-arm-endpoint", "not a url"],
                "AZURE_ARM_ENDPOINT \"not a url\"",
            ),
            (
                &["--azure-security-group-name", " "],
                "AZURE_SECURITY_GROUP_NAME is set but empty",
            ),
            (
                &["--azure-security-group-name", "nsg-"],
                "AZURE_SECURITY_GROUP_NAME \"nsg-\" is not a resource name",
            ),
            (
                &["--azure-imds-endpoint", "ftp://x"],
                "AZURE_IMDS_ENDPOINT \"ftp://x\"",
            ),
            (
                &["--azure-credentials", "static"],
                "AZURE_CREDENTIALS=static needs AZURE_STATIC_TOKEN",
            ),
            (
                &["--azure-static-token", "t"],
                "AZURE_STATIC_TOKEN is only read with AZURE_CREDENTIALS=static",
            ),
            (
                &["--azure-ca-file", "/nonexistent/ca.pem"],
                "AZURE_CA_FILE /nonexistent/ca.pem",
            ),
        ];
        for (args, want) in cases {
            let got = err(&with(args));
            assert!(got.starts_with(want), "{args:?}: {got}");
        }
        let got = err(&parse(&[
            "--azure-subnet-name",
            "s",
            "--azure-route-table-name",
            "r",
        ]));
        assert_eq!(got, "AZURE_VNET_NAME is not set (the cluster's VNet)");
        let got = err(&parse(&[
            "--azure-vnet-name",
            "v",
            "--azure-subnet-name=-bad",
            "--azure-route-table-name",
            "r",
        ]));
        assert!(
            got.starts_with("AZURE_SUBNET_NAME \"-bad\" is not a resource name"),
            "{got}"
        );
        let got = with(&[]).settings("", wi_env).unwrap_err().to_string();
        assert_eq!(got, "CLUSTER_NAME is empty");
        let got = with(&[]).settings("a_b", wi_env).unwrap_err().to_string();
        assert!(got.starts_with("CLUSTER_NAME \"a_b\""), "{got}");
    }

    #[test]
    fn workload_identity_names_what_the_webhook_did_not_inject() {
        let got = with(&[])
            .settings("demo", |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            got.starts_with(
                "AZURE_CREDENTIALS=workload-identity needs AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE"
            ),
            "{got}"
        );
        let s = with(&["--azure-credentials", "managed-identity"])
            .settings("demo", |_| None)
            .expect("managed identity needs nothing injected");
        assert_eq!(s.credentials, CredentialsChoice::ManagedIdentity);
    }

    #[test]
    fn a_ca_file_is_read() {
        let dir = std::env::temp_dir().join(format!("cloudnet-azure-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("ca.pem");
        std::fs::write(
            &good,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let bad = dir.join("bad.pem");
        std::fs::write(&bad, "hello").unwrap();
        let s = with(&["--azure-ca-file", good.to_str().unwrap()])
            .settings("demo", wi_env)
            .expect("settings");
        assert!(s.ca_pem.is_some_and(|p| p.contains("MIIB")));
        let got = err(&with(&["--azure-ca-file", bad.to_str().unwrap()]));
        assert!(got.ends_with("no PEM certificate in it"), "{got}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_and_guids() {
        assert!(is_guid("8f5d3c2a-1b4e-4c6d-9a7f-0e1d2c3b4a59"));
        assert!(!is_guid("8f5d3c2a-1b4e-4c6d-9a7f-0e1d2c3b4a5"));
        assert!(!is_guid("8f5d3c2a1b4e4c6d9a7f0e1d2c3b4a59"));
        assert!(is_resource_name("aks-vnet-12345678", 64));
        assert!(is_resource_name("a_", 80));
        assert!(!is_resource_name("a-", 80));
        assert!(!is_resource_name(".a", 80));
        assert!(!is_resource_name(&"a".repeat(65), 64));
    }
}
