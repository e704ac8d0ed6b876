//! The conformance suite every network provider and its mock pass.
//!
//! A provider's test implements [`Conformance`] (how to start its mock in a
//! given [`Scenario`], how to build the provider against it for a [`Path`],
//! which paths it has) and calls [`conformance_suite!`](crate::conformance_suite),
//! which writes one `#[tokio::test]` per check:
//!
//! | test | checks |
//! |---|---|
//! | `audio_arrives_intact` | the mock's deterministic audio, byte for byte, over each path |
//! | `a_401_is_auth_and_provider_scoped` | kind `Auth`, provider scope, the provider's id, the status and a redacted URL |
//! | `no_key_under_a_trace_subscriber` | the key in no log line, error, report or recording, whatever the mock does, nor when it is gone |
//! | `cancel_keeps_a_reusable_connection` | (socket) barge-in, then the next utterance on the same socket |
//! | `first_audio_and_inactivity_timeouts` | a silent vendor and a stalled one are each `Timeout` |
//! | `an_idle_closed_socket_never_fails_the_next_request` | (socket) the vendor closed a pooled socket; the next request still speaks |
//! | `a_language_the_vendor_lacks_is_refused_before_any_call` | `Unsupported`, and nothing reached the mock |
//! | `unknown_voice_ids_pass_through` | a voice voxwire does not list reaches the vendor |
//! | `no_audio_is_provider_scoped` | an end after zero audio is `NoAudio`, provider-scoped |
//! | `debug_never_shows_the_key` | the provider's `{:?}` and `{:#?}` hold no key, over each path |
//! | `a_wrong_key_is_auth_and_provider_scoped` | the mock's own check refuses the key: kind `Auth`, provider scope, the status and a redacted URL in the error, no key in its `Display` |
//!
//! A check that needs a socket runs only when [`Conformance::PATHS`] holds
//! [`Path::Socket`]; nothing else is skipped.
//!
//! ```ignore
//! struct Xai;
//! impl voxwire_testkit::conformance::Conformance for Xai { /* ... */ }
//! voxwire_testkit::conformance_suite!(Xai);
//! ```

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use voxwire_core::error::redact_url;
use voxwire_core::session::{SessionEvent, StreamConfig, SynthesisSession};
use voxwire_core::{AudioFormat, ErrorKind, ErrorScope, SynthesisRequest, TtsError, TtsProvider};

use crate::assert::{cancel_after_first_audio, LogCapture};
use crate::kit::audio::expected_audio;
use crate::kit::{Kit, RequestKind};

/// The bound on every step of a check.
pub const STEP: Duration = Duration::from_secs(20);

/// One way a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// `synthesize` over a plain HTTP request (streamed body).
    Rest,
    /// `synthesize` over the vendor's streaming socket.
    Socket,
    /// `stream`: a session of incremental text (over the socket where the
    /// vendor has one, sentence by sentence over HTTP where it has none).
    Session,
}

/// What the mock does, in the suite's words; each provider maps it onto its
/// own mock (kit faults, dialect scripts or settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scenario {
    /// Answers every request as the vendor does.
    Healthy,
    /// Refuses every request (REST call and upgrade) with this HTTP status.
    Reject(u16),
    /// Accepts the text, then never sends audio.
    SilentBeforeAudio,
    /// Sends some audio, then goes quiet without ending the utterance.
    StallAfterAudio,
    /// Ends the utterance without a single audio byte.
    ZeroAudio,
    /// Sends audio slowly (a few bytes every few milliseconds), so a caller
    /// can barge in mid-utterance.
    Slow,
    /// Closes a socket that has been open this long (an idle or aged-out socket).
    CloseSocketsAfter(Duration),
    /// The provider's own failure-table row number `n` (`0..VENDOR_FAULTS`),
    /// replayed by the key-leak check.
    Vendor(usize),
    /// Healthy, but accepting only [`OTHER_KEY`]: the provider's
    /// [`Conformance::KEY`] is refused by the mock's own key check (no
    /// scripted fault). Start the mock with [`Scenario::accepted_key`].
    WrongKey,
}

