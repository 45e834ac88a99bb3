//! The services the query-protocol endpoint answers.

/// The services the query protocol endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Ec2,
    Elbv2,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Ec2 => "ec2",
            Service::Elbv2 => "elbv2",
        }
    }

    /// The service of a SigV4 credential scope (`Credential=AKID/date/region/SERVICE/aws4_request`).
    pub fn from_signing_name(name: &str) -> Option<Service> {
        match name {
            "ec2" => Some(Service::Ec2),
            "elasticloadbalancing" => Some(Service::Elbv2),
            _ => None,
        }
    }

    /// The service of a query-protocol `Version`.
    pub fn from_version(version: &str) -> Option<Service> {
        match version {
            "2016-11-15" => Some(Service::Ec2),
            "2015-12-01" => Some(Service::Elbv2),
            _ => None,
        }
    }
}
