//! The provider: SDK clients, the shared call path, and small caches of what never (or
//! rarely) changes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::imds::region::ImdsRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::retry::RetryConfig;
use cloudnet_core::{AddressLimits, Cloud, Interface, RateBudget, Scheme};

use std::error::Error as StdError;
use std::future::Future;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::call::{Caller, ThrottleClassifier};
use crate::config::{AwsConfig, InstanceIdentity, discover_instance, imds_client};
use crate::error::{ConfigError, ConfigResult};
use crate::metrics::AwsMetrics;
use crate::ops::AwsOp;

/// The AWS backend: implements [`cloudnet_core::Addresses`], [`cloudnet_core::Routes`] and
/// [`cloudnet_core::LoadBalancers`]. Clones share clients, budget, metrics and caches.
#[derive(Clone)]
pub struct AwsProvider {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub caller: Caller,
    pub vpc_id: String,
    /// What instance metadata said, when the provider was set up from it.
    pub instance: Option<InstanceIdentity>,
    pub config: AwsConfig,
    pub cache: Caches,
}

/// A node's facts that do not change while it runs.
#[derive(Debug, Clone)]
pub(crate) struct InstanceFacts {
    pub instance_type: String,
    pub limits: AddressLimits,
    /// The primary interface's security groups: new interfaces get the same.
    pub security_groups: Vec<String>,
}

/// A target group as `sync_targets` needs it.
#[derive(Debug, Clone)]
pub(crate) struct GroupRef {
    pub arn: String,
    pub target_type: String,
}

/// The cluster's route tables and their routes as last read, with the provider's own route
/// writes applied since (see [`crate::routes`]).
#[derive(Debug, Clone)]
pub(crate) struct RouteView {
    pub at: Instant,
    pub tables: std::collections::BTreeSet<String>,
    pub routes:
        HashMap<(String, ipnet::IpNet), (cloudnet_core::RouteTarget, cloudnet_core::RouteState)>,
}

#[derive(Default)]
pub(crate) struct Caches {
    pub instance_types: Mutex<HashMap<String, AddressLimits>>,
    pub instances: Mutex<HashMap<String, InstanceFacts>>,
    pub subnet_cidrs: Mutex<HashMap<String, ipnet::IpNet>>,
    pub lb_subnets: Mutex<HashMap<Scheme, (Instant, Vec<String>)>>,
    /// Held while subnets are discovered, so concurrent ensures share one lookup.
    pub lb_subnets_lookup: tokio::sync::Mutex<()>,
    pub vpc_cidrs: Mutex<Option<(Instant, Vec<String>)>>,
    /// Held while the VPC's CIDRs are read, so concurrent ensures share one read.
    pub vpc_cidrs_lookup: tokio::sync::Mutex<()>,
    /// `(load balancer ARN, group key)` -> target group.
    pub groups: Mutex<HashMap<(String, String), GroupRef>>,
    /// Interfaces we created, per instance, until Describe shows them.
    pub recent_interfaces: Mutex<HashMap<String, Vec<(Instant, Interface)>>>,
    /// Device indexes in use and held by attaches in flight, per instance.
    pub device_indexes: crate::device_index::IndexBook,
    /// Instances whose source/destination check we turned off.
    pub source_dest_off: Mutex<HashSet<String>>,
    /// The shared backend security group and the nodes' group's rules as last read or written; held
    /// while they are checked or changed, so concurrent ensures create one group and one rule.
    pub backend: tokio::sync::Mutex<Option<crate::sg::BackendState>>,
    /// The cluster's route tables as last read, for route writes.
    pub route_view: Mutex<Option<RouteView>>,
    /// Node IP -> instance ID, for instance targets.
    pub instance_by_ip: Mutex<HashMap<std::net::IpAddr, String>>,
    /// The stacks listed once for their first observes.
    pub inventory: crate::stack_listing::StackListingCache,
}

/// Locks a cache; a poisoned lock only means a panic elsewhere mid-update of plain data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An EC2 `Describe*` filter: `name` is `value`.
pub(crate) fn ec2_filter(name: &str, value: impl Into<String>) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(name)
        .values(value)
        .build()
}

