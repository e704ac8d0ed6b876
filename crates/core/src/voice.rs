//! Voices a provider offers.

use serde::{Deserialize, Serialize};

/// One voice of one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voice {
    /// The id to pass as `voice` in a request.
    pub id: String,
    /// A human-readable name.
    pub name: String,
    /// BCP-47 language tags the voice speaks (`auto` for any).
    pub languages: Vec<String>,
    /// `male`, `female` or another description, when the provider says.
    pub gender: Option<String>,
    /// The provider id that serves it.
    pub provider: String,
}
