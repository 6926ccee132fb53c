//! Counting system calls of processes with the kernel's
//! `raw_syscalls:sys_enter` tracepoint (perf events; needs root or a
//! permissive `perf_event_paranoid`). The tracepoint's id is read from
//! tracefs; where none is mounted (containers), a private tracefs is
//! mounted for a moment to read it (root only).

use perf_event::Counter;
use perf_event::events::Tracepoint;
use rustix::mount::{MountFlags, UnmountFlags};
use std::sync::OnceLock;

/// Where tracefs exposes the tracepoint's id.
const TRACEPOINT_IDS: [&str; 2] = [
    "/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
    "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
];

/// A running count of the system calls of one process and its threads.
pub struct SyscallCounter {
    counter: Counter,
}

impl SyscallCounter {
    /// Starts counting the calls of process `pid` (0: this process).
    /// `Err` says why counting is not possible here.
    pub fn start(pid: i32) -> Result<SyscallCounter, String> {
        static ID: OnceLock<Result<u64, String>> = OnceLock::new();
        let id = ID.get_or_init(tracepoint_id).clone()?;
        let mut builder = perf_event::Builder::new(Tracepoint::with_id(id));
        builder.include_kernel().inherit(true).any_cpu();
        if pid != 0 {
            builder.observe_pid(pid);
        }
        let mut counter = builder
            .build()
            .map_err(|e| format!("perf_event_open on the syscall tracepoint: {e}"))?;
        counter
            .enable()
            .map_err(|e| format!("enabling the syscall counter: {e}"))?;
        Ok(SyscallCounter { counter })
    }

    /// Calls counted so far.
    pub fn read(&mut self) -> Result<u64, String> {
        self.counter
            .read()
            .map_err(|e| format!("reading the syscall counter: {e}"))
    }
}

/// The id of `raw_syscalls:sys_enter`.
fn tracepoint_id() -> Result<u64, String> {
    let text = match TRACEPOINT_IDS
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
    {
        Some(text) => text,
        None => from_private_tracefs()?,
    };
    text.trim()
        .parse()
        .map_err(|e| format!("tracepoint id {text:?}: {e}"))
}

/// Reads the tracepoint's id from a tracefs mounted on a temporary
/// directory, then unmounts it.
fn from_private_tracefs() -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("ringlink-tracefs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let text = rustix::mount::mount(
        "nodev",
        &dir,
        "tracefs",
        MountFlags::empty(),
        None::<&std::ffi::CStr>,
    )
    .map_err(|e| {
        format!(
            "no tracefs is mounted and mounting one failed ({e}): run as root, or mount tracefs"
        )
    })
    .and_then(|()| {
        let text = std::fs::read_to_string(dir.join("events/raw_syscalls/sys_enter/id"))
            .map_err(|e| format!("tracefs has no raw_syscalls:sys_enter: {e}"));
        let _ = rustix::mount::unmount(&dir, UnmountFlags::DETACH);
        text
    });
    let _ = std::fs::remove_dir(&dir);
    text
}
