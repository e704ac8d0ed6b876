//! voxwire-xai against the mock xAI server: happy paths byte for byte, and
//! every failure shape of the protocol page mapped to the right error.

use std::time::Duration;

use futures::StreamExt;
use voxwire_core::session::SessionEvent;
use voxwire_core::{
    AudioFormat, Encoding, ErrorKind, Phase, SynthesisRequest, TtsError, TtsProvider,
};
use voxwire_testkit::assert::cancel_after_first_audio;
use voxwire_testkit::mock_xai::{
    expected_audio, Fault, FaultPlan, MockConfig, MockXai, RequestKind,
};
use voxwire_xai::{Transport, XaiProvider, XaiSettings};

const KEY: &str = "xai-test-SECRET-0123456789";
const LIMIT: Duration = Duration::from_secs(60);

async fn mock(chunk: usize) -> MockXai {
    MockXai::start(MockConfig::new().with_api_key(KEY).with_chunk_size(chunk)).await
}

/// The key and base URL of `mock`, the rest default.
fn settings(mock: &MockXai) -> XaiSettings {
    XaiSettings {
        api_key: Some(voxwire_core::Secret::new(KEY)),
        base_url: Some(mock.base_url()),
        ..XaiSettings::default()
    }
}

fn provider(mock: &MockXai, transport: Transport) -> XaiProvider {
    XaiProvider::new(XaiSettings {
        transport,
        first_audio_timeout_ms: 1_000,
        inactivity_timeout_ms: 1_000,
        connect_timeout_ms: 2_000,
        ..settings(mock)
    })
    .expect("provider")
}

async fn collect(p: &XaiProvider, req: SynthesisRequest) -> Result<Vec<u8>, TtsError> {
    tokio::time::timeout(LIMIT, async {
        let mut stream = p.synthesize(req).await?;
        let mut out = Vec::new();
        let mut seq = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            assert_eq!(chunk.sequence, seq);
            assert_eq!(chunk.data.len() % chunk.format.bytes_per_frame(), 0);
            seq += 1;
            out.extend_from_slice(&chunk.data);
        }
        Ok(out)
    })
    .await
    .expect("finished in time")
}

fn pcm24() -> AudioFormat {
    AudioFormat::pcm16_mono(24_000)
}

fn assert_no_key(err: &TtsError) {
    let all = format!("{err} {err:?}");
    assert!(!all.contains(KEY), "key leaked: {all}");
}

#[tokio::test]
async fn audio_equals_the_mock_byte_for_byte_for_any_chunk_size() {
    for chunk in [1usize, 2, 3, 4, 5, 6, 7, 65_536] {
        // One-byte deltas are one JSON frame per byte: keep that text short.
        let text = if chunk < 8 {
            "A."
        } else {
            "Hello there, byte for byte."
        };
        let m = mock(chunk).await;
        for transport in [Transport::Websocket, Transport::Rest] {
            let p = provider(&m, transport);
            let started = std::time::Instant::now();
            let got = collect(&p, SynthesisRequest::new(text).format(pcm24()))
                .await
                .unwrap();
            assert_eq!(
                got,
                expected_audio(text, pcm24()),
                "chunk {chunk} {transport:?}"
            );
            eprintln!("chunk {chunk} {transport:?}: {:?}", started.elapsed());
        }
    }
}

#[tokio::test]
async fn mulaw_is_asked_of_xai_and_delivered() {
    let m = mock(4096).await;
    let p = provider(&m, Transport::Websocket);
    let f = AudioFormat::mono(Encoding::Mulaw, 8_000);
    let got = collect(&p, SynthesisRequest::new("Phone call.").format(f))
        .await
        .unwrap();
    assert_eq!(got, expected_audio("Phone call.", f));
}

