//! Counting system calls of processes with the kernel's
//! `raw_syscalls:sys_enter` tracepoint (perf events; needs root or a
//! permissive `perf_event_paranoid`).

use perf_event::Counter;
use perf_event::events::Tracepoint;

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
        let id = TRACEPOINT_IDS
            .iter()
            .find_map(|path| std::fs::read_to_string(path).ok())
            .ok_or("no tracefs with raw_syscalls:sys_enter (mount tracefs, or run as root)")?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|e| format!("tracepoint id {id:?}: {e}"))?;
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
