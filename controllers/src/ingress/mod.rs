//! Ingresses -> the provider-neutral L7 spec: an application load balancer on AWS (GCLB and
//! Application Gateway come with their backends, through the same model).
//!
//! - [`class`]: which Ingresses are ours (IngressClass controller, the legacy annotation, the
//!   default class).
//! - [`group`]: IngressGroups (`group.name`, `group.order`) and their member order.
//! - [`annotations`]: the AWS Load Balancer Controller's `alb.ingress.kubernetes.io/*` keys,
//!   with the parsers of `listen-ports`, `actions.<name>` and `conditions.<name>`.
//! - [`model`]: a group's members and their Services -> one [`cloudnet_core::LoadBalancerSpec`].
//! - `gce`: the parts ingress-gce's dialect ([`IngressSettings::ingress_gce`]) reads
//!   differently: the front from `allow-http`, `pre-shared-cert`, the static IP and the class
//!   (`gce`, `gce-internal`), and each backend's NEG, health check and BackendConfig.
//! - `agic`: the parts AGIC's dialect ([`IngressSettings::agic`]) reads differently: the
//!   front from `ssl-redirect`, `use-private-ip` and `appgw-ssl-certificate`, and each
//!   backend's protocol, probe path, path prefix, timeout, draining and affinity. With one
//!   shared gateway ([`IngressSettings::agic_shared`], AGIC's `appgw.name`) every Ingress of
//!   the class is in the IngressGroup named after it, and a host and path two members route
//!   differently goes to the first by namespace/name (AGIC's rule); the other's rule is left
//!   out with a warning ([`BuiltGroup::warnings`], a `ConflictingRule` Event).
//!
//! - [`reconcile`]: the controller loop: groups settled in the cloud, finalizers per group,
//!   `status.loadBalancer`, Events, garbage collection of emptied groups.
//!
//! - [`params`]: IngressClassParams applied to the class's Ingresses (their values win over
//!   annotations; `group.name`; `namespaceSelector`).
//!
//! Pod readiness gates are [`crate::readiness`]'s; the groups this loop ensures are
//! published there. `cloudnet plan` (in the cli) builds its specs with [`build_group_spec`].

mod agic;
pub mod annotations;
pub mod class;
mod gce;
pub mod group;
mod member;
pub mod model;
pub mod params;
pub mod reconcile;

#[cfg(test)]
mod tests;

pub use class::{IngressSettings, is_served};
pub use group::{GroupId, MemberError};
pub use model::{BuiltGroup, Services, build_group, build_group_spec};
