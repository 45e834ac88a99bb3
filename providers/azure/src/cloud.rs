//! The Azure backend connected, as the controllers hold it: [`AzureAddresses`],
//! [`AzureRoutes`] and [`AzureLoadBalancers`] on one Network client, so every call of the
//! three goes through one [`CallPolicy`]: one rate budget, one set of counts.
//!
//! ```text
//!  AzureConfig ─> network_client (one budget) ─┬─> AzureAddresses ─┐
//!                                              ├─> AzureRoutes    ─┼─> cloudnet_core::Cloud
//!                                              └─> AzureLoadBalancers
//! ```
//!
//! Subscription, resource group and location are the config's: a caller that runs on an
//! Azure VM fills them in from IMDS first ([`crate::config::discover`]).

use std::sync::Arc;

use cloudnet_core::{Cloud, RateBudget};

use crate::addresses::AzureAddresses;
use crate::call::{CallCounts, CallPolicy};
use crate::client::{compute_client, network_client};
use crate::config::AzureConfig;
use crate::error::ConfigResult;
use crate::lb::AzureLoadBalancers;
use crate::routes::AzureRoutes;

/// The three backends on one client. Cloning is cheap (and shares the budget and counts).
#[derive(Clone)]
pub struct AzureCloud {
    pub addresses: AzureAddresses,
    pub routes: AzureRoutes,
    pub load_balancers: AzureLoadBalancers,
    /// The policy every request of the three goes through.
    pub policy: CallPolicy,
    pub config: Arc<AzureConfig>,
}

impl AzureCloud {
    /// Checks the config and builds the client, with a budget from `config.budget`. Makes no
    /// call: a wrong name or credential shows at the first request.
    pub fn connect(config: AzureConfig) -> ConfigResult<AzureCloud> {
        let budget = RateBudget::new(&config.budget);
        AzureCloud::with_budget(config, budget)
    }

    /// As [`AzureCloud::connect`], on a budget the caller holds (tests, benches).
    pub fn with_budget(config: AzureConfig, budget: RateBudget) -> ConfigResult<AzureCloud> {
        let (client, policy) = network_client(&config, budget)?;
        let compute = compute_client(&config, &policy)?;
        let config = Arc::new(config);
        Ok(AzureCloud {
            addresses: AzureAddresses::new(client.clone(), compute, config.clone()),
            routes: AzureRoutes::new(client.clone(), config.clone()),
            load_balancers: AzureLoadBalancers::new(client, config.clone()),
            policy,
            config,
        })
    }

    /// The calls made so far by all three, by RBAC operation.
    pub fn counts(&self) -> &CallCounts {
        &self.policy.counts
    }

    /// The three traits, as the controllers hold them.
    pub fn cloud(&self) -> Cloud {
        Cloud {
            addresses: Arc::new(self.addresses.clone()),
            routes: Arc::new(self.routes.clone()),
            load_balancers: Arc::new(self.load_balancers.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{CredentialsChoice, Instance};

    use super::*;

    fn instance() -> Instance {
        Instance {
            subscription_id: "sub".into(),
            resource_group_name: "MC_rg_demo_westeurope".into(),
            location: "westeurope".into(),
            name: "vm".into(),
            resource_id: "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm".into(),
            vm_size: String::new(),
        }
    }

    #[test]
    fn connect_checks_the_config_before_any_call() {
        let mut cfg = AzureConfig::new(&instance(), "vnet", "subnet", "rt", "demo");
        cfg.credentials = CredentialsChoice::Static("t".into());
        let cloud = AzureCloud::connect(cfg.clone()).expect("a valid config connects");
        assert_eq!(cloud.counts().total(), 0);
        let _ = cloud.cloud();
        cfg.vnet = " ".into();
        let e = AzureCloud::connect(cfg)
            .err()
            .expect("an empty VNet is refused");
        assert!(e.to_string().contains("vnet is empty"), "{e}");
    }
}
