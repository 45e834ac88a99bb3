//! The load balancing clients (one per Compute Engine service the load balancers call),
//! built like [`crate::client::Clients`], and the API methods they call.

use google_cloud_compute_v1::client::{
    BackendServices, Firewalls, ForwardingRules, GlobalAddresses, GlobalForwardingRules,
    HealthChecks, NetworkEndpointGroups, RegionBackendServices, RegionHealthChecks,
    SslCertificates, Subnetworks, TargetHttpProxies, TargetHttpsProxies, UrlMaps,
};
use google_cloud_gax::retry_policy::NeverRetry;

use crate::client::{build_client, credentials, endpoint};
use crate::config::GcpConfig;
use crate::error::{ConfigError, ConfigResult};
use crate::tls::install_crypto_provider;

#[derive(Debug, Clone)]
pub struct LbClients {
    pub backend_services: BackendServices,
    pub region_backend_services: RegionBackendServices,
    pub health_checks: HealthChecks,
    pub region_health_checks: RegionHealthChecks,
    pub url_maps: UrlMaps,
    pub target_http_proxies: TargetHttpProxies,
    pub target_https_proxies: TargetHttpsProxies,
    pub global_forwarding_rules: GlobalForwardingRules,
    pub forwarding_rules: ForwardingRules,
    pub network_endpoint_groups: NetworkEndpointGroups,
    pub global_addresses: GlobalAddresses,
    pub subnetworks: Subnetworks,
    pub ssl_certificates: SslCertificates,
    pub firewalls: Firewalls,
}

impl LbClients {
    pub async fn build(config: &GcpConfig) -> ConfigResult<LbClients> {
        install_crypto_provider();
        let creds = credentials(config)?;
        let endpoint = endpoint(config);
        let endpoint = endpoint.as_deref();
        Ok(LbClients {
            backend_services: build_client!(BackendServices, "backendServices", endpoint, creds),
            region_backend_services: build_client!(
                RegionBackendServices,
                "regionBackendServices",
                endpoint,
                creds
            ),
            health_checks: build_client!(HealthChecks, "healthChecks", endpoint, creds),
            region_health_checks: build_client!(
                RegionHealthChecks,
                "regionHealthChecks",
                endpoint,
                creds
            ),
            url_maps: build_client!(UrlMaps, "urlMaps", endpoint, creds),
            target_http_proxies: build_client!(
                TargetHttpProxies,
                "targetHttpProxies",
                endpoint,
                creds
            ),
            target_https_proxies: build_client!(
                TargetHttpsProxies,
                "targetHttpsProxies",
                endpoint,
                creds
            ),
            global_forwarding_rules: build_client!(
                GlobalForwardingRules,
                "globalForwardingRules",
                endpoint,
                creds
            ),
            forwarding_rules: build_client!(ForwardingRules, "forwardingRules", endpoint, creds),
            network_endpoint_groups: build_client!(
                NetworkEndpointGroups,
                "networkEndpointGroups",
                endpoint,
                creds
            ),
            global_addresses: build_client!(GlobalAddresses, "globalAddresses", endpoint, creds),
            subnetworks: build_client!(Subnetworks, "subnetworks", endpoint, creds),
            ssl_certificates: build_client!(SslCertificates, "sslCertificates", endpoint, creds),
            firewalls: build_client!(Firewalls, "firewalls", endpoint, creds),
        })
    }
}

/// The load balancing methods, by their API names (the mock cloud's call log spells them
/// the same, `compute:<name>`).
pub mod lb_methods {
    use cloudnet_core::OpClass;

    use crate::call::Method;

    const fn read(name: &'static str) -> Method {
        Method::load_balancing(name, OpClass::Describe)
    }
    const fn write(name: &'static str) -> Method {
        Method::load_balancing(name, OpClass::Mutate)
    }

