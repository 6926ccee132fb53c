//! Between two processes: round trips and one-way throughput of ringlink's
//! memfd links (spinning and blocking) next to a minimal shared-memory ring
//! (the hardware limit) and a Unix stream socket, with the same payloads.
//!
//! The harness runs itself as the child (`--ipc-child ...`); every
//! mechanism copies each message in on one side and out on the other.

#[macro_use]
mod pipes;
pub mod shm_ring;

use crate::stats::median;
use crate::syscalls::SyscallCounter;
use hdrhistogram::Histogram;
use pipes::Pipe;
use std::process::Command;
use std::time::{Duration, Instant};

/// The argument that makes the harness the child of a case.
pub const CHILD_FLAG: &str = "--ipc-child";

/// A way to move messages between processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// ringlink memfd link, waits spin and never park.
    RinglinkSpin,
    /// ringlink memfd link, default waits (spin briefly, then sleep).
    RinglinkBlocking,
    /// Minimal shared-memory SPSC ring, busy-polling.
    ShmRing,
    /// Unix stream socket, blocking reads and writes.
    UnixStream,
}

impl Mechanism {
    /// Every mechanism, in table order.
    pub const ALL: [Mechanism; 4] = [
        Mechanism::ShmRing,
        Mechanism::RinglinkSpin,
        Mechanism::RinglinkBlocking,
        Mechanism::UnixStream,
    ];

    /// Its name in tables and on the child's command line.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::RinglinkSpin => "ringlink memfd (spin)",
            Mechanism::RinglinkBlocking => "ringlink memfd (blocking)",
            Mechanism::ShmRing => "minimal shm ring",
            Mechanism::UnixStream => "unix stream socket",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Mechanism::RinglinkSpin => "ringlink-spin",
            Mechanism::RinglinkBlocking => "ringlink-blocking",
            Mechanism::ShmRing => "shm-ring",
            Mechanism::UnixStream => "unix-stream",
        }
    }

    fn from_key(key: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.key() == key)
    }

    fn is_socket(self) -> bool {
        self == Mechanism::UnixStream
    }
}

/// What a case measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    RoundTrip,
    OneWay,
}

impl Mode {
    fn key(self) -> &'static str {
        match self {
            Mode::RoundTrip => "rtt",
            Mode::OneWay => "oneway",
        }
    }
}

/// The figures of one mechanism at one message size.
#[derive(Clone, Debug)]
pub struct Figures {
    /// The mechanism.
    pub mechanism: Mechanism,
    /// Message size in bytes.
    pub size: usize,
    /// Round trip, 50th / 99th / 99.9th percentile, nanoseconds.
    pub rtt_ns: [f64; 3],
    /// One-way messages per second (median of the runs).
    pub msgs_per_s: f64,
    /// System calls per message in the one-way runs (both processes), when
    /// they could be counted.
    pub syscalls_per_msg: Option<f64>,
}

impl Figures {
    /// One-way gigabytes per second.
    pub fn gb_per_s(&self) -> f64 {
        self.msgs_per_s * self.size as f64 / 1e9
    }
}

/// How many messages a case moves.
fn count(mechanism: Mechanism, size: usize, mode: Mode, quick: bool) -> u64 {
    let base: u64 = match (mode, mechanism.is_socket(), size) {
        (Mode::RoundTrip, _, s) if s >= 64 << 10 => 4_000,
        (Mode::RoundTrip, _, _) => 20_000,
        (Mode::OneWay, false, s) if s >= 64 << 10 => 40_000,
        (Mode::OneWay, false, s) if s >= 1024 => 1_000_000,
        (Mode::OneWay, false, _) => 3_000_000,
        (Mode::OneWay, true, s) if s >= 64 << 10 => 20_000,
        (Mode::OneWay, true, _) => 200_000,
    };
    if quick { base / 5 } else { base }
}

