//! Giving freed memory back to the operating system.
//!
//! glibc keeps what a thread freed in that thread's arena for reuse, so a
//! burst of work (a scan of the whole history, an index merge) would leave
//! the process at its peak size long after. The threads that do such work
//! call [`release_free_memory`] when it ends, so the server's footprint
//! returns to its idle figure.

/// Returns the free pages of every malloc arena to the OS.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free_memory() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}