    pub const HEALTH_CHECKS_LIST: Method = read("healthChecks.list");
    pub const HEALTH_CHECKS_INSERT: Method = write("healthChecks.insert");
    pub const HEALTH_CHECKS_PATCH: Method = write("healthChecks.patch");
    pub const HEALTH_CHECKS_DELETE: Method = write("healthChecks.delete");
    pub const REGION_HEALTH_CHECKS_LIST: Method = read("regionHealthChecks.list");
    pub const REGION_HEALTH_CHECKS_INSERT: Method = write("regionHealthChecks.insert");
    pub const REGION_HEALTH_CHECKS_PATCH: Method = write("regionHealthChecks.patch");
    pub const REGION_HEALTH_CHECKS_DELETE: Method = write("regionHealthChecks.delete");
    pub const BACKEND_SERVICES_LIST: Method = read("backendServices.list");
    pub const BACKEND_SERVICES_GET: Method = read("backendServices.get");
    pub const BACKEND_SERVICES_GET_HEALTH: Method = read("backendServices.getHealth");
    pub const BACKEND_SERVICES_INSERT: Method = write("backendServices.insert");
    pub const BACKEND_SERVICES_PATCH: Method = write("backendServices.patch");
    pub const BACKEND_SERVICES_DELETE: Method = write("backendServices.delete");
    pub const REGION_BACKEND_SERVICES_LIST: Method = read("regionBackendServices.list");
    pub const REGION_BACKEND_SERVICES_GET: Method = read("regionBackendServices.get");
    pub const REGION_BACKEND_SERVICES_GET_HEALTH: Method = read("regionBackendServices.getHealth");
    pub const REGION_BACKEND_SERVICES_INSERT: Method = write("regionBackendServices.insert");
    pub const REGION_BACKEND_SERVICES_PATCH: Method = write("regionBackendServices.patch");
    pub const REGION_BACKEND_SERVICES_DELETE: Method = write("regionBackendServices.delete");
    pub const URL_MAPS_LIST: Method = read("urlMaps.list");
    pub const URL_MAPS_GET: Method = read("urlMaps.get");
    pub const URL_MAPS_INSERT: Method = write("urlMaps.insert");
    pub const URL_MAPS_UPDATE: Method = write("urlMaps.update");
    pub const URL_MAPS_DELETE: Method = write("urlMaps.delete");
    pub const TARGET_HTTP_PROXIES_LIST: Method = read("targetHttpProxies.list");
    pub const TARGET_HTTP_PROXIES_INSERT: Method = write("targetHttpProxies.insert");
    pub const TARGET_HTTP_PROXIES_SET_URL_MAP: Method = write("targetHttpProxies.setUrlMap");
    pub const TARGET_HTTP_PROXIES_DELETE: Method = write("targetHttpProxies.delete");
    pub const TARGET_HTTPS_PROXIES_LIST: Method = read("targetHttpsProxies.list");
    pub const TARGET_HTTPS_PROXIES_INSERT: Method = write("targetHttpsProxies.insert");
    pub const TARGET_HTTPS_PROXIES_SET_URL_MAP: Method = write("targetHttpsProxies.setUrlMap");
    pub const TARGET_HTTPS_PROXIES_SET_SSL_CERTIFICATES: Method =
        write("targetHttpsProxies.setSslCertificates");
    pub const TARGET_HTTPS_PROXIES_DELETE: Method = write("targetHttpsProxies.delete");
    pub const GLOBAL_FORWARDING_RULES_LIST: Method = read("globalForwardingRules.list");
    pub const GLOBAL_FORWARDING_RULES_GET: Method = read("globalForwardingRules.get");
    pub const GLOBAL_FORWARDING_RULES_INSERT: Method = write("globalForwardingRules.insert");
    pub const GLOBAL_FORWARDING_RULES_SET_TARGET: Method = write("globalForwardingRules.setTarget");
    pub const GLOBAL_FORWARDING_RULES_DELETE: Method = write("globalForwardingRules.delete");
    pub const FORWARDING_RULES_LIST: Method = read("forwardingRules.list");
    pub const FORWARDING_RULES_GET: Method = read("forwardingRules.get");
    pub const FORWARDING_RULES_INSERT: Method = write("forwardingRules.insert");
    pub const FORWARDING_RULES_DELETE: Method = write("forwardingRules.delete");
    pub const NEGS_AGGREGATED_LIST: Method = read("networkEndpointGroups.aggregatedList");
    pub const NEGS_INSERT: Method = write("networkEndpointGroups.insert");
    pub const NEGS_DELETE: Method = write("networkEndpointGroups.delete");
    pub const NEGS_ATTACH: Method = Method::load_balancing(
        "networkEndpointGroups.attachNetworkEndpoints",
        OpClass::Targets,
    );
    pub const NEGS_DETACH: Method = Method::load_balancing(
        "networkEndpointGroups.detachNetworkEndpoints",
        OpClass::Targets,
    );
    pub const SSL_CERTIFICATES_LIST: Method = read("sslCertificates.list");
    pub const SSL_CERTIFICATES_INSERT: Method = write("sslCertificates.insert");
    pub const SSL_CERTIFICATES_DELETE: Method = write("sslCertificates.delete");
    pub const FIREWALLS_LIST: Method = read("firewalls.list");
    pub const FIREWALLS_INSERT: Method = write("firewalls.insert");
    pub const FIREWALLS_UPDATE: Method = write("firewalls.update");
    pub const FIREWALLS_DELETE: Method = write("firewalls.delete");
    pub const GLOBAL_ADDRESSES_GET: Method = read("globalAddresses.get");
    pub const SUBNETWORKS_LIST: Method = Method::describe("subnetworks.list");
    pub const INSTANCES_AGGREGATED_LIST: Method = Method::describe("instances.aggregatedList");
}
