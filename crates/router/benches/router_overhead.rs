//! What the router costs: (a) on the happy path, against calling the provider
//! directly; (b) on failover, when the primary refuses the WebSocket upgrade
//! with 403, against the fallback's own time to first audio plus the refused
//! upgrade's own round trip. One run, interleaved samples, medians; prints a table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use voxwire_core::{AudioFormat, Secret, SynthesisRequest, TtsProvider};
use voxwire_router::{Policy, Router, RouterSettings};
use voxwire_testkit::mock_xai::{Fault, FaultPlan, MockConfig, MockXai};
use voxwire_xai::{XaiProvider, XaiSettings};

const KEY: &str = "xai-bench-key";
const TEXT: &str = "Hello there, this is the benchmark sentence.";
const ROUNDS: usize = 300;

fn xai(mock: &MockXai) -> Arc<dyn TtsProvider> {
    Arc::new(
        XaiProvider::new(XaiSettings {
            api_key: Some(Secret::new(KEY)),
            base_url: Some(mock.base_url()),
            ..XaiSettings::default()
        })
        .expect("provider"),
    )
}

/// Time to first audio, then the rest of the stream drained (so pooled connections return).
async fn first_audio(p: &dyn TtsProvider) -> Duration {
    let started = Instant::now();
    let request = SynthesisRequest::new(TEXT).format(AudioFormat::pcm16_mono(24_000));
    let mut stream = p.synthesize(request).await.expect("synthesize");
    let mut first = None;
    while let Some(chunk) = stream.next().await {
        chunk.expect("chunk");
        first.get_or_insert_with(|| started.elapsed());
    }
    first.expect("audio")
}

/// How long the refused upgrade takes to come back as an error.
async fn refusal(p: &dyn TtsProvider) -> Duration {
    let started = Instant::now();
    let result = p.synthesize(SynthesisRequest::new(TEXT)).await;
    assert!(result.is_err(), "the primary must refuse");
    started.elapsed()
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let work = runtime.spawn(async {
        let healthy = MockXai::start(MockConfig::new().with_api_key(KEY)).await;
        let refusing = MockXai::start(
            MockConfig::new()
                .with_api_key(KEY)
                .with_faults(FaultPlan::always(Fault::websocket_forbidden())),
        )
        .await;
        let fallback = xai(&healthy);
        let primary = xai(&refusing);
        let policy = Policy::default();
        let happy = Router::new(vec![(fallback.clone(), policy.clone())], RouterSettings::default())
            .expect("router");
        for _ in 0..20 {
            first_audio(fallback.as_ref()).await;
            first_audio(&happy).await;
        }

        let (mut direct, mut routed) = (Vec::new(), Vec::new());
        let (mut own, mut refused, mut failover) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            direct.push(first_audio(fallback.as_ref()).await);
            routed.push(first_audio(&happy).await);
            // A fresh router each time, so the primary is tried (not yet marked down).
            let chain = vec![(primary.clone(), policy.clone()), (fallback.clone(), policy.clone())];
            let router = Router::new(chain, RouterSettings::default()).expect("router");
            failover.push(first_audio(&router).await);
            own.push(first_audio(fallback.as_ref()).await);
            refused.push(refusal(primary.as_ref()).await);
        }
        let (d, r) = (median(direct), median(routed));
        let (o, x, f) = (median(own), median(refused), median(failover));
        println!("\nrouter overhead against the mock xAI server, {ROUNDS} interleaved samples each, medians");
        println!("{:<52} {:>10}", "measurement", "ms");
        println!("{:<52} {:>10.3}", "(a) provider called directly: time to first audio", d);
        println!("{:<52} {:>10.3}", "(a) through the router: time to first audio", r);
        println!("{:<52} {:>10.3}", "(a) added by the router", r - d);
        println!("{:<52} {:>10.3}", "(b) fallback's own time to first audio", o);
        println!("{:<52} {:>10.3}", "(b) primary's refused upgrade (403) round trip", x);
        println!("{:<52} {:>10.3}", "(b) failover: time to first audio", f);
        println!("{:<52} {:>10.3}", "(b) added beyond refusal + fallback", f - o - x);
        println!();
    });
    runtime.block_on(work).expect("bench task");
}