#[tokio::test]
async fn connections_are_reused_across_utterances() {
    let m = mock(4096).await;
    let p = provider(&m, Transport::Websocket);
    for i in 0..3 {
        let text = format!("Utterance {i}.");
        let got = collect(&p, SynthesisRequest::new(&text).format(pcm24()))
            .await
            .unwrap();
        assert_eq!(got, expected_audio(&text, pcm24()));
    }
    let upgrades = m
        .requests()
        .iter()
        .filter(|r| r.kind == RequestKind::WebSocket)
        .count();
    assert_eq!(upgrades, 1, "one connection for three utterances");
    assert_eq!(p.idle_connections(), 1);
}

async fn session_utterances(m: &MockXai, n: usize) {
    let p = provider(m, Transport::Websocket);
    let session = tokio::time::timeout(
        LIMIT,
        p.stream(voxwire_core::StreamConfig {
            format: Some(pcm24()),
            ..Default::default()
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let texts: Vec<String> = (0..n).map(|i| format!("Sentence {i}, ok. ")).collect();
    // Queues are bounded both ways: write and read concurrently, as callers must.
    let (mut input, mut events) = session.split();
    let to_send = texts.clone();
    let writer = tokio::spawn(async move {
        for t in &to_send {
            // Split each utterance into word deltas, whitespace kept.
            for word in t.split_inclusive(' ') {
                input.push_text(word).await.unwrap();
            }
            input.flush().await.unwrap();
        }
        input.finish().await.unwrap();
    });
    let mut per_utterance = vec![Vec::new(); n];
    let mut current = 0;
    while let Some(ev) = tokio::time::timeout(LIMIT, events.next()).await.unwrap() {
        match ev.unwrap() {
            SessionEvent::Audio(c) => per_utterance[current].extend_from_slice(&c.data),
            SessionEvent::UtteranceDone { id } => {
                assert_eq!(id as usize, current);
                current += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(current, n);
    writer.await.unwrap();
    for (t, got) in texts.iter().zip(&per_utterance) {
        assert_eq!(got, &expected_audio(t, pcm24()), "{t}");
    }
}

#[tokio::test]
async fn sessions_carry_1_2_and_50_utterances_on_one_connection() {
    for n in [1, 2, 50] {
        let m = mock(333).await;
        session_utterances(&m, n).await;
        let upgrades = m
            .requests()
            .iter()
            .filter(|r| r.kind == RequestKind::WebSocket)
            .count();
        assert_eq!(upgrades, 1);
    }
}

#[tokio::test]
async fn cancel_sends_text_clear_and_acknowledges() {
    let m = MockXai::start(
        MockConfig::new()
            .with_api_key(KEY)
            .with_chunk_size(64)
            .with_faults(FaultPlan::always(Fault::SlowDrip(Duration::from_millis(
                20,
            )))),
    )
    .await;
    let p = provider(&m, Transport::Websocket);
    let mut session = p.stream(Default::default()).await.unwrap();
    session
        .push_text("A long utterance that takes a while to speak.")
        .await
        .unwrap();
    session.flush().await.unwrap();
    let took = cancel_after_first_audio(&mut session, LIMIT).await;
    assert!(took < Duration::from_millis(500), "{took:?}");
    // The session keeps working after the barge-in.
    session.push_text("Next.").await.unwrap();
    session.flush().await.unwrap();
    let mut audio = Vec::new();
    loop {
        match tokio::time::timeout(LIMIT, session.next_event())
            .await
            .unwrap()
        {
            Some(Ok(SessionEvent::Audio(c))) => audio.extend_from_slice(&c.data),
            Some(Ok(SessionEvent::UtteranceDone { .. })) => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        audio,
        expected_audio("Next.", AudioFormat::pcm16_mono(24_000))
    );
}

async fn failure(fault: Fault, transport: Transport) -> TtsError {
    let m = mock(512).await;
    m.set_fault(FaultPlan::always(fault));
    let p = provider(&m, transport);
    let err = collect(
        &p,
        SynthesisRequest::new("Doomed sentence.").format(pcm24()),
    )
    .await
    .expect_err("the fault surfaces as an error");
    assert_no_key(&err);
    assert_eq!(err.provider(), Some("xai"));
    err
}

#[tokio::test]
async fn http_rejections_map_to_kind_phase_and_status() {
    for transport in [Transport::Websocket, Transport::Rest] {
        for (status, kind) in [
            (401, ErrorKind::Auth),
            (403, ErrorKind::Auth),
            (404, ErrorKind::NotFound),
            (400, ErrorKind::InvalidRequest),
            (422, ErrorKind::InvalidRequest),
            (429, ErrorKind::RateLimited),
            (500, ErrorKind::Unavailable),
            (503, ErrorKind::Unavailable),
        ] {
            let fault = if status == 429 {
                Fault::rate_limited(1)
            } else {
                Fault::reject(status, "nope")
            };
            let err = failure(fault, transport).await;
            assert_eq!(err.kind(), kind, "{status} {transport:?}: {err}");
            assert_eq!(err.status(), Some(status), "{err}");
            assert_eq!(err.phase(), Phase::Upgrade, "{err}");
            if status == 429 {
                assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
            }
        }
    }
}

#[tokio::test]
async fn a_403_at_upgrade_says_key_or_endpoint_and_prints_the_url() {
    let m = mock(512).await;
    m.set_fault(FaultPlan::always(Fault::websocket_forbidden()));
    let p = provider(&m, Transport::Websocket);
    let err = collect(&p, SynthesisRequest::new("x")).await.unwrap_err();
    let line = err.to_string();
    assert!(line.contains(&m.ws_url()), "{line}");
    assert!(
        line.contains("key was rejected or the endpoint is wrong"),
        "{line}"
    );
    assert!(line.contains("XAI_BASE_URL"), "{line}");
    assert_no_key(&err);
}

#[tokio::test]
async fn stream_faults_map_to_the_protocol_table() {
    let cases: Vec<(Fault, ErrorKind)> = vec![
        (
            Fault::error_frame("internal hiccup"),
            ErrorKind::Unavailable,
        ),
        (
            Fault::error_frame_in_error_field("rate limit exceeded"),
            ErrorKind::RateLimited,
        ),
        (
            Fault::error_frame("invalid voice"),
            ErrorKind::InvalidRequest,
        ),
        (Fault::close_after(100), ErrorKind::Unavailable),
        (Fault::drop_after(100), ErrorKind::Unavailable),
        // Stalls and zero audio: the conformance suite's timeouts and NoAudio.
        (Fault::BadJson, ErrorKind::Protocol),
        (Fault::BadBase64, ErrorKind::Protocol),
        (Fault::BinaryFrame, ErrorKind::Protocol),
        (
            Fault::ConnectionDeadline(Duration::from_millis(50)),
            ErrorKind::Unavailable,
        ),
    ];
    for (fault, kind) in cases {
        let label = format!("{fault:?}");
        let slow = matches!(fault, Fault::ConnectionDeadline(_));
        let fault = if slow {
            Fault::All(vec![fault, Fault::SlowDrip(Duration::from_millis(30))])
        } else {
            fault
        };
        let err = failure(fault, Transport::Websocket).await;
        assert_eq!(err.kind(), kind, "{label}: {err}");
    }
}

#[tokio::test]
async fn a_rest_body_cut_short_is_unavailable() {
    // Stalls and zero audio over REST: the conformance suite's.
    let err = failure(Fault::close_after(100), Transport::Rest).await;
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
}

#[tokio::test]
async fn refused_connections_are_unavailable_at_connect() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let p = XaiProvider::new(XaiSettings {
        api_key: Some(voxwire_core::Secret::new(KEY)),
        base_url: Some(format!("http://127.0.0.1:{port}/v1")),
        ..XaiSettings::default()
    })
    .unwrap();
    let err = collect(&p, SynthesisRequest::new("x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(err.phase(), Phase::Connect);
    assert_no_key(&err);
}

fn upgrades(m: &MockXai) -> usize {
    m.requests()
        .iter()
        .filter(|r| r.kind == RequestKind::WebSocket)
        .count()
}

#[tokio::test]
async fn prewarm_opens_the_connection_the_next_request_uses() {
    let m = mock(4096).await;
    let p = provider(&m, Transport::Websocket);
    p.prewarm().await.unwrap();
    assert_eq!((upgrades(&m), p.idle_connections()), (1, 1));
    collect(&p, SynthesisRequest::new("Warm.")).await.unwrap();
    assert_eq!(upgrades(&m), 1, "the prewarmed connection served");
}

#[tokio::test]
async fn a_connection_that_saw_an_error_is_not_reused() {
    let m = mock(4096).await;
    m.set_fault(FaultPlan::script(vec![Fault::Utterances(vec![
        Fault::error_frame("internal hiccup"),
    ])]));
    let p = provider(&m, Transport::Websocket);
    assert!(collect(&p, SynthesisRequest::new("Fails.")).await.is_err());
    assert_eq!(p.idle_connections(), 0);
    let got = collect(&p, SynthesisRequest::new("Works.").format(pcm24()))
        .await
        .unwrap();
    assert_eq!(got, expected_audio("Works.", pcm24()));
    assert_eq!(upgrades(&m), 2, "a fresh connection after the error");
}

#[tokio::test]
async fn connections_past_their_maximum_age_are_rotated() {
    let m = mock(4096).await;
    let p = XaiProvider::new(XaiSettings {
        max_connection_age_s: 1,
        ..settings(&m)
    })
    .unwrap();
    collect(&p, SynthesisRequest::new("One.")).await.unwrap();
    collect(&p, SynthesisRequest::new("Two.")).await.unwrap();
    assert_eq!(upgrades(&m), 1, "young connections are reused");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    collect(&p, SynthesisRequest::new("Three.")).await.unwrap();
    assert_eq!(upgrades(&m), 2, "an old connection is replaced");
}

#[tokio::test]
async fn timestamps_become_spans_over_the_input_text() {
    let m = mock(1000).await;
    let p = XaiProvider::new(XaiSettings {
        timestamps: true,
        ..settings(&m)
    })
    .unwrap();
    let text = "Héllo, wörld.";
    let mut stream = p.synthesize(SynthesisRequest::new(text)).await.unwrap();
    let mut spans = Vec::new();
    while let Some(chunk) = tokio::time::timeout(LIMIT, stream.next()).await.unwrap() {
        if let Some(span) = chunk.unwrap().span {
            spans.push(span);
        }
    }
    voxwire_testkit::assert::assert_spans_cover(text, &spans);
    let query = m.requests()[0].query_param("with_timestamps");
    assert_eq!(query.as_deref(), Some("true"));
}

#[tokio::test]
async fn a_pooled_socket_that_stopped_answering_costs_no_first_audio_timeout() {
    let m = mock(4096).await;
    let p = XaiProvider::new(XaiSettings {
        first_audio_timeout_ms: 5_000,
        liveness_timeout_ms: 200,
        ..settings(&m)
    })
    .unwrap();
    collect(&p, SynthesisRequest::new("One.")).await.unwrap();
    assert_eq!(p.idle_connections(), 1);
    m.go_silent();
    let started = std::time::Instant::now();
    let got = collect(&p, SynthesisRequest::new("Two.").format(pcm24()))
        .await
        .unwrap();
    assert_eq!(got, expected_audio("Two.", pcm24()));
    assert!(
        started.elapsed() < Duration::from_millis(2_500),
        "the dead socket was skipped after the ping, not after a first-audio timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(upgrades(&m), 2, "a fresh socket replaced the silent one");
}
