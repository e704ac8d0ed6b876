//! The relay's metrics for `GET /metrics`, kept by `prometheus-client` and
//! rendered in the OpenMetrics text format (which Prometheus scrapes).
//!
//! Utterances, audio seconds and first-audio latency are labelled by the
//! chain entry that served them; each entry's health is a gauge read from the
//! router when scraped. Every family registered here is fed by the relay: none
//! stays empty by construction.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use voxwire_core::ErrorKind;
use voxwire_router::Router;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the first-audio histogram, in seconds.
const FIRST_AUDIO_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A chain entry's name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EntryLabel {
    entry: String,
}

/// A failover: away from which entry, and why (a short label).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailoverLabels {
    entry: String,
    reason: String,
}

/// One label of a fixed, small set (a limit, a refusal reason, an error kind).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

fn first_audio_histogram() -> Histogram {
    Histogram::new(FIRST_AUDIO_BUCKETS)
}

/// The relay's metrics; shared by every handler (in an `Arc`).
pub struct Metrics {
    registry: Registry,
    sessions: Counter,
    sessions_active: Gauge,
    utterances: Family<EntryLabel, Counter>,
    audio_seconds: Family<EntryLabel, Counter<f64, AtomicU64>>,
    first_audio: Family<EntryLabel, Histogram, fn() -> Histogram>,
    entry_up: Family<EntryLabel, Gauge>,
    entry_degraded: Family<EntryLabel, Gauge>,
    chars_sent: Family<EntryLabel, Counter>,
    audio_received: Family<EntryLabel, Counter<f64, AtomicU64>>,
    hedges: Family<EntryLabel, Counter>,
    cancelled: Family<EntryLabel, Counter>,
    /// Serializes the catch-up of the usage counters to the router's totals.
    usage_sync: Mutex<()>,
    failovers: Family<FailoverLabels, Counter>,
    limit_breaches: Family<LimitLabel, Counter>,
    utterance_delays: Family<LimitLabel, Counter>,
    auth_rejections: Family<ReasonLabel, Counter>,
    client_errors: Family<KindLabel, Counter>,
    shared_up: Gauge,
    shared_fallbacks: Counter,
    phrase_cache: PhraseCacheCounters,
    /// Usage by credential (fed by [`crate::usage::Usage::record`]).
    pub(crate) credentials: crate::usage::CredentialCounters,
}

/// The phrase cache's counters, caught up to the router's cache when scraped.
#[derive(Default)]
struct PhraseCacheCounters {
    hits: Counter,
    misses: Counter,
    corrupt: Counter,
    stored: Counter,
    bytes_served: Counter,
    chars_saved: Counter,
}

impl PhraseCacheCounters {
    fn register(&self, registry: &mut Registry) {
        let families: [(&str, &str, &Counter); 6] = [
            (
                "voxwire_phrase_cache_hits",
                "Sentences played from the phrase cache",
                &self.hits,
            ),
            (
                "voxwire_phrase_cache_misses",
                "Sentences looked up in the phrase cache and not found",
                &self.misses,
            ),
            (
                "voxwire_phrase_cache_corrupt",
                "Cached values that did not check out (read as misses)",
                &self.corrupt,
            ),
            (
                "voxwire_phrase_cache_stored",
                "Sentences stored in the phrase cache",
                &self.stored,
            ),
            (
                "voxwire_phrase_cache_bytes_served",
                "Audio bytes played from the phrase cache",
                &self.bytes_served,
            ),
            (
                "voxwire_phrase_cache_chars_saved",
                "Characters not sent to any vendor thanks to the phrase cache",
                &self.chars_saved,
            ),
        ];
        for (name, help, counter) in families {
            registry.register(name, help, counter.clone());
        }
    }

