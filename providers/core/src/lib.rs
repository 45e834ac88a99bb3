//! cloudnet-core
