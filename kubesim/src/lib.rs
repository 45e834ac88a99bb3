//! cloudnet-kubesim
