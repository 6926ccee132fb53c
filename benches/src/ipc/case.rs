//! One case between two processes: the harness spawns itself as the child
//! (`--ipc-child MECHANISM SIZE MODE ...`), both ends build their
//! [`Transport`], and the loops here, written once and compiled for each
//! transport, measure round trips, one-way throughput or paced latency.
//!
//! The parent decides when a case ends: after its count of messages, or
//! earlier when the case overruns its time limit (busy-polling pairs
//! crawl when the host squeezes both onto one vCPU), so the harness
//! always finishes. Its last message carries [`LAST`] at byte [`FLAG`];
//! the child stops there.

use super::Mechanism;
use super::fixed_rate::{self, Paced};
use super::placement;
use super::transport::{self, Transport};
use crate::syscalls::SyscallCounter;
use hdrhistogram::Histogram;
use std::process::Command;
use std::time::{Duration, Instant};

/// The argument that makes the harness the child of a case.
pub const CHILD_FLAG: &str = "--ipc-child";

/// The byte of every message that says whether it is the last (after the
/// 8-byte stamp; messages are at least 64 bytes).
pub(super) const FLAG: usize = 8;
/// [`FLAG`]'s value on the last message of a case.
pub(super) const LAST: u8 = 1;
/// The most a round-trip or one-way case may take before it is cut short.
pub(super) const LIMIT: Duration = Duration::from_secs(2);

/// What a case measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Send, wait for the echo, again.
    RoundTrip,
    /// Send as fast as the mechanism takes them.
    OneWay,
    /// Send at `rate` messages per second, each stamped with the time it
    /// was meant to leave; the child measures latency from that time.
    FixedRate {
        /// Messages per second offered.
        rate: u64,
    },
}

impl Mode {
    fn key(self) -> String {
        match self {
            Mode::RoundTrip => "rtt".into(),
            Mode::OneWay => "oneway".into(),
            Mode::FixedRate { rate } => format!("fixed:{rate}"),
        }
    }

    fn from_key(key: &str) -> Option<Mode> {
        match key {
            "rtt" => Some(Mode::RoundTrip),
            "oneway" => Some(Mode::OneWay),
            _ => key
                .strip_prefix("fixed:")?
                .parse()
                .ok()
                .map(|rate| Mode::FixedRate { rate }),
        }
    }
}

/// A latency histogram: 1 ns to 100 s, 3 significant digits.
pub(super) fn histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).map_err(|e| e.to_string())
}

/// What one case measured.
pub(super) struct Outcome {
    /// Messages moved (fewer than asked when the case was cut short).
    pub messages: u64,
    /// Whether the time limit cut the case short.
    pub cut_short: bool,
    /// How long the messages took.
    pub elapsed: Duration,
    /// System calls of both processes meanwhile (one-way runs, when
    /// countable).
    pub syscalls: Option<u64>,
    /// A fixed-rate run's figures.
    pub paced: Option<Paced>,
}

/// One case: spawns the child, waits for it to be ready, then moves `n`
/// messages; `on_round_trip` gets each round trip's time.
pub(super) fn run_case(
    mechanism: Mechanism,
    size: usize,
    mode: Mode,
    n: u64,
    on_round_trip: &mut dyn FnMut(Duration),
) -> Result<Outcome, String> {
    let exe = std::env::current_exe().map_err(|e| format!("locating the harness binary: {e}"))?;
    let mut command = Command::new(exe);
    command.args([CHILD_FLAG, mechanism.key(), &size.to_string(), &mode.key()]);
    let _split = placement::split(&mut command);
    let (mut endpoint, mut child) = transport::spawn(mechanism, size, &mut command)?;
    drop(command); // closes our copies of the child's descriptors
    let pid = child.id() as i32;
    let result =
        with_transport!(&mut endpoint, t => parent_side(t, size, mode, n, pid, on_round_trip));
    let status = child
        .wait()
        .map_err(|e| format!("waiting for the child: {e}"))?;
    if !status.success() {
        return Err(format!("the {} child failed ({status})", mechanism.name()));
    }
    result
}

