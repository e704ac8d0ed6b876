//! The mock's REST surface, checked with a raw HTTP client.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use voxwire_core::{AudioFormat, Encoding};
use voxwire_testkit::mock_xai::{
    expected_audio, expected_body, Fault, MockCodec, MockConfig, MockXai, RequestKind, Stall,
};

async fn mock() -> MockXai {
    MockXai::start(MockConfig::default()).await
}

#[tokio::test]
async fn happy_path_is_byte_equal_in_every_codec() {
    let mock = mock().await;
    let text = "Hello, world. [pause] How are you?";
    for (codec, rate) in [
        ("pcm", 24_000),
        ("pcm", 44_100),
        ("wav", 16_000),
        ("mulaw", 8_000),
        ("ulaw", 8_000),
        ("alaw", 22_050),
        ("mp3", 24_000),
    ] {
        let response = post(&mock, &rest_body(text, codec, rate)).await;
        assert_eq!(response.status(), 200, "{codec}");
        let parsed = MockCodec::parse(codec).expect("codec");
        assert_eq!(
            response.headers()["content-type"],
            parsed.content_type(),
            "{codec}"
        );
        assert!(
            response.headers().get("content-length").is_none(),
            "streamed, not sized"
        );
        let (chunks, error) = body_chunks(response).await;
        assert_eq!(error, None);
        assert_eq!(
            chunks.concat(),
            expected_body(text, parsed, rate),
            "{codec} {rate}"
        );
    }
    let pcm = post(&mock, &rest_body("abc", "pcm", 24_000)).await;
    let (chunks, _) = body_chunks(pcm).await;
    assert_eq!(
        chunks.concat(),
        expected_audio("abc", AudioFormat::pcm16_mono(24_000))
    );
    let mulaw = post(&mock, &rest_body("abc", "mulaw", 8_000)).await;
    let (chunks, _) = body_chunks(mulaw).await;
    assert_eq!(
        chunks.concat(),
        expected_audio("abc", AudioFormat::mono(Encoding::Mulaw, 8_000))
    );
    assert_eq!(mock.stats().rest_ok, 9);
}

#[tokio::test]
async fn body_arrives_in_configured_chunks() {
    let mock = MockXai::start(MockConfig::default().with_chunk_size(1000).with_faults(
        // A drip makes each chunk its own read on the client side.
        Fault::SlowDrip(Duration::from_millis(2)),
    ))
    .await;
    let response = post(&mock, &rest_body("abcd", "mulaw", 8_000)).await;
    let (chunks, error) = body_chunks(response).await;
    assert_eq!(error, None);
    let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 4 * 480);
    assert!(sizes.iter().all(|&s| s <= 1000), "{sizes:?}");
    assert!(sizes.len() >= 2, "{sizes:?}");
}

#[tokio::test]
async fn defaults_are_mp3_at_24k_and_eve() {
    let mock = mock().await;
    let response = post(&mock, &json!({ "text": "hi", "language": "en" })).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/mpeg");
    let (chunks, _) = body_chunks(response).await;
    assert_eq!(chunks.concat(), expected_body("hi", MockCodec::Mp3, 24_000));
}