/// The key a [`Scenario::WrongKey`] mock accepts (never the provider's).
pub const OTHER_KEY: &str = "conformance-the-only-key-this-mock-accepts";

impl Scenario {
    /// The key the mock accepts in this scenario: `key` (the provider's),
    /// except [`OTHER_KEY`] for [`Scenario::WrongKey`].
    pub fn accepted_key(&self, key: &'static str) -> &'static str {
        match self {
            Self::WrongKey => OTHER_KEY,
            _ => key,
        }
    }
}

/// A provider under the suite: a [`TtsProvider`] whose `Debug` the suite
/// formats (every provider type is one).
pub trait ProviderUnderTest: TtsProvider + std::fmt::Debug {
    /// Itself, as the provider trait object the checks drive.
    fn tts(&self) -> &dyn TtsProvider;
}

impl<P: TtsProvider + std::fmt::Debug> ProviderUnderTest for P {
    fn tts(&self) -> &dyn TtsProvider {
        self
    }
}

/// The deadlines a provider is built with for a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// `first_audio_timeout_ms`.
    pub first_audio_ms: u64,
    /// `inactivity_timeout_ms`.
    pub inactivity_ms: u64,
}

impl Deadlines {
    /// Generous: a healthy mock always makes them.
    pub const RELAXED: Self = Self {
        first_audio_ms: 2_000,
        inactivity_ms: 2_000,
    };
    /// Short: for the checks that wait for a deadline to fire.
    pub const SHORT: Self = Self {
        first_audio_ms: 300,
        inactivity_ms: 300,
    };
}

/// A provider and its mock, as the suite drives them.
pub trait Conformance: Send + Sync + 'static {
    /// The running mock (dropping it stops it).
    type Mock: Send + Sync + 'static;

    /// The provider's registry id, which its errors carry.
    const PROVIDER: &'static str;
    /// The key the mock accepts and the provider is given.
    const KEY: &'static str;
    /// The paths the provider has.
    const PATHS: &'static [Path];
    /// The format every check asks for; the mock's audio in it is
    /// [`expected_audio`]`(text, FORMAT)`.
    const FORMAT: AudioFormat;
    /// A BCP-47 tag the vendor does not speak; `None` for a vendor that
    /// takes any language (the check is then skipped).
    const MISSING_LANGUAGE: Option<&'static str>;
    /// A voice id the vendor accepts but voxwire does not list.
    const UNKNOWN_VOICE: &'static str;
    /// How many rows of its own failure table [`Scenario::Vendor`] replays.
    const VENDOR_FAULTS: usize = 0;

    /// Starts a mock accepting [`Conformance::KEY`] that behaves per `scenario`.
    fn start(scenario: Scenario) -> impl Future<Output = Self::Mock> + Send;

    /// The mock's shared state (recordings, fault plan).
    fn kit(mock: &Self::Mock) -> &Kit;

    /// The provider, pointed at `mock` with `deadlines`, speaking over `path`.
    fn provider(mock: &Self::Mock, path: Path, deadlines: Deadlines) -> Arc<dyn ProviderUnderTest>;
}

fn has<T: Conformance>(path: Path) -> bool {
    T::PATHS.contains(&path)
}

/// The synthesis paths (`Rest`, `Socket`) the provider has.
fn synth_paths<T: Conformance>() -> impl Iterator<Item = Path> {
    T::PATHS.iter().copied().filter(|p| *p != Path::Session)
}

/// Runs `f` within [`STEP`], failing the test when it does not finish.
pub async fn bounded<O>(what: &str, f: impl Future<Output = O>) -> O {
    match tokio::time::timeout(STEP, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// Every byte of one synthesis, or its first error.
pub async fn speak(p: &dyn TtsProvider, request: SynthesisRequest) -> Result<Vec<u8>, TtsError> {
    bounded("synthesize", async {
        let mut stream = p.synthesize(request).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?.data);
        }
        Ok(out)
    })
    .await
}

