//! Timestamps carry xAI's own `graph_times`, not times spread evenly over a
//! chunk: a tiny xAI-speaking server on loopback sends deliberately
//! non-uniform per-character times, and the chunks come out with them, and
//! with the words they complete.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use voxwire_core::{AudioFormat, SpanTimes, SynthesisRequest, TextSpan, TtsProvider, WordTime};
use voxwire_xai::{WithTimestamps, XaiProvider, XaiSettings};

// tungstenite's callback signature fixes the error type.
#[allow(clippy::result_large_err)]
#[tokio::test]
async fn chunks_carry_the_vendors_non_uniform_times() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut query = String::new();
        let mut ws = tokio_tungstenite::accept_hdr_async(
            tcp,
            |req: &tokio_tungstenite::tungstenite::handshake::server::Request, resp| {
                query = req.uri().query().unwrap_or_default().to_string();
                Ok(resp)
            },
        )
        .await
        .unwrap();
        // text.delta, text.done
        let _ = ws.next().await;
        let _ = ws.next().await;
        let b64 = "AAAAAA=="; // 4 bytes: two samples
        for (chars, times) in [
            (vec!["H", "i"], vec![[0.0, 0.05], [0.05, 0.5]]),
            (vec!["!"], vec![[0.5, 1.25]]),
        ] {
            let frame = json!({"type":"audio.delta","delta":b64,
                "audio_timestamps":{"graph_chars":chars,"graph_times":times}});
            ws.send(Message::text(frame.to_string())).await.unwrap();
        }
        ws.send(Message::text(r#"{"type":"audio.done"}"#))
            .await
            .unwrap();
        query
    });
    let p = XaiProvider::new(XaiSettings {
        api_key: Some(voxwire_core::Secret::new("k")),
        base_url: Some(base),
        ..XaiSettings::default()
    })
    .unwrap();
    let mut request = SynthesisRequest::new("Hi!").format(AudioFormat::pcm16_mono(24_000));
    request.extensions.insert(WithTimestamps(true));
    let mut stream = p.synthesize(request).await.unwrap();
    let mut got = Vec::new();
    let mut words = Vec::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .unwrap()
    {
        let chunk = chunk.unwrap();
        got.push((chunk.span, chunk.times));
        words.push(chunk.words);
    }
    let ms = Duration::from_millis;
    assert_eq!(
        got,
        vec![
            (
                Some(TextSpan { start: 0, end: 2 }),
                Some(SpanTimes {
                    start: ms(0),
                    end: ms(500)
                })
            ),
            (
                Some(TextSpan { start: 2, end: 3 }),
                Some(SpanTimes {
                    start: ms(500),
                    end: ms(1250)
                })
            ),
        ]
    );
    assert_eq!(
        words,
        vec![
            vec![],
            vec![WordTime {
                span: TextSpan { start: 0, end: 3 },
                start: ms(0),
                end: ms(1250)
            }]
        ],
        "the word is complete with its last character"
    );
    let query = server.await.unwrap();
    assert!(
        query.contains("with_timestamps=true"),
        "the request's switch reached xAI: {query}"
    );
}
