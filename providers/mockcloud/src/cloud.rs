//! The one shared state of a mock cloud: every service's state machine, the faults, the call
//! counters, the call log and the metadata-service tokens, behind one lock so that services see each other
//! consistently (ELBv2 reads EC2's subnets and instances).

use std::collections::{BTreeMap, HashMap};
use std::time::{Instant, SystemTime};

use serde::Serialize;

use crate::awserror::AwsError;
use crate::azure::AzureState;
use crate::calllog::CallLog;
use crate::ec2::{Ctx, Ec2State, World};
use crate::elbv2::Elbv2;
use crate::error::Result;
use crate::faults::{Faults, Outcome};
use crate::gcp::GcpState;
use crate::iam::Iam;
use crate::ids::IdGen;
use crate::query::Params;
pub use crate::service::Service;
use crate::xml::Xml;

pub struct Cloud {
    pub world: World,
    pub ec2: Ec2State,
    pub elbv2: Elbv2,
    /// Compute Engine.
    pub gcp: GcpState,
    /// Azure Resource Manager (Network, Compute).
    pub azure: AzureState,
    pub faults: Faults,
    /// Calls per `service:Action`, faulted ones included.
    pub calls: BTreeMap<String, u64>,
    /// Every call with its caller (the SigV4 access key id).
    pub call_log: CallLog,
    /// Metadata-service session tokens and when they expire.
    pub imds_tokens: HashMap<String, Instant>,
    pub ids: IdGen,
    /// IAM from the world's `iam` section; None allows everything.
    pub iam: Option<Iam>,
    epoch: Instant,
    wall_epoch: SystemTime,
}

/// The state as `GET /_mockcloud/state` shows it.
#[derive(Serialize)]
pub struct StateDump<'a> {
    pub now_ms: u64,
    pub ec2: &'a Ec2State,
    pub elbv2: &'a Elbv2,
    pub gcp: &'a GcpState,
    pub azure: &'a AzureState,
    pub faults: &'a Faults,
}

impl Cloud {
    pub fn new(world: World) -> Result<Cloud> {
        let wall_epoch = SystemTime::now();
        let ec2 = Ec2State::from_world(&world, wall_epoch)?;
        let elbv2 = new_elbv2(&world);
        let iam = match &world.iam {
            Some(spec) => Some(
                Iam::compile(spec, &world.account_id).map_err(crate::error::Error::InvalidWorld)?,
            ),
            None => None,
        };
        let gcp = new_gcp(&world, wall_epoch)?;
        let azure = new_azure(&world)?;
        Ok(Cloud {
            iam,
            elbv2,
            gcp,
            azure,
            faults: Faults::new(&world.faults),
            world,
            ec2,
            calls: BTreeMap::new(),
            call_log: CallLog::default(),
            imds_tokens: HashMap::new(),
            ids: IdGen::default(),
            epoch: Instant::now(),
            wall_epoch,
        })
    }

    /// Back to the world file: state, faults and counters; the clock keeps running.
    pub fn reset(&mut self) -> Result<()> {
        self.ec2 = Ec2State::from_world(&self.world, self.wall_epoch)?;
        self.elbv2 = new_elbv2(&self.world);
        self.gcp = new_gcp(&self.world, self.wall_epoch)?;
        self.azure = new_azure(&self.world)?;
        self.faults = Faults::new(&self.world.faults);
        self.calls.clear();
        self.call_log.clear();
        self.imds_tokens.clear();
        if let Some(iam) = &mut self.iam {
            iam.clear_usage();
        }
        Ok(())
    }

    pub fn now_ms(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_millis() as u64
    }

    pub fn dump(&self) -> StateDump<'_> {
        StateDump {
            now_ms: self.now_ms(Instant::now()),
            ec2: &self.ec2,
            elbv2: &self.elbv2,
            gcp: &self.gcp,
            azure: &self.azure,
            faults: &self.faults,
        }
    }

    /// Counts a call, logs it with its caller (see [`crate::calllog`]) and decides its faults.
    pub fn admit(&mut self, service: Service, action: &str, caller: &str, now: Instant) -> Outcome {
        self.admit_named(service.name(), action, caller, now)
    }

    /// [`Cloud::admit`] for a service by name (`compute` for Compute Engine).
    pub fn admit_named(
        &mut self,
        service: &str,
        action: &str,
        caller: &str,
        now: Instant,
    ) -> Outcome {
        let call = format!("{service}:{action}");
        let at_ms = self.now_ms(now);
        self.call_log.record(at_ms, caller, &call);
        *self.calls.entry(call).or_insert(0) += 1;
        self.faults.evaluate(service, action, now)
    }

    /// Answers one call of the query protocol.
    pub fn handle(
        &mut self,
        service: Service,
        action: &str,
        params: &Params,
        now: Instant,
        hide_ms: u64,
    ) -> Result<Xml, AwsError> {
        let now_ms = self.now_ms(now);
        self.ec2.advance(now_ms);
        match service {
            Service::Ec2 => self.ec2.handle(action, params, &Ctx { now_ms, hide_ms }),
            Service::Elbv2 => self.elbv2.handle(&self.ec2, action, params, now),
        }
    }
}

fn new_elbv2(world: &World) -> Elbv2 {
    Elbv2::new(
        world.region.clone(),
        world.account_id.clone(),
        world.elbv2.clone().unwrap_or_default(),
    )
}

fn new_gcp(world: &World, wall_epoch: SystemTime) -> Result<GcpState> {
    GcpState::new(&world.gcp.clone().unwrap_or_default(), wall_epoch)
}

fn new_azure(world: &World) -> Result<AzureState> {
    AzureState::new(&world.azure.clone().unwrap_or_default())
}
