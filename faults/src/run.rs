//! Running a scenario: sampling every source on a short period, the invariants on every
//! sample, and the four metrics measured from the fault.
//!
//! - **reaction**: fault -> the first corrective action: the controller's first mutating cloud
//!   call after the fault (its call log), or, when the faulted piece is an ipamd, the first
//!   sample at which every ipamd answers again, whichever is first;
//! - **repair**: fault -> the first sample from which the cloud and the cluster are correct
//!   (every wanted pod Running at an address on its node's interface in the cloud, every
//!   ipamd answering, the Service's load balancer with its listener and exactly the pods as
//!   targets);
//! - **recovery**: fault -> the first sample from which, besides, every pod is Ready and
//!   every target healthy;
//! - **downtime**: the time, sampled, during which the Service had no healthy target (routed
//!   for a second and, on GCP, reachable by the health checkers through the firewall) or fewer
//!   pods than wanted had a working address.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::env::Env;
use crate::invariants::Checker;
use crate::observe::{Snapshot, calls_since};

/// How often the sources are read.
pub const SAMPLE_PERIOD: Duration = Duration::from_millis(250);

/// What "correct" means for a scenario.
#[derive(Debug, Clone)]
pub struct Goal {
    /// The pods' `app` label and how many should run.
    pub app: String,
    pub replicas: usize,
    /// The LoadBalancer Service (`namespace/name`) that should serve them.
    pub service: Option<String>,
    /// The faulted piece is an ipamd: its answering again is a corrective action.
    pub ipamd_reacts: bool,
    /// Ingresses (`namespace/name`) whose load balancer should route to the pods: each has
    /// its hostname in status and a load balancer with a listener under it, and every
    /// target group of the cluster is routed with exactly the pods as targets (none is
    /// orphaned).
    pub ingresses: Vec<String>,
    /// What else the cloud must show.
    pub expect: Vec<Expect>,
}

/// One more thing a scenario's cloud must show to be correct.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// The load balancer under the Ingress's hostname routes `path` (a rule's condition).
    RoutesPath { ingress: String, path: String },
    /// The load balancer under the Ingress's hostname does not route `path`.
    NoPath { ingress: String, path: String },
    /// The two Ingresses are served by one load balancer.
    SameLoadBalancer { ingress: String, as_ingress: String },
    /// The security group's ingress permissions are exactly these, in any order (as the
    /// state dump shows them).
    SecurityGroupIngress {
        group: String,
        permissions: serde_json::Value,
    },
    /// The GCP resource at `path` (under the project, as the state dump keys it) exists and
    /// has each of `fields` as given (lists compared in any order).
    GcpResource {
        path: String,
        fields: serde_json::Value,
    },
    /// (Azure) The network security group `group` (its resource ID) holds these rules, by
    /// name with the same content (priorities aside).
    SecurityRules {
        group: String,
        rules: serde_json::Value,
    },
    /// Nothing of the instance is left: no interface attached to it, no interface of the
    /// cluster detached, no route to it or to an interface it had (on GCP: the instance
    /// gone, no NEG endpoint or route naming it; on Azure: the instance gone, no route to
    /// one of its addresses, given as `interfaces`).
    NothingOf {
        instance: String,
        interfaces: Vec<String>,
    },
}

impl Expect {
    pub fn holds(&self, s: &Snapshot) -> bool {
        match self {
            Expect::RoutesPath { ingress, path } => s
                .ingress_load_balancer(ingress)
                .is_some_and(|lb| s.rule_paths(&lb).contains(path)),
            Expect::NoPath { ingress, path } => s
                .ingress_load_balancer(ingress)
                .is_some_and(|lb| !s.rule_paths(&lb).contains(path)),
            Expect::SameLoadBalancer {
                ingress,
                as_ingress,
            } => {
                let lb = s.ingress_load_balancer(ingress);
                lb.is_some() && lb == s.ingress_load_balancer(as_ingress)
            }
            Expect::SecurityGroupIngress { group, permissions } => {
                let sorted = |v: &serde_json::Value| {
                    let mut all: Vec<String> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| p.to_string())
                        .collect();
                    all.sort();
                    all
                };
                sorted(&s.cloud["ec2"]["security_groups"][group]["ingress"]) == sorted(permissions)
            }
            Expect::GcpResource { path, fields } => {
                crate::clouds::gcp::has_fields(&s.cloud, path, fields)
            }
            Expect::SecurityRules { group, rules } => {
                crate::clouds::azure_nsg::rules_hold(&s.cloud, group, rules)
            }
            Expect::NothingOf { instance, .. } if s.provider == crate::Cloud::Gcp => {
                // The instance is gone with its interface and alias ranges; no NEG endpoint
                // and no route may lead to it.
                let suffix = format!("/instances/{instance}");
                let gcp = &s.cloud["gcp"];
                let resources = gcp["resources"].as_object().into_iter().flatten();
                let mut left = resources.filter(|(path, r)| {
                    path.ends_with(&suffix)
                        || (r["kind"] == "compute#route"
                            && r["nextHopInstance"]
                                .as_str()
                                .is_some_and(|h| h.ends_with(&suffix)))
                });
                left.next().is_none()
                    && !gcp["neg_endpoints"]
                        .to_string()
                        .contains(&format!("{suffix}\""))
            }
            Expect::NothingOf {
                instance,
                interfaces,
            } if s.provider == crate::Cloud::Azure => {
                crate::clouds::azure::nothing_of(&s.cloud, instance, interfaces)
            }
            Expect::NothingOf {
                instance,
                interfaces,
            } => {
                let enis = s.cloud["ec2"]["network_interfaces"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(_, e)| e);
                let mut left = enis.filter(|e| {
                    e["attachment"]["instance_id"].as_str() == Some(instance.as_str())
                        || (e["attachment"].is_null() && crate::observe::owned(e))
                });
                let routes = s.cloud["ec2"]["route_tables"].to_string();
                left.next().is_none()
                    && !routes.contains(instance.as_str())
                    && !interfaces.iter().any(|i| routes.contains(i.as_str()))
            }
        }
    }
}

