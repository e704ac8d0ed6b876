//! The proof that a next provider is small: a toy "echo" protocol of about
//! a hundred lines gets pooling, timeouts, cancel and error classification
//! from the driver. The server is the mock kit's echo dialect on loopback
//! (`voxwire_testkit::kit::echo`): it answers `say:<ctx>:<text>` +
//! `flush:<ctx>` with one binary frame per character (the kit's audio),
//! then `done:<ctx>`; `clear:<ctx>` is answered `cleared:<ctx>`; `fail:`
//! text makes it send `error:<message>`; `hang` text makes it go quiet.

use std::time::Duration;

use futures::StreamExt;
use voxwire_core::session::SessionEvent;
use voxwire_core::{AudioFormat, ErrorKind, Extensions, Result, Secret, TtsError};
use voxwire_testkit::kit::echo::{echo_audio, EchoMock};
use voxwire_testkit::kit::Mock;
use voxwire_transport::dialect::CancelPlan;
use voxwire_transport::{
    errors, Decoded, Dialect, DriverSettings, Frame, Outgoing, UpgradeRequest, Voicing, WsProvider,
};

// ---- the toy dialect: what a provider crate would write ----

struct Echo {
    url: String,
    key: Secret,
}

fn ctx_of(rest: &str) -> Option<String> {
    Some(rest.to_string())
}

impl Dialect for Echo {
    type State = ();

    fn provider(&self) -> &'static str {
        "echo"
    }

    fn upgrade(&self, v: &Voicing) -> Result<UpgradeRequest> {
        Ok(
            UpgradeRequest::new(format!("{}?rate={}", self.url, v.wire.sample_rate))
                .secret_header("authorization", self.key.clone()),
        )
    }

    fn multiplex(&self) -> voxwire_transport::Multiplex {
        voxwire_transport::Multiplex::ByContext
    }

    fn text(&self, _: &Voicing, ctx: &str, text: &str) -> Outgoing {
        Outgoing::Text(format!("say:{ctx}:{text}"))
    }

    fn flush(&self, _: &Voicing, ctx: &str) -> Vec<Outgoing> {
        vec![Outgoing::Text(format!("flush:{ctx}"))]
    }

    fn cancel(&self, ctx: &str) -> CancelPlan {
        CancelPlan::Clear {
            messages: vec![Outgoing::Text(format!("clear:{ctx}"))],
            acknowledged: true,
        }
    }

    fn decode(&self, _: &mut (), endpoint: &str, frame: Frame) -> Result<Decoded> {
        match frame {
            Frame::Binary(data) => Ok(Decoded::Audio {
                context: None,
                data,
                timing: None,
            }),
            Frame::Text(t) => {
                if let Some(c) = t.strip_prefix("done:") {
                    Ok(Decoded::Done { context: ctx_of(c) })
                } else if let Some(c) = t.strip_prefix("cleared:") {
                    Ok(Decoded::Cleared { context: ctx_of(c) })
                } else if let Some(m) = t.strip_prefix("error:") {
                    let kind = if m.contains("voice") {
                        ErrorKind::InvalidRequest
                    } else {
                        ErrorKind::Unavailable
                    };
                    Ok(Decoded::Error {
                        context: None,
                        error: TtsError::new(kind, m.to_string()).with_provider("echo"),
                    })
                } else {
                    Err(errors::protocol(
                        "echo",
                        endpoint,
                        format!("unknown message {t}"),
                    ))
                }
            }
            Frame::Close { code, reason } => Err(self.close_error(endpoint, code, &reason)),
        }
    }
}

// ---- the echo server: the kit's toy mock (voxwire_testkit::kit::echo) ----

type Server = Mock<EchoMock>;

async fn serve() -> Server {
    Mock::start(EchoMock, "echo-key")
        .await
        .expect("bind loopback")
}

fn kit_audio(text: &str) -> Vec<u8> {
    echo_audio(text, 16_000)
}

