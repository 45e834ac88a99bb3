//! Which cloud `cloudnet-controller` talks to (`--provider`, `CLOUD_PROVIDER`), and the GCP
//! backend's settings (the Azure ones are [`crate::azure_flags`]). Flattened into
//! [`crate::flags::Args`]; the AWS settings are the flags there (`AWS_REGION`, `VPC_ID`, ...).
//! A setting of a cloud other than the chosen one is refused, naming it.
//!
//! On GCP, project, region and network come from the flags when given, else from the GCE
//! metadata server of the VM the controller runs on (as cloud-provider-gcp finds them);
//! credentials come from the client library's chain (Application Default Credentials, which
//! on GKE is Workload Identity through the metadata server).

use std::time::Duration;

use anyhow::bail;

/// The cloud the controllers run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CloudProvider {
    /// EC2 and ELBv2 through the AWS SDK.
    #[default]
    Aws,
    /// Compute Engine through the Google Cloud client library.
    Gcp,
    /// Azure Resource Manager's Network provider through `azure_mgmt_network`.
    Azure,
}

impl CloudProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            CloudProvider::Aws => "aws",
            CloudProvider::Gcp => "gcp",
            CloudProvider::Azure => "azure",
        }
    }
}

/// `--gcp-credentials`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum GcpCredentials {
    /// Application Default Credentials (a key file, gcloud's ADC, else the metadata server:
    /// GKE Workload Identity).
    #[default]
    Default,
    /// The metadata server's token directly.
    MetadataServer,
    /// None (the mock cloud, emulators).
    Anonymous,
}

/// The GCP settings as checked; `None`: discovered from the metadata server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpSettings {
    pub project: Option<String>,
    pub region: Option<String>,
    pub network: Option<String>,
    pub compute_endpoint: Option<String>,
    pub metadata_endpoint: Option<String>,
    pub credentials: GcpCredentials,
    pub pod_range_name: String,
    pub node_prefix_len: u8,
}

/// The cloud choice and the GCP backend's settings.
#[derive(Debug, Clone, clap::Args)]
pub struct CloudArgs {
    /// The cloud: `aws`, `gcp` or `azure`.
    #[arg(long = "provider", env = "CLOUD_PROVIDER", value_enum, default_value_t = CloudProvider::Aws)]
    pub provider: CloudProvider,
    /// GCP: the project; default: the metadata server's `project/project-id`.
    #[arg(long, env = "GCP_PROJECT")]
    pub gcp_project: Option<String>,
    /// GCP: the region; default: the region of the metadata server's `instance/zone`.
    #[arg(long, env = "GCP_REGION")]
    pub gcp_region: Option<String>,
    /// GCP: the VPC network's name; default: the network of the VM's first interface.
    #[arg(long, env = "GCP_NETWORK")]
    pub gcp_network: Option<String>,
    /// GCP: the Compute Engine endpoint (the mock cloud, a Private Service Connect endpoint);
    /// default `https://compute.googleapis.com`.
    #[arg(long, env = "GCP_COMPUTE_ENDPOINT")]
    pub gcp_compute_endpoint: Option<String>,
    /// GCP: the metadata server's root; default `GCE_METADATA_HOST`, else
    /// `http://metadata.google.internal`.
    #[arg(long, env = "GCP_METADATA_ENDPOINT")]
    pub gcp_metadata_endpoint: Option<String>,
    /// GCP: where credentials come from.
    #[arg(long, env = "GCP_CREDENTIALS", value_enum, default_value_t = GcpCredentials::Default)]
    pub gcp_credentials: GcpCredentials,
    /// GCP: the subnetwork secondary range nodes' pod ranges come from (GKE: `pods`).
    #[arg(long, env = "GCP_POD_RANGE_NAME", default_value = "pods")]
    pub gcp_pod_range_name: String,
    /// GCP: the prefix length of each node's pod range (GKE's default /24: 110 pods).
    #[arg(long, env = "GCP_NODE_POD_PREFIX_LENGTH", default_value_t = 24)]
    pub gcp_node_pod_prefix_length: u8,
    /// The Azure settings (`AZURE_*`).
    #[command(flatten)]
    pub azure: crate::azure_flags::AzureArgs,
}

