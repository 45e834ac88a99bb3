//! Changes made by hand on Azure, as an operator with `az` (or the portal) would: HTTPS to
//! Azure Resource Manager with the operator's own bearer token (its object ID is
//! [`OPERATOR_OID`], not the controller's), trusting the mock cloud's CA, on the transport
//! the Azure backend builds. Resources are read, written whole (`PUT`, as ARM takes them)
//! and deleted by their resource ID.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::clouds::azure::{OPERATOR_OID, token_for};
use crate::env::Env;

/// How long one call may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// An operator's ARM client.
pub struct Arm {
    ca_pem: String,
    base: String,
    token: String,
}

/// The `api-version` ARM wants for a resource ID's provider.
fn api_version(id: &str) -> &'static str {
    if id.to_lowercase().contains("/providers/microsoft.compute/") {
        "2024-07-01"
    } else {
        "2024-05-01"
    }
}

impl Arm {
    /// The operator's client for the run's mock cloud.
    pub fn new(env: &Env) -> Arm {
        Arm {
            ca_pem: env.cloud.ca_pem().to_string(),
            base: env.cloud.arm_endpoint_url(),
            token: token_for(OPERATOR_OID),
        }
    }

    /// `GET id`: the resource.
    pub async fn get(&self, id: &str) -> Result<Value> {
        self.call("GET", id, None).await
    }

    /// `PUT id` with `body` (the whole resource): answers it as ARM does.
    pub async fn put(&self, id: &str, body: &Value) -> Result<Value> {
        self.call("PUT", id, Some(body)).await
    }

    /// `DELETE id`.
    pub async fn delete(&self, id: &str) -> Result<()> {
        self.call("DELETE", id, None).await.map(|_| ())
    }

    async fn call(&self, method: &str, id: &str, body: Option<&Value>) -> Result<Value> {
        if !id.starts_with("/subscriptions/") {
            bail!("{id:?} is not an ARM resource ID");
        }
        let http = cloudnet_azure::client::http_client(Some(&self.ca_pem))
            .map_err(|e| anyhow::anyhow!("the operator's ARM client: {e}"))?;
        let url = format!("{}{id}?api-version={}", self.base, api_version(id));
        let request = match method {
            "GET" => http.get(&url),
            "PUT" => http.put(&url),
            "DELETE" => http.delete(&url),
            other => bail!("no ARM method {other}"),
        }
        .bearer_auth(&self.token)
        .header("content-type", "application/json")
        .body(body.map(Value::to_string).unwrap_or_default());
        let answer = tokio::time::timeout(TIMEOUT, async {
            let response = request.send().await?;
            let status = response.status();
            let text = response.text().await?;
            anyhow::Ok((status, text))
        })
        .await
        .with_context(|| format!("{method} {id}: no answer in {TIMEOUT:?}"))?
        .with_context(|| format!("{method} {id}"))?;
        let (status, text) = answer;
        if !status.is_success() {
            bail!("{method} {id}: {status}: {text}");
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {id}: not JSON: {text}"))
    }
}

/// The resource as a client sends it back: what ARM fills in itself (its ETag and
/// provisioning state) left out.
pub fn writable(resource: &Value) -> Value {
    let mut r = resource.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove("etag");
    }
    if let Some(p) = r["properties"].as_object_mut() {
        p.remove("provisioningState");
        p.remove("resourceGuid");
    }
    r
}