    fn catch_up(&self, router: &Router) {
        let Some(cache) = router.phrase_cache() else {
            return;
        };
        let stats = cache.stats();
        for (counter, total) in [
            (&self.hits, stats.hits),
            (&self.misses, stats.misses),
            (&self.corrupt, stats.corrupt),
            (&self.stored, stats.stored),
            (&self.bytes_served, stats.bytes_served),
            (&self.chars_saved, stats.chars_saved),
        ] {
            let seen = counter.get();
            if total > seen {
                counter.inc_by(total - seen);
            }
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every family, registered and at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let sessions = Counter::default();
        let sessions_active = Gauge::default();
        let utterances = Family::<EntryLabel, Counter>::default();
        let audio_seconds = Family::<EntryLabel, Counter<f64, AtomicU64>>::default();
        let first_audio = Family::<EntryLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            first_audio_histogram,
        );
        let entry_up = Family::<EntryLabel, Gauge>::default();
        let entry_degraded = Family::<EntryLabel, Gauge>::default();
        let chars_sent = Family::<EntryLabel, Counter>::default();
        let audio_received = Family::<EntryLabel, Counter<f64, AtomicU64>>::default();
        let hedges = Family::<EntryLabel, Counter>::default();
        let cancelled = Family::<EntryLabel, Counter>::default();
        let failovers = Family::<FailoverLabels, Counter>::default();
        let limit_breaches = Family::<LimitLabel, Counter>::default();
        let utterance_delays = Family::<LimitLabel, Counter>::default();
        let auth_rejections = Family::<ReasonLabel, Counter>::default();
        let client_errors = Family::<KindLabel, Counter>::default();
        let shared_up = Gauge::default();
        let shared_fallbacks = Counter::default();
        registry.register(
            "voxwire_sessions",
            "WebSocket sessions opened",
            sessions.clone(),
        );
        registry.register(
            "voxwire_sessions_active",
            "WebSocket sessions open now",
            sessions_active.clone(),
        );
        registry.register(
            "voxwire_utterances",
            "Utterances spoken to the end, by the chain entry that served",
            utterances.clone(),
        );
        registry.register(
            "voxwire_audio_seconds",
            "Seconds of audio sent to clients, by the chain entry that served",
            audio_seconds.clone(),
        );
        registry.register(
            "voxwire_first_audio_seconds",
            "From an utterance's submission to its first audio, by the chain entry that served",
            first_audio.clone(),
        );
        registry.register(
            "voxwire_entry_up",
            "Whether a chain entry is in rotation (1) or marked down (0)",
            entry_up.clone(),
        );
        registry.register(
            "voxwire_entry_degraded",
            "Whether a chain entry is degraded (1): its first audio missed its service level, so it is ordered behind the healthy entries",
            entry_degraded.clone(),
        );
        registry.register(
            "voxwire_entry_chars_sent",
            "Characters sent to a chain entry (every attempt, retry, hedge and probe)",
            chars_sent.clone(),
        );
        registry.register(
            "voxwire_entry_audio_received_seconds",
            "Seconds of audio a chain entry sent back, forwarded or not",
            audio_received.clone(),
        );
        registry.register(
            "voxwire_entry_hedges",
            "Attempts started on a chain entry as a hedge beside a slow first attempt",
            hedges.clone(),
        );
        registry.register(
            "voxwire_entry_cancelled",
            "Attempts of a chain entry cancelled because a hedge partner gave audio first",
            cancelled.clone(),
        );
        registry.register(
            "voxwire_failovers",
            "Failovers away from a chain entry, by reason",
            failovers.clone(),
        );
        registry.register(
            "voxwire_limit_breaches",
            "Requests refused or sessions closed by a limit, by limit",
            limit_breaches.clone(),
        );
        registry.register(
            "voxwire_utterance_delays",
            "Utterances that waited for a rate limit before they were spoken, by limit",
            utterance_delays.clone(),
        );
        registry.register(
            "voxwire_auth_rejections",
            "Credentials refused, by reason",
            auth_rejections.clone(),
        );
        registry.register(
            "voxwire_client_errors",
            "Error frames and error replies sent to clients, by kind",
            client_errors.clone(),
        );
        let phrase_cache = PhraseCacheCounters::default();
        phrase_cache.register(&mut registry);
        let credentials = crate::usage::CredentialCounters::default();
        credentials.register(&mut registry);
        registry.register(
            "voxwire_shared_state_up",
            "Whether the fleet's shared Redis ([server.shared]) answered its last call (1) or not (0; always 0 when none is configured)",
            shared_up.clone(),
        );
        registry.register(
            "voxwire_shared_state_fallbacks",
            "Checks (sessions per credential, per-credential rates) counted in this process because the shared Redis was down",
            shared_fallbacks.clone(),
        );
        Self {
            registry,
            sessions,
            sessions_active,
            utterances,
            audio_seconds,
            first_audio,
            entry_up,
            entry_degraded,
            chars_sent,
            audio_received,
            hedges,
            cancelled,
            usage_sync: Mutex::new(()),
            failovers,
            limit_breaches,
            utterance_delays,
            auth_rejections,
            client_errors,
            phrase_cache,
            credentials,
            shared_up,
            shared_fallbacks,
        }
    }

