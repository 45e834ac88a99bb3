//! Name rules as the real API applies them, and the random suffix of `generateName`.

use crate::resources::NameRule;

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !s.is_empty()
        && s.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// Checks `name` against `rule`; the error is the message the real API gives.
pub fn check_name(rule: NameRule, name: &str) -> Result<(), String> {
    if rule == NameRule::PathSegment {
        let msg = match name {
            "." => Some("may not be '.'"),
            ".." => Some("may not be '..'"),
            _ if name.contains('/') => Some("may not contain '/'"),
            _ if name.contains('%') => Some("may not contain '%'"),
            _ => None,
        };
        return match msg {
            Some(msg) => Err(format!("Invalid value: {name:?}: {msg}")),
            None => Ok(()),
        };
    }
    let (ok, max, msg) = match rule {
        NameRule::PathSegment => (true, usize::MAX, ""),
        NameRule::Label => (is_label(name), 63, LABEL_MSG),
        NameRule::Label1035 => (
            is_label(name) && name.as_bytes().first().is_some_and(u8::is_ascii_lowercase),
            63,
            LABEL_1035_MSG,
        ),
        NameRule::Subdomain => (name.split('.').all(is_label), 253, SUBDOMAIN_MSG),
    };
    if name.len() > max {
        return Err(format!(
            "Invalid value: {name:?}: must be no more than {max} characters"
        ));
    }
    if !ok {
        return Err(format!("Invalid value: {name:?}: {msg}"));
    }
    Ok(())
}

/// Five characters from the alphabet the real API uses for `generateName` suffixes.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..5]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(check_name(NameRule::Subdomain, "web-1.example").is_ok());
        assert!(check_name(NameRule::Subdomain, "Web").is_err());
        assert!(check_name(NameRule::Subdomain, "-web").is_err());
        assert!(check_name(NameRule::Subdomain, "").is_err());
        assert!(check_name(NameRule::Subdomain, &"a".repeat(254)).is_err());
        assert!(check_name(NameRule::Label, "a.b").is_err());
        assert!(check_name(NameRule::Label1035, "1abc").is_err());
        assert!(check_name(NameRule::Label1035, "abc-1").is_ok());
        assert!(check_name(NameRule::PathSegment, "system:discovery").is_ok());
        assert_eq!(
            check_name(NameRule::PathSegment, "a/b"),
            Err("Invalid value: \"a/b\": may not contain '/'".into())
        );
        assert_eq!(random_suffix().len(), 5);
    }
}
