//! IAM for the mock cloud: policy documents and their evaluation ([`policy`]).

pub mod policy;

#[cfg(test)]
mod policy_tests;