/// Session events until `UtteranceDone { id }`: the audio, or the first error.
pub async fn until_done(session: &mut SynthesisSession, id: u64) -> Result<Vec<u8>, TtsError> {
    bounded("session events", async {
        let mut audio = Vec::new();
        loop {
            match session.next_event().await {
                Some(Ok(SessionEvent::Audio(chunk))) => audio.extend_from_slice(&chunk.data),
                Some(Ok(SessionEvent::UtteranceDone { id: done })) if done == id => {
                    return Ok(audio)
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => panic!("the session ended before utterance {id} was done"),
            }
        }
    })
    .await
}

/// One utterance over `path`: `synthesize` for `Rest`/`Socket`, a session's
/// push, flush and finish for `Session`.
pub async fn utter(
    p: &dyn TtsProvider,
    path: Path,
    request: SynthesisRequest,
) -> Result<Vec<u8>, TtsError> {
    if path != Path::Session {
        return speak(p, request).await;
    }
    let config = StreamConfig {
        format: request.format,
        voice: request.voice.clone(),
        language: request.language.clone(),
        ..StreamConfig::default()
    };
    let mut session = bounded("stream", p.stream(config)).await?;
    let sent = match session.push_text(&request.text).await {
        Ok(()) => session.flush().await,
        Err(e) => Err(e),
    };
    let id = match sent {
        Ok(id) => id,
        // A session that dials on its first text (the shared-socket path)
        // ends with the dial's error in its events: report that one.
        Err(e) => return Err(ended_with(&mut session, e).await),
    };
    let audio = until_done(&mut session, id).await;
    let _ = session.finish().await;
    audio
}

/// The error event that ended `session`, else `fallback`.
async fn ended_with(session: &mut SynthesisSession, fallback: TtsError) -> TtsError {
    bounded("session events", async {
        while let Some(event) = session.next_event().await {
            if let Err(e) = event {
                return e;
            }
        }
        fallback
    })
    .await
}

fn request<T: Conformance>(text: &str) -> SynthesisRequest {
    SynthesisRequest::new(text).format(T::FORMAT)
}

fn assert_no_key<T: Conformance>(what: &str) {
    assert!(!what.contains(T::KEY), "the key leaked: {what}");
}

/// Checks that `e` is the provider's, provider-scoped, and holds no key.
fn assert_provider_scoped<T: Conformance>(e: &TtsError, kind: ErrorKind, context: &str) {
    assert_eq!(e.kind(), kind, "{context}: {e}");
    assert_eq!(e.scope(), ErrorScope::Provider, "{context}: {e}");
    assert_eq!(e.provider(), Some(T::PROVIDER), "{context}: {e}");
    assert_no_key::<T>(&format!("{e} {e:?}"));
}

/// Audio arrives intact, the mock's deterministic audio byte for byte, over each path.
pub async fn audio_arrives_intact<T: Conformance>() {
    let mock = T::start(Scenario::Healthy).await;
    for &path in T::PATHS {
        let p = T::provider(&mock, path, Deadlines::RELAXED);
        for text in [
            "Hello there, byte for byte.",
            "A second one, on the same provider.",
        ] {
            let got = utter(p.tts(), path, request::<T>(text))
                .await
                .unwrap_or_else(|e| panic!("{path:?}: {e}"));
            assert_eq!(got, expected_audio(text, T::FORMAT), "{path:?}: {text}");
        }
    }
}

/// A 401 is `Auth`, provider-scoped, names the status and a redacted URL.
pub async fn a_401_is_auth_and_provider_scoped<T: Conformance>() {
    let mock = T::start(Scenario::Reject(401)).await;
    for &path in T::PATHS {
        let p = T::provider(&mock, path, Deadlines::RELAXED);
        let e = utter(p.tts(), path, request::<T>("Refused."))
            .await
            .expect_err("a 401 fails");
        let context = format!("{path:?}");
        assert_provider_scoped::<T>(&e, ErrorKind::Auth, &context);
        assert_eq!(e.status(), Some(401), "{context}: {e}");
        let endpoint = e
            .endpoint()
            .unwrap_or_else(|| panic!("{context}: no endpoint in {e:?}"));
        assert!(endpoint.contains("127.0.0.1"), "{context}: {endpoint}");
        let line = e.to_string();
        assert!(line.contains("401"), "{context}: {line}");
        assert!(line.contains(endpoint), "{context}: {line}");
    }
}

/// The scenarios the key-leak check provokes: every shared one and the vendor's own.
fn leak_scenarios<T: Conformance>() -> Vec<Scenario> {
    let mut all = vec![
        Scenario::Healthy,
        Scenario::Reject(401),
        Scenario::Reject(403),
        Scenario::Reject(404),
        Scenario::Reject(400),
        Scenario::Reject(429),
        Scenario::Reject(500),
        Scenario::SilentBeforeAudio,
        Scenario::StallAfterAudio,
        Scenario::ZeroAudio,
    ];
    all.extend((0..T::VENDOR_FAULTS).map(Scenario::Vendor));
    all
}

/// The one log capture of this test binary.
fn capture() -> &'static LogCapture {
    static CAPTURE: OnceLock<LogCapture> = OnceLock::new();
    CAPTURE.get_or_init(LogCapture::install)
}

