//! The failover router: one `TtsProvider` over an ordered chain of providers.
//!
//! - **Retry what is retryable, fail over on what is not.** Per provider a
//!   [`Policy`]: `max_retries` with exponential backoff and full jitter (never
//!   shorter than a `Retry-After`), first-audio and inactivity timeouts, and a
//!   per-sentence deadline ([`RouterSettings`]). `InvalidInput` and `Cancelled`
//!   never fail over.
//! - **Health.** A provider that fails non-retryably, or runs out of retries,
//!   is marked down and skipped (unless every provider is down). A background
//!   probe, one short synthesis per cooldown (growing on repeated failures),
//!   brings it back. Every change is a [`RouterEvent`].
//! - **Lose nothing.** Text is cut into sentences (UAX #29 plus abbreviations,
//!   decimals, ellipses, and never inside an inline tag; see [`segment`]) and
//!   spoken one at a time, so when a provider dies mid-stream the next one
//!   resumes at the first sentence not finished: no sentence lost, at most the
//!   interrupted one repeated. Pieces never exceed a provider's `max_text_chars`.
//! - **One format.** Every chunk has the format asked for (or the first
//!   provider's native one), whoever served it.
//! - **Observable.** `tracing` spans per piece and attempt; an
//!   [`AttemptRecord`] per attempt; sessions carry `SessionEvent::ProviderChanged`.
//!
//! - **Anywhere.** On tokio natively; on wasm32 in a browser's event loop
//!   (the browser client fails over between endpoints with it). Natively it
//!   resamples any provider's rate to the one asked for; the browser build
//!   leaves resampling out.
//!
//! Config: each `[[chain]]` entry may hold `policy = { max_retries = 2, ... }`;
//! the `[router]` table holds [`RouterSettings`].
#![warn(missing_docs)]

mod attempt;
pub mod events;
mod health;
mod jitter;
mod member;
pub mod normalize;
mod piece;
pub mod policy;
pub mod rt;
pub mod segment;
mod session;

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::broadcast;
use voxwire_core::session::{self as core_session, SessionEvent, StreamConfig, SynthesisSession};
use voxwire_core::{
    registry, AudioFormat, AudioStream, Capabilities, Config, ProviderConfig, Result,
    SynthesisRequest, TtsError, TtsProvider, Voice,
};

pub use events::{AttemptOutcome, AttemptRecord, RouterEvent};
pub use policy::{Policy, RouterSettings};

use member::{Member, Template};

/// Events buffered for slow subscribers before the oldest are dropped.
const EVENT_BUFFER: usize = 1024;

/// The failover router.
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    members: Vec<Member>,
    settings: RouterSettings,
    events: broadcast::Sender<RouterEvent>,
    /// The smallest `max_text_chars` of the chain: no piece is longer.
    max_piece_chars: usize,
    weak: Weak<Inner>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("chain", &self.chain())
            .finish()
    }
}

/// A chain entry that could not be built, and why.
#[derive(Debug)]
pub struct Skipped {
    /// The provider id of the entry.
    pub provider: String,
    /// Why it could not be built.
    pub error: TtsError,
}

impl Router {
    /// A router over built providers, in failover order.
    pub fn new(
        chain: Vec<(Arc<dyn TtsProvider>, Policy)>,
        settings: RouterSettings,
    ) -> Result<Self> {
        if chain.is_empty() {
            return Err(TtsError::config("the router needs at least one provider")
                .with_hint("configure a [[chain]] or pass --provider ID"));
        }
        let max_piece_chars = chain
            .iter()
            .map(|(p, _)| p.capabilities().max_text_chars)
            .min()
            .unwrap_or(usize::MAX)
            .max(1);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let inner = Arc::new_cyclic(|weak| Inner {
            members: chain
                .into_iter()
                .map(|(provider, policy)| Member::new(provider, policy))
                .collect(),
            settings,
            events,
            max_piece_chars,
            weak: weak.clone(),
        });
        Ok(Self { inner })
    }

