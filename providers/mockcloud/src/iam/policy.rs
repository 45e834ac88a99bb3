//! IAM policy documents and their evaluation, as pure functions: a [`Policy`] parsed from
//! JSON, a [`Request`] (one action on one resource with its condition keys) and
//! [`evaluate`], which answers [`Decision::Allow`], [`Decision::ExplicitDeny`] or
//! [`Decision::ImplicitDeny`].
//!
//! The subset AWS policies for controllers use:
//! - `Effect` `Allow` / `Deny`; an explicit `Deny` wins over any `Allow`;
//! - `Action` / `NotAction` (`service:Action`, case-insensitive, `*` and `?` wildcards);
//! - `Resource` / `NotResource` (ARNs, case-sensitive, `*` and `?` wildcards);
//! - `Condition` operators `StringEquals`, `StringNotEquals`, `StringEqualsIgnoreCase`,
//!   `StringLike`, `StringNotLike`, `Null`, `Bool`, each optionally with the
//!   `ForAllValues:` / `ForAnyValue:` set prefix or the `IfExists` suffix. Condition key
//!   names are case-insensitive; values are compared as AWS does for each operator.
//!
//! Anything else in a document (another operator, `Principal` in an identity policy, an
//! unknown statement key) is refused when the policy is parsed, so a policy the mock cannot
//! evaluate faithfully never loads.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::query::wildcard_match;

/// A parsed identity policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// What a statement's `Action`/`NotAction` or `Resource`/`NotResource` names.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// `Action` / `Resource`: matches when a pattern matches.
    Is(Vec<String>),
    /// `NotAction` / `NotResource`: matches when no pattern matches.
    IsNot(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub action: Matcher,
    pub resource: Matcher,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    Null,
    Bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    /// A single-valued key (or any value of a multivalued one).
    None,
    ForAllValues,
    ForAnyValue,
}

/// One `operator: {key: values}` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub operator: Operator,
    pub qualifier: SetQualifier,
    pub if_exists: bool,
    /// Lower-cased.
    pub key: String,
    pub values: Vec<String>,
}

/// One action on one resource, with the request's condition keys (names lower-cased; a key
/// absent from the map is absent from the request).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// `service:Action`, e.g. `ec2:CreateNetworkInterface`.
    pub action: String,
    /// The resource's ARN (`*` for actions without a resource).
    pub resource: String,
    pub context: BTreeMap<String, Vec<String>>,
}

impl Request {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Request {
        Request {
            action: action.into(),
            resource: resource.into(),
            context: BTreeMap::new(),
        }
    }

    /// Adds a condition key (its name is lower-cased).
    pub fn with(mut self, key: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.set(key, values);
        self
    }

    pub fn set(&mut self, key: &str, values: impl IntoIterator<Item = impl Into<String>>) {
        self.context.insert(
            key.to_ascii_lowercase(),
            values.into_iter().map(Into::into).collect(),
        );
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Some statement allows the request and none denies it; the allowing statement's index.
    Allow(usize),
    /// A `Deny` statement matches (its index); it wins over every `Allow`.
    ExplicitDeny(usize),
    /// No statement allows it.
    ImplicitDeny,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }
}

/// Evaluates a request against a set of policies (a role's): explicit deny, then allow, else
/// implicit deny. Statement indices count across the policies in order.
pub fn evaluate(policies: &[&Policy], request: &Request) -> Decision {
    let mut allow = None;
    let mut index = 0;
    for policy in policies {
        for st in &policy.statements {
            if st.matches(request) {
                match st.effect {
                    Effect::Deny => return Decision::ExplicitDeny(index),
                    Effect::Allow => {
                        allow.get_or_insert(index);
                    }
                }
            }
            index += 1;
        }
    }
    allow.map_or(Decision::ImplicitDeny, Decision::Allow)
}

impl Statement {
    /// True when the statement applies: action, resource and every condition match.
    pub fn matches(&self, r: &Request) -> bool {
        let action =
            |p: &str| wildcard_match(&p.to_ascii_lowercase(), &r.action.to_ascii_lowercase());
        let resource = |p: &str| wildcard_match(p, &r.resource);
        self.action.matches(action)
            && self.resource.matches(resource)
            && self.conditions.iter().all(|c| c.holds(&r.context))
    }

    /// The actions an `Action` statement names (empty for `NotAction`).
    pub fn actions(&self) -> &[String] {
        match &self.action {
            Matcher::Is(v) => v,
            Matcher::IsNot(_) => &[],
        }
    }
}

impl Matcher {
    fn matches(&self, one: impl Fn(&str) -> bool) -> bool {
        match self {
            Matcher::Is(patterns) => patterns.iter().any(|p| one(p)),
            Matcher::IsNot(patterns) => !patterns.iter().any(|p| one(p)),
        }
    }
}