/// Everything one scenario shows over every path (errors, doctor reports,
/// the mock's recordings), formatted for the key-leak search.
async fn provoke<T: Conformance>(scenario: Scenario) -> Vec<String> {
    let mut seen = Vec::new();
    let mock = T::start(scenario).await;
    for &path in T::PATHS {
        let p = T::provider(&mock, path, Deadlines::SHORT);
        if let Err(e) = utter(p.tts(), path, request::<T>("Keep it secret.")).await {
            seen.push(format!("{e} {e:?}"));
        }
        if path != Path::Session {
            let report = bounded("diagnose", p.diagnose()).await;
            seen.push(format!("{report:?}"));
        }
    }
    seen.push(format!("{:?}", T::kit(&mock).requests()));
    seen
}

/// No key in any log line (TRACE, with the `log` bridge), error, report or
/// recording, over every path and scenario, and once the mock is gone.
pub async fn no_key_under_a_trace_subscriber<T: Conformance>() {
    let logs = capture();
    // Every scenario at once, each on its own mock: the deadlines overlap.
    let runs = leak_scenarios::<T>().into_iter().map(provoke::<T>);
    let mut seen: Vec<String> = futures::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    // A vendor that is gone: the refused connection names the URL, never the key.
    let mock = T::start(Scenario::Healthy).await;
    let providers: Vec<_> = T::PATHS
        .iter()
        .map(|&path| (path, T::provider(&mock, path, Deadlines::SHORT)))
        .collect();
    drop(mock);
    for (path, p) in providers {
        match utter(p.tts(), path, request::<T>("Anyone home?")).await {
            Ok(_) => panic!("{path:?}: a stopped mock answered"),
            Err(e) => seen.push(format!("{e} {e:?}")),
        }
    }
    let text = logs.text();
    assert!(!text.is_empty(), "the subscriber captured nothing");
    for (i, line) in text.lines().enumerate() {
        assert!(!line.contains(T::KEY), "log line {i} holds the key: {line}");
    }
    for s in &seen {
        assert_no_key::<T>(s);
    }
}

fn sockets(kit: &Kit) -> usize {
    kit.requests()
        .iter()
        .filter(|r| r.kind == RequestKind::WebSocket)
        .count()
}

/// Barge-in mid-utterance, then the next utterance on the same socket.
pub async fn cancel_keeps_a_reusable_connection<T: Conformance>() {
    if !has::<T>(Path::Socket) {
        return;
    }
    let mock = T::start(Scenario::Slow).await;
    let p = T::provider(&mock, Path::Session, Deadlines::RELAXED);
    let config = StreamConfig {
        format: Some(T::FORMAT),
        ..StreamConfig::default()
    };
    let mut s = bounded("stream", p.stream(config))
        .await
        .expect("a session");
    s.push_text("A long first utterance, interrupted by the caller halfway through it. ")
        .await
        .expect("pushed");
    s.flush().await.expect("flushed");
    cancel_after_first_audio(&mut s, STEP).await;
    s.push_text("Next.").await.expect("pushed");
    let id = s.flush().await.expect("flushed");
    let audio = until_done(&mut s, id).await.expect("the next utterance");
    assert_eq!(audio, expected_audio("Next.", T::FORMAT));
    assert_eq!(
        sockets(T::kit(&mock)),
        1,
        "the socket was kept through the barge-in"
    );
}