async fn status_and_error(mock: &MockXai, body: Value) -> (u16, String) {
    let response = post(mock, &body).await;
    let status = response.status().as_u16();
    let v: Value = bounded("json", response.json())
        .await
        .expect("json error body");
    (status, v["error"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn invalid_requests_get_400_with_a_reason() {
    let mock = mock().await;
    let cases = [
        (json!({ "text": "hi" }), "language"),
        (json!({ "language": "en" }), "text"),
        (json!({ "text": " ", "language": "en" }), "empty"),
        (
            json!({ "text": "x".repeat(15_001), "language": "en" }),
            "15000",
        ),
        (
            json!({ "text": "hi", "language": "en", "voice_id": "zed" }),
            "voice_id",
        ),
        (
            json!({ "text": "hi", "language": "en", "voice": "eve" }),
            "unknown field",
        ),
        (
            json!({ "text": "hi", "language": "en", "output_format": { "codec": "opus" } }),
            "codec",
        ),
        (
            json!({ "text": "hi", "language": "en", "output_format": { "codec": "pcm", "sample_rate": 11025 } }),
            "sample_rate",
        ),
        (
            json!({ "text": "hi", "language": "en", "output_format": { "codec": "mp3", "bit_rate": 100 } }),
            "bit_rate",
        ),
        (
            json!({ "text": "hi", "language": "english please" }),
            "language",
        ),
        (
            json!({ "text": "hi", "language": "en", "speed": 3.0 }),
            "speed",
        ),
    ];
    for (body, needle) in cases {
        let (status, error) = status_and_error(&mock, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            error.contains(needle),
            "{error:?} should mention {needle:?}"
        );
    }
    let response = bounded(
        "post",
        http()
            .post(mock.rest_url())
            .bearer_auth(mock.api_key())
            .body("not json")
            .send(),
    )
    .await
    .expect("sent");
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn voices_and_languages_are_case_insensitive_and_custom_voices_work() {
    let mock = MockXai::start(MockConfig::default().with_voice("my-clone", "My Clone")).await;
    for voice in ["EVE", "Ara", "leo", "rex", "SAL", "My-Clone"] {
        let body = json!({
            "text": "ok", "voice_id": voice, "language": "PT-br",
            "output_format": { "codec": "pcm", "sample_rate": 16000 },
            "speed": 1.2, "optimize_streaming_latency": 1, "text_normalization": true,
        });
        assert_eq!(post(&mock, &body).await.status(), 200, "{voice}");
    }
}

#[tokio::test]
async fn auth_is_required_and_keys_never_recorded() {
    let mock = mock().await;
    let body = rest_body("hi", "pcm", 24_000);
    let none = bounded("post", http().post(mock.rest_url()).json(&body).send())
        .await
        .expect("sent");
    assert_eq!(none.status(), 401);
    let v: Value = none.json().await.expect("json");
    assert!(v["error"]
        .as_str()
        .unwrap_or_default()
        .contains("Authorization"));
    let wrong = bounded(
        "post",
        http()
            .post(mock.rest_url())
            .bearer_auth("wrong-key-0123456789")
            .json(&body)
            .send(),
    )
    .await
    .expect("sent");
    assert_eq!(wrong.status(), 401);
    assert_eq!(post(&mock, &body).await.status(), 200);

    let recorded = mock.requests();
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0].status, 401);
    assert_eq!(
        recorded[0].index, None,
        "rejected auth takes no fault index"
    );
    assert_eq!(recorded[1].header("authorization"), Some("Bearer ***"));
    assert_eq!(recorded[2].header("authorization"), Some("Bearer ***"));
    assert_eq!(recorded[2].index, Some(0));
    assert_eq!(recorded[2].kind, RequestKind::Rest);
    assert_eq!(recorded[2].utterances, vec!["hi".to_string()]);
    assert_eq!(recorded[2].json_body().expect("json")["language"], "en");
    for r in &recorded {
        assert!(!r.contains(mock.api_key()), "key leaked into {r:?}");
        assert!(
            !r.contains("wrong-key-0123456789"),
            "presented key leaked into {r:?}"
        );
        assert!(!format!("{r:?}").contains(mock.api_key()));
    }
}

#[tokio::test]
async fn voices_endpoints() {
    let mock = MockXai::start(MockConfig::default().with_voice("c1", "Custom One")).await;
    let client = http();
    let list: Value = authed(&mock, reqwest::Method::GET, "/tts/voices")
        .await
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = list["voices"]
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["voice_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["eve", "ara", "leo", "rex", "sal", "c1"]);
    let one = authed(&mock, reqwest::Method::GET, "/tts/voices/Rex").await;
    assert_eq!(one.status(), 200);
    assert_eq!(
        one.json::<Value>().await.expect("json"),
        json!({ "voice_id": "rex", "name": "Rex" })
    );
    let missing = authed(&mock, reqwest::Method::GET, "/tts/voices/nobody").await;
    assert_eq!(missing.status(), 404);
    let unauth = bounded(
        "voices",
        client.get(format!("{}/tts/voices", mock.base_url())).send(),
    )
    .await
    .expect("sent");
    assert_eq!(unauth.status(), 401);
    // Voice look-ups never consume fault indices.
    assert!(mock.requests().iter().all(|r| r.index.is_none()));
}

#[tokio::test]
async fn wrong_paths_answer_like_the_service() {
    let mock = mock().await;
    let old = authed(&mock, reqwest::Method::GET, "/realtime/audio/speech").await;
    assert_eq!(old.status(), 403);
    let nowhere = authed(&mock, reqwest::Method::POST, "/text-to-speech").await;
    assert_eq!(nowhere.status(), 404);
}

#[tokio::test]
async fn scripted_rejections_with_retry_after() {
    let mock = MockXai::start(MockConfig::default().with_faults(vec![
        Fault::reject(500, "upstream exploded"),
        Fault::rate_limited(7),
        Fault::reject(403, "forbidden"),
        Fault::reject(404, "gone"),
        Fault::reject_with_body(503, "plain text outage"),
    ]))
    .await;
    let body = rest_body("hi", "pcm", 24_000);
    let r = post(&mock, &body).await;
    assert_eq!(r.status(), 500);
    assert!(r.text().await.expect("body").contains("upstream exploded"));
    let r = post(&mock, &body).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(post(&mock, &body).await.status(), 403);
    assert_eq!(post(&mock, &body).await.status(), 404);
    let r = post(&mock, &body).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.text().await.expect("body"), "plain text outage");
    // The script is exhausted: requests succeed again.
    assert_eq!(post(&mock, &body).await.status(), 200);
    assert_eq!(mock.stats().rejected, 5);
}

#[tokio::test]
async fn fail_first_n_then_succeed_and_runtime_changes() {
    let mock = MockXai::start(MockConfig::default()).await;
    let body = rest_body("hi", "pcm", 24_000);
    mock.set_fault(voxwire_testkit::mock_xai::FaultPlan::first(
        2,
        Fault::reject(502, "bad gateway"),
    ));
    assert_eq!(post(&mock, &body).await.status(), 502);
    assert_eq!(post(&mock, &body).await.status(), 502);
    assert_eq!(post(&mock, &body).await.status(), 200);
    mock.set_fault(Fault::reject(500, "down"));
    for _ in 0..3 {
        assert_eq!(post(&mock, &body).await.status(), 500);
    }
    mock.clear_faults();
    assert_eq!(post(&mock, &body).await.status(), 200);
}

#[tokio::test]
async fn close_mid_body_delivers_exactly_n_bytes_then_breaks() {
    let mock = MockXai::start(
        MockConfig::default()
            .with_chunk_size(100)
            .with_faults(Fault::close_after(250)),
    )
    .await;
    let response = post(&mock, &rest_body("hello", "pcm", 24_000)).await;
    assert_eq!(response.status(), 200);
    let (chunks, error) = body_chunks(response).await;
    assert!(error.is_some(), "the body must end in an error");
    let got = chunks.concat();
    assert_eq!(got.len(), 250);
    assert_eq!(
        got[..],
        expected_body("hello", MockCodec::Pcm, 24_000)[..250]
    );
    assert_eq!(mock.stats().utterances_done, 0);
}

#[tokio::test]
async fn stalls_zero_audio_and_error_before_audio() {
    let mock = MockXai::start(MockConfig::default()).await;
    let body = rest_body("hello", "pcm", 24_000);

    mock.set_fault(Fault::stall_before_audio(Stall::Forever));
    let response = post(&mock, &body).await;
    assert_eq!(response.status(), 200, "headers come, audio does not");
    let mut stream = response.bytes_stream();
    use futures::StreamExt;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), stream.next())
            .await
            .is_err(),
        "no audio while stalled"
    );
    drop(stream);

    mock.set_fault(Fault::stall_after(
        1000,
        Stall::For(Duration::from_millis(300)),
    ));
    let started = Instant::now();
    let (chunks, error) = body_chunks(post(&mock, &body).await).await;
    assert_eq!(error, None);
    assert_eq!(
        chunks.concat(),
        expected_body("hello", MockCodec::Pcm, 24_000)
    );
    assert!(started.elapsed() >= Duration::from_millis(300));

    mock.set_fault(Fault::ZeroAudio);
    let response = post(&mock, &body).await;
    assert_eq!(response.status(), 200);
    let (chunks, error) = body_chunks(response).await;
    assert_eq!(error, None);
    assert!(chunks.concat().is_empty());

    mock.set_fault(Fault::error_frame("engine failed"));
    let response = post(&mock, &body).await;
    assert_eq!(response.status(), 500);
    assert!(response
        .text()
        .await
        .expect("body")
        .contains("engine failed"));
}

