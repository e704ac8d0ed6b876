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
//!
//! # Example
//!
//! Two providers in failover order (fakes from the test kit here; real
//! providers are built the same way, or from `voxwire.toml` with
//! [`Router::from_config`]):
//!
//! ```no_run
//! use futures::StreamExt;
//! use voxwire_core::{SynthesisRequest, TtsProvider};
//! use voxwire_router::{Policy, Router, RouterSettings};
//! use voxwire_testkit::fake::FakeProvider;
//!
//! async fn speak() -> voxwire_core::Result<usize> {
//!     let primary = FakeProvider::new("primary");
//!     let fallback = FakeProvider::new("fallback");
//!     let router = Router::new(
//!         vec![(primary.arc(), Policy::default()), (fallback.arc(), Policy::default())],
//!         RouterSettings::default(),
//!     )?;
//!     let mut audio = router.synthesize(SynthesisRequest::new("Hello. Goodbye.")).await?;
//!     let mut bytes = 0;
//!     while let Some(chunk) = audio.next().await {
//!         bytes += chunk?.data.len();
//!     }
//!     Ok(bytes)
//! }
//! ```
#![warn(missing_docs)]

mod attempt;
mod balance;
#[cfg(feature = "cache")]
pub mod cache;
#[cfg(not(feature = "cache"))]
#[path = "cache_off.rs"]
mod cache;
pub mod events;
mod handover;
mod health;
mod hedge;
mod jitter;
mod member;
pub mod normalize;
mod piece;
pub mod policy;
mod resume;
pub mod rt;
pub use voxwire_core::segment;
mod session;
#[cfg(not(target_arch = "wasm32"))]
mod share;
#[cfg(not(target_arch = "wasm32"))]
pub use share::{HealthChange, HealthShare};

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::broadcast;
use voxwire_core::session::{self as core_session, SessionEvent, StreamConfig, SynthesisSession};
use voxwire_core::{
    registry, AudioFormat, AudioStream, Capabilities, Config, ProviderConfig, Result,
    SynthesisRequest, TtsError, TtsProvider, Voice,
};

pub use events::{AttemptOutcome, AttemptRecord, FailoverKind, FailoverReason, RouterEvent};
pub use member::EntryUsage;
pub use piece::Replayed;
pub use policy::{Policy, RouterSettings, DEFAULT_LOOKAHEAD, MAX_LOOKAHEAD};

use balance::{Group, Sticky};
use health::LatencyChange;
use member::{Member, Template};
use rt::Tasks;

/// Events buffered for slow subscribers before the oldest are dropped.
const EVENT_BUFFER: usize = 1024;

/// The failover router.
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    members: Vec<Member>,
    /// Weighted groups (members sharing a `group` name), in chain order.
    groups: Vec<Group>,
    settings: RouterSettings,
    events: broadcast::Sender<RouterEvent>,
    /// The smallest `max_text_chars` of the chain: no piece is longer.
    max_piece_chars: usize,
    /// Every session, voice listing and probe task the router started.
    tasks: Tasks,
    /// The phrase cache, when one is configured (never, without the feature).
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    cache: Option<cache::PhraseCache>,
    /// Where health changes are published (a fleet), once set.
    #[cfg(not(target_arch = "wasm32"))]
    share: std::sync::OnceLock<Arc<dyn HealthShare>>,
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
    /// The entry's name.
    pub entry: String,
    /// Why it could not be built.
    pub error: TtsError,
}

/// One entry of the chain: a name, a built provider and how to treat it.
#[derive(Clone)]
pub struct Entry {
    /// Unique in the chain; names the entry in health, events, records and metrics.
    pub name: String,
    /// The provider.
    pub provider: Arc<dyn TtsProvider>,
    /// How the router treats it.
    pub policy: Policy,
    /// What in its settings changes its sound: part of the phrase cache's
    /// key (see [`Entry::sounding`]).
    sound: String,
}

impl Entry {
    /// An entry named after its provider id.
    pub fn new(provider: Arc<dyn TtsProvider>, policy: Policy) -> Self {
        Self {
            name: provider.id().to_string(),
            provider,
            policy,
            sound: String::new(),
        }
    }

