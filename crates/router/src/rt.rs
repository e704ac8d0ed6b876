//! The few runtime services the router needs (spawning, sleeping, timeouts,
//! a clock) on tokio for native targets and on the browser's event loop for
//! wasm32, so the same router fails over between providers in both. Its
//! timers are public for providers that run where the router does (the
//! browser client's endpoints).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The router's clock: `std::time::Instant` natively, `performance.now()` in a browser.
pub(crate) use web_time::Instant;

/// A wait that ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// A spawned task, aborted when this handle is dropped.
pub(crate) struct Task {
    handle: imp::AbortHandle,
    done: Arc<AtomicBool>,
}

impl Task {
    /// Whether the task ran to its end (or was aborted).
    pub fn is_finished(&self) -> bool {
        self.done.load(Ordering::Acquire) || imp::finished(&self.handle)
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Runs `task`; dropping the returned handle aborts it.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn spawn<F>(task: F) -> Task
where
    F: Future<Output = ()> + Send + 'static,
{
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let handle = imp::spawn(async move {
        task.await;
        flag.store(true, Ordering::Release);
    });
    Task { handle, done }
}

/// Runs `task`; dropping the returned handle aborts it.
#[cfg(target_arch = "wasm32")]
pub(crate) fn spawn<F>(task: F) -> Task
where
    F: Future<Output = ()> + 'static,
{
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let handle = imp::spawn(async move {
        task.await;
        flag.store(true, Ordering::Release);
    });
    Task { handle, done }
}

/// Every task a router started that is still running: the router's
/// `shutdown` aborts them all; finished ones are pruned as new ones come.
#[derive(Default)]
pub(crate) struct Tasks {
    running: Mutex<Vec<Task>>,
    closed: AtomicBool,
}

impl Tasks {
    /// Keeps `task` (aborting it at once when the set is shut down).
    pub fn add(&self, task: Task) {
        if self.closed.load(Ordering::Acquire) {
            return; // dropped: aborted
        }
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.retain(|t| !t.is_finished());
        running.push(task);
    }

    /// Aborts every task, and every task added from now on.
    pub fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        let tasks = std::mem::take(&mut *self.running.lock().unwrap_or_else(|p| p.into_inner()));
        drop(tasks);
    }

    /// Whether `shutdown` was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Tasks still running.
    pub fn live(&self) -> usize {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.retain(|t| !t.is_finished());
        running.len()
    }
}

/// Whether tasks can be started here: natively, inside a tokio runtime.
pub(crate) fn can_spawn() -> bool {
    #[cfg(not(target_arch = "wasm32"))]
    {
        tokio::runtime::Handle::try_current().is_ok()
    }
    #[cfg(target_arch = "wasm32")]
    {
        true
    }
}

/// The time left until `deadline` (zero once it has passed).
pub(crate) fn until(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::Elapsed;
    use std::future::Future;
    use std::time::Duration;

    pub(crate) use tokio::task::AbortHandle;

    pub(crate) fn finished(handle: &AbortHandle) -> bool {
        handle.is_finished()
    }

    /// Runs `task` on the tokio runtime.
    pub(crate) fn spawn<F>(task: F) -> AbortHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(task).abort_handle()
    }

    pub(crate) async fn sleep(duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    pub(crate) async fn timeout<F: Future>(limit: Duration, work: F) -> Result<F::Output, Elapsed> {
        tokio::time::timeout(limit, work).await.map_err(|_| Elapsed)
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Elapsed;
    use futures::future::{self, Either};
    use std::future::Future;
    use std::time::Duration;

    pub(crate) use futures::future::AbortHandle;

    pub(crate) fn finished(handle: &AbortHandle) -> bool {
        handle.is_aborted()
    }

    /// The longest single browser timer (setTimeout takes a signed 32-bit delay).
    const MAX_TIMER_MS: u128 = i32::MAX as u128;

    /// Runs `task` on the browser's event loop.
    pub(crate) fn spawn<F>(task: F) -> AbortHandle
    where
        F: Future<Output = ()> + 'static,
    {
        let (task, handle) = future::abortable(task);
        wasm_bindgen_futures::spawn_local(async move {
            let _ = task.await;
        });
        handle
    }

    pub(crate) async fn sleep(duration: Duration) {
        let mut left = duration.as_millis();
        while left > 0 {
            let step = left.min(MAX_TIMER_MS);
            gloo_timers::future::TimeoutFuture::new(step as u32).await;
            left -= step;
        }
    }

    pub(crate) async fn timeout<F: Future>(limit: Duration, work: F) -> Result<F::Output, Elapsed> {
        let work = std::pin::pin!(work);
        let timer = std::pin::pin!(sleep(limit));
        match future::select(work, timer).await {
            Either::Left((output, _)) => Ok(output),
            Either::Right(_) => Err(Elapsed),
        }
    }
}

/// Waits `duration` (on the browser's timers in wasm32, however long it is).
pub async fn sleep(duration: Duration) {
    imp::sleep(duration).await;
}

/// `work`'s output, or `Elapsed` when it takes longer than `limit`.
pub async fn timeout<F: Future>(limit: Duration, work: F) -> Result<F::Output, Elapsed> {
    imp::timeout(limit, work).await
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn timeouts_fire_and_finished_work_wins() {
        assert_eq!(
            timeout(Duration::from_millis(5), sleep(Duration::from_secs(5))).await,
            Err(Elapsed)
        );
        assert_eq!(timeout(Duration::from_secs(5), async { 7 }).await, Ok(7));
    }

    #[tokio::test]
    async fn dropping_a_task_aborts_it() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let task = spawn(async move {
            sleep(Duration::from_secs(30)).await;
            let _ = tx.send(()).await;
        });
        drop(task);
        // The sender is dropped with the aborted task: the channel closes.
        let closed = timeout(Duration::from_secs(2), rx.recv()).await;
        assert_eq!(closed, Ok(None));
    }

    #[test]
    fn until_is_zero_once_passed() {
        assert_eq!(
            until(Instant::now() - Duration::from_millis(1)),
            Duration::ZERO
        );
        assert!(until(Instant::now() + Duration::from_secs(1)) > Duration::from_millis(900));
    }
}
