//! The fixed-rate latency run: the parent offers messages at a set rate
//! (1 M/s), each stamped with the time it was meant to leave; the child
//! measures each message's latency from that intended time, not from when
//! it actually left. A stall (the sender held back by a full ring, a
//! descheduled vCPU) so counts against every message it delayed instead of
//! disappearing from the figures (coordinated omission). The parent counts
//! the sends that started a whole period or more behind schedule.

use super::Mechanism;
use super::case::{FLAG, LAST, LIMIT, Mode, histogram, run_case};
use super::transport::Transport;
use crate::probe::settled_cache_line_rtt_ns;
use crate::stats::median;
use rustix::time::{ClockId, clock_gettime};
use serde::Serialize;

/// Messages per second offered.
pub const RATE: u64 = 1_000_000;
/// Message size.
pub const SIZE: usize = 64;
/// The mechanisms run at a fixed rate: the minimal ring (baseline) and
/// ringlink spinning.
pub const MECHANISMS: [Mechanism; 2] = [Mechanism::ShmRing, Mechanism::RinglinkSpin];

/// Nanoseconds on the monotonic clock, which both processes share.
fn now_ns() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// What one paced run measured.
#[derive(Clone, Copy, Debug)]
pub(super) struct Paced {
    /// Latency from the intended send time: p50, p99, p99.9, max, ns.
    pub latency_ns: [u64; 4],
    /// Sends that started a period or more after their intended time.
    pub behind: u64,
    /// Messages sent (fewer than asked when the run was cut short).
    pub sent: u64,
}

/// The parent: sends `n` messages (`msg`, at least 32 bytes) at `rate`
/// per second, then reads the child's figures. A run that falls more
/// than the case time limit behind schedule is cut short.
pub(super) fn parent<T: Transport>(
    t: &mut T,
    msg: &mut [u8],
    n: u64,
    rate: u64,
) -> Result<Paced, String> {
    let period = 1_000_000_000 / rate.max(1);
    // The first send a little ahead, so it is not late by construction.
    let start = now_ns() + 100_000;
    let mut behind = 0;
    let mut sent = 0;
    while sent < n {
        let intended = start + sent * period;
        let mut now = now_ns();
        while now < intended {
            std::hint::spin_loop();
            now = now_ns();
        }
        if now - intended >= period {
            behind += 1;
        }
        sent += 1;
        if sent == n || now - intended > LIMIT.as_nanos() as u64 {
            msg[FLAG] = LAST;
        }
        msg[..8].copy_from_slice(&intended.to_le_bytes());
        t.send(msg)?;
        t.flush()?;
        if msg[FLAG] == LAST {
            break;
        }
    }
    let mut figures = vec![0u8; msg.len()];
    t.recv(&mut figures)?;
    let word =
        |i: usize| u64::from_le_bytes(figures[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    Ok(Paced {
        latency_ns: [word(0), word(1), word(2), word(3)],
        behind,
        sent,
    })
}

/// The child: times each arrival against its stamp until the last, then
/// sends back p50, p99, p99.9 and max (ns) in the first 32 bytes.
pub(super) fn child<T: Transport>(t: &mut T, buf: &mut [u8]) -> Result<(), String> {
    let mut latency = histogram()?;
    loop {
        t.recv(buf)?;
        let now = now_ns();
        let intended = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
        latency.saturating_record(now.saturating_sub(intended).max(1));
        if buf[FLAG] == LAST {
            break;
        }
    }
    let figures = [0.5, 0.99, 0.999]
        .map(|q| latency.value_at_quantile(q))
        .into_iter()
        .chain([latency.max()]);
    buf.fill(0);
    for (i, v) in figures.enumerate() {
        buf[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    t.send(buf)?;
    t.flush()
}

/// The figures of one mechanism at the fixed rate.
#[derive(Clone, Debug, Serialize)]
pub struct FixedRateFigures {
    /// The mechanism.
    pub mechanism: Mechanism,
    /// Message size in bytes.
    pub size: usize,
    /// Messages per second offered.
    pub rate: u64,
    /// Messages asked for per run.
    pub messages: u64,
    /// Latency from the intended send time, p50 / p99 / p99.9: medians of
    /// the runs' percentiles, ns.
    pub latency_ns: [f64; 3],
    /// The largest latency of any run, ns.
    pub max_ns: f64,
    /// Messages sent, all runs (fewer than runs x messages when a run fell
    /// so far behind that it was cut short).
    pub sent: u64,
    /// Sends that started a period or more behind schedule, all runs.
    pub behind: u64,
    /// Runs.
    pub runs: usize,
    /// The cache-line probe before each run, ns.
    pub probe_ns: Vec<f64>,
}

impl FixedRateFigures {
    /// The median of the probes taken before its runs, nanoseconds.
    pub fn probe_median_ns(&self) -> f64 {
        median(&self.probe_ns)
    }
}

/// Runs [`MECHANISMS`] at [`RATE`], `runs` times interleaved (half a
/// second each, a tenth with `quick`), the probe before each run;
/// `progress` gets a line per run.
pub fn run(
    runs: usize,
    quick: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<FixedRateFigures>, String> {
    let messages = if quick { RATE / 10 } else { RATE / 2 };
    let mut results: Vec<(Vec<Paced>, Vec<f64>)> =
        MECHANISMS.iter().map(|_| Default::default()).collect();
    for run in 1..=runs {
        for (mechanism, (paced, probes)) in MECHANISMS.into_iter().zip(&mut results) {
            let probe = settled_cache_line_rtt_ns();
            progress(&format!(
                "fixed rate: run {run}/{runs}: {} at {} M msgs/s, {SIZE} B ({probe})",
                mechanism.name(),
                RATE as f64 / 1e6
            ));
            probes.push(probe.ns);
            let outcome = run_case(
                mechanism,
                SIZE,
                Mode::FixedRate { rate: RATE },
                messages,
                &mut |_| {},
            )?;
            paced.extend(outcome.paced);
        }
    }
    Ok(MECHANISMS
        .into_iter()
        .zip(results)
        .map(|(mechanism, (paced, probe_ns))| {
            let at = |i: usize| {
                median(
                    &paced
                        .iter()
                        .map(|p| p.latency_ns[i] as f64)
                        .collect::<Vec<_>>(),
                )
            };
            FixedRateFigures {
                mechanism,
                size: SIZE,
                rate: RATE,
                messages,
                latency_ns: [at(0), at(1), at(2)],
                max_ns: paced.iter().map(|p| p.latency_ns[3]).max().unwrap_or(0) as f64,
                sent: paced.iter().map(|p| p.sent).sum(),
                behind: paced.iter().map(|p| p.behind).sum(),
                runs: paced.len(),
                probe_ns,
            }
        })
        .collect())
}