/// A vendor that never sends audio, and one that stalls after some, each time out.
pub async fn first_audio_and_inactivity_timeouts<T: Conformance>() {
    let cases = [
        (Scenario::SilentBeforeAudio, "first audio"),
        (Scenario::StallAfterAudio, "inactivity"),
    ]
    .into_iter()
    .flat_map(|(scenario, what)| {
        synth_paths::<T>().map(move |path| (scenario.clone(), what, path))
    });
    // Each case on its own mock, all at once: the deadlines overlap.
    futures::future::join_all(cases.map(|(scenario, what, path)| async move {
        let mock = T::start(scenario).await;
        let p = T::provider(&mock, path, Deadlines::SHORT);
        let started = std::time::Instant::now();
        let e = speak(p.tts(), request::<T>("Hello? Is anyone there at all?"))
            .await
            .expect_err("a deadline fires");
        assert_eq!(e.kind(), ErrorKind::Timeout, "{what} {path:?}: {e}");
        assert_eq!(e.provider(), Some(T::PROVIDER), "{what} {path:?}: {e}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what} {path:?}: the deadline took {:?}",
            started.elapsed()
        );
    }))
    .await;
}

/// The vendor closed a pooled socket while it was idle; the next request speaks.
pub async fn an_idle_closed_socket_never_fails_the_next_request<T: Conformance>() {
    if !has::<T>(Path::Socket) {
        return;
    }
    let mock = T::start(Scenario::CloseSocketsAfter(Duration::from_millis(150))).await;
    let p = T::provider(&mock, Path::Socket, Deadlines::RELAXED);
    speak(p.tts(), request::<T>("First.")).await.expect("first");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let got = speak(p.tts(), request::<T>("Second."))
        .await
        .expect("second");
    assert_eq!(got, expected_audio("Second.", T::FORMAT));
    assert_eq!(
        sockets(T::kit(&mock)),
        2,
        "a fresh socket replaced the closed one"
    );
}

/// A language the vendor lacks is `Unsupported` before any network call.
pub async fn a_language_the_vendor_lacks_is_refused_before_any_call<T: Conformance>() {
    let Some(language) = T::MISSING_LANGUAGE else {
        return;
    };
    let mock = T::start(Scenario::Healthy).await;
    for &path in T::PATHS {
        let p = T::provider(&mock, path, Deadlines::RELAXED);
        let mut r = request::<T>("nuqneH.");
        r.language = Some(language.to_string());
        let e = match utter(p.tts(), path, r).await {
            Ok(audio) => panic!("{path:?}: {} bytes of audio in {language}", audio.len()),
            Err(e) => e,
        };
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{path:?}: {e}");
    }
    assert_eq!(
        T::kit(&mock).requests().len(),
        0,
        "refused before any network call"
    );
}

/// A voice id voxwire does not list reaches the vendor, and is spoken.
pub async fn unknown_voice_ids_pass_through<T: Conformance>() {
    let mock = T::start(Scenario::Healthy).await;
    for &path in T::PATHS {
        let p = T::provider(&mock, path, Deadlines::RELAXED);
        let text = "An unlisted voice.";
        let mut r = request::<T>(text);
        r.voice = Some(T::UNKNOWN_VOICE.to_string());
        let got = utter(p.tts(), path, r)
            .await
            .unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert_eq!(got, expected_audio(text, T::FORMAT), "{path:?}");
    }
    let sent = format!("{:?}", T::kit(&mock).requests());
    assert!(
        sent.contains(T::UNKNOWN_VOICE),
        "the voice reached the vendor: {sent}"
    );
}

/// An utterance that ends after zero audio is `NoAudio`, provider-scoped.
pub async fn no_audio_is_provider_scoped<T: Conformance>() {
    for path in synth_paths::<T>() {
        let mock = T::start(Scenario::ZeroAudio).await;
        let p = T::provider(&mock, path, Deadlines::RELAXED);
        let e = speak(p.tts(), request::<T>("Nothing comes back."))
            .await
            .expect_err("no audio");
        assert_provider_scoped::<T>(&e, ErrorKind::NoAudio, &format!("{path:?}"));
    }
}