/// The moment of a fault, on both clocks.
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    pub at: Instant,
    pub cloud_ms: u64,
    pub seq: u64,
}

/// The four metrics, in milliseconds (`None`: not reached within the scenario's limit).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Metrics {
    pub reaction_ms: Option<u64>,
    pub repair_ms: Option<u64>,
    pub recovery_ms: Option<u64>,
    pub downtime_ms: u64,
}

/// A scenario in progress: its world, its checker and what it has seen.
pub struct Run {
    pub env: Env,
    pub checker: Checker,
    /// The last call-log sequence number read.
    pub seq: u64,
    /// Calls made during the scenario: all, and the mutating ones.
    pub calls: u64,
    pub mutating_calls: u64,
    /// When each registered target (target group ARN, address) was first seen routed.
    routed_since: BTreeMap<(String, String), Instant>,
    health_delay: Duration,
    baselined: bool,
    /// From a fault on: the goal, the last sample's time, whether it was up, the downtime.
    tracking: Option<(Goal, Instant, bool, u64)>,
    pub notes: Vec<String>,
    /// Times the controller was started again after it lost its Lease.
    pub controller_restarts: u32,
}

impl Run {
    pub fn new(env: Env) -> Run {
        let grace = env.options.target_grace;
        Run {
            env,
            checker: Checker::new(grace),
            seq: 0,
            calls: 0,
            mutating_calls: 0,
            routed_since: BTreeMap::new(),
            health_delay: Duration::from_millis(1_000),
            baselined: false,
            tracking: None,
            notes: Vec::new(),
            controller_restarts: 0,
        }
    }

    /// Reads every source once, checks the invariants, and fails when a process that should
    /// run has exited.
    pub async fn sample(&mut self) -> Result<Snapshot> {
        if self.env.restart_if_lease_lost()? {
            self.controller_restarts += 1;
            self.notes.push(format!(
                "the controller lost its Lease and exited; started again as its Deployment would ({} time(s))",
                self.controller_restarts
            ));
        }
        self.env.check_processes()?;
        let (calls, last) = calls_since(&self.env, self.seq).await?;
        self.seq = last;
        self.calls += calls.len() as u64;
        self.mutating_calls += calls.iter().filter(|c| c.is_mutating()).count() as u64;
        self.checker.check_calls(&calls);
        let s = Snapshot::take(&self.env).await?;
        if !self.baselined {
            self.checker.baseline_foreign(&s);
            self.baselined = true;
        }
        self.checker.check(&s);
        self.track_health(&s);
        if let Some((goal, _, _, _)) = &self.tracking {
            let up = self.up(goal, &s);
            if let Some((_, last, was_up, down)) = &mut self.tracking {
                if !*was_up {
                    *down += s.at.saturating_duration_since(*last).as_millis() as u64;
                }
                *was_up = up;
                *last = s.at;
            }
        }
        Ok(s)
    }

    fn track_health(&mut self, s: &Snapshot) {
        let unhealthy = s.provider.unhealthy_targets(&s.cloud);
        let now: BTreeSet<(String, String)> = s
            .target_groups()
            .into_iter()
            .filter(|(_, (_, routed))| *routed)
            .flat_map(|(arn, (targets, _))| targets.into_iter().map(move |t| (arn.clone(), t)))
            .filter(|k| !unhealthy.contains(k))
            .collect();
        self.routed_since.retain(|k, _| now.contains(k));
        for k in now {
            self.routed_since.entry(k).or_insert(s.at);
        }
    }

