//! The browser client in headless Chromium against a relay the test command
//! starts (`VOXWIRE_RELAY_URL`, e.g. `ws://127.0.0.1:PORT/v1/tts`).
#![cfg(target_arch = "wasm32")]

use js_sys::{Object, Promise, Reflect};
use voxwire_web::Speaker;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn relay() -> &'static str {
    match option_env!("VOXWIRE_RELAY_URL") {
        Some(url) => url,
        None => {
            panic!("VOXWIRE_RELAY_URL is unset: run the browser tests through `cargo xtask test`")
        }
    }
}

/// A relay whose only provider (xAI, pointed at the mock) is cut off after
/// 4800 bytes (0.1 s) of every utterance: it fails mid-utterance on every request.
fn flaky_relay() -> &'static str {
    match option_env!("VOXWIRE_FLAKY_RELAY_URL") {
        Some(url) => url,
        None => panic!(
            "VOXWIRE_FLAKY_RELAY_URL is unset: run the browser tests through `cargo xtask test`"
        ),
    }
}

/// A relay over the same cut-off xAI upstream, backed by the offline voice:
/// it fails over on its own, mid-utterance.
fn resilient_relay() -> &'static str {
    match option_env!("VOXWIRE_RESILIENT_RELAY_URL") {
        Some(url) => url,
        None => panic!(
            "VOXWIRE_RESILIENT_RELAY_URL is unset: run the browser tests through `cargo xtask test`"
        ),
    }
}

fn options(url: &str) -> JsValue {
    let o = Object::new();
    Reflect::set(&o, &"url".into(), &url.into()).unwrap();
    Reflect::set(&o, &"sampleRate".into(), &JsValue::from(24_000)).unwrap();
    o.into()
}

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap()
}

async fn sleep(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

#[wasm_bindgen_test]
async fn speaks_through_the_relay_and_reports_stats() {
    let speaker = Speaker::new(options(relay())).unwrap();
    JsFuture::from(speaker.speak("Hello from the browser.".into()))
        .await
        .expect("speech played");
    let stats = speaker.stats();
    assert!(get(&stats, "chunks").as_f64().unwrap() > 0.0);
    assert!(
        get(&stats, "bytes").as_f64().unwrap() > 24_000.0,
        "at least half a second"
    );
    let ttfa = get(&stats, "timeToFirstAudioMs").as_f64().unwrap();
    let sound = get(&stats, "timeToFirstSoundMs").as_f64().unwrap();
    assert!(ttfa > 0.0 && sound >= ttfa, "{ttfa} {sound}");
    assert_eq!(get(&stats, "underruns").as_f64(), Some(0.0));
    web_sys::console::log_1(
        &format!("browser: time to first audio {ttfa:.1} ms, first sound {sound:.1} ms").into(),
    );
    // A second utterance on the same connection.
    JsFuture::from(speaker.speak("And once more.".into()))
        .await
        .expect("again");
}

#[wasm_bindgen_test]
async fn cancel_stops_and_rejects_as_cancelled() {
    let speaker = Speaker::new(options(relay())).unwrap();
    // Long enough that the relay is still sending when the cancel comes:
    // with its sentences pipelined, the offline voice sends four of them in
    // about the 300 ms this test waits.
    let long = "This is a long passage that takes several seconds to speak. ".repeat(20);
    let speaking = JsFuture::from(speaker.speak(long));
    sleep(300).await;
    speaker.cancel();
    let error = speaking.await.expect_err("cancelled");
    assert_eq!(
        get(&error, "kind").as_string().as_deref(),
        Some("cancelled")
    );
    // The speaker goes on after a barge-in.
    JsFuture::from(speaker.speak("Still here.".into()))
        .await
        .expect("after cancel");
}

#[wasm_bindgen_test]
async fn a_refused_connection_is_an_unavailable_error() {
    // A token put in the URL (instead of `token`) is masked in what is reported.
    let speaker = Speaker::new(options("ws://127.0.0.1:9/v1/tts?token=s3cret-in-url")).unwrap();
    let error = JsFuture::from(speaker.speak("Anyone?".into()))
        .await
        .expect_err("refused");
    assert_eq!(
        get(&error, "kind").as_string().as_deref(),
        Some("unavailable")
    );
    let message = get(&error, "message").as_string().unwrap();
    assert!(message.contains("127.0.0.1:9"), "{message}");
    let shown = String::from(js_sys::JSON::stringify(&error).unwrap());
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("token=***"), "{shown}");
}

