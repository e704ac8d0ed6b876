//! The phrase cache in the router: hits and misses, what is never kept,
//! order with live sentences, cancel during a cached sentence, a damaged
//! value, the per-entry opt-out, word times mapped back.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use voxwire_core::session::SessionEvent;
use voxwire_core::{AudioFormat, ErrorKind, StreamConfig, TtsError, WordTime};
use voxwire_router::cache::{PhraseCache, PhraseKey, PhraseStore, StoreUsage};
use voxwire_router::{Entry, Policy, Router, RouterSettings};
use voxwire_testkit::dying::Dying;
use voxwire_testkit::fake::{Behaviour, FakeProvider};
use voxwire_testkit::mock_xai::expected_audio;

const LIMIT: Duration = Duration::from_secs(20);
const DAY: Duration = Duration::from_secs(86_400);

fn pcm() -> AudioFormat {
    AudioFormat::pcm16_mono(24_000)
}

fn router(entries: Vec<Entry>, cache: &PhraseCache) -> Router {
    Router::with_phrase_cache(entries, RouterSettings::default(), cache.clone()).unwrap()
}

fn entry(fake: &FakeProvider) -> Entry {
    Entry::new(fake.arc(), Policy::default())
}

/// What one utterance of a session gave: its audio, its `Serving` events
/// (entry, cached), its words, and how it ended.
#[derive(Debug, Default)]
struct Heard {
    audio: Vec<u8>,
    serving: Vec<(String, bool)>,
    words: Vec<WordTime>,
    error: Option<TtsError>,
}

async fn say_with(router: &Router, config: &StreamConfig, text: &str) -> Heard {
    let mut session = router.session(config).unwrap();
    session.push_text(text).await.unwrap();
    session.flush().await.unwrap();
    session.finish().await.unwrap();
    let mut heard = Heard::default();
    loop {
        match tokio::time::timeout(LIMIT, session.next_event())
            .await
            .unwrap()
        {
            Some(Ok(SessionEvent::Audio(chunk))) => {
                heard.audio.extend_from_slice(&chunk.data);
                heard.words.extend(chunk.words);
            }
            Some(Ok(SessionEvent::Serving { entry, cached, .. })) => {
                heard.serving.push((entry, cached))
            }
            Some(Ok(SessionEvent::UtteranceDone { .. })) => {}
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                heard.error = Some(e);
                break;
            }
            None => break,
        }
    }
    heard
}

async fn say(router: &Router, text: &str) -> Heard {
    say_with(router, &StreamConfig::default(), text).await
}

fn audio_of(sentences: &[&str]) -> Vec<u8> {
    sentences
        .iter()
        .flat_map(|s| expected_audio(s, pcm()))
        .collect()
}

#[tokio::test]
async fn a_repeated_sentence_is_played_from_the_cache_with_no_vendor_call() {
    let fake = FakeProvider::new("fake");
    let cache = PhraseCache::memory(1 << 20, DAY);
    let router = router(vec![entry(&fake)], &cache);
    let first = say(&router, "How can I help you today? One moment please.").await;
    assert!(first.error.is_none(), "{:?}", first.error);
    assert_eq!(fake.calls().len(), 2);
    assert_eq!(first.serving, vec![("fake".to_string(), false)]);
    assert_eq!(cache.stats().stored, 2);

    let mut events = router.subscribe();
    let again = say(&router, "One moment please. How can I help you today?").await;
    let mut cached = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let voxwire_router::RouterEvent::Cached { entry, chars, .. } = event {
            cached.push((entry, chars));
        }
    }
    assert_eq!(
        cached,
        [("fake".to_string(), 19), ("fake".to_string(), 25)],
        "each hit is reported"
    );
    assert!(again.error.is_none(), "{:?}", again.error);
    assert_eq!(fake.calls().len(), 2, "no vendor call for cached sentences");
    // As first spoken: the sentences' texts then (their trailing spaces included).
    let stored = audio_of(&["One moment please.", "How can I help you today? "]);
    assert!(
        again.audio == stored,
        "the stored audio, in the order asked ({} vs {} bytes)",
        again.audio.len(),
        stored.len()
    );
    assert_eq!(again.serving, vec![("fake".to_string(), true)]);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (2, 2));
    assert_eq!(stats.bytes_served, again.audio.len() as u64);
    assert_eq!(
        stats.chars_saved,
        "One moment please. How can I help you today?"
            .chars()
            .count() as u64
    );
}