    /// Builds every entry through the registry; entries that cannot be built
    /// are left out and returned (an error only when none can be built).
    pub fn from_entries(
        entries: &[ProviderConfig],
        settings: RouterSettings,
    ) -> Result<(Self, Vec<Skipped>)> {
        let mut chain = Vec::new();
        let mut skipped = Vec::new();
        for entry in entries {
            let built = Policy::from_table(&entry.provider, &entry.policy)
                .and_then(|policy| registry::build(entry).map(|p| (p, policy)));
            match built {
                Ok(member) => chain.push(member),
                Err(error) => skipped.push(Skipped {
                    provider: entry.provider.clone(),
                    error,
                }),
            }
        }
        if chain.is_empty() {
            let why: Vec<String> = skipped.iter().map(|s| s.error.to_string()).collect();
            let kind = skipped
                .last()
                .map_or(voxwire_core::ErrorKind::Config, |s| s.error.kind());
            return Err(TtsError::new(
                kind,
                format!(
                    "no provider of the chain could be built: {}",
                    why.join("; ")
                ),
            )
            .with_provider("router"));
        }
        Ok((Self::new(chain, settings)?, skipped))
    }

    /// The router for a whole config: its chain (or the default chain) and `[router]` table.
    pub fn from_config(config: &Config) -> Result<(Self, Vec<Skipped>)> {
        let settings = RouterSettings::from_table(&config.router)?;
        Self::from_entries(&config.chain_or_default(), settings)
    }

    /// Every event from now on: attempts, failovers, availability changes.
    pub fn subscribe(&self) -> broadcast::Receiver<RouterEvent> {
        self.inner.events.subscribe()
    }

    /// Provider ids, in failover order.
    pub fn chain(&self) -> Vec<String> {
        self.inner
            .members
            .iter()
            .map(|m| m.id().to_string())
            .collect()
    }

    /// Whether `provider` is currently in rotation.
    pub fn is_available(&self, provider: &str) -> bool {
        self.inner
            .members
            .iter()
            .any(|m| m.id() == provider && m.health.is_up())
    }

    fn template_and_target(&self, config: &StreamConfig) -> (Template, AudioFormat) {
        let target = config
            .format
            .unwrap_or_else(|| self.inner.members[0].provider.capabilities().native_format);
        let template = Template {
            voice: config.voice.clone(),
            language: config.language.clone(),
            speed: config.speed,
            extensions: config.extensions.clone(),
        };
        (template, target)
    }

    /// Opens a streaming session at once (what `stream` does, without the
    /// `async`): for callers outside an async context, such as a browser UI.
    pub fn session(&self, config: &StreamConfig) -> Result<SynthesisSession> {
        if let Some(format) = &config.format {
            format.validate()?;
        }
        Ok(self.open(config))
    }

    fn open(&self, config: &StreamConfig) -> SynthesisSession {
        let (template, target) = self.template_and_target(config);
        let (session, driver) = core_session::channel(core_session::DEFAULT_QUEUE_CAPACITY);
        rt::detach(session::SessionLoop::new(self.inner.clone(), driver, template, target).run());
        session
    }
}

impl Inner {
    /// Members to try, in order, and the provider skipped in favour of the
    /// first of them, with why (if the chain's first is down): members down
    /// are skipped unless all are down.
    fn order(&self) -> (Vec<usize>, Option<(String, String)>) {
        let up: Vec<usize> = (0..self.members.len())
            .filter(|&i| self.members[i].health.is_up())
            .collect();
        if up.is_empty() {
            return ((0..self.members.len()).collect(), None);
        }
        let skipped = (up[0] != 0).then(|| {
            let first = &self.members[0];
            let why = first
                .health
                .last_error()
                .unwrap_or_else(|| "it failed earlier".into());
            (first.id().to_string(), format!("it is down: {why}"))
        });
        (up, skipped)
    }

    fn report_attempt(&self, record: AttemptRecord) {
        tracing::info!(
            provider = %record.provider,
            attempt = record.attempt,
            piece = record.piece,
            outcome = ?record.outcome,
            first_audio_ms = record.first_audio.map(|d| d.as_millis() as u64),
            audio_s = record.audio.as_secs_f64(),
            chars = record.chars,
            "attempt"
        );
        let _ = self.events.send(RouterEvent::Attempt(record));
    }