impl Condition {
    /// True when the condition holds for the request's keys.
    pub fn holds(&self, context: &BTreeMap<String, Vec<String>>) -> bool {
        let present = context.get(&self.key).filter(|v| !v.is_empty());
        if self.operator == Operator::Null {
            // `Null: true` means the key must be absent, `false` present.
            return self.values.iter().any(|v| {
                let want_absent = v.eq_ignore_ascii_case("true");
                want_absent == present.is_none()
            });
        }
        let Some(actual) = present else {
            return match self.qualifier {
                SetQualifier::ForAllValues => true,
                SetQualifier::ForAnyValue => false,
                SetQualifier::None => self.if_exists || self.negated(),
            };
        };
        let one = |value: &str| self.values.iter().any(|p| self.compare(p, value));
        let negated = self.negated();
        match self.qualifier {
            // For a negated operator "matches" means "equals none of the values".
            SetQualifier::ForAllValues if negated => actual.iter().all(|v| !one(v)),
            SetQualifier::ForAllValues => actual.iter().all(|v| one(v)),
            SetQualifier::ForAnyValue if negated => actual.iter().any(|v| !one(v)),
            SetQualifier::ForAnyValue => actual.iter().any(|v| one(v)),
            SetQualifier::None if negated => !actual.iter().any(|v| one(v)),
            SetQualifier::None => actual.iter().any(|v| one(v)),
        }
    }

    fn negated(&self) -> bool {
        matches!(
            self.operator,
            Operator::StringNotEquals | Operator::StringNotLike
        )
    }

    /// Whether `value` equals (or is like) the policy's `pattern`, before negation.
    fn compare(&self, pattern: &str, value: &str) -> bool {
        match self.operator {
            Operator::StringEquals | Operator::StringNotEquals => pattern == value,
            Operator::StringEqualsIgnoreCase => pattern.eq_ignore_ascii_case(value),
            Operator::StringLike | Operator::StringNotLike => wildcard_match(pattern, value),
            Operator::Bool => pattern.eq_ignore_ascii_case(value),
            Operator::Null => false,
        }
    }
}

/// Parses a policy document (`{"Version": .., "Statement": [..] | {..}}`).
pub fn parse(doc: &Value) -> Result<Policy, String> {
    let obj = doc
        .as_object()
        .ok_or_else(|| "a policy document is a JSON object".to_string())?;
    for key in obj.keys() {
        if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
            return Err(format!("unknown policy key '{key}'"));
        }
    }
    if let Some(v) = obj.get("Version")
        && v != "2012-10-17"
    {
        return Err(format!("policy Version {v} is not 2012-10-17"));
    }
    let statements = match obj.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return Err("a policy needs a Statement (an object or a list)".into()),
    };
    let statements = statements
        .into_iter()
        .enumerate()
        .map(|(i, s)| statement(s).map_err(|e| format!("statement {i}: {e}")))
        .collect::<Result<_, _>>()?;
    Ok(Policy { statements })
}

fn statement(v: &Value) -> Result<Statement, String> {
    let obj = v.as_object().ok_or("a statement is a JSON object")?;
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "Sid" | "Effect" | "Action" | "NotAction" | "Resource" | "NotResource" | "Condition"
        ) {
            return Err(format!("unsupported statement key '{key}'"));
        }
    }
    let effect = match obj.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        other => return Err(format!("Effect must be Allow or Deny, not {other:?}")),
    };
    let action = matcher(obj, "Action", "NotAction")?;
    let resource = matcher(obj, "Resource", "NotResource")?;
    let mut conditions = Vec::new();
    if let Some(c) = obj.get("Condition") {
        let ops = c.as_object().ok_or("Condition is a JSON object")?;
        for (op, keys) in ops {
            let keys = keys
                .as_object()
                .ok_or_else(|| format!("Condition {op} maps keys to values"))?;
            let (operator, qualifier, if_exists) = operator(op)?;
            for (key, values) in keys {
                conditions.push(Condition {
                    operator,
                    qualifier,
                    if_exists,
                    key: key.to_ascii_lowercase(),
                    values: strings(values).map_err(|e| format!("Condition {op} {key}: {e}"))?,
                });
            }
        }
    }
    Ok(Statement {
        sid: obj.get("Sid").and_then(Value::as_str).map(str::to_string),
        effect,
        action,
        resource,
        conditions,
    })
}

fn matcher(obj: &serde_json::Map<String, Value>, is: &str, not: &str) -> Result<Matcher, String> {
    match (obj.get(is), obj.get(not)) {
        (Some(v), None) => Ok(Matcher::Is(strings(v).map_err(|e| format!("{is}: {e}"))?)),
        (None, Some(v)) => Ok(Matcher::IsNot(
            strings(v).map_err(|e| format!("{not}: {e}"))?,
        )),
        (Some(_), Some(_)) => Err(format!("a statement has {is} or {not}, not both")),
        (None, None) => Err(format!("a statement needs {is} or {not}")),
    }
}

fn operator(name: &str) -> Result<(Operator, SetQualifier, bool), String> {
    let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
        (SetQualifier::ForAllValues, r)
    } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
        (SetQualifier::ForAnyValue, r)
    } else {
        (SetQualifier::None, name)
    };
    let (rest, if_exists) = match rest.strip_suffix("IfExists") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let op = match rest {
        "StringEquals" => Operator::StringEquals,
        "StringNotEquals" => Operator::StringNotEquals,
        "StringEqualsIgnoreCase" => Operator::StringEqualsIgnoreCase,
        "StringLike" => Operator::StringLike,
        "StringNotLike" => Operator::StringNotLike,
        "Null" if !if_exists => Operator::Null,
        "Bool" => Operator::Bool,
        _ => return Err(format!("condition operator '{name}' is not supported")),
    };
    Ok((op, qualifier, if_exists))
}

fn strings(v: &Value) -> Result<Vec<String>, String> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!("expected a string, got {other}")),
    };
    match v {
        Value::Array(a) if a.is_empty() => Err("an empty list".into()),
        Value::Array(a) => a.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}
