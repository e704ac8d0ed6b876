//! Gives memory freed by ended sessions back to the operating system.
//!
//! A relay's memory peaks with its busiest moment (audio held for clients
//! that read slowly, sentences requested ahead). glibc's allocator keeps
//! what was freed inside its heaps for reuse and returns only the top of
//! each, so after a burst the resident size stays at the high-water mark
//! although nothing holds the memory. `malloc_trim(0)` hands every free page
//! back; the relay calls it a moment after sessions end (at most once per
//! [`SETTLE`]), off the async threads. Other allocators and platforms return
//! memory on their own terms: there it does nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// How long after a session ends the trim runs (closes in a burst share one).
pub(crate) const SETTLE: Duration = Duration::from_secs(1);

/// Returns free heap pages to the OS (glibc); a no-op elsewhere.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes
    // no pointers and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs until the relay stops: after each wake-up, waits [`SETTLE`] and trims.
pub(crate) async fn trim_after_sessions(ended: Arc<Notify>) {
    loop {
        ended.notified().await;
        tokio::time::sleep(SETTLE).await;
        // Trimming a large heap takes milliseconds: not on an async worker.
        let _ = tokio::task::spawn_blocking(release_free_memory).await;
    }
}
