//! Property tests of the world-file and fault-rule parsers: no input panics them, what they
//! write reads back the same, and a key they do not know is refused and named with a line
//! inside the text.
//!
//! `CLOUDNET_FUZZ_CASES` sets the cases per property (default 2,000). Failing cases are kept
//! in `tests/regressions/config_props.txt` and replayed first on every run; inputs that once
//! broke a parser are also listed in [`KNOWN_INPUTS`].

use cloudnet_mockcloud::faults::{FaultRule, rules_from_json, rules_from_yaml};
use cloudnet_mockcloud::{Error, World};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn config() -> ProptestConfig {
    let cases = std::env::var("CLOUDNET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/regressions/config_props.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// Every key a fault rule or a world's top level knows, and near misses of them.
const KEYS: &[&str] = &[
    "service",
    "action",
    "kind",
    "trigger",
    "ms",
    "rate_per_sec",
    "burst",
    "status",
    "code",
    "every_nth",
    "probability",
    "p",
    "seed",
    "triger",
    "Kind",
    "region",
    "vpcs",
    "faults",
    "instances",
    "timing",
    "availability_zones",
    "account_id",
    "elbv2",
    "instance_types",
];

const WORDS: &[&str] = &[
    "ec2",
    "elbv2",
    "*",
    "Describe*",
    "latency",
    "throttle",
    "error",
    "drop",
    "eventual_consistency",
    "always",
    "once",
    "500",
    "503",
    "0",
    "-1",
    "1.5",
    "NaN",
    "~",
    "[]",
    "{}",
    "true",
    "\"\"",
    "18446744073709551616",
];

/// YAML made of known keys, near misses and values of every shape, nested a little.
fn yamlish() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        proptest::sample::select(WORDS).prop_map(str::to_string),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        "[a-zA-Z0-9_*?]{0,12}",
    ];
    let value = scalar.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(", "))),
            proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..4).prop_map(
                |kv| {
                    let body: Vec<String> = kv.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                    format!("{{{}}}", body.join(", "))
                }
            ),
        ]
    });
    proptest::collection::vec((proptest::sample::select(KEYS), value), 0..6).prop_map(|kv| {
        kv.iter()
            .map(|(k, v)| format!("- {{{k}: {v}}}\n"))
            .collect::<String>()
    })
}

const SERVICES: &[&str] = &["ec2", "elbv2", "*"];

/// A fault rule the parser must accept. Numbers have few digits, so their text reads back as
/// the same float in YAML and JSON.
fn valid_rule() -> impl Strategy<Value = String> {
    let trigger = prop_oneof![
        Just(String::new()),
        Just(", trigger: once".to_string()),
        Just(", trigger: always".to_string()),
        (1u64..1000).prop_map(|n| format!(", trigger: {{every_nth: {n}}}")),
        (0u32..=1000, any::<u64>()).prop_map(|(p, s)| format!(
            ", trigger: {{probability: {{p: {}, seed: {s}}}}}",
            f64::from(p) / 1000.0
        )),
    ];
    let kind = prop_oneof![
        (0u64..100_000).prop_map(|ms| format!("kind: latency, ms: {ms}")),
        (0u64..100_000).prop_map(|ms| format!("kind: eventual_consistency, ms: {ms}")),
        (0u32..100_000_000, 0u32..1000).prop_map(|(r, b)| format!(
            "kind: throttle, rate_per_sec: {}, burst: {b}",
            f64::from(r) / 100.0
        )),
        prop_oneof![Just(500u16), Just(503u16)].prop_map(|s| format!("kind: error, status: {s}")),
        Just("kind: drop".to_string()),
    ];
    (
        proptest::sample::select(SERVICES),
        "[A-Z][a-zA-Z*?]{0,20}",
        kind,
        trigger,
    )
        .prop_map(|(service, action, kind, trigger)| {
            format!("{{service: \"{service}\", action: \"{action}\", {kind}{trigger}}}")
        })
}

/// Lines as YAML counts them: it also breaks lines at a lone CR, NEL, LS and PS.
fn yaml_lines(text: &str) -> usize {
    let mut n = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => n += 1,
            '\r' if chars.peek() != Some(&'\n') => n += 1,
            _ => {}
        }
    }
    n
}

/// Checks what every parse error must carry: a line inside the text when it has one, and
/// for an unknown key, a key that appears in the text.
fn error_is_well_formed(e: &Error, text: &str) {
    if let Error::Config {
        file, line, key, ..
    } = e
    {
        assert_eq!(file, "input");
        if let Some(line) = line {
            assert!(*line >= 1 && *line <= yaml_lines(text) + 1, "{e}");
        }
        if let Some(key) = key {
            // A key in a double-quoted scalar is named as YAML decodes it: with escapes
            // (`\L` is U+2028, `\ ` a space) it is not the text's own spelling.
            assert!(
                text.contains(key.as_str()) || text.contains('\\'),
                "{key} not in {text:?}: {e}"
            );
        }
    } else {
        panic!("a parse error is Error::Config, got {e:?}");
    }
}

/// Inputs that once broke (or could break) a YAML parser: anchors and aliases, an alias
/// bomb, deep nesting, tags, odd scalars, byte-order marks.
const KNOWN_INPUTS: &[&str] = &[
    "",
    "~",
    "- ~",
    "[]",
    "{}",
    "- &a {kind: drop}\n- *a\n",
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
    "- !latency {ms: 3}",
    "- {kind: !!binary aGVsbG8=}",
    "- {kind: drop, trigger: {every_nth: 0}}",
    "- {kind: latency, ms: 18446744073709551616}",
    "- {kind: throttle, rate_per_sec: .nan, burst: 1}",
    "\u{feff}- {kind: drop}",
    "- {kind: drop, kind: latency}",
    "- {? [a, b] : c}",
    "--- \n- {kind: drop}\n--- \n- {kind: drop}\n",
    // A quoted key with escapes, named as decoded.
    "{\"\u{1df00}\\L\"AA",
    "{\"a\\ b\": 1}",
];

