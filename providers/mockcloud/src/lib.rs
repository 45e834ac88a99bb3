//! cloudnet-mockcloud: an offline cloud that speaks the clouds' real wire protocols.

pub mod awserror;
pub mod query;
pub mod xml;
