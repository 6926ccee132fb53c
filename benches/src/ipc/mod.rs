//! Between two processes: round trips and one-way throughput of ringlink's
//! memfd links (spinning and blocking) next to a minimal shared-memory ring
//! (the hardware limit), iceoryx2's zero-copy publish/subscribe, a Unix
//! stream socket, a Unix `SOCK_SEQPACKET` socket and a pair of pipes, with
//! the same payloads; and a fixed-rate latency run ([`fixed_rate`]).
//!
//! The harness runs itself as the child (`--ipc-child ...`); every
//! mechanism copies each message in on one side and out on the other. The
//! measuring loops (`case`) are written once against `Transport`
//! (`transport.rs`); a mechanism only says how to send and receive.

#[macro_use]
mod transport;
mod case;
pub mod fixed_rate;
mod iceoryx;
mod kernel;
mod placement;
pub mod shm_ring;
pub mod table;

pub use case::{CHILD_FLAG, child_main};

use crate::probe::settled_cache_line_rtt_ns;
use crate::stats::median;
use case::{Mode, run_case};
use hdrhistogram::Histogram;
use serde::Serialize;

/// A way to move messages between processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mechanism {
    /// ringlink memfd link, waits spin and never park.
    RinglinkSpin,
    /// ringlink memfd link, default waits (spin briefly, then sleep).
    RinglinkBlocking,
    /// Minimal shared-memory SPSC ring, busy-polling.
    ShmRing,
    /// iceoryx2 zero-copy publish/subscribe, busy-polling.
    Iceoryx2,
    /// Unix stream socket, blocking reads and writes.
    UnixStream,
    /// Unix `SOCK_SEQPACKET` socket, blocking, one message per call.
    UnixSeqpacket,
    /// A pipe each way, blocking reads and writes.
    Pipe,
}

impl Mechanism {
    /// Every mechanism, in table order.
    pub const ALL: [Mechanism; 7] = [
        Mechanism::ShmRing,
        Mechanism::RinglinkSpin,
        Mechanism::RinglinkBlocking,
        Mechanism::Iceoryx2,
        Mechanism::UnixStream,
        Mechanism::UnixSeqpacket,
        Mechanism::Pipe,
    ];

    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::RinglinkSpin => "ringlink memfd (spin)",
            Mechanism::RinglinkBlocking => "ringlink memfd (blocking)",
            Mechanism::ShmRing => "minimal shm ring",
            Mechanism::Iceoryx2 => "iceoryx2 pub/sub",
            Mechanism::UnixStream => "unix stream socket",
            Mechanism::UnixSeqpacket => "unix seqpacket socket",
            Mechanism::Pipe => "pipe",
        }
    }

    /// Its name on the child's command line.
    fn key(self) -> &'static str {
        match self {
            Mechanism::RinglinkSpin => "ringlink-spin",
            Mechanism::RinglinkBlocking => "ringlink-blocking",
            Mechanism::ShmRing => "shm-ring",
            Mechanism::Iceoryx2 => "iceoryx2",
            Mechanism::UnixStream => "unix-stream",
            Mechanism::UnixSeqpacket => "unix-seqpacket",
            Mechanism::Pipe => "pipe",
        }
    }

    fn from_key(key: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.key() == key)
    }

    /// A system call per message (fewer messages make a run as long).
    fn is_kernel(self) -> bool {
        matches!(
            self,
            Mechanism::UnixStream | Mechanism::UnixSeqpacket | Mechanism::Pipe
        )
    }
}

/// The figures of one mechanism at one message size.
#[derive(Clone, Debug, Serialize)]
pub struct Figures {
    /// The mechanism.
    pub mechanism: Mechanism,
    /// Message size in bytes.
    pub size: usize,
    /// Round trip, 50th / 99th / 99.9th percentile, nanoseconds, over the
    /// round trips of all runs.
    pub rtt_ns: [f64; 3],
    /// One-way messages per second (median of the one-way cases).
    pub msgs_per_s: f64,
    /// System calls per message in the one-way runs (both processes), when
    /// they could be counted.
    pub syscalls_per_msg: Option<f64>,
    /// The cache-line probe before each run, nanoseconds.
    pub probe_ns: Vec<f64>,
    /// Round-trip or one-way runs the time limit cut short.
    pub cut_short: usize,
}

