//! Puts a case's two processes on two different CPUs.
//!
//! Left to the scheduler, a freshly spawned child sometimes starts on the
//! parent's CPU and is moved to the idle one only tens of milliseconds
//! later: inside the measured part of a case, where two busy-polling
//! processes sharing one CPU move a tenth of their messages (seen as the
//! first 100,000 messages of a one-way run taking 20 ms where the rest
//! took 2.5 ms each). Pinning the parent to one allowed CPU and the child
//! to another keeps every case on two CPUs, as the cases mean to measure.

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The parent's pinning for one case; dropping it gives the parent back
/// the CPUs it had.
pub(super) struct Split {
    /// The parent's CPUs before the case.
    before: CpuSet,
}

/// Pins this thread to the first CPU it may run on and has `command`'s
/// child pin itself to the second; `None` (no pinning) when fewer than two
/// CPUs are allowed or the affinity cannot be read or set.
pub(super) fn split(command: &mut Command) -> Option<Split> {
    let before = sched_getaffinity(None).ok()?;
    let mut allowed = (0..CpuSet::MAX_CPU).filter(|&cpu| before.is_set(cpu));
    let (parent, child) = (allowed.next()?, allowed.next()?);
    sched_setaffinity(None, &only(parent)).ok()?;
    let child = only(child);
    // SAFETY: the closure makes one system call (sched_setaffinity, safe
    // between fork and exec) on a set copied into it beforehand.
    unsafe {
        command.pre_exec(move || Ok(sched_setaffinity(None, &child)?));
    }
    Some(Split { before })
}

/// The set of `cpu` alone.
fn only(cpu: usize) -> CpuSet {
    let mut set = CpuSet::new();
    set.set(cpu);
    set
}

impl Drop for Split {
    fn drop(&mut self) {
        // Best effort: a failure leaves the harness pinned, which slows
        // nothing that follows (the next case pins again).
        let _ = sched_setaffinity(None, &self.before);
    }
}
