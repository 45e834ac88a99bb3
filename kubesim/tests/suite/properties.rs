//! Property tests: the parsers and decoders that meet outside input never panic, and what
//! round-trips does. Failing cases are kept in `proptest-regressions/` next to this file
//! and replayed first on every run.

use cloudnet_kubesim::patch;
use cloudnet_kubesim::protobuf::envelope;
use cloudnet_kubesim::selectors::{FieldSelector, LabelSelector};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z/~0-9]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn label_key() -> impl Strategy<Value = String> {
    "([a-z]{1,5}\\.)?[a-z]{1,5}/?[a-z][a-z0-9-]{0,8}[a-z0-9]"
        .prop_filter("valid", |k| !k.ends_with('/') && !k.contains("/-"))
}

fn label_value() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9._-]{0,8}[a-z0-9])?"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn selector_parsers_never_panic(text in "\\PC{0,40}", labels in any_json()) {
        let obj = json!({"metadata": {"labels": labels, "name": "n"}});
        if let Ok(selector) = LabelSelector::parse(&text) {
            let _ = selector.matches(&obj);
        }
        if let Ok(selector) = FieldSelector::parse(&text) {
            let _ = selector.matches(&obj);
        }
    }

    #[test]
    fn selector_syntax_never_panics(
        parts in prop::collection::vec(
            ("[a-z./]{0,6}", prop::sample::select(vec!["=", "==", "!=", " in ", " notin ", "!", ""]), "[a-z(),]{0,6}"),
            0..5,
        )
    ) {
        let text: Vec<String> = parts.iter().map(|(k, op, v)| format!("{k}{op}{v}")).collect();
        let text = text.join(",");
        let _ = LabelSelector::parse(&text);
        let _ = FieldSelector::parse(&text);
    }

    #[test]
    fn an_equality_selector_matches_exactly_its_labels(
        labels in prop::collection::btree_map(label_key(), label_value(), 1..5),
        other in label_value(),
    ) {
        let obj = json!({"metadata": {"labels": labels}});
        let text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let selector = LabelSelector::parse(&text.join(","));
        prop_assert!(selector.is_ok(), "{:?}", text);
        prop_assert!(selector.unwrap().matches(&obj));
        let (k, v) = labels.iter().next().unwrap();
        let negated = LabelSelector::parse(&format!("{k}!={v}")).unwrap();
        prop_assert!(!negated.matches(&obj));
        let set = LabelSelector::parse(&format!("{k} in ({v},{other})")).unwrap();
        prop_assert!(set.matches(&obj));
        let exists = LabelSelector::parse(&format!("!{k}")).unwrap();
        prop_assert!(!exists.matches(&obj));
    }

    #[test]
    fn field_selectors_match_the_name_they_pin(name in label_value()) {
        let obj = json!({"metadata": {"name": name, "namespace": "default"}});
        let selector = FieldSelector::parse(&format!("metadata.name={name}")).unwrap();
        prop_assert!(selector.matches(&obj));
        prop_assert_eq!(selector.pinned_name(), Some(name.as_str()));
        let not = FieldSelector::parse(&format!("metadata.name!={name}")).unwrap();
        prop_assert!(!not.matches(&obj));
    }

    #[test]
    fn patches_never_panic(target in any_json(), patch_doc in any_json()) {
        let mut t = target.clone();
        let _ = patch::json_patch(&mut t, &patch_doc);
        let mut t = target.clone();
        let _ = patch::strategic_merge(&mut t, &patch_doc);
        let mut t = target;
        json_patch::merge(&mut t, &patch_doc);
    }

    #[test]
    fn json_patch_ops_on_any_paths_never_panic(
        target in any_json(),
        ops in prop::collection::vec(
            (
                prop::sample::select(vec!["add", "remove", "replace", "move", "copy", "test"]),
                "(/[a-z0-9~-]{0,3}){0,4}",
                "(/[a-z0-9~-]{0,3}){0,4}",
                any_json(),
            ),
            0..4,
        ),
    ) {
        let doc: Vec<Value> = ops
            .into_iter()
            .map(|(op, path, from, value)| json!({"op": op, "path": path, "from": from, "value": value}))
            .collect();
        let mut t = target;
        let _ = patch::json_patch(&mut t, &json!(doc));
    }

    #[test]
    fn the_protobuf_decoder_never_panics(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = envelope::decode(&body);
        let mut prefixed = envelope::MAGIC.to_vec();
        prefixed.extend_from_slice(&body);
        let _ = envelope::decode(&prefixed);
    }

    #[test]
    fn objects_round_trip_through_protobuf(
        name in label_value(),
        labels in prop::collection::btree_map(label_key(), label_value(), 0..4),
        data in prop::collection::btree_map("[a-zA-Z0-9._-]{1,8}", "\\PC{1,20}", 0..4),
        replicas in 0i32..1000,
        port in 1i32..65535,
    ) {
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        if !labels.is_empty() {
            cm["metadata"]["labels"] = json!(labels);
        }
        if !data.is_empty() {
            cm["data"] = json!(data);
        }
        prop_assert_eq!(envelope::decode(&envelope::encode(&cm).unwrap()).unwrap(), cm);
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "creationTimestamp": "2026-11-30T20:00:00Z"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "c", "image": "i",
                        "ports": [{"containerPort": port}]}]}}}});
        prop_assert_eq!(envelope::decode(&envelope::encode(&deployment).unwrap()).unwrap(), deployment);
    }
}
