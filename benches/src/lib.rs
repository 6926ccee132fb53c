//! ringlink's benchmark harness: the shared measuring code behind the
//! `ringlink-benches` binary (the README's main command) and the criterion
//! micro-benchmarks.

pub mod inproc;
pub mod ipc;
pub mod minimal_ring;
pub mod netlink;
pub mod netlink_report;
mod netns;
pub mod nfqueue;
pub mod plot;
pub mod probe;
pub mod report;
pub mod stats;
pub mod syscalls;
