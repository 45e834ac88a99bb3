//! The provider's load balancers on a mock cloud, with the calls of their one network client
//! counted: what the load balancer and Application Gateway suites start from (each includes
//! this file next to `common`).

#![allow(dead_code)]

use std::fmt::Debug;
use std::sync::Arc;

use azure_mgmt_network::models::{ApplicationGateway, PublicIpAddress};
use cloudnet_azure::client::network_client;
use cloudnet_azure::{AzureConfig, AzureLoadBalancers, CallPolicy};
use cloudnet_mockcloud::Handle;
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

use crate::common::{config, gateway_subnet, start, wide_budget};

/// The ARM operation of a gateway PUT, as the mock logs it.
pub const GW_WRITE: &str = "Microsoft.Network/applicationGateways/write";

/// The mock cloud, the provider's config on it, its network client with that client's call
/// policy (the counts), and the provider's load balancers on that client.
pub struct LbWorld {
    pub h: Handle,
    pub cfg: Arc<AzureConfig>,
    pub client: azure_mgmt_network::Client,
    pub policy: CallPolicy,
    pub lbs: AzureLoadBalancers,
}

impl LbWorld {
    /// On the mock's default Azure world.
    pub async fn new() -> Self {
        Self::on(start(|_| {}).await).await
    }

    /// On the default world with the dedicated subnet an Application Gateway needs, as a user
    /// makes it before the first Ingress.
    pub async fn with_gateway_subnet() -> Self {
        Self::with_gateway_subnet_on(start(|_| {}).await).await
    }

    /// On the world `h` serves, with the gateway subnet.
    pub async fn with_gateway_subnet_on(h: Handle) -> Self {
        let w = Self::on(h).await;
        gateway_subnet(&w.client, &w.cfg).await;
        w
    }

    /// On the world `h` serves.
    pub async fn on(h: Handle) -> Self {
        let cfg = Arc::new(config(&h).await);
        let (client, policy) = network_client(&cfg, wide_budget()).unwrap();
        let lbs = AzureLoadBalancers::new(client.clone(), cfg.clone());
        LbWorld {
            h,
            cfg,
            client,
            policy,
            lbs,
        }
    }

    /// The client's mutating calls so far.
    pub fn mutating(&self) -> u64 {
        self.policy.counts.mutating()
    }

    /// Asserts `want` mutating calls since the count was `before`; shows every count otherwise.
    #[track_caller]
    pub fn assert_mutating_since(&self, before: u64, want: u64, what: &str) {
        assert_eq!(
            self.mutating() - before,
            want,
            "{what}: {:?}",
            self.policy.counts.snapshot()
        );
    }

    /// (Application Gateways, public IPs) in the resource group, as ARM lists them.
    pub async fn gateways_and_pips(&self) -> (usize, usize) {
        let (rg, sub) = (&self.cfg.resource_group, &self.cfg.subscription);
        let gateways = self.client.application_gateways_client().list(rg, sub);
        let pips = self.client.public_ip_addresses_client().list(rg, sub);
        (
            listed(gateways.into_stream(), |p| p.value.len()).await,
            listed(pips.into_stream(), |p| p.value.len()).await,
        )
    }

    /// The gateway `name` as ARM returns it.
    pub async fn gateway(&self, name: &str) -> ApplicationGateway {
        self.client
            .application_gateways_client()
            .get(&self.cfg.resource_group, name, &self.cfg.subscription)
            .await
            .unwrap()
    }

    /// The gateway `name` as JSON.
    pub async fn gateway_json(&self, name: &str) -> Value {
        serde_json::to_value(self.gateway(name).await).unwrap()
    }

    /// Someone else's gateway `gw` under `name` with its static public IP `{name}-pip` (with
    /// `pip_tags`, if any), PUT straight through ARM.
    pub async fn put_foreign_gateway(
        &self,
        name: &str,
        gw: ApplicationGateway,
        pip_tags: Option<Value>,
    ) {
        let mut pip = json!({
            "location": self.cfg.location, "sku": {"name": "Standard"},
            "properties": {"publicIPAllocationMethod": "Static"},
        });
        if let Some(tags) = pip_tags {
            pip["tags"] = tags;
        }
        let pip: PublicIpAddress = serde_json::from_value(pip).unwrap();
        let (rg, sub) = (&self.cfg.resource_group, &self.cfg.subscription);
        self.client
            .public_ip_addresses_client()
            .create_or_update(rg, format!("{name}-pip"), pip, sub)
            .await
            .unwrap();
        self.client
            .application_gateways_client()
            .create_or_update(rg, name, gw, sub)
            .await
            .unwrap();
    }
}

/// The sum of `count` over every page of an ARM list.
pub async fn listed<P, E: Debug>(
    pages: impl Stream<Item = Result<P, E>>,
    count: impl Fn(&P) -> usize,
) -> usize {
    let counts = pages.map(|page| count(&page.expect("a page of the list")));
    counts.fold(0, |sum, n| async move { sum + n }).await
}
