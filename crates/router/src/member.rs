//! One entry of the chain: its name, provider, policy, health, recovery probe
//! and voice list, and what it can serve.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use voxwire_core::audio::FormatConverter;
use voxwire_core::{language, AudioFormat, SynthesisRequest, TtsProvider, WantTimestamps};

use crate::health::Health;
use crate::policy::Policy;
use crate::rt::{self, Instant, Task};

/// The longest wait for a provider's voice list (off the sentence's path).
pub(crate) const VOICE_LIST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a failed voice listing is remembered before it is tried again.
pub(crate) const VOICE_LIST_RETRY: Duration = Duration::from_secs(30);

/// How every piece of one request or session should sound.
#[derive(Debug, Clone, Default)]
pub(crate) struct Template {
    pub voice: Option<String>,
    pub language: Option<String>,
    pub speed: Option<f32>,
    pub extensions: voxwire_core::Extensions,
}

/// How an entry delivers the session's format.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
    /// The provider is asked for the format itself.
    Ask(AudioFormat),
    /// It speaks its native format; the router converts.
    Convert,
    /// It cannot deliver the format at all, and why.
    Cannot(String),
}

/// What is known of an entry's voices.
#[derive(Default)]
struct VoiceCache {
    /// Voice ids, lower-cased, once listed.
    ids: Option<Vec<String>>,
    /// When a listing last failed (tried again after [`VOICE_LIST_RETRY`]).
    failed_at: Option<Instant>,
    /// A listing is under way.
    fetching: bool,
}

/// What an entry has been sent and has sent back, since the chain was built.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    attempts: AtomicU64,
    chars_sent: AtomicU64,
    audio_received_us: AtomicU64,
    hedges: AtomicU64,
    cancelled: AtomicU64,
    probe_chars: AtomicU64,
}

/// A snapshot of one entry's usage: what retries, hedges and probes cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryUsage {
    /// The entry's name.
    pub entry: String,
    /// Attempts made (skips not counted).
    pub attempts: u64,
    /// Characters sent in attempts and probes.
    pub chars_sent: u64,
    /// Audio received in attempts (forwarded or not).
    pub audio_received: Duration,
    /// Attempts started as a hedge beside a slow one.
    pub hedges: u64,
    /// Attempts cancelled because a hedge partner gave audio first.
    pub cancelled: u64,
    /// Characters of those sent by recovery probes.
    pub probe_chars: u64,
}