impl CloudArgs {
    /// The GCP settings given, by their variable names (to refuse them on AWS).
    fn gcp_settings_given(&self) -> Vec<&'static str> {
        [
            ("GCP_PROJECT", self.gcp_project.is_some()),
            ("GCP_REGION", self.gcp_region.is_some()),
            ("GCP_NETWORK", self.gcp_network.is_some()),
            ("GCP_COMPUTE_ENDPOINT", self.gcp_compute_endpoint.is_some()),
            (
                "GCP_METADATA_ENDPOINT",
                self.gcp_metadata_endpoint.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    /// Refuses settings of the other clouds: `aws_given` are the AWS settings set (by their
    /// variable names). A setting that would be ignored is an error, not a surprise.
    pub fn check(&self, aws_given: &[&'static str]) -> anyhow::Result<()> {
        let gcp_given = self.gcp_settings_given();
        let azure_given = self.azure.given();
        match self.provider {
            CloudProvider::Aws => {
                if let Some(name) = gcp_given.first() {
                    bail!(
                        "{name} is a GCP setting; set CLOUD_PROVIDER=gcp (--provider gcp) to use it"
                    );
                }
            }
            CloudProvider::Gcp => {
                if let Some(name) = aws_given.first() {
                    let instead = match *name {
                        "AWS_REGION" => "GCP_REGION",
                        "VPC_ID" => "GCP_NETWORK",
                        "AWS_ENDPOINT_URL" => "GCP_COMPUTE_ENDPOINT",
                        _ => "the GCP_* settings",
                    };
                    bail!("{name} is an AWS setting and CLOUD_PROVIDER is gcp; use {instead}");
                }
            }
            CloudProvider::Azure => {
                if let Some(name) = aws_given.first() {
                    let instead = match *name {
                        "AWS_REGION" => "AZURE_LOCATION",
                        "VPC_ID" => "AZURE_VNET_NAME",
                        "AWS_ENDPOINT_URL" => "AZURE_ARM_ENDPOINT",
                        "ROUTE_TABLE_IDS" => "AZURE_ROUTE_TABLE_NAME",
                        _ => "the AZURE_* settings",
                    };
                    bail!("{name} is an AWS setting and CLOUD_PROVIDER is azure; use {instead}");
                }
                if let Some(name) = gcp_given.first() {
                    bail!(
                        "{name} is a GCP setting and CLOUD_PROVIDER is azure; use the AZURE_* settings"
                    );
                }
            }
        }
        if self.provider != CloudProvider::Azure
            && let Some(name) = azure_given.first()
        {
            bail!(
                "{name} is an Azure setting; set CLOUD_PROVIDER=azure (--provider azure) to use it"
            );
        }
        Ok(())
    }

    /// The GCP settings, checked (empty values and sizes GKE does not take are refused).
    pub fn gcp_settings(&self, cluster: &str) -> anyhow::Result<GcpSettings> {
        if cluster.trim().is_empty() {
            bail!("CLUSTER_NAME is empty");
        }
        let len = self.gcp_node_pod_prefix_length;
        if !(16..=28).contains(&len) {
            bail!("GCP_NODE_POD_PREFIX_LENGTH must be 16 to 28 (GKE's range), not {len}");
        }
        if self.gcp_pod_range_name.trim().is_empty() {
            bail!("GCP_POD_RANGE_NAME is empty (GKE names it `pods`)");
        }
        let nonempty = |name: &str, v: &Option<String>| -> anyhow::Result<Option<String>> {
            match v.as_deref().map(str::trim) {
                Some("") => bail!("{name} is set but empty; unset it to discover it"),
                other => Ok(other.map(str::to_string)),
            }
        };
        Ok(GcpSettings {
            project: nonempty("GCP_PROJECT", &self.gcp_project)?,
            region: nonempty("GCP_REGION", &self.gcp_region)?,
            network: nonempty("GCP_NETWORK", &self.gcp_network)?,
            compute_endpoint: nonempty("GCP_COMPUTE_ENDPOINT", &self.gcp_compute_endpoint)?,
            metadata_endpoint: nonempty("GCP_METADATA_ENDPOINT", &self.gcp_metadata_endpoint)?,
            credentials: self.gcp_credentials,
            pod_range_name: self.gcp_pod_range_name.trim().to_string(),
            node_prefix_len: len,
        })
    }

    /// What is missing when the metadata server cannot fill it in, for the error message.
    pub fn undiscovered(&self) -> Vec<&'static str> {
        [
            ("GCP_PROJECT", self.gcp_project.is_none()),
            ("GCP_REGION", self.gcp_region.is_none()),
            ("GCP_NETWORK", self.gcp_network.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, missing)| missing.then_some(name))
        .collect()
    }
}

/// How long the controller waits for the metadata server before saying what to set.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(3);

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        cloud: CloudArgs,
    }

