//! Tenant isolation by error scope, capability skips, named entries, the
//! `Serving` event, pipelining, the per-sentence duplicate bound, the
//! caller's format, and the router's task ownership.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use voxwire_core::session::SessionEvent;
use voxwire_core::{
    AudioChunk, AudioFormat, AudioStream, Capabilities, Encoding, ErrorKind, ErrorScope,
    StreamConfig, SynthesisRequest, SynthesisSession, TtsError, TtsProvider, Voice,
};
use voxwire_router::{AttemptOutcome, Entry, Policy, Router, RouterEvent, RouterSettings};
use voxwire_testkit::fake::{Behaviour, FakeProvider};
use voxwire_testkit::mock_xai::expected_audio;

use voxwire_testkit::dying::Dying;

const LIMIT: Duration = Duration::from_secs(20);
/// The dying entries' pause before each chunk.
const PACE: Duration = Duration::from_millis(3);

fn pcm() -> AudioFormat {
    AudioFormat::pcm16_mono(24_000)
}

/// A provider with chosen capabilities that records every request and the
/// order in which requests start and streams end.
#[derive(Clone)]
struct Voicer {
    id: &'static str,
    caps: Capabilities,
    /// Refuses requests faster than this with a 400 (InvalidRequest).
    refuse_speed_over: Option<f32>,
    chunk_delay: Duration,
    log: Arc<Mutex<Vec<String>>>,
    requests: Arc<Mutex<Vec<SynthesisRequest>>>,
}

impl Voicer {
    fn new(id: &'static str) -> Self {
        Self {
            id,
            caps: Capabilities {
                streaming_input: false,
                encodings: vec![Encoding::PcmS16le],
                sample_rates: vec![24_000],
                native_format: pcm(),
                languages: vec!["en".into()],
                max_text_chars: 10_000,
                timestamps: false,
                speed_range: None,
            },
            refuse_speed_over: None,
            chunk_delay: Duration::ZERO,
            log: Arc::default(),
            requests: Arc::default(),
        }
    }
    fn arc(&self) -> Arc<dyn TtsProvider> {
        Arc::new(self.clone())
    }
    fn texts(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.text.clone())
            .collect()
    }
}

#[voxwire_core::async_trait]
impl TtsProvider for Voicer {
    fn id(&self) -> &str {
        self.id
    }
    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }
    async fn voices(&self) -> voxwire_core::Result<Vec<Voice>> {
        Ok(vec![])
    }
    async fn synthesize(&self, request: SynthesisRequest) -> voxwire_core::Result<AudioStream> {
        self.requests.lock().unwrap().push(request.clone());
        if let (Some(max), Some(speed)) = (self.refuse_speed_over, request.speed) {
            if speed > max {
                return Err(TtsError::from_http(
                    400,
                    voxwire_core::Phase::Receive,
                    "http://x",
                    b"bad speed",
                )
                .with_provider(self.id));
            }
        }
        let format = request.format.unwrap_or(self.caps.native_format);
        let audio = Bytes::from(expected_audio(&request.text, format));
        let text = request.text.clone();
        let log = self.log.clone();
        log.lock().unwrap().push(format!("start {text}"));
        let delay = self.chunk_delay;
        let pieces: Vec<Bytes> = (0..audio.len())
            .step_by(4800)
            .map(|i| audio.slice(i..(i + 4800).min(audio.len())))
            .collect();
        let n = pieces.len();
        Ok(Box::pin(
            futures::stream::iter(pieces.into_iter().enumerate()).then(move |(i, data)| {
                let log = log.clone();
                let text = text.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    if i + 1 == n {
                        log.lock().unwrap().push(format!("end {text}"));
                    }
                    Ok(AudioChunk {
                        data,
                        format,
                        sequence: i as u64,
                        span: None,
                        times: None,
                        words: Vec::new(),
                    })
                }
            }),
        ))
    }
    async fn stream(&self, _: StreamConfig) -> voxwire_core::Result<SynthesisSession> {
        Err(TtsError::new(ErrorKind::Unsupported, "not here"))
    }
}