/// Runs every mechanism at every size, `runs` times, interleaved (every
/// mechanism once per run), so that the host moving vCPUs around hits all
/// mechanisms alike; `progress` gets a line per case.
pub fn run(
    sizes: &[usize],
    runs: usize,
    quick: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Figures>, String> {
    let mut all = Vec::new();
    for &size in sizes {
        let mut samples: Vec<Samples> = Mechanism::ALL
            .iter()
            .map(|_| Samples::new())
            .collect::<Result<_, _>>()?;
        for run in 1..=runs {
            for (mechanism, samples) in Mechanism::ALL.into_iter().zip(&mut samples) {
                progress(&format!(
                    "ipc: run {run}/{runs}: {} at {size} B",
                    mechanism.name()
                ));
                samples.take(mechanism, size, quick)?;
            }
        }
        for (mechanism, samples) in Mechanism::ALL.into_iter().zip(samples) {
            all.push(samples.figures(mechanism, size));
        }
    }
    Ok(all)
}

/// What the runs of one mechanism at one size measured.
struct Samples {
    rtt: Histogram<u64>,
    rates: Vec<f64>,
    syscalls: Vec<f64>,
}

impl Samples {
    fn new() -> Result<Samples, String> {
        Ok(Samples {
            // 1 ns to 100 s, 3 significant digits.
            rtt: Histogram::new_with_bounds(1, 100_000_000_000, 3).map_err(|e| e.to_string())?,
            rates: Vec::new(),
            syscalls: Vec::new(),
        })
    }

    /// One run: round trips, then one-way throughput.
    fn take(&mut self, mechanism: Mechanism, size: usize, quick: bool) -> Result<(), String> {
        let n = count(mechanism, size, Mode::RoundTrip, quick);
        let rtt = &mut self.rtt;
        run_case(mechanism, size, Mode::RoundTrip, n, &mut |t| {
            // Saturates at the histogram's top instead of failing.
            rtt.saturating_record(t.as_nanos() as u64);
        })?;
        let n = count(mechanism, size, Mode::OneWay, quick);
        let (elapsed, calls) = run_case(mechanism, size, Mode::OneWay, n, &mut |_| {})?;
        self.rates.push(n as f64 / elapsed.as_secs_f64());
        if let Some(calls) = calls {
            self.syscalls.push(calls as f64 / n as f64);
        }
        Ok(())
    }

    fn figures(self, mechanism: Mechanism, size: usize) -> Figures {
        Figures {
            mechanism,
            size,
            rtt_ns: [0.5, 0.99, 0.999].map(|q| self.rtt.value_at_quantile(q) as f64),
            msgs_per_s: median(&self.rates),
            syscalls_per_msg: (!self.syscalls.is_empty()).then(|| median(&self.syscalls)),
        }
    }
}

/// One case: spawns the child, waits for it to be ready, then moves `n`
/// messages. Returns the time the messages took and, for one-way runs, the
/// system calls both processes made meanwhile (when countable).
fn run_case(
    mechanism: Mechanism,
    size: usize,
    mode: Mode,
    n: u64,
    on_round_trip: &mut dyn FnMut(Duration),
) -> Result<(Duration, Option<u64>), String> {
    let exe = std::env::current_exe().map_err(|e| format!("locating the harness binary: {e}"))?;
    let mut command = Command::new(exe);
    command.args([
        CHILD_FLAG,
        mechanism.key(),
        &size.to_string(),
        mode.key(),
        &n.to_string(),
    ]);
    let (mut endpoint, mut child) = pipes::spawn(mechanism, size, &mut command)?;
    let pid = child.id() as i32;
    let result =
        with_pipe!(&mut endpoint, pipe => parent_side(pipe, size, mode, n, pid, on_round_trip));
    let status = child
        .wait()
        .map_err(|e| format!("waiting for the child: {e}"))?;
    if !status.success() {
        return Err(format!("the {} child failed ({status})", mechanism.name()));
    }
    result
}

/// The parent's loop, monomorphized per mechanism (no dynamic call per
/// message): waits for the child, then measures.
fn parent_side<P: Pipe>(
    pipe: &mut P,
    size: usize,
    mode: Mode,
    n: u64,
    child: i32,
    on_round_trip: &mut dyn FnMut(Duration),
) -> Result<(Duration, Option<u64>), String> {
    let mut msg = vec![0x5au8; size];
    let mut buf = vec![0u8; size];
    pipe.recv(&mut buf)?; // the child is ready
    let mut counters = match mode {
        Mode::OneWay => [
            SyscallCounter::start(0).ok(),
            SyscallCounter::start(child).ok(),
        ],
        Mode::RoundTrip => [None, None],
    };
    let start = Instant::now();
    match mode {
        Mode::RoundTrip => {
            let stamp = 8.min(size);
            for i in 0..n {
                msg[..stamp].copy_from_slice(&i.to_le_bytes()[..stamp]);
                let t = Instant::now();
                pipe.send(&msg)?;
                pipe.flush()?;
                pipe.recv(&mut buf)?;
                on_round_trip(t.elapsed());
            }
        }
        Mode::OneWay => {
            for i in 0..n {
                pipe.send(&msg)?;
                if i % 32 == 31 {
                    pipe.flush()?;
                }
            }
            pipe.flush()?;
            pipe.recv(&mut buf)?; // the child got them all
        }
    }
    let elapsed = start.elapsed();
    let calls = match &mut counters {
        [Some(own), Some(theirs)] => Some(own.read()? + theirs.read()?),
        _ => None,
    };
    Ok((elapsed, calls))
}

/// The child's side of a case, from its command line (after `--ipc-child`).
pub fn child_main(args: &[String]) -> Result<(), String> {
    let [mechanism, size, mode, n, rest @ ..] = args else {
        return Err(format!(
            "{CHILD_FLAG} needs MECHANISM SIZE MODE COUNT, got {args:?}"
        ));
    };
    let mechanism =
        Mechanism::from_key(mechanism).ok_or(format!("unknown mechanism {mechanism}"))?;
    let size: usize = size.parse().map_err(|e| format!("size {size}: {e}"))?;
    let n: u64 = n.parse().map_err(|e| format!("count {n}: {e}"))?;
    let mode = match mode.as_str() {
        "rtt" => Mode::RoundTrip,
        "oneway" => Mode::OneWay,
        other => return Err(format!("unknown mode {other}")),
    };
    let mut endpoint = pipes::child_endpoint(mechanism, size, rest)?;
    with_pipe!(&mut endpoint, pipe => child_side(pipe, size, mode, n))
}

/// The child's loop: says it is ready, then echoes (round trips) or takes
/// everything and says so (one way).
fn child_side<P: Pipe>(pipe: &mut P, size: usize, mode: Mode, n: u64) -> Result<(), String> {
    let mut buf = vec![0u8; size];
    pipe.send(&buf)?; // ready
    pipe.flush()?;
    match mode {
        Mode::RoundTrip => {
            for _ in 0..n {
                pipe.recv(&mut buf)?;
                pipe.send(&buf)?;
                pipe.flush()?;
            }
        }
        Mode::OneWay => {
            for _ in 0..n {
                pipe.recv(&mut buf)?;
            }
            pipe.send(&buf)?; // done
            pipe.flush()?;
        }
    }
    Ok(())
}