#[tokio::test]
async fn a_change_of_voice_speed_format_entry_or_text_is_a_miss() {
    let fake = FakeProvider::new("fake");
    let cache = PhraseCache::memory(1 << 20, DAY);
    let plain = router(vec![entry(&fake)], &cache);
    say(&plain, "Hello there.").await;
    assert_eq!(fake.calls().len(), 1);
    say(&plain, "Hello   there.").await;
    assert_eq!(fake.calls().len(), 1, "whitespace is normalised: a hit");

    let voiced = StreamConfig {
        voice: Some("fake".into()),
        ..StreamConfig::default()
    };
    let faster = StreamConfig {
        speed: Some(1.25),
        ..StreamConfig::default()
    };
    let narrow = StreamConfig {
        format: Some(AudioFormat::pcm16_mono(16_000)),
        ..StreamConfig::default()
    };
    let mut calls = 1;
    for (what, config) in [("voice", &voiced), ("speed", &faster), ("format", &narrow)] {
        let heard = say_with(&plain, config, "Hello there.").await;
        assert!(heard.error.is_none(), "{what}: {:?}", heard.error);
        calls += 1;
        assert_eq!(fake.calls().len(), calls, "another {what} is a miss");
        say_with(&plain, config, "Hello there.").await;
        assert_eq!(fake.calls().len(), calls, "then a hit for that {what}");
    }
    say(&plain, "Hello there!").await;
    assert_eq!(fake.calls().len(), calls + 1, "other text is a miss");

    // The same provider under another entry name (another key or region)
    // shares nothing with it.
    let renamed = router(vec![entry(&fake).named("second")], &cache);
    say(&renamed, "Hello there.").await;
    assert_eq!(fake.calls().len(), calls + 2, "another entry is a miss");
    let resounded = router(vec![entry(&fake).sounding("model = \"v2\"")], &cache);
    say(&resounded, "Hello there.").await;
    assert_eq!(fake.calls().len(), calls + 3, "other settings are a miss");
}

#[tokio::test]
async fn nothing_is_kept_from_a_sentence_cut_short_replayed_or_failed_over() {
    // The first entry dies mid-sentence; the second replays it whole.
    let cut = TtsError::new(ErrorKind::Unavailable, "gone").with_provider("first");
    let first = FakeProvider::new("first").scripted(
        vec![
            Behaviour::FailAfter(1, cut.clone()),
            Behaviour::Fail(cut.clone()),
        ],
        Behaviour::Speak,
    );
    let second = FakeProvider::new("second");
    let cache = PhraseCache::memory(1 << 20, DAY);
    let long = "This sentence is long enough to take more than one chunk of audio to say, so that it can be cut.";
    let router = router(vec![entry(&first), entry(&second)], &cache);
    let heard = say(&router, long).await;
    assert!(heard.error.is_none(), "{:?}", heard.error);
    assert_eq!(second.calls().len(), 1, "the second entry replayed it");
    assert_eq!(
        cache.stats().stored,
        0,
        "neither the cut take nor the replay is kept"
    );

    // A sentence the second entry speaks after the first failed before any
    // audio (a failover) is not kept either: it is never looked up.
    let heard = say(&router, "Short one.").await;
    assert!(heard.error.is_none(), "{:?}", heard.error);
    assert_eq!(
        cache.stats().stored,
        0,
        "a failed-over sentence is not kept"
    );
}

#[tokio::test]
async fn a_hit_for_an_entry_marked_down_still_plays_in_its_voice() {
    let first = FakeProvider::new("first");
    let second = FakeProvider::new("second");
    let cache = PhraseCache::memory(1 << 20, DAY);
    let router = router(vec![entry(&first), entry(&second)], &cache);
    say(&router, "Please hold.").await;
    assert_eq!(cache.stats().stored, 1);
    let down = TtsError::new(ErrorKind::Auth, "key revoked").with_provider("first");
    first.set(Behaviour::Fail(down));
    let heard = say(&router, "A new sentence.").await;
    assert!(heard.error.is_none(), "{:?}", heard.error);
    assert!(!router.is_available("first"), "first is down now");
    let heard = say(&router, "Please hold.").await;
    assert_eq!(heard.serving, vec![("first".to_string(), true)]);
    assert!(heard.audio == audio_of(&["Please hold."]));
    assert_eq!(first.calls().len(), 2, "no call to the entry that is down");
}

#[tokio::test]
async fn cached_and_live_sentences_play_in_order() {
    // The live sentence is slow to start; the cached ones after it are
    // ready at once but wait their turn.
    let fake = FakeProvider::new("fake");
    let cache = PhraseCache::memory(1 << 20, DAY);
    let router = router(vec![entry(&fake)], &cache);
    say(&router, "One moment please. Thank you for waiting.").await;
    fake.set(Behaviour::FirstAudioAfter(Duration::from_millis(300)));
    let text = "One moment please. Your order is on its way. Thank you for waiting.";
    let heard = say(&router, text).await;
    assert!(heard.error.is_none(), "{:?}", heard.error);
    let expected = audio_of(&[
        "One moment please. ",
        "Your order is on its way. ",
        "Thank you for waiting.",
    ]);
    assert!(heard.audio == expected, "in order, every byte");
    assert_eq!(
        heard.serving,
        vec![
            ("fake".to_string(), true),
            ("fake".to_string(), false),
            ("fake".to_string(), true)
        ],
        "each switch between cache and vendor is announced"
    );
}