fn provider(s: &Server) -> WsProvider<Echo> {
    let settings = DriverSettings {
        first_audio_timeout: Duration::from_millis(300),
        ..DriverSettings::new(Secret::new("echo-key"))
    };
    WsProvider::new(
        Echo {
            url: s.ws_url("/echo"),
            key: Secret::new("echo-key"),
        },
        settings,
    )
    .unwrap()
}

fn voicing() -> Voicing {
    Voicing {
        voice: None,
        language: None,
        speed: None,
        wire: AudioFormat::pcm16_mono(16_000),
        extensions: Extensions::default(),
    }
}

async fn say(p: &WsProvider<Echo>, text: &str) -> Result<Vec<u8>> {
    let mut stream = p
        .synthesize(text.to_string(), voicing(), AudioFormat::pcm16_mono(16_000))
        .await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?.data);
    }
    Ok(out)
}

#[tokio::test]
async fn the_driver_gives_a_toy_dialect_pooling_timeouts_cancel_and_errors() {
    let s = serve().await;
    let p = provider(&s);
    // Audio, and the socket pooled across utterances.
    assert_eq!(say(&p, "ab").await.unwrap(), kit_audio("ab"));
    assert_eq!(say(&p, "c").await.unwrap(), kit_audio("c"));
    assert_eq!(s.kit().upgrades(), 1);
    // Vendor errors as the dialect classified them; the socket is not reused after one.
    assert_eq!(
        say(&p, "fail:bad voice").await.unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );
    // No audio within the first-audio deadline is a Timeout.
    assert_eq!(
        say(&p, "hang").await.unwrap_err().kind(),
        ErrorKind::Timeout
    );
    // Cancel in a session: clear sent, acknowledged, the socket kept for the next utterance.
    let before = s.kit().upgrades();
    let session = p
        .stream(voicing(), AudioFormat::pcm16_mono(16_000))
        .await
        .unwrap();
    let (mut input, mut events) = session.split();
    input.push_text("hang on").await.unwrap();
    input.flush().await.unwrap();
    let generation = input.cancel();
    loop {
        match events.next().await.unwrap().unwrap() {
            SessionEvent::Cleared { generation: g } if g == generation => break,
            _ => {}
        }
    }
    input.push_text("ok").await.unwrap();
    let id = input.flush().await.unwrap();
    let mut audio = Vec::new();
    loop {
        match events.next().await.unwrap().unwrap() {
            SessionEvent::Audio(c) => audio.extend_from_slice(&c.data),
            SessionEvent::UtteranceDone { id: d } if d == id => break,
            _ => {}
        }
    }
    assert_eq!(audio, kit_audio("ok"));
    assert_eq!(
        s.kit().upgrades(),
        before + 1,
        "one socket for the cancelled and the next utterance"
    );
}

#[tokio::test]
async fn kit_faults_reach_the_driver_classified_and_the_key_is_masked() {
    let s = serve().await;
    let p = provider(&s);
    // A scripted 429 with Retry-After and a request id on the upgrade is RateLimited with the hint.
    s.kit().set_fault(
        voxwire_testkit::kit::Fault::rate_limited(7).with_header("x-request-id", "req-42"),
    );
    let e = say(&p, "ab").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.status(), Some(429));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(e.request_id(), Some("req-42"));
    assert_eq!(s.kit().upgrades(), 0);
    // The next upgrade behaves; a socket cut mid-utterance is an error, not short audio.
    s.kit()
        .set_fault(voxwire_testkit::kit::Fault::close_after(1));
    assert!(say(&p, "abc").await.is_err());
    s.kit().set_fault(voxwire_testkit::kit::FaultPlan::none());
    assert_eq!(say(&p, "ok").await.unwrap(), kit_audio("ok"));
    // What the client sent was recorded, the key masked.
    let recorded = s.kit().requests();
    assert!(recorded.len() >= 3, "{recorded:?}");
    assert_eq!(recorded[0].status, 429);
    for r in &recorded {
        assert!(!format!("{r:?}").contains("echo-key"), "{r:?}");
    }
    assert!(recorded.iter().any(|r| r
        .messages
        .iter()
        .any(|m| m == "say:0:ok" || m.ends_with(":ok"))));
}