impl Usage {
    /// Counts one attempt.
    pub fn attempt(&self, chars: usize, audio: Duration, hedge: bool, cancelled: bool) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        self.chars_sent.fetch_add(chars as u64, Ordering::Relaxed);
        self.audio_received_us
            .fetch_add(audio.as_micros() as u64, Ordering::Relaxed);
        if hedge {
            self.hedges.fetch_add(1, Ordering::Relaxed);
        }
        if cancelled {
            self.cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one recovery probe's text.
    pub fn probe(&self, chars: usize) {
        self.chars_sent.fetch_add(chars as u64, Ordering::Relaxed);
        self.probe_chars.fetch_add(chars as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self, entry: &str) -> EntryUsage {
        EntryUsage {
            entry: entry.to_string(),
            attempts: self.attempts.load(Ordering::Relaxed),
            chars_sent: self.chars_sent.load(Ordering::Relaxed),
            audio_received: Duration::from_micros(self.audio_received_us.load(Ordering::Relaxed)),
            hedges: self.hedges.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            probe_chars: self.probe_chars.load(Ordering::Relaxed),
        }
    }
}

pub(crate) struct Member {
    /// The entry's name (unique in the chain).
    pub name: String,
    pub provider: Arc<dyn TtsProvider>,
    pub policy: Policy,
    pub health: Health,
    /// The one recovery probe of this entry, if running (aborted on drop).
    pub probe: Mutex<Option<Task>>,
    /// Index of its weighted group in the router's groups, if in one.
    pub group: Option<usize>,
    /// What it was sent and sent back.
    pub usage: Usage,
    /// It reports word times and is asked for them: a sentence failed over
    /// to it resumes at the word (see `resume`).
    pub asks_times: bool,
    /// What in its settings changes its sound (the phrase cache's key).
    pub sound: String,
    voices: Mutex<VoiceCache>,
}

impl Member {
    /// An entry; one that reports times is asked for them when the chain
    /// `can_fail_over` (has another entry).
    pub fn new(
        name: String,
        provider: Arc<dyn TtsProvider>,
        policy: Policy,
        can_fail_over: bool,
    ) -> Self {
        let asks_times = can_fail_over && provider.capabilities().timestamps;
        Self {
            name,
            provider,
            policy,
            health: Health::default(),
            probe: Mutex::new(None),
            group: None,
            usage: Usage::default(),
            asks_times,
            sound: String::new(),
            voices: Mutex::new(VoiceCache::default()),
        }
    }

    /// The same member, its sound described by `sound`.
    pub fn sounding(mut self, sound: String) -> Self {
        self.sound = sound;
        self
    }

    /// The provider id behind the entry.
    pub fn provider_id(&self) -> &str {
        self.provider.id()
    }

    /// How this entry delivers `target`: asked for it when its capabilities
    /// include it, converted by the router otherwise.
    pub fn plan(&self, target: AudioFormat) -> Plan {
        let caps = self.provider.capabilities();
        let rate_ok =
            caps.sample_rates.is_empty() || caps.sample_rates.contains(&target.sample_rate);
        if caps.encodings.contains(&target.encoding) && rate_ok && target.channels == 1 {
            return Plan::Ask(target);
        }
        if caps.native_format == target {
            return Plan::Ask(target);
        }
        match FormatConverter::new(caps.native_format, target) {
            Ok(_) => Plan::Convert,
            Err(e) => Plan::Cannot(format!(
                "it produces {:?} and the router cannot convert that: {}",
                caps.native_format,
                e.message()
            )),
        }
    }

    /// Why this entry cannot serve `text` as `template` asks, if it cannot
    /// (language, speed range, text limit). Checked before it is tried.
    pub fn cannot_serve(&self, template: &Template, text: &str) -> Option<String> {
        let caps = self.provider.capabilities();
        if let Some(tag) = template.language.as_deref() {
            if !language::serves(Some(tag), &caps.languages) {
                return Some(format!("it speaks no language matching `{tag}`"));
            }
        }
        if let (Some(speed), Some((lo, hi))) = (template.speed, caps.speed_range) {
            if !(lo - 1e-4..=hi + 1e-4).contains(&speed) {
                return Some(format!("speed {speed} is outside its range {lo}–{hi}"));
            }
        }
        let chars = text.chars().count();
        if chars > caps.max_text_chars {
            return Some(format!(
                "{chars} characters are over its limit of {}",
                caps.max_text_chars
            ));
        }
        None
    }

    /// The request for `text`. A voice is provider-specific: it is passed to
    /// providers that list it (or whose list is not known yet) and left out
    /// for the others, which then speak with their own default voice. The
    /// list is never waited for here: an unknown list starts a listing in the
    /// background.
    pub fn request(
        &self,
        template: &Template,
        text: &str,
        plan: &Plan,
    ) -> (SynthesisRequest, bool) {
        let mut request = SynthesisRequest::new(text);
        request.language = template.language.clone();
        request.speed = template.speed;
        request.extensions = template.extensions.clone();
        if self.asks_times {
            request.extensions.insert(WantTimestamps(true));
        }
        if let Plan::Ask(format) = plan {
            request.format = Some(*format);
        }
        let mut unverified = false;
        if let Some(voice) = &template.voice {
            match self.knows_voice(voice) {
                Some(true) => request.voice = Some(voice.clone()),
                Some(false) => {}
                None => {
                    request.voice = Some(voice.clone());
                    unverified = true;
                }
            }
        }
        (request, unverified)
    }

    /// Whether the cached list holds `voice` (`None`: not known).
    fn knows_voice(&self, voice: &str) -> Option<bool> {
        let cache = self.voices.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .ids
            .as_ref()
            .map(|ids| ids.iter().any(|id| id.eq_ignore_ascii_case(voice)))
    }

    /// Whether a voice listing should start now (none known, none under way,
    /// no failure in the last [`VOICE_LIST_RETRY`]); marks it under way.
    pub fn claim_voice_listing(&self) -> bool {
        let mut cache = self.voices.lock().unwrap_or_else(|p| p.into_inner());
        let recent_failure = cache
            .failed_at
            .is_some_and(|at| at.elapsed() < VOICE_LIST_RETRY);
        if cache.ids.is_some() || cache.fetching || recent_failure {
            return false;
        }
        cache.fetching = true;
        true
    }

    /// Lists the voices under a timeout and caches the result (a failure only
    /// for [`VOICE_LIST_RETRY`]). Call after [`Self::claim_voice_listing`].
    pub async fn list_voices(&self) {
        let listed = rt::timeout(VOICE_LIST_TIMEOUT, self.provider.voices()).await;
        let mut cache = self.voices.lock().unwrap_or_else(|p| p.into_inner());
        cache.fetching = false;
        match listed {
            Ok(Ok(voices)) => {
                cache.ids = Some(
                    voices
                        .into_iter()
                        .map(|v| v.id.to_ascii_lowercase())
                        .collect(),
                );
                cache.failed_at = None;
            }
            Ok(Err(e)) => {
                tracing::debug!(entry = %self.name, error = %e, "voice listing failed");
                cache.failed_at = Some(Instant::now());
            }
            Err(_) => {
                tracing::debug!(entry = %self.name, "voice listing timed out");
                cache.failed_at = Some(Instant::now());
            }
        }
    }
}
