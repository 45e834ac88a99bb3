//! cloudnet-mockcloud
