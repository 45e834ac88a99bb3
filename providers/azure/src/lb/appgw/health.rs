//! Members' health from the gateway's `backendhealth` action: a POST that ARM answers 202 with
//! a `Location`, polled (GET, 202 while it runs) until it answers the health (200):
//! `backendAddressPools[].backendHttpSettingsCollection[].servers[] {address, health}`.
//!
//! | ARM's `health` | [`HealthState`] |
//! |---|---|
//! | `Healthy` | `Healthy` |
//! | `Unhealthy` | `Unhealthy` |
//! | `Unknown` (probe not finished, or not reachable to tell) | `Initial` |
//! | a pool no rule uses (no settings entries) | `Unused` |
//! | a member the answer does not list | `Unavailable` |
//!
//! A member the pool's settings disagree on (healthy through one, not another) is the worse.

use std::net::IpAddr;
use std::time::Duration;

use cloudnet_core::{Error, HealthState, Result, Target, TargetHealth};
use serde_json::Value;

use crate::call::with_get_url;
use crate::error::{from_azure, retry_after_of};
use crate::lb::AzureLoadBalancers;

/// Polls of the operation before giving up.
const MAX_POLLS: u32 = 60;
/// The longest wait between polls, whatever `Retry-After` says.
const MAX_POLL_WAIT: Duration = Duration::from_secs(2);

fn rank(s: HealthState) -> u8 {
    match s {
        HealthState::Healthy => 0,
        HealthState::Unused => 1,
        HealthState::Initial => 2,
        HealthState::Unavailable => 3,
        HealthState::Draining => 4,
        HealthState::Unhealthy => 5,
    }
}

/// The health of `members` of the pool named `pool` in a `backendhealth` answer.
pub fn pool_health(answer: &Value, pool: &str, members: &[(IpAddr, u16)]) -> Vec<TargetHealth> {
    let suffix = format!("/backendaddresspools/{}", pool.to_ascii_lowercase());
    let entry = answer["backendAddressPools"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            p["backendAddressPool"]["id"]
                .as_str()
                .is_some_and(|id| id.to_ascii_lowercase().ends_with(&suffix))
        });
    let collection: Vec<&Value> = entry
        .and_then(|e| e["backendHttpSettingsCollection"].as_array())
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    members
        .iter()
        .map(|&(ip, port)| {
            let (state, reason) = if entry.is_none() {
                (
                    HealthState::Unavailable,
                    Some("the pool is not in the gateway's backend health".to_string()),
                )
            } else if collection.is_empty() {
                (
                    HealthState::Unused,
                    Some("no rule of the gateway sends to the pool".to_string()),
                )
            } else {
                collection
                    .iter()
                    .map(|c| server_state(c, ip))
                    .max_by_key(|(s, _)| rank(*s))
                    .unwrap_or((HealthState::Unavailable, None))
            };
            TargetHealth {
                target: Target { ip, port },
                state,
                reason,
            }
        })
        .collect()
}

