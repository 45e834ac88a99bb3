//! cloudnet's node side of pod IPAM: `cloudnet-ipamd`, the daemon that keeps the node's pool
//! of pod addresses, and `cloudnet-cni`, the CNI plugin that asks it for one.
//!
//! ```text
//!  kubelet -> cloudnet-cni --gRPC, unix socket--> cloudnet-ipamd --spec.inUse/release--> NodeNetwork
//!              | veth, /32, routes (netlink)        |  ^ status.interfaces (allocator)
//!              v                                    |  '-- instance metadata (IMDSv2)
//!          pod netns                          checkpoint (fsync'd, versioned, checksummed)
//! ```
//!
//! The node holds no cloud credentials: an allocator in the controller grows and shrinks
//! the pool through the node's `NodeNetwork`. ipamd hands out an address only when that
//! status and the instance metadata agree it is on this node ([`pool`]). On GCE the instance
//! metadata is the GCE metadata server's ([`gce_metadata`]): the node's pod range is an alias
//! range of its interface. On Azure it is IMDS's network document ([`azure_metadata`]): each
//! pod address is an ipConfiguration of the node's NIC, matched to the status by MAC.

pub mod azure_metadata;
pub mod checkpoint;
pub mod cni;
pub mod core;
pub mod daemon;
pub mod error;
pub mod flags;
pub mod fsutil;
pub mod gce_metadata;
pub mod http;
pub mod journal;
pub mod metadata;
pub mod metrics;
pub mod netlink;
pub mod node;
pub mod orphans;
pub mod pool;
pub mod recovery;
pub mod report;
pub mod rpc;
pub mod state;
pub mod timing;

pub use error::{Error, Result};
pub use rpc::Client;
pub use state::PodRef;