impl Figures {
    /// One-way gigabytes per second.
    pub fn gb_per_s(&self) -> f64 {
        self.msgs_per_s * self.size as f64 / 1e9
    }

    /// The median of the probes taken before its runs, nanoseconds.
    pub fn probe_median_ns(&self) -> f64 {
        median(&self.probe_ns)
    }
}

/// How many messages a case moves.
fn count(mechanism: Mechanism, size: usize, mode: Mode, quick: bool) -> u64 {
    let base: u64 = match (mode, mechanism.is_kernel(), size) {
        (Mode::RoundTrip, false, s) if s >= 64 << 10 => 4_000,
        (Mode::RoundTrip, false, _) => 20_000,
        (Mode::RoundTrip, true, s) if s >= 64 << 10 => 2_000,
        (Mode::RoundTrip, true, _) => 8_000,
        (Mode::OneWay, false, s) if s >= 64 << 10 => 20_000,
        (Mode::OneWay, false, s) if s >= 1024 => 500_000,
        (Mode::OneWay, false, _) => 1_000_000,
        (Mode::OneWay, true, s) if s >= 64 << 10 => 10_000,
        (Mode::OneWay, true, _) => 100_000,
        (Mode::FixedRate { .. }, _, _) => unreachable!("fixed-rate runs count for themselves"),
    };
    if quick { base / 5 } else { base }
}

/// One-way cases of each mechanism per run. A single case's throughput
/// can be half or double the next one's (where the host places the vCPUs,
/// which pages the ring gets), so its median is taken over this many
/// cases per run, each with its own processes.
pub const ONE_WAY_PASSES: usize = 5;

/// Runs every mechanism at every size, `runs` times, interleaved (every
/// mechanism once per pass, [`ONE_WAY_PASSES`] passes per run, round trips
/// in the first), so that the host moving vCPUs around hits all
/// mechanisms alike; the cache-line probe runs before each pass of a
/// mechanism. `progress` gets a line per pass of a mechanism.
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
            for pass in 1..=ONE_WAY_PASSES {
                for (mechanism, samples) in Mechanism::ALL.into_iter().zip(&mut samples) {
                    let probe = settled_cache_line_rtt_ns();
                    progress(&format!(
                        "ipc: run {run}/{runs}, pass {pass}/{ONE_WAY_PASSES}: {} at {size} B ({probe})",
                        mechanism.name()
                    ));
                    samples.probes.push(probe.ns);
                    if pass == 1 {
                        samples.round_trips(mechanism, size, quick)?;
                    }
                    samples.one_way(mechanism, size, quick)?;
                }
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
    probes: Vec<f64>,
    cut_short: usize,
}

impl Samples {
    fn new() -> Result<Samples, String> {
        Ok(Samples {
            rtt: case::histogram()?,
            rates: Vec::new(),
            syscalls: Vec::new(),
            probes: Vec::new(),
            cut_short: 0,
        })
    }

    /// A round-trip case.
    fn round_trips(
        &mut self,
        mechanism: Mechanism,
        size: usize,
        quick: bool,
    ) -> Result<(), String> {
        let n = count(mechanism, size, Mode::RoundTrip, quick);
        let rtt = &mut self.rtt;
        let outcome = run_case(mechanism, size, Mode::RoundTrip, n, &mut |t| {
            // Saturates at the histogram's top instead of failing.
            rtt.saturating_record(t.as_nanos() as u64);
        })?;
        self.cut_short += usize::from(outcome.cut_short);
        Ok(())
    }

    /// A one-way case: throughput.
    fn one_way(&mut self, mechanism: Mechanism, size: usize, quick: bool) -> Result<(), String> {
        let n = count(mechanism, size, Mode::OneWay, quick);
        let outcome = run_case(mechanism, size, Mode::OneWay, n, &mut |_| {})?;
        self.cut_short += usize::from(outcome.cut_short);
        let moved = outcome.messages as f64;
        self.rates.push(moved / outcome.elapsed.as_secs_f64());
        if let Some(calls) = outcome.syscalls {
            self.syscalls.push(calls as f64 / moved);
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
            probe_ns: self.probes,
            cut_short: self.cut_short,
        }
    }
}