    fn mark_up(&self, idx: usize, why: &str) {
        let member = &self.members[idx];
        if member.health.mark_up() {
            tracing::info!(provider = member.id(), why, "provider available again");
            let _ = self.events.send(RouterEvent::Availability {
                provider: member.id().to_string(),
                available: true,
                reason: why.to_string(),
            });
        }
    }

    fn mark_down(&self, idx: usize, error: &TtsError) {
        let member = &self.members[idx];
        let marked = member.health.mark_down(&member.policy, &error.to_string());
        if marked.was_up {
            tracing::info!(provider = member.id(), %error, cooldown_ms = marked.cooldown.as_millis() as u64, "provider marked down");
            let _ = self.events.send(RouterEvent::Availability {
                provider: member.id().to_string(),
                available: false,
                reason: error.to_string(),
            });
        }
        if marked.start_probe {
            rt::detach(probe(self.weak.clone(), idx, marked.cooldown));
        }
    }
}

/// Brings a provider back: after each cooldown, one short synthesis; success
/// marks it up, failure waits a longer cooldown. Ends with the router.
async fn probe(weak: Weak<Inner>, idx: usize, mut wait: Duration) {
    loop {
        rt::sleep(wait).await;
        let Some(inner) = weak.upgrade() else { return };
        let member = &inner.members[idx];
        if member.health.is_up() {
            member.health.probe_stopped();
            return; // a request while everything was down brought it back
        }
        let limit = member.policy.first_audio_timeout() + member.policy.inactivity_timeout();
        let check = rt::timeout(
            limit,
            voxwire_core::diagnose::synthesis_check(
                member.provider.as_ref(),
                "probe",
                &inner.settings.probe_text,
            ),
        )
        .await;
        match check {
            Ok(check) if check.passed() => {
                inner.mark_up(idx, "a recovery probe succeeded");
                return;
            }
            Ok(check) => {
                let why = check
                    .error()
                    .map_or_else(|| "probe failed".to_string(), ToString::to_string);
                wait = member.health.probe_failed(&member.policy, &why);
            }
            Err(_) => {
                wait = member
                    .health
                    .probe_failed(&member.policy, "the probe timed out");
            }
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), voxwire_core::async_trait)]
#[cfg_attr(target_arch = "wasm32", voxwire_core::async_trait(?Send))]
impl TtsProvider for Router {
    fn id(&self) -> &str {
        "router"
    }

    fn describe(&self) -> String {
        format!("router ({})", self.chain().join(" → "))
    }

    fn capabilities(&self) -> Capabilities {
        let first = self.inner.members[0].provider.capabilities();
        Capabilities {
            streaming_input: true,
            encodings: first.encodings,
            sample_rates: Vec::new(),
            native_format: first.native_format,
            languages: Vec::new(),
            max_text_chars: voxwire_core::text::DEFAULT_MAX_TEXT_CHARS,
            timestamps: false,
            speed_range: None,
        }
    }

    async fn voices(&self) -> Result<Vec<Voice>> {
        let mut all = Vec::new();
        let mut last_error = None;
        for member in &self.inner.members {
            match member.provider.voices().await {
                Ok(voices) => all.extend(voices),
                Err(e) => last_error = Some(e),
            }
        }
        match (all.is_empty(), last_error) {
            (true, Some(e)) => Err(e),
            _ => Ok(all),
        }
    }

    async fn synthesize(&self, request: SynthesisRequest) -> Result<AudioStream> {
        request.validate(voxwire_core::text::DEFAULT_MAX_TEXT_CHARS)?;
        let config = StreamConfig {
            voice: request.voice,
            language: request.language,
            format: request.format,
            speed: request.speed,
            extensions: request.extensions,
        };
        let mut session = self.open(&config);
        session.push_text(&request.text).await?;
        session.flush().await?;
        session.finish().await?;
        let (_input, events) = session.split();
        Ok(Box::pin(events.filter_map(|event| async move {
            match event {
                Ok(SessionEvent::Audio(chunk)) => Some(Ok(chunk)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            }
        })))
    }

    async fn stream(&self, config: StreamConfig) -> Result<SynthesisSession> {
        self.session(&config)
    }
}
