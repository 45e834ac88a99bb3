//! The `filter` of Compute Engine list calls:
//!
//! - `name = "web-1"`, `name != web-1`, `status = RUNNING`, `labels.env = prod`,
//!   `networkInterfaces.networkIP = "10.0.0.2"` (a path through arrays matches any element);
//! - `name eq web-.*`, `name ne "web-[0-9]+"`: an RE2 regular expression matching the whole value;
//! - `labels.env:*` (the field is present), `name:web` (contains), `>`, `<`, `>=`, `<=`
//!   (numbers compare as numbers);
//! - terms joined by `AND` (or nothing), `OR`, grouped with parentheses, negated with `NOT`/`-`.
//!
//! A filter that does not parse is 400 `invalid`, naming the filter. Regular expressions are
//! compiled once, when the filter is parsed, not per item.

use serde_json::Value;

use super::{GcpError, GcpResult};

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    All,
    Cmp {
        field: String,
        op: Op,
        value: String,
        /// The compiled `value` of `eq` and `ne`.
        pattern: Option<Pattern>,
    },
    Not(Box<Filter>),
    And(Vec<Filter>),
    Or(Vec<Filter>),
}

/// An `eq`/`ne` regular expression, anchored to match the whole value.
#[derive(Debug, Clone)]
pub struct Pattern(regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Has,
    Lt,
    Le,
    Gt,
    Ge,
    ReEq,
    ReNe,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Word(String),
    Quoted(String),
    Op(Op),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        match ch {
            ' ' | '\t' | '\n' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            '"' | '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match c.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('\\') if c.get(i + 1).is_some() => {
                            v.push(c[i + 1]);
                            i += 2;
                        }
                        Some(q) if *q == ch => {
                            i += 1;
                            break;
                        }
                        Some(x) => {
                            v.push(*x);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Quoted(v));
            }
            '=' => {
                out.push(Tok::Op(Op::Eq));
                i += 1;
            }
            ':' => {
                out.push(Tok::Op(Op::Has));
                i += 1;
            }
            '!' if c.get(i + 1) == Some(&'=') => {
                out.push(Tok::Op(Op::Ne));
                i += 2;
            }
            '<' | '>' => {
                let eq = c.get(i + 1) == Some(&'=');
                out.push(Tok::Op(match (ch, eq) {
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    _ => Op::Ge,
                }));
                i += if eq { 2 } else { 1 };
            }
            _ => {
                let start = i;
                while i < c.len()
                    && !matches!(
                        c[i],
                        ' ' | '\t' | '\n' | '(' | ')' | '=' | ':' | '<' | '>' | '"' | '\''
                    )
                    && !(c[i] == '!' && c.get(i + 1) == Some(&'='))
                {
                    i += 1;
                }
                let w: String = c[start..i].iter().collect();
                out.push(match w.as_str() {
                    "eq" => Tok::Op(Op::ReEq),
                    "ne" => Tok::Op(Op::ReNe),
                    _ => Tok::Word(w),
                });
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut alts = vec![self.and()?];
        while matches!(self.peek(), Some(Tok::Word(w)) if w == "OR") {
            self.pos += 1;
            alts.push(self.and()?);
        }
        Ok(if alts.len() == 1 {
            alts.remove(0)
        } else {
            Filter::Or(alts)
        })
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut all = vec![self.unary()?];
        loop {
            match self.peek() {
                None | Some(Tok::Close) => break,
                Some(Tok::Word(w)) if w == "OR" => break,
                Some(Tok::Word(w)) if w == "AND" => {
                    self.pos += 1;
                    all.push(self.unary()?);
                }
                _ => all.push(self.unary()?),
            }
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Filter::And(all)
        })
    }

    fn unary(&mut self) -> Result<Filter, String> {
        match self.peek() {
            Some(Tok::Word(w)) if w == "NOT" => {
                self.pos += 1;
                Ok(Filter::Not(Box::new(self.unary()?)))
            }
            Some(Tok::Word(w)) if w.starts_with('-') && w.len() > 1 => {
                let field = w[1..].to_string();
                self.toks[self.pos] = Tok::Word(field);
                Ok(Filter::Not(Box::new(self.unary()?)))
            }
            Some(Tok::Open) => {
                self.pos += 1;
                let f = self.or()?;
                match self.next() {
                    Some(Tok::Close) => Ok(f),
                    _ => Err("missing ')'".into()),
                }
            }
            _ => self.cmp(),
        }
    }

    fn cmp(&mut self) -> Result<Filter, String> {
        let field = match self.next() {
            Some(Tok::Word(w)) => w,
            other => return Err(format!("expected a field name, found {other:?}")),
        };
        let op = match self.next() {
            Some(Tok::Op(op)) => op,
            other => {
                return Err(format!(
                    "expected an operator after '{field}', found {other:?}"
                ));
            }
        };
        let value = match self.next() {
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => w,
            other => return Err(format!("expected a value after '{field}', found {other:?}")),
        };
        let pattern = if matches!(op, Op::ReEq | Op::ReNe) {
            let re = regex::Regex::new(&format!("^(?:{value})$")).map_err(|e| e.to_string())?;
            Some(Pattern(re))
        } else {
            None
        };
        Ok(Filter::Cmp {
            field,
            op,
            value,
            pattern,
        })
    }
}

