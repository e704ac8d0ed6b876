//! Health shared with a fleet (issue 40, step 3), through a fake
//! [`HealthShare`]: local changes are published, a probe waits for the
//! hook's leave, and changes from elsewhere ([`Router::apply_remote`]) take
//! an entry out of rotation or bring it back without being published again.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use voxwire_core::{ErrorKind, SynthesisRequest, TtsError, TtsProvider};
use voxwire_router::{HealthChange, HealthShare, Policy, Router, RouterEvent, RouterSettings};
use voxwire_testkit::fake::{Behaviour, FakeProvider};

/// Records what the router publishes; lets it probe only when told.
#[derive(Default)]
struct FakeShare {
    changes: Mutex<Vec<(String, HealthChange)>>,
    allow: AtomicBool,
    asked: AtomicUsize,
}

impl HealthShare for FakeShare {
    fn changed(&self, entry: &str, change: &HealthChange) {
        self.changes
            .lock()
            .unwrap()
            .push((entry.to_string(), change.clone()));
    }

    fn may_probe(&self, _entry: &str) -> bool {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.allow.load(Ordering::SeqCst)
    }
}

impl FakeShare {
    fn downs(&self) -> Vec<(String, bool)> {
        self.changes
            .lock()
            .unwrap()
            .iter()
            .map(|(e, c)| (e.clone(), c.down))
            .collect()
    }
}

fn quick() -> Policy {
    Policy {
        max_retries: 0,
        cooldown_ms: 100,
        cooldown_max_ms: 100,
        ..Policy::default()
    }
}

fn rejected() -> Behaviour {
    Behaviour::Fail(TtsError::new(ErrorKind::Auth, "key rejected"))
}

fn router(a: &FakeProvider, b: &FakeProvider, share: &Arc<FakeShare>) -> Router {
    let r = Router::new(
        vec![(a.arc(), quick()), (b.arc(), quick())],
        RouterSettings::default(),
    )
    .unwrap();
    assert!(r.share_health(share.clone()));
    r
}

async fn speak(r: &Router, text: &str) {
    let mut stream = r.synthesize(SynthesisRequest::new(text)).await.unwrap();
    while let Some(chunk) = stream.next().await {
        chunk.unwrap();
    }
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn local_changes_are_published_and_probes_wait_for_leave() {
    let share = Arc::new(FakeShare::default());
    let a = FakeProvider::new("alpha").scripted(vec![], rejected());
    let b = FakeProvider::new("beta");
    let r = router(&a, &b, &share);
    assert!(!r.share_health(share.clone()), "set once");
    speak(&r, "One.").await;
    assert!(!r.is_available("alpha"));
    assert_eq!(share.downs(), [("alpha".to_string(), true)]);
    let change = share.changes.lock().unwrap()[0].1.clone();
    assert!(change.reason.contains("key rejected"), "{change:?}");
    assert_eq!(change.cooldown_max, Duration::from_millis(100));

    // Refused leave: several cooldowns pass, asked each time, never probed.
    a.set(Behaviour::Speak);
    eventually("asked three times", || {
        share.asked.load(Ordering::SeqCst) >= 3
    })
    .await;
    assert_eq!(a.calls().len(), 1, "only the request, no probe");
    assert_eq!(r.usage()[0].probe_chars, 0);
    assert!(!r.is_available("alpha"));

    // Leave given: the next probe brings it back, and that is published.
    share.allow.store(true, Ordering::SeqCst);
    eventually("alpha back", || r.is_available("alpha")).await;
    assert!(r.usage()[0].probe_chars > 0);
    assert_eq!(
        share.downs(),
        [("alpha".to_string(), true), ("alpha".to_string(), false)]
    );
}

/// The next availability change reported: (available, reason).
async fn availability(
    events: &mut tokio::sync::broadcast::Receiver<RouterEvent>,
) -> (bool, String) {
    loop {
        if let RouterEvent::Availability {
            available, reason, ..
        } = events.recv().await.unwrap()
        {
            return (available, reason);
        }
    }
}

#[tokio::test]
async fn remote_changes_apply_without_being_published_back() {
    let share = Arc::new(FakeShare::default());
    let a = FakeProvider::new("alpha");
    let b = FakeProvider::new("beta");
    let r = router(&a, &b, &share);
    let mut events = r.subscribe();
    assert!(!r.apply_remote("gamma", true, "no such entry"));

    assert!(r.apply_remote("alpha", true, "relay A: key rejected"));
    assert!(!r.is_available("alpha"));
    match events.recv().await.unwrap() {
        RouterEvent::Availability {
            provider,
            available,
            reason,
        } => {
            assert_eq!(provider, "alpha");
            assert!(!available);
            assert!(reason.contains("fleet") && reason.contains("key rejected"));
        }
        other => panic!("{other:?}"),
    }
    speak(&r, "Straight to beta.").await;
    assert!(a.calls().is_empty(), "alpha skipped: {:?}", a.calls());
    assert_eq!(b.calls().len(), 1);

    // Its probe task runs, but asks first, and is refused.
    eventually("asked", || share.asked.load(Ordering::SeqCst) >= 2).await;
    assert!(a.calls().is_empty(), "no probe without leave");

    assert!(r.apply_remote("alpha", false, "relay A's probe succeeded"));
    assert!(r.is_available("alpha"));
    let (available, reason) = availability(&mut events).await;
    assert!(available);
    assert!(reason.contains("fleet"), "{reason}");
    assert!(share.downs().is_empty(), "nothing published back");
    assert!(
        r.apply_remote("alpha", false, "again"),
        "already up: nothing"
    );
    while let Ok(event) = events.try_recv() {
        assert!(
            !matches!(event, RouterEvent::Availability { .. }),
            "no event for no change: {event:?}"
        );
    }
    speak(&r, "Alpha again.").await;
    assert_eq!(a.calls().len(), 1);
    eventually("probe task ended", || r.probes_running() == 0).await;
}