/// The provider's `Debug` (`{:?}` and `{:#?}`) never shows the key, over each path.
pub async fn debug_never_shows_the_key<T: Conformance>() {
    let mock = T::start(Scenario::Healthy).await;
    for &path in T::PATHS {
        let p = T::provider(&mock, path, Deadlines::RELAXED);
        for shown in [format!("{p:?}"), format!("{p:#?}")] {
            assert!(!shown.is_empty(), "{path:?}: an empty Debug");
            assert_no_key::<T>(&shown);
        }
    }
}

/// A key the mock refuses (its own check, no scripted status) is `Auth`,
/// provider-scoped, with the status and a redacted URL and no key in its
/// `Display`.
pub async fn a_wrong_key_is_auth_and_provider_scoped<T: Conformance>() {
    let mock = T::start(Scenario::WrongKey).await;
    for &path in T::PATHS {
        let p = T::provider(&mock, path, Deadlines::RELAXED);
        let e = utter(p.tts(), path, request::<T>("Wrong key."))
            .await
            .expect_err("a wrong key fails");
        let context = format!("{path:?}");
        assert_provider_scoped::<T>(&e, ErrorKind::Auth, &context);
        let status = e
            .status()
            .unwrap_or_else(|| panic!("{context}: no status in {e:?}"));
        assert!(matches!(status, 401 | 403), "{context}: {e}");
        let endpoint = e
            .endpoint()
            .unwrap_or_else(|| panic!("{context}: no endpoint in {e:?}"));
        assert!(endpoint.contains("127.0.0.1"), "{context}: {endpoint}");
        assert_eq!(endpoint, redact_url(endpoint), "{context}: redacted");
        let line = e.to_string();
        assert!(line.contains(&status.to_string()), "{context}: {line}");
        assert!(line.contains(endpoint), "{context}: {line}");
        assert!(!line.contains(OTHER_KEY), "{context}: {line}");
    }
    let refused = T::kit(&mock).requests();
    assert!(!refused.is_empty(), "the mock saw the wrong key");
}

/// Writes the suite's `#[tokio::test]`s for a [`Conformance`] implementation.
///
/// ```ignore
/// voxwire_testkit::conformance_suite!(MyVendor);
/// ```
#[macro_export]
macro_rules! conformance_suite {
    ($t:ty) => {
        $crate::conformance_suite!(@tests $t;
            audio_arrives_intact,
            a_401_is_auth_and_provider_scoped,
            no_key_under_a_trace_subscriber,
            cancel_keeps_a_reusable_connection,
            first_audio_and_inactivity_timeouts,
            an_idle_closed_socket_never_fails_the_next_request,
            a_language_the_vendor_lacks_is_refused_before_any_call,
            unknown_voice_ids_pass_through,
            no_audio_is_provider_scoped,
            debug_never_shows_the_key,
            a_wrong_key_is_auth_and_provider_scoped,
        );
    };
    (@tests $t:ty; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::conformance::$check::<$t>().await;
            }
        )*
    };
}

/// The settings (a `network_settings!` type) of a provider under a
/// conformance check: `key`, `base_url`, the transport of `path` (`Rest` for
/// [`Path::Rest`], the socket otherwise), the `deadlines`, a 2 s connect
/// timeout, the rest default.
///
/// ```ignore
/// let settings = conformance_settings!(XaiSettings, Transport, Self::KEY, mock.base_url(), path, deadlines);
/// ```
#[macro_export]
macro_rules! conformance_settings {
    ($settings:ident, $transport:ident, $key:expr, $base_url:expr, $path:expr, $deadlines:expr) => {
        $settings {
            api_key: Some(::voxwire_core::Secret::new($key)),
            base_url: Some($base_url),
            transport: match $path {
                $crate::conformance::Path::Rest => $transport::Rest,
                $crate::conformance::Path::Socket | $crate::conformance::Path::Session => {
                    $transport::Websocket
                }
            },
            first_audio_timeout_ms: $deadlines.first_audio_ms,
            inactivity_timeout_ms: $deadlines.inactivity_ms,
            connect_timeout_ms: 2_000,
            ..$settings::default()
        }
    };
}