/// The parent's loop, monomorphized per transport (no dynamic call per
/// message): waits for the child, then measures.
fn parent_side<T: Transport>(
    t: &mut T,
    size: usize,
    mode: Mode,
    n: u64,
    child: i32,
    on_round_trip: &mut dyn FnMut(Duration),
) -> Result<Outcome, String> {
    let mut msg = vec![0x5au8; size];
    msg[FLAG] = 0;
    let mut buf = vec![0u8; size];
    t.recv(&mut buf)?; // the child is ready
    let mut counters = match mode {
        Mode::OneWay => [
            SyscallCounter::start(0).ok(),
            SyscallCounter::start(child).ok(),
        ],
        _ => [None, None],
    };
    let start = Instant::now();
    let deadline = start + LIMIT;
    let mut paced = None;
    let mut sent = 0;
    match mode {
        Mode::RoundTrip => {
            while sent < n {
                msg[..8].copy_from_slice(&sent.to_le_bytes());
                sent += 1;
                let t0 = Instant::now();
                if sent == n || t0 > deadline {
                    msg[FLAG] = LAST;
                }
                t.send(&msg)?;
                t.flush()?;
                t.recv(&mut buf)?;
                on_round_trip(t0.elapsed());
                if msg[FLAG] == LAST {
                    break;
                }
            }
        }
        Mode::OneWay => {
            while sent < n {
                sent += 1;
                if sent == n || (sent.is_multiple_of(1024) && Instant::now() > deadline) {
                    msg[FLAG] = LAST;
                }
                t.send(&msg)?;
                if sent.is_multiple_of(32) {
                    t.flush()?;
                }
                if msg[FLAG] == LAST {
                    break;
                }
            }
            t.flush()?;
            t.recv(&mut buf)?; // the child got them all
        }
        Mode::FixedRate { rate } => {
            let p = fixed_rate::parent(t, &mut msg, n, rate)?;
            sent = p.sent;
            paced = Some(p);
        }
    }
    let elapsed = start.elapsed();
    let syscalls = match &mut counters {
        [Some(own), Some(theirs)] => Some(own.read()? + theirs.read()?),
        _ => None,
    };
    Ok(Outcome {
        messages: sent,
        cut_short: sent < n,
        elapsed,
        syscalls,
        paced,
    })
}

/// The child's side of a case, from its command line (after `--ipc-child`).
pub fn child_main(args: &[String]) -> Result<(), String> {
    let [mechanism, size, mode, rest @ ..] = args else {
        return Err(format!(
            "{CHILD_FLAG} needs MECHANISM SIZE MODE, got {args:?}"
        ));
    };
    let mechanism =
        Mechanism::from_key(mechanism).ok_or(format!("unknown mechanism {mechanism}"))?;
    let size: usize = size.parse().map_err(|e| format!("size {size}: {e}"))?;
    let mode = Mode::from_key(mode).ok_or(format!("unknown mode {mode}"))?;
    let mut endpoint = transport::child_endpoint(mechanism, size, rest)?;
    with_transport!(&mut endpoint, t => child_side(t, size, mode))
}

/// The child's loop: says it is ready, then echoes (round trips), takes
/// everything and says so (one way), or times every arrival (fixed rate),
/// until the parent's last message.
fn child_side<T: Transport>(t: &mut T, size: usize, mode: Mode) -> Result<(), String> {
    let mut buf = vec![0u8; size];
    t.send(&buf)?; // ready
    t.flush()?;
    match mode {
        Mode::RoundTrip => loop {
            t.recv(&mut buf)?;
            t.send(&buf)?;
            t.flush()?;
            if buf[FLAG] == LAST {
                break;
            }
        },
        Mode::OneWay => {
            loop {
                t.recv(&mut buf)?;
                if buf[FLAG] == LAST {
                    break;
                }
            }
            t.send(&buf)?; // done
            t.flush()?;
        }
        Mode::FixedRate { .. } => fixed_rate::child(t, &mut buf)?,
    }
    Ok(())
}
