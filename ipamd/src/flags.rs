//! `cloudnet-ipamd`'s flags (most also an environment variable). In the library so that the
//! Helm chart's tests parse the chart's rendered arguments with the binary's own parser.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "cloudnet-ipamd",
    version,
    about = "cloudnet's node IPAM daemon"
)]
pub struct Args {
    /// This node's name (the NodeNetwork and the pods' spec.nodeName).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,
    #[arg(
        long,
        env = "IPAMD_SOCKET",
        default_value = "/run/cloudnet/ipamd/ipamd.sock"
    )]
    pub socket: PathBuf,
    /// The checkpoint; by default on tmpfs (/run): it must outlive an ipamd restart, not a
    /// reboot, and an fsync there costs microseconds, not the disk's milliseconds.
    #[arg(
        long,
        env = "IPAMD_CHECKPOINT",
        default_value = "/run/cloudnet/checkpoint/ipam.json"
    )]
    pub checkpoint: PathBuf,
    /// Introspection, /metrics and health.
    #[arg(long, env = "IPAMD_INTROSPECTION", default_value = "127.0.0.1:61679")]
    pub introspection: SocketAddr,
    /// Seconds a freed address cools before reuse or offer.
    #[arg(long, env = "IP_COOLDOWN_PERIOD", default_value_t = 30)]
    pub ip_cooldown_period: u64,
    /// WARM_IP_TARGET used when the NodeNetwork's pool policy sets none.
    #[arg(long, env = "WARM_IP_TARGET")]
    pub warm_ip_target: Option<u32>,
    /// The instance metadata service.
    #[arg(long, env = "IMDS_ENDPOINT", default_value = "http://169.254.169.254")]
    pub imds_endpoint: String,
    /// Names the instance to a mock metadata service that serves several (either cloud's;
    /// on GCP `zones/<zone>/instances/<name>`).
    #[arg(long, env = "IMDS_INSTANCE_ID")]
    pub imds_instance_id: Option<String>,
    /// The cloud whose metadata service the node reads: `aws` (IMDSv2), `gcp` (the GCE
    /// metadata server, at `GCE_METADATA_HOST`) or `azure` (IMDS at `AZURE_IMDS_ENDPOINT`).
    #[arg(long = "provider", env = "CLOUD_PROVIDER", default_value = "aws", value_parser = ["aws", "gcp", "azure"])]
    pub provider: String,
    /// Azure's instance metadata service.
    #[arg(long, env = "AZURE_IMDS_ENDPOINT", default_value = crate::azure_metadata::IMDS_ENDPOINT)]
    pub azure_imds_endpoint: String,
    /// The GCE metadata server's host (and port), as the client libraries take it.
    #[arg(long, env = "GCE_METADATA_HOST", default_value = crate::gce_metadata::METADATA_HOST)]
    pub gce_metadata_host: String,
    #[arg(long, default_value_t = 5)]
    pub sync_interval_seconds: u64,
    /// Emit JSON logs.
    #[arg(long, env = "IPAMD_JSON_LOGS")]
    pub json_logs: bool,
}