#[wasm_bindgen_test]
fn bad_options_are_invalid_input() {
    let error = Speaker::new(options("http://127.0.0.1/v1/tts"))
        .err()
        .expect("refused");
    assert_eq!(
        get(&error, "kind").as_string().as_deref(),
        Some("invalid_input")
    );
}

#[wasm_bindgen_test]
async fn error_frames_become_error_events_not_exceptions() {
    let speaker = Speaker::new(options(relay())).unwrap();
    JsFuture::from(speaker.connect()).await.unwrap();
    // Over the bound the test command gives the relay (500 characters): an error frame.
    let error = JsFuture::from(speaker.speak("word ".repeat(150)))
        .await
        .expect_err("refused by the relay");
    // Over the relay's bound is the caller's input: `invalid_input`.
    assert_eq!(
        get(&error, "kind").as_string().as_deref(),
        Some("invalid_input")
    );
    assert!(get(&error, "message")
        .as_string()
        .unwrap()
        .contains("is over 500 characters"));
    assert_eq!(get(&error, "phase").as_string().as_deref(), Some("receive"));
    // The error ended that session; the speaker opens a new one and goes on.
    JsFuture::from(speaker.speak("Still speaking.".into()))
        .await
        .expect("speaks after an error");
}

#[wasm_bindgen_test]
async fn fails_over_to_the_next_endpoint_when_the_first_refuses() {
    let o = Object::new();
    let urls = js_sys::Array::of2(&"ws://127.0.0.1:9/v1/tts".into(), &relay().into());
    Reflect::set(&o, &"urls".into(), &urls).unwrap();
    let (bytes, seen) = speak_counting(o.into(), "Served by the second endpoint.").await;
    assert_eq!(seen.len(), 1);
    assert_eq!(
        get(&seen[0], "from").as_string().as_deref(),
        Some("ws://127.0.0.1:9/v1/tts")
    );
    assert_eq!(get(&seen[0], "to").as_string().as_deref(), Some(relay()));
    assert!(bytes > 0.0);
}

#[wasm_bindgen_test]
async fn no_first_audio_in_time_is_a_timeout_error() {
    let o: JsValue = options(relay());
    // Far shorter than any synthesis: the wait for first audio must give up.
    Reflect::set(&o, &"firstAudioTimeoutMs".into(), &JsValue::from(1)).unwrap();
    let speaker = Speaker::new(o).unwrap();
    let error = JsFuture::from(speaker.speak("Too slow for one millisecond.".into()))
        .await
        .expect_err("timed out");
    assert_eq!(get(&error, "kind").as_string().as_deref(), Some("timeout"));
    let bad: JsValue = options(relay());
    Reflect::set(&bad, &"firstAudioTimeoutMs".into(), &JsValue::from(0)).unwrap();
    assert!(Speaker::new(bad).is_err());
}

