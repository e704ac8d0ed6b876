//! A relay over Cartesia's shared socket (issue 37's acceptance): 50
//! concurrent client sessions through `voxwire serve`'s relay on the
//! Cartesia mock, every byte right; at `concurrency = 50` on one upstream
//! socket with 20 cancelled mid-utterance and no slot held after; at
//! `concurrency = 5` all finish, waiting their turn, none refused and the
//! entry never marked down (the fallback is never asked).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use voxwire_cartesia::{shared_stats, CartesiaProvider, CartesiaSettings, Transport as CTransport};
use voxwire_core::{AudioFormat, Secret, SynthesisRequest, TtsError, TtsProvider};
use voxwire_router::{Policy, Router, RouterSettings};
use voxwire_server::{Relay, ServerSettings, TokenEntry};
use voxwire_testkit::fake::FakeProvider;
use voxwire_testkit::kit::audio::expected_audio;
use voxwire_testkit::kit::RequestKind;
use voxwire_testkit::mock_cartesia::{MockCartesia, WsConfig, DEFAULT_API_KEY};
use voxwire_xai::{Transport, XaiProvider, XaiSettings};

const TOKEN: &str = "relay-server-token-cartesia-0123456789";
const LIMIT: Duration = Duration::from_secs(30);

fn pcm() -> AudioFormat {
    AudioFormat::pcm16_mono(24_000)
}

struct Setup {
    mock: MockCartesia,
    cartesia: CartesiaProvider,
    fallback: FakeProvider,
    client: XaiProvider,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn setup(concurrency: usize, ws: WsConfig) -> Setup {
    let mock = MockCartesia::start_socket(DEFAULT_API_KEY, ws).await;
    let cartesia = CartesiaProvider::new(CartesiaSettings {
        api_key: Some(Secret::new(DEFAULT_API_KEY)),
        base_url: Some(mock.base_url()),
        transport: CTransport::Websocket,
        concurrency,
        first_audio_timeout_ms: 20_000,
        ..CartesiaSettings::default()
    })
    .unwrap();
    let fallback = FakeProvider::new("fallback");
    let policy = Policy {
        backoff_base_ms: 5,
        backoff_max_ms: 10,
        ..Policy::default()
    };
    let upstream: Arc<dyn TtsProvider> = Arc::new(cartesia.clone());
    let router = Router::new(
        vec![(upstream, policy.clone()), (fallback.arc(), policy)],
        RouterSettings::default(),
    )
    .unwrap();
    let settings = ServerSettings {
        tokens: vec![TokenEntry {
            id: "test".into(),
            secret: Secret::new(TOKEN),
            chars_per_minute: None,
            chars_per_day: None,
        }],
        utterances_per_second: 1_000.0,
        utterance_burst: 1_000.0,
        token_utterance_burst: 1_000.0,
        max_sessions_per_token: 200,
        ..ServerSettings::default()
    };
    let relay = Relay::bind("127.0.0.1:0".parse().unwrap(), router, settings)
        .await
        .unwrap();
    let addr = relay.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(relay.serve(async move {
        let _ = stopped.await;
    }));
    let client = XaiProvider::new(XaiSettings {
        api_key: Some(Secret::new(TOKEN)),
        base_url: Some(format!("http://{addr}/v1")),
        transport: Transport::Websocket,
        pool_size: 64,
        ..XaiSettings::default()
    })
    .unwrap();
    Setup {
        mock,
        cartesia,
        fallback,
        client,
        _stop: stop,
    }
}

fn text(i: usize) -> String {
    format!("Client session {i} speaks through the relay, on a shared upstream socket. ")
}

/// Speaks `text(i)` through the relay; with `cancel`, drops the stream
/// after its first audio (`None`), else the whole audio.
async fn speak(p: &XaiProvider, i: usize, cancel: bool) -> Result<Option<Vec<u8>>, TtsError> {
    let mut stream = p
        .synthesize(SynthesisRequest::new(text(i)).format(pcm()))
        .await?;
    let mut audio = Vec::new();
    while let Some(chunk) = stream.next().await {
        audio.extend_from_slice(&chunk?.data);
        if cancel {
            return Ok(None);
        }
    }
    Ok(Some(audio))
}

fn upgrades(m: &MockCartesia) -> usize {
    m.requests()
        .iter()
        .filter(|r| r.kind == RequestKind::WebSocket)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sessions_on_one_upstream_socket_and_cancels_hold_no_slot() {
    let s = setup(
        50,
        WsConfig {
            concurrency: 50,
            chunk_delay: Duration::from_millis(4),
            ..WsConfig::default()
        },
    )
    .await;
    let all = tokio::time::timeout(
        LIMIT,
        futures::future::join_all((0..50).map(|i| {
            let p = s.client.clone();
            async move { (i, speak(&p, i, i % 5 < 2).await) }
        })),
    )
    .await
    .unwrap();
    let mut whole = 0;
    for (i, got) in all {
        match got.unwrap_or_else(|e| panic!("session {i}: {e}")) {
            Some(audio) => {
                assert_eq!(audio, expected_audio(&text(i), pcm()), "session {i}");
                whole += 1;
            }
            None => assert!(i % 5 < 2),
        }
    }
    assert_eq!(whole, 30);
    assert_eq!(upgrades(&s.mock), 1, "one upstream socket");
    let stats = s.mock.ws_stats();
    assert_eq!(stats.over_limit.load(Ordering::SeqCst), 0);
    // A barge-in reaches the vendor after its client has gone: wait for it.
    stats
        .wait_for(
            |w| w.cancels.load(Ordering::SeqCst) == 20,
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(
        stats.cancels.load(Ordering::SeqCst),
        20,
        "each barge-in reached Cartesia"
    );
    assert!(
        stats
            .wait_for(|w| w.live_now() == 0, Duration::from_secs(5))
            .await,
        "every upstream context ended"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while shared_stats(&s.cartesia).slots != 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held = shared_stats(&s.cartesia);
    assert_eq!(
        (held.slots, held.waiting, held.sockets),
        (0, 0, 1),
        "{held:?}"
    );
    assert!(
        s.fallback.calls().is_empty(),
        "the entry was never passed over"
    );
}

/// With `concurrency = 5` the 50 wait their turn. The mock counts live
/// contexts per account, as Cartesia does: the entry keeps to one socket,
/// so none goes over the plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_concurrency_5_fifty_sessions_all_finish_none_refused() {
    let s = setup(
        5,
        WsConfig {
            concurrency: 5,
            ..WsConfig::default()
        },
    )
    .await;
    let all = tokio::time::timeout(
        LIMIT,
        futures::future::join_all((0..50).map(|i| {
            let p = s.client.clone();
            async move { (i, speak(&p, i, false).await) }
        })),
    )
    .await
    .unwrap();
    for (i, got) in all {
        let audio = got
            .unwrap_or_else(|e| panic!("session {i}: {e}"))
            .unwrap_or_default();
        assert_eq!(audio, expected_audio(&text(i), pcm()), "session {i}");
    }
    let stats = s.mock.ws_stats();
    assert_eq!(stats.over_limit.load(Ordering::SeqCst), 0, "none refused");
    assert!(stats.peak_per_socket.load(Ordering::SeqCst) <= 5);
    assert!(
        s.fallback.calls().is_empty(),
        "the entry was never marked down"
    );
    assert_eq!(shared_stats(&s.cartesia).slots, 0);
}
