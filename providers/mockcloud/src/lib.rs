//! cloudnet-mockcloud: an offline cloud that speaks the clouds' real wire protocols.

pub mod awserror;
pub mod elbv2;
pub mod query;
pub mod xml;