/// The router itself, in the browser, over two `Endpoint` providers: the first
/// refuses the WebSocket upgrade (the relay answers 404 for an unknown path),
/// so the second speaks, and the first is tried once and then marked down.
#[wasm_bindgen_test]
async fn the_router_fails_over_between_endpoints_in_the_browser() {
    use futures::StreamExt;
    use std::sync::Arc;
    use voxwire_core::{SynthesisRequest, TtsProvider};
    use voxwire_router::{AttemptOutcome, Policy, Router, RouterEvent, RouterSettings};
    use voxwire_web::{Endpoint, EndpointConfig};

    // The router holds `Arc<dyn TtsProvider>`; in a browser nothing is `Send`.
    #[allow(clippy::arc_with_non_send_sync)]
    let endpoint = |url: &str| -> Arc<dyn TtsProvider> {
        Arc::new(Endpoint::new(
            EndpointConfig {
                url: url.to_string(),
                token: None,
                voice: None,
                language: None,
                sample_rate: 24_000,
            },
            None,
        ))
    };
    let refusing = relay().replace("/v1/tts", "/v1/not-here");
    let policy = Policy {
        max_retries: 0,
        ..Policy::default()
    };
    let router = Router::new(
        vec![
            (endpoint(&refusing), policy.clone()),
            (endpoint(relay()), policy),
        ],
        RouterSettings::default(),
    )
    .unwrap();
    let mut events = router.subscribe();
    let mut audio = router
        .synthesize(SynthesisRequest::new("One sentence. And a second one."))
        .await
        .expect("the router accepts the request");
    let mut bytes = 0;
    while let Some(chunk) = audio.next().await {
        bytes += chunk.expect("audio from the second endpoint").data.len();
    }
    assert!(bytes > 24_000, "at least half a second of audio: {bytes}");

    let mut refused_attempts = 0;
    let mut failovers = Vec::new();
    while let Ok(event) = events.try_recv() {
        match event {
            RouterEvent::Attempt(a) if a.provider == refusing => {
                assert!(
                    matches!(&a.outcome, AttemptOutcome::Failed { message, .. } if message.contains("not-here")),
                    "{a:?}"
                );
                refused_attempts += 1;
            }
            RouterEvent::Failover { from, to, .. } => failovers.push((from, to)),
            _ => {}
        }
    }
    assert_eq!(refused_attempts, 1, "the refusing endpoint is tried once");
    assert_eq!(failovers, vec![(refusing.clone(), relay().to_string())]);
    assert!(!router.is_available(&refusing));
    assert!(router.is_available(relay()));
}

/// Speaks `text` with a new Speaker; returns the audio bytes it received and
/// the `failover` events it saw.
async fn speak_counting(options: JsValue, text: &str) -> (f64, Vec<JsValue>) {
    use std::cell::RefCell;
    use std::rc::Rc;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    let speaker = Speaker::new(options).unwrap();
    let seen: Rc<RefCell<Vec<JsValue>>> = Rc::default();
    let sink = seen.clone();
    let handler =
        Closure::<dyn FnMut(JsValue)>::new(move |detail: JsValue| sink.borrow_mut().push(detail));
    speaker.on(
        "failover".into(),
        handler.as_ref().unchecked_ref::<js_sys::Function>().clone(),
    );
    JsFuture::from(speaker.speak(text.into()))
        .await
        .expect("speech played");
    let bytes = get(&speaker.stats(), "bytes").as_f64().unwrap();
    drop(handler);
    let seen = seen.borrow().clone();
    (bytes, seen)
}

/// The first endpoint dies in the middle of the first sentence (its upstream
/// closes after 0.1 s of audio): the router fails over to the second endpoint,
/// which speaks from the cut sentence on. Every sentence is heard, and nothing
/// is repeated beyond the part of the cut sentence the first endpoint sent:
/// that part is heard again only if the router had handed it on before the
/// endpoint failed (audio not yet handed on is dropped), so 0 to 4800 bytes.
#[wasm_bindgen_test]
async fn a_mid_utterance_failure_resumes_on_the_next_endpoint_at_the_cut_sentence() {
    let text = "The first sentence is here. The second one follows. And a third one ends it.";
    let (reference, none) = speak_counting(options(relay()), text).await;
    assert!(none.is_empty(), "no failover on a healthy relay");

    let o = Object::new();
    let urls = js_sys::Array::of2(&flaky_relay().into(), &relay().into());
    Reflect::set(&o, &"urls".into(), &urls).unwrap();
    let (bytes, failovers) = speak_counting(o.into(), text).await;

    assert_eq!(failovers.len(), 1, "one failover");
    assert_eq!(
        get(&failovers[0], "from").as_string().as_deref(),
        Some(flaky_relay())
    );
    assert_eq!(
        get(&failovers[0], "to").as_string().as_deref(),
        Some(relay())
    );
    let reason = get(&failovers[0], "reason").as_string().unwrap();
    assert!(!reason.is_empty());
    let repeated = bytes - reference;
    assert!(
        (0.0..=4800.0).contains(&repeated),
        "nothing lost, at most the cut part of sentence one heard again: {bytes} bytes vs {reference} ({reason})"
    );
}