impl AwsProvider {
    /// Sets the provider up the way it runs in a cluster: credentials from the default
    /// chain, region and VPC from the config or instance metadata.
    ///
    /// With `imds_endpoint` set, every instance-metadata lookup goes there: the discovery
    /// below and the default chains' own region and credentials lookups, so a node (or a
    /// test) whose metadata service is elsewhere is read in one place only.
    pub async fn connect(mut config: AwsConfig, metrics: AwsMetrics) -> ConfigResult<AwsProvider> {
        if config.cluster_name.is_empty() {
            return Err(ConfigError::NoClusterName);
        }
        let imds = imds_client(config.imds_endpoint.as_deref())?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &config.region {
            loader = loader.region(Region::new(region.clone()));
        } else if config.imds_endpoint.is_some() {
            // The SDK's default region chain (environment, profile, then metadata) with our
            // metadata client as its last link.
            loader = loader.region(
                RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
                    .or_else(ProfileFileRegionProvider::builder().build())
                    .or_else(
                        ImdsRegionProvider::builder()
                            .imds_client(imds.clone())
                            .build(),
                    ),
            );
        }
        if config.imds_endpoint.is_some() {
            let mut chain = DefaultCredentialsChain::builder().imds_client(imds.clone());
            if let Some(region) = &config.region {
                chain = chain.region(Region::new(region.clone()));
            }
            loader = loader.credentials_provider(chain.build().await);
        }
        if let Some((id, secret)) = &config.access_key {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                id,
                secret,
                None,
                None,
                "cloudnet-static",
            ));
        }
        if let Some(url) = &config.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let mut sdk = loader.load().await;
        let mut identity = None;
        if sdk.region().is_none() || config.vpc_id.is_none() {
            let found = discover_instance(&imds).await?;
            tracing::info!(
                region = %found.region,
                vpc = %found.vpc_id,
                instance = %found.instance_id,
                "Discovered from instance metadata"
            );
            if sdk.region().is_none() {
                sdk = sdk
                    .into_builder()
                    .region(Region::new(found.region.clone()))
                    .build();
            }
            config.vpc_id.get_or_insert_with(|| found.vpc_id.clone());
            identity = Some(found);
        }
        AwsProvider::build(&sdk, config, metrics, identity)
    }

    /// Sets the provider up on an SDK config made elsewhere (tests, tools). The VPC ID must
    /// be in `config`.
    pub fn from_sdk_config(
        sdk: &SdkConfig,
        config: AwsConfig,
        metrics: AwsMetrics,
    ) -> ConfigResult<AwsProvider> {
        AwsProvider::build(sdk, config, metrics, None)
    }

    fn build(
        sdk: &SdkConfig,
        config: AwsConfig,
        metrics: AwsMetrics,
        instance: Option<InstanceIdentity>,
    ) -> ConfigResult<AwsProvider> {
        if config.cluster_name.is_empty() {
            return Err(ConfigError::NoClusterName);
        }
        let vpc_id = config
            .vpc_id
            .clone()
            .ok_or(ConfigError::MissingMetadata("VPC ID"))?;
        let retry = RetryConfig::standard().with_max_attempts(config.max_attempts.max(1));
        let mut ec2 = aws_sdk_ec2::config::Builder::from(sdk)
            .retry_config(retry.clone())
            .retry_classifier(ThrottleClassifier);
        let mut elb = aws_sdk_elasticloadbalancingv2::config::Builder::from(sdk)
            .retry_config(retry)
            .retry_classifier(ThrottleClassifier);
        if let Some(url) = &config.endpoint_url {
            ec2 = ec2.endpoint_url(url);
            elb = elb.endpoint_url(url);
        }
        let caller = Caller {
            budget: RateBudget::new(&config.budget),
            metrics,
            throttle_retries: config.throttle_retries,
        };
        Ok(AwsProvider {
            inner: Arc::new(Inner {
                ec2: aws_sdk_ec2::Client::from_conf(ec2.build()),
                elb: aws_sdk_elasticloadbalancingv2::Client::from_conf(elb.build()),
                caller,
                vpc_id,
                instance,
                config,
                cache: Caches::default(),
            }),
        })
    }

    /// The three traits, as the controllers hold them.
    pub fn cloud(&self) -> Cloud {
        Cloud {
            addresses: Arc::new(self.clone()),
            routes: Arc::new(self.clone()),
            load_balancers: Arc::new(self.clone()),
        }
    }

    /// One AWS call through the provider's budget, metrics and throttling policy
    /// ([`Caller::call`]).
    pub(crate) async fn call<T, E, F, Fut>(&self, op: AwsOp, f: F) -> cloudnet_core::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        self.inner.caller.call(op, f).await
    }

    /// Every page of a listing, each page one call ([`Caller::pages`]).
    pub(crate) async fn pages<P, E, F, Fut>(
        &self,
        op: AwsOp,
        send: F,
        next_marker: impl Fn(&P) -> Option<&str>,
    ) -> cloudnet_core::Result<Vec<P>>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<P, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        self.inner.caller.pages(op, send, next_marker).await
    }

    pub fn metrics(&self) -> &AwsMetrics {
        &self.inner.caller.metrics
    }

    pub fn budget(&self) -> &RateBudget {
        &self.inner.caller.budget
    }

    pub fn cluster(&self) -> &str {
        &self.inner.config.cluster_name
    }

    pub fn vpc_id(&self) -> &str {
        &self.inner.vpc_id
    }

    /// The EC2 filter to this provider's VPC.
    pub(crate) fn in_vpc(&self) -> aws_sdk_ec2::types::Filter {
        ec2_filter("vpc-id", &self.inner.vpc_id)
    }

    /// The region the SDK clients call.
    pub fn region(&self) -> Option<&str> {
        self.inner.ec2.config().region().map(|r| r.as_ref())
    }

    /// The instance we run on, when [`AwsProvider::connect`] read instance metadata (the
    /// region or the VPC was not given).
    pub fn instance(&self) -> Option<&InstanceIdentity> {
        self.inner.instance.as_ref()
    }
}
