//! The AWS query protocol's response side: a small XML writer and the response envelopes the
//! AWS SDKs parse (EC2's `<XResponse><requestId>` and the awsQuery `<XResponse><XResult>`
//! with `<ResponseMetadata>`).

use std::fmt::{Display, Write};

pub const EC2_XMLNS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
pub const ELBV2_XMLNS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

/// An XML document built element by element; text is always escaped.
#[derive(Debug, Default, Clone)]
pub struct Xml {
    buf: String,
}

impl Xml {
    pub fn new() -> Xml {
        Xml::default()
    }

    pub fn open(&mut self, tag: &str) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    pub fn close(&mut self, tag: &str) -> &mut Self {
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// `<tag>value</tag>` with the value escaped.
    pub fn leaf(&mut self, tag: &str, value: impl Display) -> &mut Self {
        self.open(tag);
        // Writing to a String cannot fail.
        let _ = write!(Escaper(&mut self.buf), "{value}");
        self.close(tag)
    }

    /// Escaped text in the current element (a member of a list of scalars).
    pub fn text(&mut self, value: impl Display) -> &mut Self {
        // Writing to a String cannot fail.
        let _ = write!(Escaper(&mut self.buf), "{value}");
        self
    }

    /// A leaf only when the value is present.
    pub fn opt_leaf<T: Display>(&mut self, tag: &str, value: Option<T>) -> &mut Self {
        if let Some(v) = value {
            self.leaf(tag, v);
        }
        self
    }

    /// `<tag>...</tag>` around whatever `body` writes.
    pub fn elem(&mut self, tag: &str, body: impl FnOnce(&mut Xml)) -> &mut Self {
        self.open(tag);
        body(self);
        self.close(tag)
    }

    /// A list in the EC2 flavour: `<tag><item>..</item>...</tag>`, or in the awsQuery
    /// flavour with `item = "member"`.
    pub fn list<T>(
        &mut self,
        tag: &str,
        item: &str,
        items: impl IntoIterator<Item = T>,
        mut each: impl FnMut(&mut Xml, T),
    ) -> &mut Self {
        self.open(tag);
        for it in items {
            self.open(item);
            each(self, it);
            self.close(item);
        }
        self.close(tag)
    }

    pub fn into_string(self) -> String {
        self.buf
    }

    pub fn as_str(&self) -> &str {
        &self.buf
    }
}

/// Escapes the five XML special characters while writing.
struct Escaper<'a>(&'a mut String);

impl Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab/newline/carriage return are not allowed in
            // XML 1.0 at all; replace them rather than emit a document the SDK cannot parse.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// An EC2 response: `<{action}Response xmlns=..><requestId>..</requestId>{body}</..>`.
pub fn ec2_response(action: &str, request_id: &str, body: &Xml) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"{EC2_XMLNS}\">\
         <requestId>{rid}</requestId>{body}</{action}Response>",
        rid = escape(request_id),
        body = body.as_str(),
    )
}

/// An awsQuery (ELBv2) response with its `Result` and `ResponseMetadata`.
pub fn query_response(xmlns: &str, action: &str, request_id: &str, body: &Xml) -> String {
    format!(
        "<{action}Response xmlns=\"{xmlns}\"><{action}Result>{body}</{action}Result>\
         <ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata></{action}Response>",
        rid = escape(request_id),
        body = body.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_builds_lists() {
        let mut x = Xml::new();
        x.leaf("a", "<&>\"'")
            .list("set", "item", ["x", "y"], |x, v| {
                x.leaf("v", v);
            });
        assert_eq!(
            x.as_str(),
            "<a>&lt;&amp;&gt;&quot;&apos;</a><set><item><v>x</v></item><item><v>y</v></item></set>"
        );
    }

    #[test]
    fn control_characters_never_reach_the_document() {
        assert_eq!(escape("a\u{1}b\tc"), "a\u{FFFD}b\tc");
    }

    #[test]
    fn envelopes_have_the_shapes_the_sdks_parse() {
        let mut x = Xml::new();
        x.leaf("return", true);
        let ec2 = ec2_response("DeleteTags", "req-1", &x);
        assert!(ec2.contains("<DeleteTagsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>req-1</requestId><return>true</return></DeleteTagsResponse>"));
        let q = query_response(ELBV2_XMLNS, "DeleteRule", "r", &Xml::new());
        assert_eq!(
            q,
            "<DeleteRuleResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\"><DeleteRuleResult></DeleteRuleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DeleteRuleResponse>"
        );
    }
}