/// Text pushed piece by piece (an LLM's tokens) is spoken as each sentence
/// completes: audio starts before `flush`, and `start` fires for it.
#[wasm_bindgen_test]
async fn pushed_text_is_spoken_sentence_by_sentence_before_flush() {
    use std::cell::Cell;
    use std::rc::Rc;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    let speaker = Speaker::new(options(relay())).unwrap();
    let started = Rc::new(Cell::new(false));
    let flag = started.clone();
    let on_start = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| flag.set(true));
    speaker.on(
        "start".into(),
        on_start
            .as_ref()
            .unchecked_ref::<js_sys::Function>()
            .clone(),
    );
    for delta in [
        "The first ",
        "sentence is ",
        "complete. ",
        "The second is still being",
    ] {
        speaker.push_text(delta.into()).unwrap();
    }
    for _ in 0..100 {
        if started.get() {
            break;
        }
        sleep(50).await;
    }
    assert!(
        started.get(),
        "no audio within 5 s of the first complete sentence"
    );
    let before_flush = get(&speaker.stats(), "chunks").as_f64().unwrap();
    assert!(before_flush > 0.0);
    assert!(
        get(&speaker.stats(), "timeToFirstAudioMs")
            .as_f64()
            .unwrap()
            > 0.0
    );
    speaker.push_text(" written.".into()).unwrap();
    JsFuture::from(speaker.flush())
        .await
        .expect("both sentences played");
    assert!(get(&speaker.stats(), "chunks").as_f64().unwrap() > before_flush);
    drop(on_start);
}

/// A relay that fails over on its own (its xAI upstream is cut off, its
/// offline voice takes over) keeps the page speaking, and its
/// `voxwire.provider_changed` frame reaches the page as a `failover` event
/// naming the relay's providers.
#[wasm_bindgen_test]
async fn a_relays_own_failover_arrives_as_a_failover_event() {
    let (bytes, seen) = speak_counting(
        options(resilient_relay()),
        "The relay switches voices. Nothing is lost.",
    )
    .await;
    assert!(bytes > 24_000.0, "{bytes}");
    let shown: Vec<String> = seen
        .iter()
        .map(|e| String::from(js_sys::JSON::stringify(e).unwrap()))
        .collect();
    // One per relay session: the page's connection is reused for both sentences.
    assert_eq!(seen.len(), 1, "one failover, inside the relay: {shown:?}");
    assert_eq!(get(&seen[0], "from").as_string().as_deref(), Some("xai"));
    assert_eq!(get(&seen[0], "to").as_string().as_deref(), Some("espeak"));
}

/// One connection serves utterance after utterance, and survives a cancel:
/// the dropped utterance sends `text.clear`, and the next one reuses the
/// connection once the relay's `audio.clear` has drained it.
#[wasm_bindgen_test]
async fn an_endpoint_reuses_its_connection_across_utterances_and_cancels() {
    use futures::StreamExt;
    use voxwire_core::{SynthesisRequest, TtsProvider};
    use voxwire_web::{Endpoint, EndpointConfig};

    let endpoint = Endpoint::new(
        EndpointConfig {
            url: relay().to_string(),
            token: None,
            voice: None,
            language: None,
            sample_rate: 24_000,
        },
        None,
    );
    let speak = |text: &'static str| endpoint.synthesize(SynthesisRequest::new(text));
    for text in ["One.", "Two."] {
        let mut audio = speak(text).await.unwrap();
        let mut bytes = 0;
        while let Some(chunk) = audio.next().await {
            bytes += chunk.unwrap().data.len();
        }
        assert!(bytes > 0);
    }
    assert_eq!(endpoint.connections_opened(), 1);
    // Cancel mid-utterance: take one chunk of a long text, drop the rest.
    let mut audio = speak("This one is long enough to be cut off. ")
        .await
        .unwrap();
    assert!(audio.next().await.unwrap().is_ok());
    drop(audio);
    let mut audio = speak("Three.").await.unwrap();
    let mut bytes = 0;
    while let Some(chunk) = audio.next().await {
        bytes += chunk.unwrap().data.len();
    }
    assert!(bytes > 0, "the next utterance speaks");
    assert_eq!(
        endpoint.connections_opened(),
        1,
        "the connection was drained and reused after the cancel"
    );
}