    /// The same entry under another name.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The same entry, its sound described by `sound`: the settings that
    /// change how it sounds (model, sample settings, endpoint), so a phrase
    /// cached before a change of them is not played after it. Entries built
    /// from config get every setting but their credentials.
    pub fn sounding(mut self, sound: impl Into<String>) -> Self {
        self.sound = sound.into();
        self
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.name)
            .field("provider", &self.provider.id())
            .finish()
    }
}

impl Router {
    /// A router over built providers, in failover order, each entry named
    /// after its provider id (a repeated id gets `-2`, `-3`, ...). Use
    /// [`Router::with_entries`] to name entries.
    pub fn new(
        chain: Vec<(Arc<dyn TtsProvider>, Policy)>,
        settings: RouterSettings,
    ) -> Result<Self> {
        let mut entries: Vec<Entry> = Vec::new();
        for (provider, policy) in chain {
            let id = provider.id().to_string();
            let mut name = id.clone();
            let mut n = 1;
            while entries.iter().any(|e| e.name == name) {
                n += 1;
                name = format!("{id}-{n}");
            }
            entries.push(Entry::new(provider, policy).named(name));
        }
        Self::with_entries(entries, settings)
    }

    /// A router over named entries, in failover order; two entries with one
    /// name are a `Config` error.
    pub fn with_entries(chain: Vec<Entry>, settings: RouterSettings) -> Result<Self> {
        Self::build(chain, settings, None)
    }

    /// A router over named entries with a phrase cache: a sentence an entry
    /// spoke whole is said again from it (see [`cache`]).
    #[cfg(feature = "cache")]
    pub fn with_phrase_cache(
        chain: Vec<Entry>,
        settings: RouterSettings,
        cache: cache::PhraseCache,
    ) -> Result<Self> {
        Self::build(chain, settings, Some(cache))
    }

    /// The phrase cache, if the router has one.
    #[cfg(feature = "cache")]
    pub fn phrase_cache(&self) -> Option<&cache::PhraseCache> {
        self.inner.cache.as_ref()
    }

    fn build(
        chain: Vec<Entry>,
        settings: RouterSettings,
        cache: Option<cache::PhraseCache>,
    ) -> Result<Self> {
        if chain.is_empty() {
            return Err(TtsError::config("the router needs at least one provider")
                .with_hint("configure a [[chain]] or pass --provider ID"));
        }
        for (i, entry) in chain.iter().enumerate() {
            if entry.name.trim().is_empty() {
                return Err(TtsError::config(format!(
                    "chain entry {} has an empty name",
                    i + 1
                )));
            }
            if chain[..i].iter().any(|e| e.name == entry.name) {
                return Err(TtsError::config(format!(
                    "two chain entries are named `{}`",
                    entry.name
                ))
                .with_hint("give each entry of the same provider its own `name`"));
            }
        }
        let max_piece_chars = chain
            .iter()
            .map(|e| e.provider.capabilities().max_text_chars)
            .min()
            .unwrap_or(usize::MAX)
            .max(1);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let can_fail_over = chain.len() > 1;
        let mut members: Vec<Member> = chain
            .into_iter()
            .map(|e| Member::new(e.name, e.provider, e.policy, can_fail_over).sounding(e.sound))
            .collect();
        let mut names: Vec<&str> = Vec::new();
        let mut groups = Vec::new();
        for m in &members {
            if let Some(g) = m.policy.group.as_deref() {
                if !names.contains(&g) {
                    names.push(g);
                }
            }
        }
        let names: Vec<String> = names.into_iter().map(str::to_string).collect();
        for (gi, name) in names.iter().enumerate() {
            let idxs: Vec<usize> = (0..members.len())
                .filter(|&i| members[i].policy.group.as_deref() == Some(name.as_str()))
                .collect();
            let weights = idxs.iter().map(|&i| members[i].policy.weight).collect();
            for &i in &idxs {
                members[i].group = Some(gi);
            }
            groups.push(Group::new(idxs, weights));
        }
        let inner = Arc::new_cyclic(|weak| Inner {
            members,
            groups,
            settings,
            events,
            max_piece_chars,
            tasks: Tasks::default(),
            cache,
            #[cfg(not(target_arch = "wasm32"))]
            share: std::sync::OnceLock::new(),
            weak: weak.clone(),
        });
        // Voice lists are fetched now, off every sentence's path.
        if rt::can_spawn() {
            for idx in 0..inner.members.len() {
                inner.list_voices_in_background(idx);
            }
        }
        Ok(Self { inner })
    }

