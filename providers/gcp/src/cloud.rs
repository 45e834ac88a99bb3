//! The GCP backend connected, as the controllers hold it: [`GcpProvider`] serves
//! [`cloudnet_core::Addresses`] and [`cloudnet_core::Routes`], [`GcpLoadBalancers`] (on the same
//! provider: one budget, one set of counts) serves [`cloudnet_core::LoadBalancers`].

use std::sync::Arc;

use cloudnet_core::Cloud;

use crate::config::GcpConfig;
use crate::error::ConfigResult;
use crate::lb::GcpLoadBalancers;
use crate::provider::GcpProvider;

/// The provider and the load balancers on it. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct GcpCloud {
    pub provider: GcpProvider,
    pub load_balancers: GcpLoadBalancers,
}

impl GcpCloud {
    /// Resolves the location (the metadata server answers what the config leaves open) and
    /// builds every client.
    pub async fn connect(config: GcpConfig) -> ConfigResult<GcpCloud> {
        let provider = GcpProvider::connect(config).await?;
        let load_balancers = GcpLoadBalancers::new(provider.clone()).await?;
        Ok(GcpCloud {
            provider,
            load_balancers,
        })
    }

    /// The three traits, as the controllers hold them.
    pub fn cloud(&self) -> Cloud {
        Cloud {
            addresses: Arc::new(self.provider.clone()),
            routes: Arc::new(self.provider.clone()),
            load_balancers: Arc::new(self.load_balancers.clone()),
        }
    }
}
