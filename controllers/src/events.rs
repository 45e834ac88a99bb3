//! Kubernetes Events from the controllers: one helper, so every controller writes them the
//! same way (notes cut to the API's 1,000 characters; a failure to publish is logged, never
//! fatal).

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::warn;

/// What the controllers were doing when they report (the Event's `action`).
pub const RECONCILE: &str = "Reconcile";

/// The Event recorder of `controller` (`cloudnet-service-controller`), this replica
/// (`POD_NAME`) its instance.
pub fn recorder(client: &Client, controller: &str) -> Recorder {
    let reporter = Reporter {
        controller: controller.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    Recorder::new(client.clone(), reporter)
}

/// Publishes one Event about `regarding`.
pub async fn publish(
    recorder: &Recorder,
    regarding: &ObjectReference,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: action.into(),
        secondary: None,
    };
    if let Err(error) = recorder.publish(&event, regarding).await {
        warn!(
            object = regarding.name.as_deref().unwrap_or_default(),
            %error,
            "Could not publish an Event"
        );
    }
}