fn server_state(settings: &Value, ip: IpAddr) -> (HealthState, Option<String>) {
    let server = settings["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["address"].as_str().and_then(|a| a.parse::<IpAddr>().ok()) == Some(ip));
    let Some(server) = server else {
        return (
            HealthState::Unavailable,
            Some("not in the gateway's backend health".into()),
        );
    };
    let log = server["healthProbeLog"].as_str().map(str::to_string);
    match server["health"].as_str() {
        Some("Healthy") => (HealthState::Healthy, None),
        Some("Unhealthy") => (HealthState::Unhealthy, log),
        Some("Unknown") | Some("Partial") => (HealthState::Initial, log),
        other => (
            HealthState::Unavailable,
            Some(format!("backend health {other:?}")),
        ),
    }
}

fn location(r: &azure_core::Response) -> Result<Option<azure_core::Url>> {
    let Some(l) = r
        .headers()
        .get_optional_str(&azure_core::headers::HeaderName::from_static("location"))
    else {
        return Ok(None);
    };
    azure_core::Url::parse(l)
        .map(Some)
        .map_err(|e| Error::Transient {
            code: "InvalidLocation".into(),
            message: format!("backendhealth's Location {l:?}: {e}"),
        })
}

async fn body_of(r: azure_core::Response) -> Result<Value> {
    let bytes = r.into_body().collect().await.map_err(|e| from_azure(&e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Transient {
        code: "InvalidBackendHealth".into(),
        message: format!("backendhealth's answer: {e}"),
    })
}

impl AzureLoadBalancers {
    /// The gateway's `backendhealth` answer: POST, then its `Location` polled until 200.
    pub(super) async fn backend_health(&self, name: &str) -> Result<Value> {
        let gateways = self.client.application_gateways_client();
        let (rg, sub) = (&self.cfg.resource_group, &self.cfg.subscription);
        let first = gateways
            .backend_health(rg, name, sub)
            .send()
            .await
            .map_err(|e| from_azure(&e))?
            .into_raw_response();
        if u16::from(first.status()) == 200 {
            return body_of(first).await;
        }
        let Some(url) = location(&first)? else {
            return Err(Error::Transient {
                code: "NoLocation".into(),
                message: format!(
                    "backendhealth of {name} answered {} without a Location",
                    u16::from(first.status())
                ),
            });
        };
        let mut wait = retry_after_of(first.headers());
        for _ in 0..MAX_POLLS {
            tokio::time::sleep(
                wait.unwrap_or(Duration::from_secs(1))
                    .clamp(Duration::from_millis(50), MAX_POLL_WAIT),
            )
            .await;
            // The library has no call for an operation's URL: a GET builder's request is
            // pointed at it by the call policy.
            let r = with_get_url(url.clone(), gateways.get(rg, name, sub).send())
                .await
                .map_err(|e| from_azure(&e))?
                .into_raw_response();
            if u16::from(r.status()) == 200 {
                return body_of(r).await;
            }
            wait = retry_after_of(r.headers());
        }
        Err(Error::Transient {
            code: "BackendHealthTimeout".into(),
            message: format!("backendhealth of {name} still running after {MAX_POLLS} polls"),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn arm_health_maps_onto_target_health() {
        let answer = json!({"backendAddressPools": [
            {"backendAddressPool": {"id": "/x/applicationGateways/g/backendAddressPools/pool-a"},
             "backendHttpSettingsCollection": [
                {"backendHttpSettings": {"id": "s1"}, "servers": [
                    {"address": "10.0.0.1", "health": "Healthy"},
                    {"address": "10.0.0.2", "health": "Unknown", "healthProbeLog": "not yet"},
                    {"address": "10.0.0.3", "health": "Healthy"}]},
                {"backendHttpSettings": {"id": "s2"}, "servers": [
                    {"address": "10.0.0.1", "health": "Healthy"},
                    {"address": "10.0.0.2", "health": "Unknown"},
                    {"address": "10.0.0.3", "health": "Unhealthy", "healthProbeLog": "refused"}]}]},
            {"backendAddressPool": {"id": "/x/applicationGateways/g/backendAddressPools/pool-b"},
             "backendHttpSettingsCollection": []}
        ]});
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let got: Vec<(IpAddr, HealthState)> = pool_health(
            &answer,
            "POOL-A",
            &[
                (ip("10.0.0.1"), 80),
                (ip("10.0.0.2"), 80),
                (ip("10.0.0.3"), 80),
                (ip("10.0.0.4"), 80),
            ],
        )
        .into_iter()
        .map(|t| (t.target.ip, t.state))
        .collect();
        assert_eq!(
            got,
            [
                (ip("10.0.0.1"), HealthState::Healthy),
                (ip("10.0.0.2"), HealthState::Initial),
                (ip("10.0.0.3"), HealthState::Unhealthy),
                (ip("10.0.0.4"), HealthState::Unavailable),
            ]
        );
        let unused = pool_health(&answer, "pool-b", &[(ip("10.0.0.9"), 80)]);
        assert_eq!(unused[0].state, HealthState::Unused);
        let missing = pool_health(&answer, "pool-c", &[(ip("10.0.0.9"), 80)]);
        assert_eq!(missing[0].state, HealthState::Unavailable);
    }
}
