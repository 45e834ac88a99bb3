//! AWS errors as the clouds send them: a code the SDKs match on, a message, an HTTP status,
//! and the two XML shapes (EC2's `<Response><Errors>` and awsQuery's `<ErrorResponse>`).

use crate::xml::escape;

/// One AWS error. `code` is what SDKs and callers match on; never match on `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for AwsError {}

impl AwsError {
    /// A caller's mistake (HTTP 400).
    pub fn client(code: impl Into<String>, message: impl Into<String>) -> AwsError {
        AwsError {
            status: 400,
            code: code.into(),
            message: message.into(),
        }
    }

    /// The cloud's own failure (HTTP 500/503).
    pub fn server(status: u16, code: impl Into<String>, message: impl Into<String>) -> AwsError {
        AwsError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn with_status(mut self, status: u16) -> AwsError {
        self.status = status;
        self
    }

    pub fn missing_parameter(name: &str) -> AwsError {
        AwsError::client(
            "MissingParameter",
            format!("The request must contain the parameter {name}"),
        )
    }

    pub fn invalid_parameter_value(message: impl Into<String>) -> AwsError {
        AwsError::client("InvalidParameterValue", message)
    }

    pub fn invalid_action(action: &str) -> AwsError {
        AwsError::client(
            "InvalidAction",
            format!("The action {action} is not valid for this web service."),
        )
    }

    /// `<Response><Errors><Error>..</Error></Errors><RequestID>..</RequestID></Response>`
    pub fn to_ec2_xml(&self, request_id: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code>\
             <Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
            escape(&self.code),
            escape(&self.message),
            escape(request_id)
        )
    }

    /// `<ErrorResponse xmlns=..><Error><Type>Sender|Receiver</Type>..</Error><RequestId>..`
    pub fn to_query_xml(&self, xmlns: &str, request_id: &str) -> String {
        let kind = if self.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        };
        format!(
            "<ErrorResponse xmlns=\"{xmlns}\"><Error><Type>{kind}</Type><Code>{}</Code>\
             <Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            escape(&self.code),
            escape(&self.message),
            escape(request_id)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_carry_code_and_escaped_message() {
        let e = AwsError::client("InvalidNetworkInterfaceID.NotFound", "no <eni>");
        let x = e.to_ec2_xml("rid");
        assert!(x.contains("<Code>InvalidNetworkInterfaceID.NotFound</Code>"));
        assert!(x.contains("<Message>no &lt;eni&gt;</Message>"));
        assert!(x.contains("<RequestID>rid</RequestID>"));
        let q = AwsError::server(503, "ServiceUnavailable", "down").to_query_xml("ns", "r");
        assert!(q.contains("<Type>Receiver</Type><Code>ServiceUnavailable</Code>"));
    }
}