#[tokio::test]
async fn a_cancel_during_a_cached_sentence_stops_it() {
    let fake = FakeProvider::new("fake");
    let cache = PhraseCache::memory(8 << 20, DAY);
    let router = router(vec![entry(&fake)], &cache);
    let long = "word ".repeat(400);
    say(&router, &long).await;
    let whole = expected_audio(long.trim_end(), pcm()).len();
    let mut session = router.session(&StreamConfig::default()).unwrap();
    session.push_text(&long).await.unwrap();
    session.flush().await.unwrap();
    let mut got = 0;
    while got == 0 {
        if let Some(Ok(SessionEvent::Audio(chunk))) =
            tokio::time::timeout(LIMIT, session.next_event())
                .await
                .unwrap()
        {
            got += chunk.data.len();
        }
    }
    let generation = session.cancel();
    loop {
        match tokio::time::timeout(LIMIT, session.next_event())
            .await
            .unwrap()
        {
            Some(Ok(SessionEvent::Audio(chunk))) => got += chunk.data.len(),
            Some(Ok(SessionEvent::Cleared { generation: g })) if g == generation => break,
            Some(Ok(SessionEvent::UtteranceDone { .. })) => panic!("the cancelled utterance ended"),
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(got < whole, "cut short: {got} of {whole} bytes");
    // The session goes on: the next utterance is the cached one again, whole.
    session.push_text("Hello again.").await.unwrap();
    session.flush().await.unwrap();
    session.finish().await.unwrap();
    let mut after = Vec::new();
    while let Some(event) = tokio::time::timeout(LIMIT, session.next_event())
        .await
        .unwrap()
    {
        if let SessionEvent::Audio(chunk) = event.unwrap() {
            after.extend_from_slice(&chunk.data);
        }
    }
    assert!(after == audio_of(&["Hello again."]));
    assert_eq!(
        fake.calls().len(),
        2,
        "the first utterance was never asked again"
    );
}

/// A store whose values are damaged on the way back.
struct Damaging(voxwire_router::cache::MemoryStore);

#[voxwire_core::async_trait]
impl PhraseStore for Damaging {
    async fn get(&self, key: &PhraseKey) -> Option<Bytes> {
        let mut bytes = self.0.get(key).await?.to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        Some(bytes.into())
    }
    async fn put(&self, key: &PhraseKey, value: Bytes, ttl: Duration) {
        self.0.put(key, value, ttl).await
    }
    async fn clear(&self) -> u64 {
        self.0.clear().await
    }
    async fn usage(&self) -> StoreUsage {
        self.0.usage().await
    }
    fn kind(&self) -> &'static str {
        "damaging"
    }
}

#[tokio::test]
async fn a_damaged_value_is_a_miss_never_bad_audio() {
    let fake = FakeProvider::new("fake");
    let store = Damaging(voxwire_router::cache::MemoryStore::new(1 << 20));
    let cache = PhraseCache::new(Arc::new(store), DAY);
    let router = router(vec![entry(&fake)], &cache);
    say(&router, "Hello there.").await;
    let heard = say(&router, "Hello there.").await;
    assert!(
        heard.audio == audio_of(&["Hello there."]),
        "the vendor's audio"
    );
    assert_eq!(fake.calls().len(), 2);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.corrupt), (0, 1));
}

#[tokio::test]
async fn an_entry_with_cache_off_is_never_kept() {
    let fake = FakeProvider::new("fake");
    let cache = PhraseCache::memory(1 << 20, DAY);
    let policy = Policy {
        cache: false,
        ..Policy::default()
    };
    let router = router(vec![Entry::new(fake.arc(), policy)], &cache);
    say(&router, "Hello there.").await;
    say(&router, "Hello there.").await;
    assert_eq!(fake.calls().len(), 2);
    assert_eq!(cache.stats().stored, 0);
    assert_eq!(cache.stats().misses, 0, "not even looked up");
}

#[tokio::test]
async fn word_times_come_back_on_the_text_as_spaced_now() {
    let timed = Dying::new("timed", usize::MAX, Duration::ZERO).with_word_times();
    let cache = PhraseCache::memory(1 << 20, DAY);
    let router = router(vec![Entry::new(timed.arc(), Policy::default())], &cache);
    let first = say(&router, "Good morning, dear friend.").await;
    assert!(!first.words.is_empty(), "the entry timed its words");
    let text = "Good   morning,  dear friend.";
    let again = say(&router, text).await;
    assert_eq!(timed.calls().len(), 1, "a hit");
    let words: Vec<&str> = again
        .words
        .iter()
        .map(|w| &text[w.span.start..w.span.end])
        .collect();
    assert_eq!(words, ["Good", "morning,", "dear", "friend."]);
    let times: Vec<_> = first.words.iter().map(|w| (w.start, w.end)).collect();
    let again_times: Vec<_> = again.words.iter().map(|w| (w.start, w.end)).collect();
    assert_eq!(times, again_times, "the vendor's own times");
}