    /// Builds every entry through the registry; entries that cannot be built
    /// are left out and returned (an error only when none can be built, or
    /// when two entries share a name).
    pub fn from_entries(
        entries: &[ProviderConfig],
        settings: RouterSettings,
    ) -> Result<(Self, Vec<Skipped>)> {
        Self::from_entries_cached(entries, settings, None)
    }

    fn from_entries_cached(
        entries: &[ProviderConfig],
        settings: RouterSettings,
        cache: Option<cache::PhraseCache>,
    ) -> Result<(Self, Vec<Skipped>)> {
        voxwire_core::Config::check_names(entries)?;
        let mut chain = Vec::new();
        let mut skipped = Vec::new();
        for entry in entries {
            let built = Policy::from_table(entry.entry_name(), &entry.policy)
                .and_then(|policy| registry::build(entry).map(|p| (p, policy)));
            match built {
                Ok((provider, policy)) => chain.push(
                    Entry::new(provider, policy)
                        .named(entry.entry_name())
                        .sounding(cache::sound_of(&entry.settings)),
                ),
                Err(error) => skipped.push(Skipped {
                    provider: entry.provider.clone(),
                    entry: entry.entry_name().to_string(),
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
        Ok((Self::build(chain, settings, cache)?, skipped))
    }

    /// The router for a whole config: its chain (or the default chain), its
    /// `[router]` table and its `[cache]` (the phrase cache, off when absent).
    pub fn from_config(config: &Config) -> Result<(Self, Vec<Skipped>)> {
        let settings = RouterSettings::from_table(&config.router)?;
        #[cfg(feature = "cache")]
        let cache = match cache::CacheSettings::from_table(&config.cache)? {
            Some(settings) => Some(cache::PhraseCache::from_settings(&settings)?),
            None => None,
        };
        #[cfg(not(feature = "cache"))]
        let cache = match config.cache.is_empty() {
            true => None,
            false => {
                return Err(TtsError::config(
                    "[cache] is set, but this build of voxwire-router has no phrase cache (its `cache` feature is off)",
                ))
            }
        };
        Self::from_entries_cached(&config.chain_or_default(), settings, cache)
    }

    /// Every event from now on: attempts, failovers, availability changes.
    pub fn subscribe(&self) -> broadcast::Receiver<RouterEvent> {
        self.inner.events.subscribe()
    }

    /// Entry names, in failover order.
    pub fn chain(&self) -> Vec<String> {
        self.inner.members.iter().map(|m| m.name.clone()).collect()
    }

    /// `(entry name, provider id)` of every entry, in failover order.
    pub fn entries(&self) -> Vec<(String, String)> {
        self.inner
            .members
            .iter()
            .map(|m| (m.name.clone(), m.provider_id().to_string()))
            .collect()
    }

    /// Whether the entry named `entry` is currently in rotation.
    pub fn is_available(&self, entry: &str) -> bool {
        self.inner
            .members
            .iter()
            .any(|m| m.name == entry && m.health.is_up())
    }

    /// Whether the entry named `entry` is degraded: its first audio missed
    /// its `first_audio_slo_ms` `slow_strikes` times in a row, so it is
    /// ordered behind every healthy entry.
    pub fn is_degraded(&self, entry: &str) -> bool {
        self.inner
            .members
            .iter()
            .any(|m| m.name == entry && m.health.is_degraded())
    }

    /// Every entry's usage since the chain was built, in failover order:
    /// characters sent and audio received, with what hedges, cancellations
    /// and probes account for.
    pub fn usage(&self) -> Vec<EntryUsage> {
        self.inner
            .members
            .iter()
            .map(|m| m.usage.snapshot(&m.name))
            .collect()
    }

    /// Recovery probes running now (at most one per entry).
    pub fn probes_running(&self) -> usize {
        self.inner
            .members
            .iter()
            .filter(|m| {
                m.probe
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .is_some_and(|t| !t.is_finished())
            })
            .count()
    }

    /// Tasks the router started that still run: sessions, probes, voice listings.
    pub fn tasks_running(&self) -> usize {
        self.inner.tasks.live() + self.probes_running()
    }

    /// Ends every task the router started (sessions, recovery probes, voice
    /// listings); sessions opened afterwards fail at once.
    pub fn shutdown(&self) {
        self.inner.tasks.shutdown();
        for member in &self.inner.members {
            drop(
                member
                    .probe
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take(),
            );
        }
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
    /// Natively it needs a tokio runtime (it is an error outside one).
    pub fn session(&self, config: &StreamConfig) -> Result<SynthesisSession> {
        if let Some(format) = &config.format {
            format.validate()?;
        }
        if let Some(tag) = &config.language {
            voxwire_core::language::normalize(tag)?;
        }
        if !rt::can_spawn() {
            return Err(TtsError::new(
                voxwire_core::ErrorKind::Internal,
                "Router::session needs a tokio runtime: call it inside one (e.g. within Runtime::enter or block_on)",
            )
            .with_provider("router"));
        }
        if self.inner.tasks.is_closed() {
            return Err(TtsError::new(
                voxwire_core::ErrorKind::Cancelled,
                "the router was shut down",
            )
            .with_provider("router"));
        }
        Ok(self.open(config))
    }

    fn open(&self, config: &StreamConfig) -> SynthesisSession {
        let (template, target) = self.template_and_target(config);
        let (session, driver) = core_session::channel(core_session::DEFAULT_QUEUE_CAPACITY);
        let task = rt::spawn(
            session::SessionLoop::new(self.inner.clone(), driver, template, target).run(),
        );
        self.inner.tasks.add(task);
        session
    }
}

impl Inner {
    /// The chain order for one session: each weighted group in place of
    /// its first member, the session's member of it first (chosen by weight
    /// when it has none, or when its one is down), the group's others after it.
    fn preferred(&self, sticky: &Sticky) -> Vec<usize> {
        let mut order = Vec::with_capacity(self.members.len());
        let mut placed = vec![false; self.groups.len()];
        for (i, member) in self.members.iter().enumerate() {
            let Some(g) = member.group else {
                order.push(i);
                continue;
            };
            if placed[g] {
                continue;
            }
            placed[g] = true;
            let group = &self.groups[g];
            let pick = match sticky.get(g) {
                Some(m) if self.members[m].health.is_up() => m,
                _ => {
                    let m = group.choose(|m| {
                        let h = &self.members[m].health;
                        h.is_up() && !h.is_degraded()
                    });
                    sticky.set(g, m);
                    m
                }
            };
            order.push(pick);
            order.extend(group.members.iter().copied().filter(|&m| m != pick));
        }
        order
    }

    /// Members to try, in order, and the entry passed over in favour of the
    /// first of them, with why (if the preferred one is down or degraded):
    /// healthy members first, then degraded ones; members down are left out
    /// unless all are down.
    fn order(&self, sticky: &Sticky) -> (Vec<usize>, Option<(String, FailoverReason)>) {
        let preferred = self.preferred(sticky);
        let healthy = |&i: &usize| {
            let h = &self.members[i].health;
            h.is_up() && !h.is_degraded()
        };
        let slow = |&i: &usize| {
            let h = &self.members[i].health;
            h.is_up() && h.is_degraded()
        };
        let mut order: Vec<usize> = preferred.iter().copied().filter(healthy).collect();
        order.extend(preferred.iter().copied().filter(slow));
        if order.is_empty() {
            return (preferred, None);
        }
        let skipped = (order[0] != preferred[0]).then(|| {
            let first = &self.members[preferred[0]];
            let why = if first.health.is_up() {
                // One lower-case word last: the relay's failover label.
                FailoverReason::new(
                    FailoverKind::Degraded,
                    "its first audio misses its service level: degraded",
                )
            } else {
                let error = first
                    .health
                    .last_error()
                    .unwrap_or_else(|| "it failed earlier".into());
                FailoverReason::new(FailoverKind::Down, format!("it is down: {error}"))
            };
            (first.name.clone(), why)
        });
        (order, skipped)
    }

    /// Whether the entry a sentence would be asked of first has spoken since
    /// it was last down: only then are sentences requested ahead before the
    /// one in front streams.
    fn first_choice_proven(&self, sticky: &Sticky) -> bool {
        let (order, _) = self.order(sticky);
        order
            .first()
            .is_some_and(|&i| self.members[i].health.is_proven())
    }

    /// The group member `idx` served the session: the session keeps it.
    fn served(&self, idx: usize, sticky: &Sticky) {
        if let Some(g) = self.members[idx].group {
            sticky.set(g, idx);
        }
    }

    /// Counts one first audio (or a wait for one that ran `latency` with
    /// none) against entry `idx`'s service level, reporting a change.
    fn first_audio_latency(&self, idx: usize, latency: std::time::Duration) {
        let member = &self.members[idx];
        let Some(slo) = member.policy.first_audio_slo() else {
            return;
        };
        let slow = latency > slo;
        let change = member.health.first_audio(
            slow,
            member.policy.slow_strikes,
            member.policy.fast_to_restore,
        );
        match change {
            Some(LatencyChange::Degraded) => {
                let reason = format!(
                    "{} slow first audios in a row (over {} ms)",
                    member.policy.slow_strikes.max(1),
                    slo.as_millis()
                );
                tracing::info!(entry = %member.name, %reason, "entry degraded");
                let _ = self.events.send(RouterEvent::Latency {
                    entry: member.name.clone(),
                    degraded: true,
                    reason,
                });
                self.start_probe(idx, member.policy.cooldown(1));
            }
            Some(LatencyChange::Restored) => {
                let reason = format!(
                    "{} fast first audios in a row",
                    member.policy.fast_to_restore.max(1)
                );
                self.report_restored(idx, reason);
            }
            None => {}
        }
    }

    fn report_restored(&self, idx: usize, reason: String) {
        let member = &self.members[idx];
        tracing::info!(entry = %member.name, %reason, "entry restored");
        let _ = self.events.send(RouterEvent::Latency {
            entry: member.name.clone(),
            degraded: false,
            reason,
        });
    }

    fn report_attempt(&self, idx: usize, record: AttemptRecord) {
        let cancelled = matches!(
            &record.outcome,
            AttemptOutcome::Failed { kind, .. } if *kind == voxwire_core::ErrorKind::Cancelled
        );
        if record.attempt > 0 {
            self.members[idx].usage.attempt(
                record.chars_sent,
                record.audio_received,
                record.hedge,
                cancelled,
            );
        }
        tracing::info!(
            entry = %record.entry,
            provider = %record.provider,
            attempt = record.attempt,
            piece = record.piece,
            outcome = ?record.outcome,
            first_audio_ms = record.first_audio.map(|d| d.as_millis() as u64),
            audio_s = record.audio.as_secs_f64(),
            chars = record.chars,
            chars_sent = record.chars_sent,
            audio_received_s = record.audio_received.as_secs_f64(),
            hedge = record.hedge,
            "attempt"
        );
        let _ = self.events.send(RouterEvent::Attempt(record));
    }

    /// Starts listing entry `idx`'s voices unless known, under way or recently failed.
    fn list_voices_in_background(&self, idx: usize) {
        if self.tasks.is_closed() || !self.members[idx].claim_voice_listing() {
            return;
        }
        let weak = self.weak.clone();
        self.tasks.add(rt::spawn(async move {
            if let Some(inner) = weak.upgrade() {
                inner.members[idx].list_voices().await;
            }
        }));
    }

    fn mark_up(&self, idx: usize, why: &str) {
        let member = &self.members[idx];
        if member.health.mark_up() {
            tracing::info!(entry = %member.name, why, "entry available again");
            let _ = self.events.send(RouterEvent::Availability {
                provider: member.name.clone(),
                available: true,
                reason: why.to_string(),
            });
            #[cfg(not(target_arch = "wasm32"))]
            self.publish(idx, false, why);
        }
    }

    fn mark_down(&self, idx: usize, error: &TtsError) {
        let member = &self.members[idx];
        let marked = member.health.mark_down(&member.policy, &error.to_string());
        if marked.was_up {
            tracing::info!(entry = %member.name, %error, cooldown_ms = marked.cooldown.as_millis() as u64, "entry marked down");
            let _ = self.events.send(RouterEvent::Availability {
                provider: member.name.clone(),
                available: false,
                reason: error.to_string(),
            });
            #[cfg(not(target_arch = "wasm32"))]
            self.publish(idx, true, &error.to_string());
        }
        self.start_probe(idx, marked.cooldown);
    }

    /// Starts entry `idx`'s recovery probe unless one runs (never two).
    fn start_probe(&self, idx: usize, wait: Duration) {
        if self.tasks.is_closed() {
            return;
        }
        let member = &self.members[idx];
        let mut probe = member.probe.lock().unwrap_or_else(|p| p.into_inner());
        if probe.as_ref().is_none_or(|t| t.is_finished()) {
            *probe = Some(rt::spawn(probe_entry(self.weak.clone(), idx, wait)));
        }
    }
}

/// One recovery probe: a short synthesis that must bring audio, bounded in
/// time. Its first audio's latency, when it worked.
async fn probe_once(inner: &Inner, idx: usize) -> std::result::Result<Duration, String> {
    let member = &inner.members[idx];
    let limit = member.policy.first_audio_timeout(inner.settings.deadline())
        + member.policy.inactivity_timeout();
    let work = async {
        let started = rt::Instant::now();
        member
            .usage
            .probe(inner.settings.probe_text.chars().count());
        let mut stream = member
            .provider
            .synthesize(SynthesisRequest::new(inner.settings.probe_text.clone()))
            .await
            .map_err(|e| e.to_string())?;
        let mut bytes = 0usize;
        let mut first = None;
        while let Some(chunk) = stream.next().await {
            bytes += chunk.map_err(|e| e.to_string())?.data.len();
            if bytes > 0 {
                first.get_or_insert_with(|| started.elapsed());
            }
        }
        first.ok_or_else(|| "the probe got no audio".to_string())
    };
    match rt::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => Err("the probe timed out".to_string()),
    }
}

/// Brings an entry back: after each cooldown, one probe; success marks it
/// up, failure waits a longer cooldown. A degraded entry is probed the same
/// way: a probe whose first audio is within the service level restores it.
/// The task is the entry's only probe, owned by the entry (aborted when the
/// router shuts down or is dropped).
async fn probe_entry(weak: Weak<Inner>, idx: usize, mut wait: Duration) {
    let mut slow_probes = 1u32;
    loop {
        rt::sleep(wait).await;
        let Some(inner) = weak.upgrade() else { return };
        let member = &inner.members[idx];
        if member.health.is_up() && !member.health.is_degraded() {
            return; // a request brought it back, or fast answers restored it
        }
        #[cfg(not(target_arch = "wasm32"))]
        if !member.health.is_up() && !inner.may_probe(idx) {
            continue; // another router of the fleet probes it: ask again after the wait
        }
        if member.health.is_up() {
            // Up but degraded: a probe within the service level restores it.
            let slo = member.policy.first_audio_slo().unwrap_or(Duration::MAX);
            match probe_once(&inner, idx).await {
                Ok(latency) if latency <= slo => {
                    if member.health.restore() {
                        inner.report_restored(
                            idx,
                            format!("a probe's first audio came in {} ms", latency.as_millis()),
                        );
                    }
                    return;
                }
                Ok(_) => {
                    slow_probes = slow_probes.saturating_add(1);
                    wait = member.policy.cooldown(slow_probes);
                }
                Err(why) => wait = member.health.probe_failed(&member.policy, &why),
            }
            continue;
        }
        match probe_once(&inner, idx).await {
            Ok(latency) => {
                if member.health.is_degraded()
                    && member
                        .policy
                        .first_audio_slo()
                        .is_some_and(|slo| latency <= slo)
                    && member.health.restore()
                {
                    inner.report_restored(
                        idx,
                        format!("a probe's first audio came in {} ms", latency.as_millis()),
                    );
                }
                inner.list_voices_in_background(idx);
                // Marks it up; the probe slot is cleared by the next mark_down.
                if member.health.mark_up() {
                    tracing::info!(entry = %member.name, "entry available again");
                    let _ = inner.events.send(RouterEvent::Availability {
                        provider: member.name.clone(),
                        available: true,
                        reason: "a recovery probe succeeded".to_string(),
                    });
                    #[cfg(not(target_arch = "wasm32"))]
                    inner.publish(idx, false, "a recovery probe succeeded");
                }
                if member.health.is_degraded() {
                    continue; // up again, but still slow: keep probing
                }
                return;
            }
            Err(why) => wait = member.health.probe_failed(&member.policy, &why),
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
            languages: self
                .inner
                .members
                .iter()
                .flat_map(|m| m.provider.capabilities().languages)
                .fold(Vec::new(), |mut all, tag| {
                    if !all.iter().any(|t: &String| t.eq_ignore_ascii_case(&tag)) {
                        all.push(tag);
                    }
                    all
                }),
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