    fn entry(entry: &str) -> EntryLabel {
        EntryLabel {
            entry: entry.to_string(),
        }
    }

    /// Counts a WebSocket session that was accepted.
    pub fn session_opened(&self) {
        self.sessions.inc();
        self.sessions_active.inc();
    }

    /// Counts a session that ended, however it ended.
    pub fn session_closed(&self) {
        self.sessions_active.dec();
    }

    /// Counts an utterance `entry` spoke to the end.
    pub fn utterance_done(&self, entry: &str) {
        self.utterances.get_or_create(&Self::entry(entry)).inc();
    }

    /// Adds seconds of audio `entry` served; non-finite or negative values are ignored.
    pub fn audio_seconds(&self, entry: &str, seconds: f64) {
        if seconds.is_finite() && seconds > 0.0 {
            self.audio_seconds
                .get_or_create(&Self::entry(entry))
                .inc_by(seconds);
        }
    }

    /// Records the time from an utterance's submission to its first audio.
    pub fn first_audio(&self, entry: &str, latency: std::time::Duration) {
        self.first_audio
            .get_or_create(&Self::entry(entry))
            .observe(latency.as_secs_f64());
    }

    /// Counts a failover away from `entry` for a reason labelled `reason`.
    pub fn failover(&self, entry: &str, reason: &str) {
        self.failovers
            .get_or_create(&FailoverLabels {
                entry: entry.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts a breach of the named limit.
    pub fn limit_breached(&self, limit: &'static str) {
        self.limit_breaches
            .get_or_create(&LimitLabel {
                limit: limit.to_string(),
            })
            .inc();
    }

    /// Counts an utterance that waits for the named rate limit.
    pub fn utterance_delayed(&self, limit: &'static str) {
        self.utterance_delays
            .get_or_create(&LimitLabel {
                limit: limit.to_string(),
            })
            .inc();
    }

    /// Counts a refused credential, by reason.
    pub fn auth_rejected(&self, reason: &'static str) {
        self.auth_rejections
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts an error sent to a client, by kind.
    pub fn client_error(&self, kind: ErrorKind) {
        self.client_errors
            .get_or_create(&KindLabel {
                kind: kind.as_str().to_string(),
            })
            .inc();
    }

    /// Sets whether the shared Redis answered its last call.
    pub fn shared_state_up(&self, up: bool) {
        self.shared_up.set(i64::from(up));
    }

    /// Counts a check counted in process because the shared Redis was down.
    pub fn shared_state_fallback(&self) {
        self.shared_fallbacks.inc();
    }

    /// Brings the per-entry usage counters up to the router's totals (the
    /// router counts; the counters only ever move forward).
    fn sync_usage(&self, router: &Router) {
        let _sync = self.usage_sync.lock().unwrap_or_else(|p| p.into_inner());
        let catch_up = |family: &Family<EntryLabel, Counter>, label: &EntryLabel, total: u64| {
            let counter = family.get_or_create(label);
            let seen = counter.get();
            if total > seen {
                counter.inc_by(total - seen);
            }
        };
        for usage in router.usage() {
            let label = Self::entry(&usage.entry);
            catch_up(&self.chars_sent, &label, usage.chars_sent);
            catch_up(&self.hedges, &label, usage.hedges);
            catch_up(&self.cancelled, &label, usage.cancelled);
            let audio = self.audio_received.get_or_create(&label);
            let total = usage.audio_received.as_secs_f64();
            let seen = audio.get();
            if total > seen {
                audio.inc_by(total - seen);
            }
        }
    }

    /// Every metric in the OpenMetrics text format (serve with [`CONTENT_TYPE`]),
    /// with each entry's health read from `router` now.
    pub fn render(&self, router: &Router) -> String {
        for entry in router.chain() {
            let up = i64::from(router.is_available(&entry));
            self.entry_up.get_or_create(&Self::entry(&entry)).set(up);
            let degraded = i64::from(router.is_degraded(&entry));
            self.entry_degraded
                .get_or_create(&Self::entry(&entry))
                .set(degraded);
        }
        self.sync_usage(router);
        {
            let _sync = self.usage_sync.lock().unwrap_or_else(|p| p.into_inner());
            self.phrase_cache.catch_up(router);
        }
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, sample: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|v| v.trim().parse().ok()))
    }

    #[test]
    fn per_entry_families_and_escaping() {
        let m = Metrics::new();
        m.session_opened();
        m.utterance_done("xai-eu");
        m.audio_seconds("xai-eu", 1.5);
        m.audio_seconds("xai-eu", f64::NAN);
        m.first_audio("xai-eu", std::time::Duration::from_millis(30));
        m.failover("we\"ird", "http_403");
        m.limit_breached("max_sessions");
        m.client_error(ErrorKind::RateLimited);
        let router = voxwire_router::Router::new(
            vec![(
                voxwire_testkit::fake::FakeProvider::new("fake").arc(),
                voxwire_router::Policy::default(),
            )],
            voxwire_router::RouterSettings::default(),
        )
        .unwrap();
        let text = m.render(&router);
        assert_eq!(value(&text, "voxwire_sessions_total "), Some(1.0), "{text}");
        assert_eq!(value(&text, "voxwire_sessions_active "), Some(1.0));
        assert_eq!(
            value(&text, "voxwire_utterances_total{entry=\"xai-eu\"} "),
            Some(1.0)
        );
        assert_eq!(
            value(&text, "voxwire_audio_seconds_total{entry=\"xai-eu\"} "),
            Some(1.5)
        );
        assert_eq!(
            value(
                &text,
                "voxwire_first_audio_seconds_count{entry=\"xai-eu\"} "
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                "voxwire_first_audio_seconds_bucket{le=\"0.05\",entry=\"xai-eu\"} "
            )
            .or_else(|| value(
                &text,
                "voxwire_first_audio_seconds_bucket{entry=\"xai-eu\",le=\"0.05\"} "
            )),
            Some(1.0),
            "{text}"
        );
        assert_eq!(value(&text, "voxwire_entry_up{entry=\"fake\"} "), Some(1.0));
        assert!(text.contains("entry=\"we\\\"ird\""), "{text}");
        assert_eq!(
            value(&text, "voxwire_client_errors_total{kind=\"rate_limited\"} "),
            Some(1.0)
        );
        assert!(text.trim_end().ends_with("# EOF"));
    }

    #[tokio::test]
    async fn usage_and_degraded_families_follow_the_router() {
        use futures::StreamExt;
        use voxwire_core::TtsProvider;
        use voxwire_testkit::fake::{Behaviour, FakeProvider};
        let mid = voxwire_core::TtsError::new(ErrorKind::Protocol, "garbage");
        let a =
            FakeProvider::new("a").scripted(vec![Behaviour::FailAfter(1, mid)], Behaviour::Speak);
        let b = FakeProvider::new("b");
        let quick = voxwire_router::Policy {
            max_retries: 0,
            cooldown_ms: 60_000,
            ..voxwire_router::Policy::default()
        };
        let router = voxwire_router::Router::new(
            vec![(a.arc(), quick.clone()), (b.arc(), quick)],
            voxwire_router::RouterSettings::default(),
        )
        .unwrap();
        let text = "A sentence long enough to take more than one chunk of audio, surely.";
        let format = voxwire_core::AudioFormat::pcm16_mono(24_000);
        let mut stream = router
            .synthesize(voxwire_core::SynthesisRequest::new(text).format(format))
            .await
            .unwrap();
        while let Some(chunk) = stream.next().await {
            chunk.unwrap();
        }
        let m = Metrics::new();
        let n = text.chars().count() as f64;
        for _ in 0..2 {
            // Rendering twice counts nothing twice.
            let out = m.render(&router);
            let sent = |e: &str| {
                value(
                    &out,
                    &format!("voxwire_entry_chars_sent_total{{entry=\"{e}\"}} "),
                )
            };
            assert_eq!((sent("a"), sent("b")), (Some(n), Some(n)), "{out}");
            let got = value(
                &out,
                "voxwire_entry_audio_received_seconds_total{entry=\"a\"} ",
            );
            let chunk = format.duration_of(4096).as_secs_f64();
            assert!(got.is_some_and(|s| (s - chunk).abs() < 1e-6), "{out}");
            assert_eq!(
                value(&out, "voxwire_entry_degraded{entry=\"b\"} "),
                Some(0.0)
            );
            assert_eq!(
                value(&out, "voxwire_entry_hedges_total{entry=\"b\"} "),
                Some(0.0)
            );
        }
    }
}
