//! The two Compute API calls the backend makes, on azure_core's pipeline with the Network
//! client's credential, transport and [`crate::call::CallPolicy`] (one budget, one set of
//! counts, the same 429/5xx retries): read a scale-set instance, and update its model
//! (`PUT .../virtualMachineScaleSets/{ss}/virtualMachines/{i}` under `If-Match`, a
//! long-running operation polled through `Azure-AsyncOperation`).
//!
//! ```text
//!  ComputeClient ─> pipeline: [no-retry] ─> CallPolicy ─> transport (the Network client's)
//!      get_instance ─> GET  .../virtualMachines/{i}            (the model and its ETag)
//!      put_instance ─> PUT  .../virtualMachines/{i}, If-Match  ─> poll the operation
//! ```
//!
//! No Compute SDK crate: the few fields read and written are the serde types below, and every
//! field they do not name is carried through unchanged (`rest`).

use std::sync::Arc;
use std::time::Duration;

use azure_core::auth::TokenCredential;
use azure_core::headers::{AUTHORIZATION, HeaderName};
use azure_core::{ClientOptions, Context, Method, Pipeline, Request, Url};
use cloudnet_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{from_azure, retry_after_of};

/// The Compute API version of the calls (`etag` and `If-Match` on scale-set instances).
pub const COMPUTE_API_VERSION: &str = "2024-07-01";

/// How many times an operation is polled before the backend gives up on it.
const MAX_POLLS: u32 = 120;

/// A scale-set instance as the Compute API shows it: what the backend reads or writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScaleSetVm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default)]
    pub properties: ScaleSetVmProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleSetVmProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_profile: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_profile_configuration: Option<NetworkProfileConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_model_applied: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkProfileConfiguration {
    #[serde(default)]
    pub network_interface_configurations: Vec<NicConfiguration>,
}

/// One NIC of the instance's model (`VirtualMachineScaleSetNetworkConfiguration`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NicConfiguration {
    pub name: String,
    #[serde(default)]
    pub properties: NicConfigurationProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NicConfigurationProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    #[serde(default)]
    pub ip_configurations: Vec<ModelIpConfiguration>,
    /// Everything else (accelerated networking, the security group...), kept as read.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One ipConfiguration of a NIC in the model (`VirtualMachineScaleSetIPConfiguration`): no
/// address in it; the platform picks one from the subnet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelIpConfiguration {
    pub name: String,
    #[serde(default)]
    pub properties: ModelIpConfigurationProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelIpConfigurationProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<IdRef>,
    #[serde(
        default,
        rename = "privateIPAddressVersion",
        skip_serializing_if = "Option::is_none"
    )]
    pub private_ip_address_version: Option<String>,
    /// Everything else (backend pools...), kept as read.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdRef {
    pub id: String,
}

impl ScaleSetVm {
    /// The body of a per-instance model update, as cloud-provider-azure sends it: location,
    /// SKU, hardware profile and the whole network profile; read-only fields left out.
    pub fn update_body(&self) -> ScaleSetVm {
        ScaleSetVm {
            id: None,
            location: self.location.clone(),
            sku: self.sku.clone(),
            etag: None,
            properties: ScaleSetVmProperties {
                hardware_profile: self.properties.hardware_profile.clone(),
                network_profile_configuration: self
                    .properties
                    .network_profile_configuration
                    .clone(),
                provisioning_state: None,
                latest_model_applied: None,
            },
        }
    }

    /// The model's NIC named `nic` (case-insensitively).
    pub fn nic_mut(&mut self, nic: &str) -> Option<&mut NicConfiguration> {
        self.properties
            .network_profile_configuration
            .as_mut()?
            .network_interface_configurations
            .iter_mut()
            .find(|c| c.name.eq_ignore_ascii_case(nic))
    }
}

/// Where a scale-set instance is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRef {
    pub subscription: String,
    pub resource_group: String,
    pub scale_set: String,
    pub index: String,
}

impl InstanceRef {
    fn path(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachineScaleSets/{}/virtualMachines/{}",
            self.subscription, self.resource_group, self.scale_set, self.index
        )
    }
}

/// The Compute calls, on the Network client's pipeline (see the module doc).
#[derive(Clone)]
pub struct ComputeClient {
    pipeline: Pipeline,
    endpoint: Url,
    credential: Arc<dyn TokenCredential>,
    scopes: Vec<String>,
}