    /// Healthy targets of `service`'s target groups: routed (and not reported unhealthy by
    /// the cloud) for longer than the health check delay.
    fn healthy_targets(&self, s: &Snapshot) -> BTreeSet<String> {
        self.routed_since
            .iter()
            .filter(|(_, since)| s.at.saturating_duration_since(**since) >= self.health_delay)
            .map(|((_, t), _)| t.clone())
            .collect()
    }

    /// Samples until `pred` holds, for at most `timeout`.
    pub async fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&Run, &Snapshot) -> bool,
    ) -> Result<Snapshot> {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.sample().await?;
            if pred(self, &s) {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                bail!("timed out after {timeout:?} waiting for {what}");
            }
            tokio::time::sleep(SAMPLE_PERIOD).await;
        }
    }

    /// Waits until `goal` is recovered (the state before a fault).
    pub async fn settle(&mut self, goal: &Goal, timeout: Duration) -> Result<Snapshot> {
        let g = goal.clone();
        self.wait_for(&format!("{g:?} to be served"), timeout, move |r, s| {
            r.recovered(&g, s)
        })
        .await
    }

    /// Marks the fault now; from here every sample counts towards `goal`'s downtime (the
    /// service is taken as up at the fault).
    pub async fn fault(&mut self, goal: &Goal) -> Result<Fault> {
        let (_, seq) = calls_since(&self.env, self.seq).await?;
        let at = Instant::now();
        self.tracking = Some((goal.clone(), at, true, 0));
        let cloud_ms = cloud_now(&self.env).await?;
        Ok(Fault { at, cloud_ms, seq })
    }

    /// Whether the cloud and the cluster are as `goal` wants them.
    pub fn correct(&self, goal: &Goal, s: &Snapshot) -> bool {
        let pods: Vec<_> = s.app_pods(&goal.app).collect();
        if pods.len() != goal.replicas || !pods.iter().all(|p| s.pod_has_working_address(p)) {
            return false;
        }
        if s.ipamd.values().any(Option::is_none) {
            return false;
        }
        if !goal.expect.iter().all(|e| e.holds(s)) {
            return false;
        }
        let want: BTreeSet<String> = pods
            .iter()
            .filter_map(|p| p.ip.map(|i| i.to_string()))
            .collect();
        if !goal.ingresses.is_empty() {
            let groups = s.target_groups();
            let served = goal.ingresses.iter().all(|i| {
                s.ingress_load_balancer(i)
                    .is_some_and(|lb| s.load_balancers().get(&lb).is_some_and(|(_, l)| *l > 0))
            });
            if !served
                || groups.is_empty()
                || !groups
                    .values()
                    .all(|(targets, routed)| *routed && *targets == want)
            {
                return false;
            }
        }
        let Some(svc) = &goal.service else {
            return true;
        };
        let Some(Some(host)) = s.services.get(svc) else {
            return false;
        };
        let lbs = s.load_balancers();
        if !lbs
            .values()
            .any(|(dns, listeners)| dns == host && *listeners > 0)
        {
            return false;
        }
        let targets: BTreeSet<String> = pods.iter().filter_map(|p| s.service_target(p)).collect();
        s.target_groups()
            .values()
            .any(|(registered, routed)| *routed && *registered == targets)
    }

    /// Correct, every pod Ready and every target healthy.
    pub fn recovered(&self, goal: &Goal, s: &Snapshot) -> bool {
        if !self.correct(goal, s) || !s.app_pods(&goal.app).all(|p| p.ready) {
            return false;
        }
        if goal.service.is_none() && goal.ingresses.is_empty() {
            return true;
        }
        let healthy = self.healthy_targets(s);
        // An Ingress's backends hold the pods' addresses on every cloud; a Service's on GCP
        // its nodes'.
        s.app_pods(&goal.app)
            .filter_map(|p| match goal.service {
                None => p.ip.map(|ip| ip.to_string()),
                Some(_) => s.service_target(p),
            })
            .all(|t| healthy.contains(&t))
    }

    /// Whether the service is up: a healthy target behind the Service, and as many pods with
    /// a working address as wanted.
    pub fn up(&self, goal: &Goal, s: &Snapshot) -> bool {
        let working = s
            .app_pods(&goal.app)
            .filter(|p| s.pod_has_working_address(p))
            .count();
        if working < goal.replicas {
            return false;
        }
        (goal.service.is_none() && goal.ingresses.is_empty()) || !self.healthy_targets(s).is_empty()
    }

    /// Samples from `fault` until `goal` has been recovered for a few samples or `limit`
    /// passes, and measures.
    pub async fn measure(&mut self, goal: &Goal, fault: Fault, limit: Duration) -> Result<Metrics> {
        let mut m = Metrics::default();
        if let Some(t) = self.tracking.as_mut() {
            t.0 = goal.clone();
        }
        let mut recovered_streak = 0;
        let ms = |d: Duration| d.as_millis() as u64;
        loop {
            let s = self.sample().await?;
            let since = s.at.saturating_duration_since(fault.at);
            if goal.ipamd_reacts && m.reaction_ms.is_none() && s.ipamd.values().all(Option::is_some)
            {
                m.reaction_ms = Some(ms(since));
            }
            let correct = self.correct(goal, &s);
            if correct {
                m.repair_ms.get_or_insert(ms(since));
            } else {
                m.repair_ms = None;
            }
            if correct && self.recovered(goal, &s) {
                m.recovery_ms.get_or_insert(ms(since));
                recovered_streak += 1;
            } else {
                m.recovery_ms = None;
                recovered_streak = 0;
            }
            if recovered_streak >= 3 || since >= limit {
                break;
            }
            tokio::time::sleep(SAMPLE_PERIOD).await;
        }
        m.downtime_ms = self.tracking.take().map_or(0, |t| t.3);
        let (calls, _) = calls_since(&self.env, fault.seq).await?;
        let first_write = calls
            .iter()
            .find(|c| c.caller == self.env.options.cloud.controller_caller() && c.is_mutating())
            .map(|c| c.at_ms.saturating_sub(fault.cloud_ms));
        m.reaction_ms = match (m.reaction_ms, first_write) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(m)
    }

    /// Deletes the workloads and Services, waits until they are gone from the API and the
    /// cloud, then checks for leftovers.
    pub async fn teardown(&mut self, timeout: Duration) -> Result<Vec<String>> {
        crate::workload::delete_all(&self.env.client).await?;
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.sample().await?;
            let left = leftovers_now(&s);
            if (s.pods.is_empty() && left.is_empty()) || Instant::now() >= deadline {
                return Ok(self.checker.leftovers(&s));
            }
            tokio::time::sleep(SAMPLE_PERIOD).await;
        }
    }

    /// Sleeps `d` while sampling (the invariants keep being checked during a fault).
    pub async fn hold(&mut self, d: Duration) -> Result<()> {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.sample().await?;
            tokio::time::sleep(SAMPLE_PERIOD).await;
        }
        Ok(())
    }

    /// Holds `d` while the API does not serve: the sources that do not go through it (the
    /// cloud's call log, the ipamd processes) keep being read and checked; the rest waits for
    /// its return. A controller that exits meanwhile (a leader stops when it cannot renew its
    /// Lease) is noted and answered `true` for: its Deployment would start another.
    pub async fn hold_api_down(&mut self, d: Duration) -> Result<bool> {
        let start = Instant::now();
        let mut exited = false;
        while start.elapsed() < d {
            self.env.check_ipamds()?;
            if !exited && self.env.controller_exited() {
                exited = true;
                self.notes.push(format!(
                    "the controller exited {:.1} s into the outage (its Lease could not be renewed)",
                    start.elapsed().as_secs_f64()
                ));
            }
            let (calls, last) = calls_since(&self.env, self.seq).await?;
            self.seq = last;
            self.calls += calls.len() as u64;
            self.mutating_calls += calls.iter().filter(|c| c.is_mutating()).count() as u64;
            self.checker.check_calls(&calls);
            tokio::time::sleep(SAMPLE_PERIOD).await;
        }
        Ok(exited)
    }

    /// Waits until the API answers the workloads' client again, and answers how long that
    /// took.
    pub async fn wait_api(&mut self, timeout: Duration) -> Result<Duration> {
        let start = Instant::now();
        let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
            kube::Api::all(self.env.client.clone());
        loop {
            match namespaces.list(&Default::default()).await {
                Ok(_) => return Ok(start.elapsed()),
                Err(e) if start.elapsed() > timeout => {
                    bail!("the API did not answer within {timeout:?}: {e}")
                }
                Err(_) => tokio::time::sleep(SAMPLE_PERIOD).await,
            }
        }
    }

    /// Waits until the controller has made `call` (`service:Action`) after call `since`, and
    /// answers when.
    pub async fn until_call(&mut self, call: &str, since: u64, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let (calls, _) = calls_since(&self.env, since).await?;
            if calls
                .iter()
                .any(|c| c.call == call && c.caller == self.env.options.cloud.controller_caller())
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("the controller made no {call} in {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn shutdown_notes(&self) -> String {
        self.env.controller_log(30)
    }
}

/// What would count as a leftover, without recording it.
fn leftovers_now(s: &Snapshot) -> Vec<String> {
    let mut c = Checker::default();
    c.leftovers(s)
}

/// The mock cloud's clock now, read from its state dump.
pub async fn cloud_now(env: &Env) -> Result<u64> {
    crate::http::request(env.control(), "GET", "/_mockcloud/state", None).await?["now_ms"]
        .as_u64()
        .context("no now_ms in the state dump")
}
