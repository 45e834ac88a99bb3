//! Property tests ("fuzzing") of the query-protocol parser and the XML writer: arbitrary
//! bytes never panic the parser, structured parameters survive form encoding, and any text the
//! writer emits reads back unchanged through the AWS SDK's own XML decoder.
//!
//! `CLOUDNET_FUZZ_CASES` sets the cases per property (default 2,000 for CI; docs/fuzzing.md
//! records longer runs).

use aws_smithy_xml::decode::{Document, try_data};
use cloudnet_mockcloud::awserror::AwsError;
use cloudnet_mockcloud::query::Params;
use cloudnet_mockcloud::xml::{Xml, ec2_response};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("CLOUDNET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// What the writer promises to keep: everything but the control characters XML 1.0 forbids.
fn xml_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// The text at `path` below the root element, as the SDK decodes it.
fn sdk_read(doc: &str, path: &[&str]) -> String {
    fn descend(
        el: &mut aws_smithy_xml::decode::ScopedDecoder<'_, '_>,
        path: &[&str],
    ) -> Option<String> {
        while let Some(mut child) = el.next_tag() {
            if child.start_el().local() == path[0] {
                return if path.len() == 1 {
                    try_data(&mut child).ok().map(|c| c.to_string())
                } else {
                    descend(&mut child, &path[1..])
                };
            }
        }
        None
    }
    let mut d = Document::new(doc);
    let mut root = d.root_element().expect("the SDK finds a root element");
    descend(&mut root, path).unwrap_or_else(|| panic!("no {path:?} in {doc}"))
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z]{1,12}",
        ("[A-Za-z]{1,8}", 1u32..20).prop_map(|(k, n)| format!("{k}.{n}")),
        ("[A-Za-z]{1,8}", 1u32..20, "[A-Za-z]{1,8}")
            .prop_map(|(k, n, f)| format!("{k}.member.{n}.{f}")),
        ("Filter", 1u32..5, 1u32..5).prop_map(|(f, n, m)| format!("{f}.{n}.Value.{m}")),
        "\\PC{0,20}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn the_parser_never_panics_on_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let p = Params::parse(&body);
        let _ = p.action();
        let _ = p.filters();
        let _ = p.tags("Tag");
        let _ = p.tags("Tags.member");
        let _ = p.structs("Listeners.member");
        let _ = p.list("Names.member");
        let _ = p.get_i64("MaxResults");
        let _ = p.get_bool("DryRun");
    }

    #[test]
    fn parameters_survive_form_encoding(pairs in proptest::collection::btree_map(key(), "\\PC{0,30}", 0..20)) {
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
        let parsed = Params::parse(body.as_bytes());
        for (k, v) in &pairs {
            prop_assert_eq!(parsed.get(k), Some(v.as_str()));
        }
        prop_assert_eq!(parsed.iter().count(), pairs.len());
    }

    #[test]
    fn lists_come_back_in_index_order(values in proptest::collection::vec("[a-z0-9]{1,8}", 1..30)) {
        // Sent in reverse, numbered from 1: the parser must order by the number, not the text.
        let pairs: Vec<(String, String)> = values.iter().enumerate().rev()
            .map(|(i, v)| (format!("Names.member.{}", i + 1), v.clone())).collect();
        let p = Params::from_pairs(pairs);
        let got: Vec<String> = p.list("Names.member").into_iter().map(str::to_string).collect();
        prop_assert_eq!(got, values);
    }

    #[test]
    fn any_text_reads_back_through_the_sdk_decoder(text in any::<String>()) {
        let mut x = Xml::new();
        x.leaf("value", &text);
        let doc = ec2_response("DescribeTags", "req", &x);
        prop_assert_eq!(sdk_read(&doc, &["value"]), xml_safe(&text));
    }

    #[test]
    fn error_documents_carry_any_message(code in "[A-Za-z.]{1,40}", message in any::<String>()) {
        let e = AwsError::client(code.clone(), message.clone());
        let ec2 = e.to_ec2_xml("rid");
        prop_assert_eq!(sdk_read(&ec2, &["Errors", "Error", "Code"]), code.clone());
        prop_assert_eq!(sdk_read(&ec2, &["Errors", "Error", "Message"]), xml_safe(&message));
        let query = e.to_query_xml("http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/", "rid");
        prop_assert_eq!(sdk_read(&query, &["Error", "Code"]), code);
        prop_assert_eq!(sdk_read(&query, &["Error", "Message"]), xml_safe(&message));
    }
}
