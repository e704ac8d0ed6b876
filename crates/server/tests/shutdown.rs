//! Graceful shutdown: utterances in flight finish, then sessions close with 1001.

mod common;

use std::time::Duration;

use common::*;
use voxwire_testkit::mock_xai::{expected_audio, Fault};

#[tokio::test]
async fn an_utterance_in_flight_finishes_then_the_session_goes_away() {
    let s = setup_with(Fault::SlowDrip(Duration::from_millis(30)), |settings| {
        settings.shutdown_grace_s = 5;
    })
    .await;
    let mut ws = connect_pcm(&s).await;
    let text = "A slow utterance to finish.";
    delta(&mut ws, text).await;
    done(&mut ws).await;
    let mut frames = read_until(&mut ws, |f| f["type"] == "audio.delta").await;
    let Setup { stop, addr, .. } = s;
    drop(stop); // begin the shutdown mid-utterance
    frames.extend(read_until(&mut ws, |_| false).await);
    let kinds: Vec<&str> = frames.iter().filter_map(|f| f["type"].as_str()).collect();
    let done = kinds
        .iter()
        .position(|k| *k == "audio.done")
        .expect("audio.done");
    assert_eq!(kinds.last(), Some(&"close"), "{kinds:?}");
    assert!(done < kinds.len() - 1);
    assert_eq!(frames.last().unwrap()["code"], 1001, "going away");
    assert_eq!(audio_of(&frames), expected_audio(text, pcm()));
    // No new connections once stopped.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
