//! One provider of the chain with its policy, health and voice list.

use std::sync::Arc;

use tokio::sync::OnceCell;
use voxwire_core::{SynthesisRequest, TtsProvider};

use crate::health::Health;
use crate::policy::Policy;

/// How every piece of one request or session should sound.
#[derive(Debug, Clone, Default)]
pub(crate) struct Template {
    pub voice: Option<String>,
    pub language: Option<String>,
    pub speed: Option<f32>,
    pub extensions: voxwire_core::Extensions,
}

pub(crate) struct Member {
    pub provider: Arc<dyn TtsProvider>,
    pub policy: Policy,
    pub health: Health,
    /// Voice ids, lower-cased; `None` when the provider could not list them.
    voices: OnceCell<Option<Vec<String>>>,
}

impl Member {
    pub fn new(provider: Arc<dyn TtsProvider>, policy: Policy) -> Self {
        Self {
            provider,
            policy,
            health: Health::default(),
            voices: OnceCell::new(),
        }
    }

    pub fn id(&self) -> &str {
        self.provider.id()
    }

    /// The request for `text`. A voice is provider-specific: it is passed to
    /// providers that list it (or cannot list voices) and left out for the
    /// others, which then speak with their own default voice.
    pub async fn request(&self, template: &Template, text: &str) -> SynthesisRequest {
        let mut request = SynthesisRequest::new(text);
        request.language = template.language.clone();
        request.speed = template.speed;
        request.extensions = template.extensions.clone();
        if let Some(voice) = &template.voice {
            if self.knows_voice(voice).await {
                request.voice = Some(voice.clone());
            }
        }
        request
    }

    async fn knows_voice(&self, voice: &str) -> bool {
        let listed = self
            .voices
            .get_or_init(|| async {
                self.provider
                    .voices()
                    .await
                    .ok()
                    .map(|v| v.into_iter().map(|v| v.id.to_ascii_lowercase()).collect())
            })
            .await;
        listed
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|id| id.eq_ignore_ascii_case(voice)))
    }
}