fn quick() -> Policy {
    Policy {
        max_retries: 0,
        backoff_base_ms: 5,
        backoff_max_ms: 10,
        first_audio_timeout_ms: Some(2_000),
        inactivity_timeout_ms: 2_000,
        cooldown_ms: 60_000,
        cooldown_max_ms: 60_000,
        ..Policy::default()
    }
}

async fn speak(r: &Router, request: SynthesisRequest) -> Result<Vec<u8>, TtsError> {
    tokio::time::timeout(LIMIT, async {
        let mut stream = r.synthesize(request).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?.data);
        }
        Ok(out)
    })
    .await
    .expect("within the limit")
}

fn attempts(
    rx: &mut tokio::sync::broadcast::Receiver<RouterEvent>,
) -> Vec<voxwire_router::AttemptRecord> {
    std::iter::from_fn(|| rx.try_recv().ok())
        .filter_map(|e| match e {
            RouterEvent::Attempt(a) => Some(a),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_refused_request_fails_over_alone_and_never_moves_other_tenants() {
    let mut primary = Voicer::new("primary");
    primary.refuse_speed_over = Some(1.5);
    let fallback = Voicer::new("fallback");
    let r = Router::new(
        vec![(primary.arc(), quick()), (fallback.arc(), quick())],
        RouterSettings::default(),
    )
    .unwrap();
    let out = speak(
        &r,
        SynthesisRequest::new("Fast please.")
            .format(pcm())
            .speed(2.0),
    )
    .await
    .unwrap();
    assert_eq!(out, expected_audio("Fast please.", pcm()));
    assert_eq!(fallback.texts(), vec!["Fast please."]);
    assert!(
        r.is_available("primary"),
        "a 400 is the request's fault, not the provider's"
    );
    for i in 0..20 {
        let text = format!("Normal {i}.");
        speak(&r, SynthesisRequest::new(text.as_str()).format(pcm()))
            .await
            .unwrap();
    }
    assert_eq!(
        fallback.texts().len(),
        1,
        "all 20 later requests served by the primary"
    );
    assert_eq!(primary.texts().len(), 21);
}

#[tokio::test]
async fn entries_that_cannot_serve_are_skipped_with_the_reason() {
    let mut primary = Voicer::new("primary");
    primary.caps.speed_range = Some((0.7, 1.5));
    primary.caps.languages = vec!["en".into(), "fr".into()];
    let mut french = Voicer::new("french");
    french.caps.languages = vec!["fr-fr".into()];
    let fallback = Voicer::new("fallback");
    let r = Router::new(
        vec![
            (primary.arc(), quick()),
            (french.arc(), quick()),
            (fallback.arc(), quick()),
        ],
        RouterSettings::default(),
    )
    .unwrap();
    let mut rx = r.subscribe();
    speak(
        &r,
        SynthesisRequest::new("Vite.")
            .format(pcm())
            .speed(2.0)
            .language("fr-CA"),
    )
    .await
    .unwrap();
    assert!(
        primary.texts().is_empty(),
        "never tried outside its speed range"
    );
    assert_eq!(french.texts(), vec!["Vite."]);
    let records = attempts(&mut rx);
    assert!(
        matches!(&records[0].outcome, AttemptOutcome::Skipped { reason } if reason.contains("speed 2")),
        "{records:?}"
    );
    assert!(r.is_available("primary"));
    // English: the French entry is skipped for its language.
    speak(
        &r,
        SynthesisRequest::new("Hello.")
            .format(pcm())
            .language("en-US"),
    )
    .await
    .unwrap();
    assert_eq!(primary.texts(), vec!["Hello."]);
    speak(
        &r,
        SynthesisRequest::new("Quick.")
            .format(pcm())
            .language("en_us")
            .speed(2.0),
    )
    .await
    .unwrap();
    assert_eq!(fallback.texts(), vec!["Quick."]);
    let records = attempts(&mut rx);
    assert!(records.iter().any(|a| a.entry == "french" && matches!(&a.outcome, AttemptOutcome::Skipped { reason } if reason.contains("en_us"))), "{records:?}");
}

#[tokio::test]
async fn when_no_entry_can_serve_the_error_says_why_for_each() {
    let mut a = Voicer::new("alpha");
    a.caps.speed_range = Some((0.7, 1.5));
    a.caps.languages = vec!["de".into()];
    let mut b = Voicer::new("beta");
    b.caps.languages = vec!["en".into()];
    let r = Router::new(
        vec![(a.arc(), quick()), (b.arc(), quick())],
        RouterSettings::default(),
    )
    .unwrap();
    let err = speak(
        &r,
        SynthesisRequest::new("Hallo.")
            .format(pcm())
            .speed(3.0)
            .language("de"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(err.scope(), ErrorScope::Request);
    let line = err.to_string();
    assert!(
        line.contains("alpha: ") && line.contains("speed 3"),
        "{line}"
    );
    assert!(line.contains("beta: ") && line.contains("`de`"), "{line}");
    assert!(r.is_available("alpha") && r.is_available("beta"));
}

#[tokio::test]
async fn two_entries_of_one_provider_are_named_and_fail_over_to_each_other() {
    let eu = FakeProvider::new("xai").scripted(
        vec![],
        Behaviour::Fail(TtsError::new(ErrorKind::Auth, "key revoked")),
    );
    let us = FakeProvider::new("xai");
    let r = Router::with_entries(
        vec![
            Entry::new(eu.arc(), quick()).named("xai-eu"),
            Entry::new(us.arc(), quick()).named("xai-us"),
        ],
        RouterSettings::default(),
    )
    .unwrap();
    assert_eq!(r.chain(), vec!["xai-eu", "xai-us"]);
    let mut session = r
        .session(&StreamConfig {
            format: Some(pcm()),
            ..Default::default()
        })
        .unwrap();
    session.push_text("Hello from a region.").await.unwrap();
    session.flush().await.unwrap();
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(LIMIT, session.next_event())
            .await
            .unwrap()
        {
            Some(Ok(SessionEvent::ProviderChanged { from, to, .. })) => {
                seen.push(format!("changed {from}->{to}"))
            }
            Some(Ok(SessionEvent::Serving {
                entry, provider, ..
            })) => seen.push(format!("serving {entry}/{provider}")),
            Some(Ok(SessionEvent::Audio(_))) => seen.push("audio".into()),
            Some(Ok(SessionEvent::UtteranceDone { .. })) => break,
            other => panic!("{other:?}"),
        }
    }
    seen.dedup();
    assert_eq!(
        seen,
        vec!["changed xai-eu->xai-us", "serving xai-us/xai", "audio"]
    );
    assert!(
        !r.is_available("xai-eu"),
        "an auth failure marks the entry down"
    );
    assert!(r.is_available("xai-us"));
    let dup = Router::with_entries(
        vec![Entry::new(us.arc(), quick()), Entry::new(us.arc(), quick())],
        RouterSettings::default(),
    );
    assert!(dup
        .unwrap_err()
        .to_string()
        .contains("two chain entries are named `xai`"));
}

#[tokio::test]
async fn serving_comes_before_the_first_audio_of_each_utterance() {
    let p = Voicer::new("solo");
    let r = Router::new(vec![(p.arc(), quick())], RouterSettings::default()).unwrap();
    let mut session = r
        .session(&StreamConfig {
            format: Some(pcm()),
            ..Default::default()
        })
        .unwrap();
    let mut order = Vec::new();
    for text in ["One. Two.", "Three."] {
        session.push_text(text).await.unwrap();
        session.flush().await.unwrap();
        loop {
            match tokio::time::timeout(LIMIT, session.next_event())
                .await
                .unwrap()
            {
                Some(Ok(SessionEvent::Serving { entry, .. })) => {
                    order.push(format!("serving {entry}"))
                }
                Some(Ok(SessionEvent::Audio(_))) => {
                    if order.last().map(String::as_str) != Some("audio") {
                        order.push("audio".into());
                    }
                }
                Some(Ok(SessionEvent::UtteranceDone { .. })) => {
                    order.push("done".into());
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(
        order,
        vec![
            "serving solo",
            "audio",
            "done",
            "serving solo",
            "audio",
            "done"
        ]
    );
}

#[tokio::test]
async fn the_next_sentence_is_requested_while_the_current_one_streams() {
    let mut p = Voicer::new("slow");
    p.chunk_delay = Duration::from_millis(30);
    for lookahead in [1, 0] {
        p.log.lock().unwrap().clear();
        let r = Router::new(
            vec![(p.arc(), quick())],
            RouterSettings {
                lookahead,
                ..RouterSettings::default()
            },
        )
        .unwrap();
        let text = "Yes. No. Maybe.";
        let out = speak(&r, SynthesisRequest::new(text).format(pcm()))
            .await
            .unwrap();
        let expected: Vec<u8> = ["Yes. ", "No. ", "Maybe."]
            .iter()
            .flat_map(|s| expected_audio(s, pcm()))
            .collect();
        assert_eq!(
            out, expected,
            "audio in order, whole, with lookahead {lookahead}"
        );
        let log = p.log.lock().unwrap().clone();
        let start_two = log.iter().position(|l| l == "start No. ").unwrap();
        let end_one = log.iter().position(|l| l == "end Yes. ").unwrap();
        if lookahead == 1 {
            assert!(start_two < end_one, "pipelined: {log:?}");
        } else {
            assert!(start_two > end_one, "one at a time: {log:?}");
        }
    }
}

#[tokio::test]
async fn once_an_entry_has_spoken_every_sentence_ahead_is_requested_at_once() {
    let mut p = Voicer::new("slow");
    p.chunk_delay = Duration::from_millis(30);
    let r = Router::new(vec![(p.arc(), quick())], RouterSettings::default()).unwrap();
    // A fresh entry is tried by one sentence first; this one proves it.
    speak(&r, SynthesisRequest::new("Hi.").format(pcm()))
        .await
        .unwrap();
    p.log.lock().unwrap().clear();
    let sentences = [
        "Yes. ",
        "No. ",
        "Maybe. ",
        "Sure thing. ",
        "Okay then. ",
        "Right away.",
    ];
    let text = sentences.concat();
    let out = speak(&r, SynthesisRequest::new(text.as_str()).format(pcm()))
        .await
        .unwrap();
    let expected: Vec<u8> = sentences
        .iter()
        .flat_map(|s| expected_audio(s, pcm()))
        .collect();
    assert_eq!(out, expected, "audio in order, whole");
    let log = p.log.lock().unwrap().clone();
    let end_one = log.iter().position(|l| l == "end Yes. ").unwrap();
    for s in &sentences[1..] {
        let start = log.iter().position(|l| l == &format!("start {s}")).unwrap();
        assert!(
            start < end_one,
            "{s:?} requested before the first sentence ended: {log:?}"
        );
    }
}

#[tokio::test]
async fn however_many_failovers_a_sentence_is_heard_in_part_at_most_once_more() {
    let (text, audio, chunk) = long_sentence();
    // Paced, so the router hands each chunk on before the entry dies: the
    // sentence is being heard (audio held and never heard is dropped instead).
    let a = Dying::new("a", 2 * chunk, PACE);
    let b = Dying::new("b", 4 * chunk, PACE);
    let c = FakeProvider::new("c");
    let r = Router::new(
        vec![(a.arc(), quick()), (b.arc(), quick()), (c.arc(), quick())],
        RouterSettings::default(),
    )
    .unwrap();
    let out = speak(&r, SynthesisRequest::new(text).format(pcm()))
        .await
        .unwrap();
    // a's two chunks, b replays from the start (four chunks), c resumes where b got.
    let mut expected = audio[..2 * chunk].to_vec();
    expected.extend_from_slice(&audio[..4 * chunk]);
    expected.extend_from_slice(&audio[4 * chunk..]);
    assert_eq!(out.len(), expected.len());
    assert!(
        out == expected,
        "the duplicate bound holds across two failovers"
    );
}

#[tokio::test]
async fn providers_are_asked_for_the_callers_format_when_they_have_it() {
    let mulaw = AudioFormat::mono(Encoding::Mulaw, 8_000);
    let mut telephony = Voicer::new("telephony");
    telephony.caps.encodings = vec![Encoding::PcmS16le, Encoding::Mulaw];
    telephony.caps.sample_rates = vec![8_000, 24_000];
    let r = Router::new(vec![(telephony.arc(), quick())], RouterSettings::default()).unwrap();
    let out = speak(&r, SynthesisRequest::new("Press one.").format(mulaw))
        .await
        .unwrap();
    assert_eq!(telephony.requests.lock().unwrap()[0].format, Some(mulaw));
    assert_eq!(
        out,
        expected_audio("Press one.", mulaw),
        "passed through, not converted"
    );
    let plain = Voicer::new("plain");
    let r = Router::new(vec![(plain.arc(), quick())], RouterSettings::default()).unwrap();
    let out = speak(&r, SynthesisRequest::new("Press two.").format(mulaw))
        .await
        .unwrap();
    assert_eq!(
        plain.requests.lock().unwrap()[0].format,
        None,
        "converted by the router"
    );
    assert!(!out.is_empty());
}

#[tokio::test]
async fn shutdown_ends_every_task_and_later_sessions_fail() {
    let p = FakeProvider::new("slow").scripted(vec![], Behaviour::Slow(Duration::from_millis(200)));
    let down = FakeProvider::new("down").scripted(
        vec![],
        Behaviour::Fail(TtsError::new(ErrorKind::Auth, "no")),
    );
    let r = Router::new(
        vec![(down.arc(), quick()), (p.arc(), quick())],
        RouterSettings::default(),
    )
    .unwrap();
    let mut session = r
        .session(&StreamConfig {
            format: Some(pcm()),
            ..Default::default()
        })
        .unwrap();
    session
        .push_text("A sentence that takes a while.")
        .await
        .unwrap();
    session.flush().await.unwrap();
    while !matches!(session.next_event().await, Some(Ok(SessionEvent::Audio(_)))) {}
    assert_eq!(r.probes_running(), 1, "one probe for the entry marked down");
    assert!(r.tasks_running() >= 2);
    r.shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(r.tasks_running(), 0);
    assert!(r.session(&StreamConfig::default()).is_err());
}

#[test]
fn a_session_outside_a_runtime_says_it_needs_one() {
    let p = FakeProvider::new("solo");
    let r = Router::new(vec![(p.arc(), quick())], RouterSettings::default()).unwrap();
    let err = r.session(&StreamConfig::default()).unwrap_err();
    assert!(err.to_string().contains("needs a tokio runtime"), "{err}");
}

/// Fails its first request (taking it down), then answers every later one,
/// probes included, with a stream that ends without audio.
#[derive(Clone, Default)]
struct Mute {
    calls: Arc<Mutex<usize>>,
}

#[voxwire_core::async_trait]
impl TtsProvider for Mute {
    fn id(&self) -> &str {
        "mute"
    }
    fn capabilities(&self) -> Capabilities {
        Voicer::new("mute").caps
    }
    async fn voices(&self) -> voxwire_core::Result<Vec<Voice>> {
        Ok(vec![])
    }
    async fn synthesize(&self, _: SynthesisRequest) -> voxwire_core::Result<AudioStream> {
        let first = {
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            *calls == 1
        };
        if first {
            return Err(TtsError::new(ErrorKind::Unavailable, "down for now"));
        }
        Ok(Box::pin(futures::stream::empty()))
    }
    async fn stream(&self, _: StreamConfig) -> voxwire_core::Result<SynthesisSession> {
        Err(TtsError::new(ErrorKind::Unsupported, "not used"))
    }
}

#[tokio::test]
async fn a_recovery_probe_that_gets_no_audio_has_failed() {
    let mute = Mute::default();
    let fallback = FakeProvider::new("fallback");
    let policy = Policy {
        cooldown_ms: 20,
        cooldown_max_ms: 20,
        ..quick()
    };
    let r = Router::new(
        vec![(Arc::new(mute.clone()), policy), (fallback.arc(), quick())],
        RouterSettings::default(),
    )
    .unwrap();
    let mut events = r.subscribe();
    let out = speak(&r, SynthesisRequest::new("Hello.").format(pcm()))
        .await
        .unwrap();
    assert_eq!(out, expected_audio("Hello.", pcm()));
    assert!(!r.is_available("mute"));
    // Several probes run (each answered with an empty stream); none brings it back.
    let deadline = tokio::time::Instant::now() + LIMIT;
    while *mute.calls.lock().unwrap() < 4 {
        assert!(tokio::time::Instant::now() < deadline, "no probes ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !r.is_available("mute"),
        "a probe without audio brought it back"
    );
    while let Ok(event) = events.try_recv() {
        assert!(
            !matches!(
                event,
                RouterEvent::Availability {
                    available: true,
                    ..
                }
            ),
            "{event:?}"
        );
    }
    let before = fallback.calls().len();
    speak(&r, SynthesisRequest::new("Again.").format(pcm()))
        .await
        .unwrap();
    assert_eq!(
        fallback.calls().len(),
        before + 1,
        "the fallback still serves"
    );
}

#[tokio::test]
async fn the_duplicate_bound_holds_through_a_router_in_front_of_a_router() {
    let (text, audio, chunk) = long_sentence();
    // The relay-style router: a dies after two chunks, b replays and dies
    // after four (paced, so each chunk is handed on before the entry dies).
    let a = Dying::new("a", 2 * chunk, PACE);
    let b = Dying::new("b", 4 * chunk, PACE);
    let relay = Router::new(
        vec![(a.arc(), quick()), (b.arc(), quick())],
        RouterSettings::default(),
    )
    .unwrap();
    // The browser-style router in front of it fails over to c.
    let c = FakeProvider::new("c");
    let browser = Router::new(
        vec![(Arc::new(relay), quick()), (c.arc(), quick())],
        RouterSettings::default(),
    )
    .unwrap();
    let out = speak(&browser, SynthesisRequest::new(text).format(pcm()))
        .await
        .unwrap();
    // a's two chunks, b's replay (four chunks), then c resumes where b got:
    // no part of the sentence is heard more than once more.
    let mut expected = audio[..2 * chunk].to_vec();
    expected.extend_from_slice(&audio[..4 * chunk]);
    expected.extend_from_slice(&audio[4 * chunk..]);
    assert_eq!(
        out.len(),
        expected.len(),
        "{} chunks over the sentence's audio",
        (out.len() as f64 - audio.len() as f64) / chunk as f64
    );
    assert!(
        out == expected,
        "the duplicate bound holds through two routers"
    );
}

/// One sentence long enough for many 4096-byte chunks: its text, its fake audio, the chunk size.
fn long_sentence() -> (&'static str, Vec<u8>, usize) {
    let text =
        "This sentence is long enough to be cut into many chunks of audio by every fake provider.";
    let audio = expected_audio(text, pcm());
    let chunk = 4096;
    assert!(audio.len() > 6 * chunk);
    (text, audio.to_vec(), chunk)
}
