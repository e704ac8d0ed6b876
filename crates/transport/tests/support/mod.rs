//! What the transport's tests (and its stress bench) share.

pub mod mux;