impl ComputeClient {
    pub fn new(
        endpoint: Url,
        credential: Arc<dyn TokenCredential>,
        scopes: Vec<String>,
        options: ClientOptions,
    ) -> ComputeClient {
        let pipeline = Pipeline::new(
            option_env!("CARGO_PKG_NAME"),
            option_env!("CARGO_PKG_VERSION"),
            options,
            Vec::new(),
            Vec::new(),
        );
        ComputeClient {
            pipeline,
            endpoint,
            credential,
            scopes,
        }
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        if_match: Option<&str>,
    ) -> Result<azure_core::Response> {
        let mut req = Request::new(url, method);
        let scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        let token = self
            .credential
            .get_token(&scopes)
            .await
            .map_err(|e| from_azure(&e))?;
        req.insert_header(AUTHORIZATION, format!("Bearer {}", token.token.secret()));
        if let Some(etag) = if_match {
            req.insert_header("if-match", etag.to_string());
        }
        if let Some(b) = body {
            req.insert_header("content-type", "application/json");
            req.set_body(b);
        }
        self.pipeline
            .send(&Context::default(), &mut req)
            .await
            .map_err(|e| from_azure(&e))
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.endpoint.clone();
        url.set_path(path);
        url.query_pairs_mut()
            .append_pair("api-version", COMPUTE_API_VERSION);
        url
    }

    /// The instance's model and its ETag.
    pub async fn get_instance(&self, at: &InstanceRef) -> Result<ScaleSetVm> {
        let r = self
            .send(Method::Get, self.url(&at.path()), None, None)
            .await?;
        json_of(r).await
    }

    /// Writes the instance's model under `If-Match: etag` (412 `PreconditionFailed` when it
    /// changed since read) and waits for the operation to end.
    pub async fn put_instance(
        &self,
        at: &InstanceRef,
        vm: &ScaleSetVm,
        etag: Option<&str>,
    ) -> Result<()> {
        let body = serde_json::to_vec(&vm.update_body()).map_err(|e| Error::Transient {
            code: "UnwritableRequest".into(),
            message: e.to_string(),
        })?;
        let r = self
            .send(Method::Put, self.url(&at.path()), Some(body), etag)
            .await?;
        let status_url = r
            .headers()
            .get_optional_str(&HeaderName::from_static("azure-asyncoperation"))
            .map(str::to_string);
        let Some(status_url) = status_url else {
            return Ok(());
        };
        let url = Url::parse(&status_url).map_err(|e| Error::Transient {
            code: "UnreadableResponse".into(),
            message: format!("Azure-AsyncOperation {status_url:?}: {e}"),
        })?;
        for _ in 0..MAX_POLLS {
            let r = self.send(Method::Get, url.clone(), None, None).await?;
            let wait = retry_after_of(r.headers()).unwrap_or(Duration::from_secs(1));
            let status: Value = json_of(r).await?;
            match status["status"].as_str().unwrap_or_default() {
                "Succeeded" => return Ok(()),
                "Failed" | "Canceled" => {
                    let code = status["error"]["code"]
                        .as_str()
                        .unwrap_or("OperationFailed")
                        .to_string();
                    let message = status["error"]["message"]
                        .as_str()
                        .unwrap_or("the instance update did not succeed")
                        .to_string();
                    return Err(Error::from_azure(&code, 409, message, None));
                }
                _ => tokio::time::sleep(wait).await,
            }
        }
        Err(Error::Transient {
            code: "OperationTimedOut".into(),
            message: format!("the update of {} is still running", at.path()),
        })
    }
}

async fn json_of<T: serde::de::DeserializeOwned>(r: azure_core::Response) -> Result<T> {
    let bytes = r.into_body().collect().await.map_err(|e| from_azure(&e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Transient {
        code: "UnreadableResponse".into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_update_body_keeps_unknown_fields_and_drops_read_only_ones() {
        let read = json!({
            "id": "/x", "location": "eastus", "etag": "\"1\"", "sku": {"name": "Standard_DS2_v2"},
            "properties": {
                "provisioningState": "Succeeded", "latestModelApplied": true,
                "osProfile": {"computerName": "n"},
                "networkProfileConfiguration": {"networkInterfaceConfigurations": [{
                    "name": "nic", "properties": {"primary": true, "enableIPForwarding": true,
                    "ipConfigurations": [{"name": "ipconfig1", "properties": {
                        "primary": true, "subnet": {"id": "/s"},
                        "loadBalancerBackendAddressPools": [{"id": "/p"}]}}]}}]}
            }
        });
        let vm: ScaleSetVm = serde_json::from_value(read).unwrap();
        let body = serde_json::to_value(vm.update_body()).unwrap();
        assert_eq!(
            body,
            json!({
                "location": "eastus", "sku": {"name": "Standard_DS2_v2"},
                "properties": {"networkProfileConfiguration": {"networkInterfaceConfigurations": [{
                    "name": "nic", "properties": {"primary": true, "enableIPForwarding": true,
                    "ipConfigurations": [{"name": "ipconfig1", "properties": {
                        "primary": true, "subnet": {"id": "/s"},
                        "loadBalancerBackendAddressPools": [{"id": "/p"}]}}]}}]}}
            })
        );
    }
}
