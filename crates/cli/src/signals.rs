//! Makes sure the signals the program handles reach it.
//!
//! A signal mask is inherited through `exec`: a parent that blocked SIGINT
//! (some process supervisors and test harnesses do, often by accident) would
//! leave Ctrl-C pending forever, and `say` would speak the whole text instead
//! of stopping. The program handles SIGINT and SIGTERM itself, so it unblocks
//! them before any thread starts (threads inherit the mask of their creator).

/// Unblocks SIGINT and SIGTERM for this thread and the threads it creates later.
pub fn unblock_stop_signals() {
    #[cfg(unix)]
    // SAFETY: the set is initialised by sigemptyset before use, and
    // pthread_sigmask only changes the calling thread's mask.
    unsafe {
        let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGINT);
        libc::sigaddset(set.as_mut_ptr(), libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_UNBLOCK, set.as_ptr(), std::ptr::null_mut());
        if rc != 0 {
            tracing::warn!(
                rc,
                "cannot unblock SIGINT and SIGTERM: Ctrl-C may not stop the program"
            );
        }
    }
}
