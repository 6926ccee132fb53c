//! Scheduling hooks for the concurrency checker. In normal builds they
//! compile to nothing; in this crate's tests they let shuttle interleave the
//! producer and consumer at every status-word access.

#[cfg(not(test))]
#[inline(always)]
pub(crate) fn yield_point() {}

#[cfg(test)]
thread_local! {
    /// Set while a shuttle test runs on this thread.
    pub(crate) static UNDER_SHUTTLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
pub(crate) fn yield_point() {
    if UNDER_SHUTTLE.with(|f| f.get()) {
        shuttle::thread::yield_now();
    }
}