impl Filter {
    pub fn parse(s: &str) -> GcpResult<Filter> {
        if s.trim().is_empty() {
            return Ok(Filter::All);
        }
        let bad = |why: String| {
            GcpError::invalid_field(
                "filter",
                s,
                &format!("Invalid list filter expression: {why}."),
            )
        };
        let toks = tokenize(s).map_err(bad)?;
        let mut p = Parser { toks, pos: 0 };
        let f = p.or().map_err(bad)?;
        if p.pos < p.toks.len() {
            return Err(bad("unexpected ')'".into()));
        }
        Ok(f)
    }

    pub fn matches(&self, v: &Value) -> bool {
        match self {
            Filter::All => true,
            Filter::Not(f) => !f.matches(v),
            Filter::And(fs) => fs.iter().all(|f| f.matches(v)),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(v)),
            Filter::Cmp {
                field,
                op,
                value,
                pattern,
            } => {
                let re = pattern.as_ref().map(|p| &p.0);
                let mut found = Vec::new();
                collect(v, &field.split('.').collect::<Vec<_>>(), &mut found);
                match op {
                    Op::Ne => !found
                        .iter()
                        .any(|x| scalar(x).as_deref() == Some(value.as_str())),
                    Op::ReNe => re.is_some_and(|re| {
                        !found
                            .iter()
                            .any(|x| scalar(x).is_some_and(|s| re.is_match(&s)))
                    }),
                    _ => found.iter().any(|x| compare(x, *op, value, re)),
                }
            }
        }
    }
}

/// The values at `path`, through arrays.
fn collect<'a>(v: &'a Value, path: &[&str], out: &mut Vec<&'a Value>) {
    match (v, path.split_first()) {
        (Value::Array(a), _) => a.iter().for_each(|x| collect(x, path, out)),
        (_, None) => out.push(v),
        (Value::Object(o), Some((k, rest))) => {
            if let Some(x) = o.get(*k) {
                collect(x, rest, out);
            }
        }
        _ => {}
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn compare(v: &Value, op: Op, want: &str, re: Option<&regex::Regex>) -> bool {
    if op == Op::Has && want == "*" {
        return !v.is_null();
    }
    let Some(have) = scalar(v) else {
        return false;
    };
    match op {
        Op::Eq => have == want,
        Op::Has => have.contains(want),
        Op::ReEq => re.is_some_and(|re| re.is_match(&have)),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let ord = match (have.parse::<f64>(), want.parse::<f64>()) {
                (Ok(a), Ok(b)) => a.partial_cmp(&b),
                _ => Some(have.as_str().cmp(want)),
            };
            ord.is_some_and(|o| match op {
                Op::Lt => o.is_lt(),
                Op::Le => o.is_le(),
                Op::Gt => o.is_gt(),
                _ => o.is_ge(),
            })
        }
        Op::Ne | Op::ReNe => unreachable!("handled by the caller"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(f: &str, v: &Value) -> bool {
        Filter::parse(f).unwrap().matches(v)
    }

    #[test]
    fn the_common_forms_match() {
        let v = json!({"name": "web-1", "status": "RUNNING", "labels": {"env": "prod"},
            "networkInterfaces": [{"networkIP": "10.0.0.2"}], "cpu": 4, "deletionProtection": false});
        assert!(m(r#"name = "web-1""#, &v));
        assert!(m("name = web-1", &v));
        assert!(!m(r#"name = "web""#, &v));
        assert!(m("name eq web-.*", &v));
        assert!(!m("name eq web", &v), "eq matches the whole value");
        assert!(m(r#"name ne "db-.*""#, &v));
        assert!(m("name != db-1", &v));
        assert!(m("labels.env = prod", &v));
        assert!(m("labels.env:*", &v));
        assert!(!m("labels.team:*", &v));
        assert!(m(r#"networkInterfaces.networkIP = "10.0.0.2""#, &v));
        assert!(m("(status = RUNNING) (labels.env = prod)", &v));
        assert!(m("status = RUNNING AND name:web", &v));
        assert!(!m("status = STOPPED AND name:web", &v));
        assert!(m("(status = STOPPED) OR (name = web-1)", &v));
        assert!(m("NOT status = STOPPED", &v));
        assert!(m("-labels.team:*", &v));
        assert!(m("cpu > 2", &v) && m("cpu <= 4", &v) && !m("cpu < 4", &v));
        assert!(m("deletionProtection = false", &v));
    }

    #[test]
    fn bad_filters_are_invalid() {
        for f in [
            "name =",
            "(name = a",
            "name a",
            "name eq (",
            r#"name = "x"#,
            "= x",
        ] {
            let e = Filter::parse(f).unwrap_err();
            assert_eq!((e.code, e.reason.as_str()), (400, "invalid"), "{f}");
        }
        assert_eq!(Filter::parse("  ").unwrap(), Filter::All);
    }
}
