//! The owner of a spawned task that must not outlive what spawned it.

use tokio::task::JoinHandle;

/// A spawned task, aborted when this handle is dropped.
pub(crate) struct AbortOnDrop(pub(crate) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