#[tokio::test]
async fn slow_drip_spaces_chunks() {
    let mock = MockXai::start(
        MockConfig::default()
            .with_chunk_size(480)
            .with_faults(Fault::SlowDrip(Duration::from_millis(50))),
    )
    .await;
    let started = Instant::now();
    let (chunks, error) = body_chunks(post(&mock, &rest_body("abcde", "mulaw", 8_000)).await).await;
    assert_eq!(error, None);
    assert_eq!(chunks.concat().len(), 5 * 480);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "4 gaps of 50 ms"
    );
}

#[tokio::test]
async fn websocket_only_rejection_leaves_rest_working() {
    let mock =
        MockXai::start(MockConfig::default().with_faults(Fault::websocket_forbidden())).await;
    assert_eq!(
        post(&mock, &rest_body("hi", "pcm", 24_000)).await.status(),
        200
    );
    let (status, _, body) = upgrade_refusal(&mock, PCM_QUERY, Some(mock.api_key())).await;
    assert_eq!(status, 403);
    assert!(body.contains("forbidden"));
}

#[tokio::test]
async fn dropping_the_mock_stops_it() {
    let mock = mock().await;
    let url = mock.rest_url();
    drop(mock);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let result = bounded(
        "post",
        http()
            .post(url)
            .json(&rest_body("hi", "pcm", 24_000))
            .send(),
    )
    .await;
    assert!(result.is_err(), "connection refused after drop");
}
