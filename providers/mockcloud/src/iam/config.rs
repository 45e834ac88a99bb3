//! The world file's `iam` section: who is who, and what each role may do.
//!
//! ```yaml
//! iam:
//!   access_keys:                 # access key id -> role
//!     AKIDCONTROLLER: cloudnet-controller
//!   roles:
//!     cloudnet-controller:
//!       policies:
//!         - file: ../../deploy/iam/aws/controller-policy.json   # relative to the world file
//!     cloudnet-node:
//!       policies:
//!         - document: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "ec2:Describe*", Resource: "*"}]}
//!   instance_roles:              # instance id -> role; "*" for every other instance
//!     "*": cloudnet-node
//! ```
//!
//! Without the section every call is allowed. With it, every EC2 and ELBv2 call is evaluated
//! against its caller's role (see [`super::Iam`]); an instance's metadata service hands out
//! credentials of its role.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamSpec {
    /// Access key id -> role name.
    #[serde(default)]
    pub access_keys: BTreeMap<String, String>,
    /// Role name -> its policies.
    #[serde(default)]
    pub roles: BTreeMap<String, RoleSpec>,
    /// Instance id (or `*` for any other instance) -> the role of its instance profile.
    #[serde(default)]
    pub instance_roles: BTreeMap<String, String>,
    /// The directory `file:` policies are read relative to (the world file's; set by
    /// [`crate::World::load`], the working directory otherwise).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    pub policies: Vec<PolicySource>,
}

/// A policy document, inline or in a file (exactly one of the two).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<serde_json::Value>,
}

/// The controller's policy as shipped in `deploy/iam/aws/controller-policy.json`.
pub const CONTROLLER_POLICY: &str =
    include_str!("../../../../deploy/iam/aws/controller-policy.json");
/// The node instance role's policy as shipped in `deploy/iam/aws/node-policy.json`.
pub const NODE_POLICY: &str = include_str!("../../../../deploy/iam/aws/node-policy.json");
/// The role name of the controller in [`IamSpec::shipped`].
pub const CONTROLLER_ROLE: &str = "cloudnet-controller";
/// The role name of every instance in [`IamSpec::shipped`].
pub const NODE_ROLE: &str = "cloudnet-node";
/// The role of [`IamSpec::shipped`]'s `admin_keys`: everything allowed (test set-up, an
/// operator's own calls).
pub const ADMIN_ROLE: &str = "admin";

impl PolicySource {
    /// An inline document from JSON text.
    pub fn inline(json: &str) -> PolicySource {
        PolicySource {
            file: None,
            document: serde_json::from_str(json).ok(),
        }
    }
}

impl IamSpec {
    /// IAM as `deploy/iam` ships it: `controller_keys` act as the controller role (the
    /// controller policy), every instance's metadata credentials as the node role (the node
    /// policy), and `admin_keys` may do anything.
    pub fn shipped(controller_keys: &[&str], admin_keys: &[&str]) -> IamSpec {
        let mut access_keys = BTreeMap::new();
        for k in controller_keys {
            access_keys.insert(k.to_string(), CONTROLLER_ROLE.to_string());
        }
        for k in admin_keys {
            access_keys.insert(k.to_string(), ADMIN_ROLE.to_string());
        }
        let role = |json: &str| RoleSpec {
            policies: vec![PolicySource::inline(json)],
        };
        IamSpec {
            access_keys,
            roles: BTreeMap::from([
                (CONTROLLER_ROLE.to_string(), role(CONTROLLER_POLICY)),
                (NODE_ROLE.to_string(), role(NODE_POLICY)),
                (
                    ADMIN_ROLE.to_string(),
                    role(
                        r#"{"Version":"2012-10-17","Statement":[{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}]}"#,
                    ),
                ),
            ]),
            instance_roles: BTreeMap::from([("*".to_string(), NODE_ROLE.to_string())]),
            base_dir: None,
        }
    }
}