    fn parse(args: &[&str]) -> CloudArgs {
        T::try_parse_from(std::iter::once("t").chain(args.iter().copied()))
            .expect("parses")
            .cloud
    }

    #[test]
    fn aws_is_the_default_and_refuses_gcp_settings() {
        let a = parse(&[]);
        assert_eq!(a.provider, CloudProvider::Aws);
        assert!(a.check(&["AWS_REGION"]).is_ok());
        let e = parse(&["--gcp-project", "p"]).check(&[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "GCP_PROJECT is a GCP setting; set CLOUD_PROVIDER=gcp (--provider gcp) to use it"
        );
    }

    #[test]
    fn gcp_refuses_aws_settings_and_names_the_gcp_one() {
        let a = parse(&["--provider", "gcp"]);
        assert!(a.check(&[]).is_ok());
        let e = a.check(&["VPC_ID"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "VPC_ID is an AWS setting and CLOUD_PROVIDER is gcp; use GCP_NETWORK"
        );
    }

    #[test]
    fn azure_refuses_the_other_clouds_settings_and_they_refuse_azures() {
        let a = parse(&["--provider", "azure"]);
        assert_eq!(a.provider.as_str(), "azure");
        assert!(a.check(&[]).is_ok());
        assert_eq!(
            a.check(&["VPC_ID"]).unwrap_err().to_string(),
            "VPC_ID is an AWS setting and CLOUD_PROVIDER is azure; use AZURE_VNET_NAME"
        );
        assert_eq!(
            a.check(&["ROUTE_TABLE_IDS"]).unwrap_err().to_string(),
            "ROUTE_TABLE_IDS is an AWS setting and CLOUD_PROVIDER is azure; use AZURE_ROUTE_TABLE_NAME"
        );
        let e = parse(&["--provider", "azure", "--gcp-region", "r"])
            .check(&[])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "GCP_REGION is a GCP setting and CLOUD_PROVIDER is azure; use the AZURE_* settings"
        );
        for provider in ["aws", "gcp"] {
            let e = parse(&["--provider", provider, "--azure-location", "eastus"])
                .check(&[])
                .unwrap_err();
            assert_eq!(
                e.to_string(),
                "AZURE_LOCATION is an Azure setting; set CLOUD_PROVIDER=azure (--provider azure) to use it"
            );
        }
    }

    #[test]
    fn the_gcp_config_carries_the_flags() {
        let a = parse(&[
            "--provider",
            "gcp",
            "--gcp-project",
            "p",
            "--gcp-region",
            "us-central1",
            "--gcp-compute-endpoint",
            "http://127.0.0.1:1",
            "--gcp-credentials",
            "anonymous",
            "--gcp-node-pod-prefix-length",
            "26",
        ]);
        let c = a.gcp_settings("c1").expect("settings");
        assert_eq!(c.project.as_deref(), Some("p"));
        assert_eq!(c.region.as_deref(), Some("us-central1"));
        assert_eq!(c.network, None);
        assert_eq!(c.compute_endpoint.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(c.credentials, GcpCredentials::Anonymous);
        assert_eq!((c.pod_range_name.as_str(), c.node_prefix_len), ("pods", 26));
        assert_eq!(a.undiscovered(), vec!["GCP_NETWORK"]);
    }

    #[test]
    fn bad_gcp_settings_are_named() {
        let e = parse(&["--provider", "gcp", "--gcp-node-pod-prefix-length", "30"])
            .gcp_settings("c")
            .unwrap_err();
        assert!(e.to_string().contains("GCP_NODE_POD_PREFIX_LENGTH"), "{e}");
        let e = parse(&["--provider", "gcp", "--gcp-project", " "])
            .gcp_settings("c")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "GCP_PROJECT is set but empty; unset it to discover it"
        );
        let e = parse(&["--provider", "gcp"]).gcp_settings("").unwrap_err();
        assert_eq!(e.to_string(), "CLUSTER_NAME is empty");
    }
}