#[test]
fn known_inputs_do_not_panic() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_map = "- {a: ".repeat(2_000);
    for text in KNOWN_INPUTS
        .iter()
        .copied()
        .chain([deep.as_str(), deep_map.as_str()])
    {
        if let Err(e) = rules_from_yaml(text, "input") {
            error_is_well_formed(&e, text);
        }
        if let Err(e) = World::from_yaml_named(text, "input") {
            error_is_well_formed(&e, text);
        }
        if let Err(e) = rules_from_json(text.as_bytes(), "input") {
            error_is_well_formed(&e, text);
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_is_parsed_or_refused_without_panicking(text in "\\PC{0,200}") {
        if let Err(e) = rules_from_yaml(&text, "input") {
            error_is_well_formed(&e, &text);
        }
        if let Err(e) = World::from_yaml_named(&text, "input") {
            error_is_well_formed(&e, &text);
        }
    }

    #[test]
    fn any_bytes_are_parsed_or_refused_as_json_without_panicking(
        bytes in proptest::collection::vec(any::<u8>(), 0..200)
    ) {
        if let Err(e) = rules_from_json(&bytes, "input") {
            error_is_well_formed(&e, &String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn yaml_of_known_and_near_miss_keys_is_parsed_or_refused_with_a_location(text in yamlish()) {
        if let Err(e) = rules_from_yaml(&text, "input") {
            error_is_well_formed(&e, &text);
        }
        let world = format!("region: us-west-2\nfaults:\n{}", text.replace("- ", "  - "));
        if let Err(e) = World::from_yaml_named(&world, "input") {
            error_is_well_formed(&e, &world);
        }
    }

    #[test]
    fn valid_rules_round_trip_through_yaml_and_json(rules in proptest::collection::vec(valid_rule(), 1..5)) {
        let text: String = rules.iter().map(|r| format!("- {r}\n")).collect();
        let parsed = rules_from_yaml(&text, "input").map_err(|e| e.to_string());
        prop_assert!(parsed.is_ok(), "{text}: {parsed:?}");
        let parsed = parsed.unwrap_or_default();
        prop_assert_eq!(parsed.len(), rules.len());
        let yaml = serde_yaml::to_string(&parsed).unwrap_or_default();
        prop_assert_eq!(&rules_from_yaml(&yaml, "input").unwrap_or_default(), &parsed);
        let json = serde_json::to_vec(&parsed).unwrap_or_default();
        prop_assert_eq!(&rules_from_json(&json, "input").unwrap_or_default(), &parsed);
    }

    #[test]
    fn an_unknown_key_in_a_rule_is_refused_and_named_on_its_line(
        before in proptest::collection::vec(valid_rule(), 0..4),
        rule in valid_rule(),
        key in "[a-z][a-z_]{2,12}",
    ) {
        prop_assume!(!KEYS.contains(&key.as_str()));
        let bad_rule = format!("{}, {key}: 1}}", &rule[..rule.len() - 1]);
        let mut lines: Vec<String> = before.iter().map(|r| format!("- {r}")).collect();
        lines.push(format!("- {bad_rule}"));
        let text = lines.join("\n") + "\n";
        let e = rules_from_yaml(&text, "input");
        prop_assert!(e.is_err(), "{text}");
        let e = e.err().map(|e| (e.unknown_key().map(str::to_string), e));
        if let Some((named, Error::Config { line, .. })) = e {
            prop_assert_eq!(named.as_deref(), Some(key.as_str()), "{}", text);
            prop_assert_eq!(line, Some(lines.len()), "{}", text);
        }
    }

    #[test]
    fn an_unknown_key_in_a_world_is_refused_and_named(
        key in "[a-z][a-z_]{2,12}",
        at in 0usize..3,
    ) {
        prop_assume!(!KEYS.contains(&key.as_str()) && !["cidr", "cidr_blocks", "subnets", "tags", "id", "name", "subnet", "security_groups", "image_id", "private_ip", "description"].contains(&key.as_str()));
        // The key goes at the top level, into a VPC, or into an instance.
        let text = match at {
            0 => format!("region: us-west-2\n{key}: 1\n"),
            1 => format!("region: us-west-2\nvpcs:\n  - cidr_blocks: [10.0.0.0/16]\n    {key}: 1\n"),
            _ => format!("region: us-west-2\ninstances:\n  - instance_type: m5.large\n    subnet: s\n    {key}: 1\n"),
        };
        let e = World::from_yaml_named(&text, "input").err();
        prop_assert!(e.is_some(), "{text}");
        if let Some(e) = e {
            prop_assert_eq!(e.unknown_key(), Some(key.as_str()), "{}", text);
            if let Error::Config { line, .. } = e {
                prop_assert_eq!(line, Some(text.lines().count()), "{}", text);
            }
        }
    }
}

#[test]
fn the_parsed_rule_type_is_the_public_one() {
    // The YAML and JSON entry points give the same rules the world file holds.
    let rules: Vec<FaultRule> = rules_from_yaml("- {kind: drop}\n", "input").unwrap();
    let world = World::from_yaml_named(
        "region: us-west-2\navailability_zones: [us-west-2a]\nfaults:\n  - {kind: drop}\n",
        "input",
    )
    .unwrap();
    assert_eq!(world.faults, rules);
}
