//! Client-protocol fronts: each only translates between its wire and the
//! session engine ([`crate::engine`]).

pub(crate) mod openai;
pub(crate) mod xai_rest;
pub(crate) mod xai_ws;
