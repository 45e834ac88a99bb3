//! Core kinds with few columns: Namespace, ConfigMap, Secret, ServiceAccount, Endpoints, Event, and the NAME/AGE default.

use super::*;

pub(super) fn event() -> Printer {
    builtin(
        vec![
            col(
                "Last Seen",
                "string",
                0,
                "Time when this Event was last observed",
            ),
            col(
                "Type",
                "string",
                0,
                "Type of this event (Normal, Warning), new types could be added in the future",
            ),
            col(
                "Reason",
                "string",
                0,
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            ),
            col(
                "Object",
                "string",
                0,
                "The object that this event is about.",
            ),
            col(
                "Subobject",
                "string",
                1,
                "The field of the object this event is about.",
            ),
            col("Source", "string", 1, "The component reporting this event."),
            col(
                "Message",
                "string",
                0,
                "A human-readable description of the status of this operation.",
            ),
            col(
                "First Seen",
                "string",
                1,
                "The time at which the event was first recorded.",
            ),
            col(
                "Count",
                "string",
                1,
                "The number of times this event has occurred.",
            ),
            col(
                "Name",
                "string",
                1,
                "Name must be unique within a namespace.",
            ),
        ],
        event_cells,
    )
}

pub(super) fn event_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // core/v1 and events.k8s.io/v1 name the same things differently.
    let first_of = |fields: &[&str]| -> Value {
        fields
            .iter()
            .map(|f| &o[*f])
            .find(|v| v.as_str().is_some_and(|s| !s.is_empty()))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let first = age(
        &first_of(&["firstTimestamp", "deprecatedFirstTimestamp", "eventTime"]),
        now,
    );
    let mut last = match first_of(&["lastTimestamp", "deprecatedLastTimestamp"]) {
        Value::Null => first.clone(),
        t => age(&t, now),
    };
    let mut times = o["count"]
        .as_i64()
        .or(o["deprecatedCount"].as_i64())
        .unwrap_or(0);
    if o["series"].is_object() {
        last = age(&o["series"]["lastObservedTime"], now);
        times = o["series"]["count"].as_i64().unwrap_or(times);
    } else if times == 0 {
        times = 1;
    }
    let target = if o["involvedObject"].is_object() {
        &o["involvedObject"]
    } else {
        &o["regarding"]
    };
    let kind = target["kind"].as_str().unwrap_or_default().to_lowercase();
    let object = match target["name"].as_str().filter(|n| !n.is_empty()) {
        Some(name) => format!("{kind}/{name}"),
        None => kind,
    };
    let source = &o["source"];
    let component = source["component"]
        .as_str()
        .or(o["reportingController"].as_str())
        .or(o["deprecatedSource"]["component"].as_str())
        .unwrap_or_default();
    let host = source["host"]
        .as_str()
        .or(o["reportingInstance"].as_str())
        .unwrap_or_default();
    let source = match (component.is_empty(), host.is_empty()) {
        (true, _) => "<unknown>".to_string(),
        (false, true) => component.to_string(),
        (false, false) => format!("{component}, {host}"),
    };
    let message = o["message"]
        .as_str()
        .or(o["note"].as_str())
        .unwrap_or_default();
    vec![
        json!(last),
        json!(o["type"].as_str().unwrap_or_default()),
        json!(o["reason"].as_str().unwrap_or_default()),
        json!(object),
        json!(target["fieldPath"].as_str().unwrap_or_default()),
        json!(source),
        json!(message.trim()),
        json!(first),
        json!(times),
        json!(meta::name(o)),
    ]
}

pub(super) fn namespace() -> Printer {
    builtin(
        vec![
            name_col(),
            col("Status", "string", 0, "The status of the namespace"),
            age_col(),
        ],
        |o, now| {
            vec![
                json!(meta::name(o)),
                json!(o["status"]["phase"].as_str().unwrap_or_default()),
                created(o, now),
            ]
        },
    )
}

pub(super) fn config_map() -> Printer {
    builtin(
        vec![
            name_col(),
            col("Data", "string", 0, "Data contains the configuration data."),
            age_col(),
        ],
        |o, now| {
            let n = count(&o["data"]) + count(&o["binaryData"]);
            vec![json!(meta::name(o)), json!(n), created(o, now)]
        },
    )
}

pub(super) fn secret() -> Printer {
    builtin(
        vec![
            name_col(),
            col("Type", "string", 0, "The type of the secret"),
            col("Data", "string", 0, "The number of entries in the secret"),
            age_col(),
        ],
        |o, now| {
            vec![
                json!(meta::name(o)),
                json!(o["type"].as_str().unwrap_or("Opaque")),
                json!(count(&o["data"])),
                created(o, now),
            ]
        },
    )
}

pub(super) fn service_account() -> Printer {
    builtin(
        vec![
            name_col(),
            col(
                "Secrets",
                "string",
                0,
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
            ),
            age_col(),
        ],
        |o, now| {
            vec![
                json!(meta::name(o)),
                json!(count(&o["secrets"])),
                created(o, now),
            ]
        },
    )
}

pub(super) fn endpoints() -> Printer {
    builtin(
        vec![
            name_col(),
            col(
                "Endpoints",
                "string",
                0,
                "Endpoints is the list of endpoints comprising a service.",
            ),
            age_col(),
        ],
        |o, now| {
            let mut list = Vec::new();
            for subset in o["subsets"].as_array().into_iter().flatten() {
                for a in subset["addresses"].as_array().into_iter().flatten() {
                    let ip = a["ip"].as_str().unwrap_or_default();
                    let ports: Vec<String> = subset["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p["port"].as_i64())
                        .map(|p| format!("{ip}:{p}"))
                        .collect();
                    if ports.is_empty() {
                        list.push(ip.to_string());
                    } else {
                        list.extend(ports);
                    }
                }
            }
            let text = if list.is_empty() {
                NONE.to_string()
            } else {
                list_with_more(&list, 3)
            };
            vec![json!(meta::name(o)), json!(text), created(o, now)]
        },
    )
}

pub(super) fn name_and_age() -> Printer {
    builtin(vec![name_col(), age_col()], |o, now| {
        vec![json!(meta::name(o)), created(o, now)]
    })
}
