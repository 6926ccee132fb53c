//! The host probes, run before each case and recorded with it:
//!
//! - the cache-line ping-pong probe: two threads bounce one cache line and
//!   the median round trip says how far apart the host placed its vCPUs
//!   right now (about 80 ns when they are close, several times that when
//!   the host has moved them), so a figure is only ever compared with
//!   baselines measured under the same placement;
//! - the system-call probe: what one system call costs on this host right
//!   now. The netlink goals compare ways that make fewer system calls
//!   with ways that make more, so their ratios shrink on a host where
//!   system calls are cheap (e.g. one without speculation mitigations).

use crossbeam_utils::CachePadded;
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};
use std::time::{Duration, Instant};

/// A placement is taken as settled when its probe is within this factor
/// of the lower quartile of the run's probes so far (a placement the host
/// often uses), or below [`SETTLED_FLOOR_NS`].
const SETTLED_WITHIN: f64 = 2.0;
/// Probes below this always count as settled: vCPUs sharing a core probe
/// at a third of neighbouring cores, which must not make those look far.
const SETTLED_FLOOR_NS: f64 = 150.0;
/// Pause between two probes while waiting for a settled placement.
const SETTLE_PAUSE: Duration = Duration::from_millis(100);
/// Probes at most while waiting (about two seconds).
const SETTLE_TRIES: u32 = 20;
/// Probes a run gathers before it judges a placement.
const CALIBRATION: usize = 6;

/// Every probe of this run so far.
static PROBES: Mutex<Vec<f64>> = Mutex::new(Vec::new());

/// A probe taken once the host's placement of the vCPUs has settled.
#[derive(Clone, Copy, Debug)]
pub struct Settled {
    /// The last probe, nanoseconds.
    pub ns: f64,
    /// Probes that came out far (see [`settled_cache_line_rtt_ns`]) and
    /// were waited out before it.
    pub waited: u32,
}

impl std::fmt::Display for Settled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cache-line probe {:.0} ns", self.ns)?;
        if self.waited > 0 {
            write!(f, ", after waiting out {} far placements", self.waited)?;
        }
        Ok(())
    }
}

/// [`cache_line_rtt_ns`], repeated after a pause while it comes out far:
/// above both 150 ns and twice the lower quartile of this
/// run's probes (the host has put the vCPUs far apart for a while), for
/// about two seconds at most. Cases run after it
/// meet the placement the mechanisms are compared under, not the one the
/// host happens to switch to; what was waited out is reported.
pub fn settled_cache_line_rtt_ns() -> Settled {
    let mut waited = 0;
    loop {
        let ns = cache_line_rtt_ns();
        let judged = {
            let mut probes = PROBES
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            judge(&mut probes, ns)
        };
        match judged {
            Some(true) => return Settled { ns, waited },
            _ if waited == SETTLE_TRIES => return Settled { ns, waited },
            Some(false) => waited += 1,
            None => {}
        }
        std::thread::sleep(SETTLE_PAUSE);
    }
}

/// Adds probe `ns` to the run's `probes` and judges it: `None` while the
/// run has too few probes to say what its usual placement is (the host
/// may be in a far one right then), else whether `ns` is near: below
/// [`SETTLED_FLOOR_NS`] or within [`SETTLED_WITHIN`] of the lower quartile.
fn judge(probes: &mut Vec<f64>, ns: f64) -> Option<bool> {
    probes.push(ns);
    probes.sort_by(f64::total_cmp);
    let near = probes[probes.len() / 4];
    (probes.len() >= CALIBRATION).then(|| ns <= (SETTLED_WITHIN * near).max(SETTLED_FLOOR_NS))
}

/// A round trip past this, in nanoseconds, means the echoing thread
/// hardly ran (the host had taken its vCPU away), not a far placement.
const HARDLY_RAN_NS: f64 = 1e6;

/// A cache-line probe as reports print it: "119 ns", or, when the other
/// thread hardly ran, the time in milliseconds and why it is no
/// placement figure.
pub fn shown(ns: f64) -> String {
    if ns < HARDLY_RAN_NS {
        format!("{ns:.0} ns")
    } else {
        format!("{:.1} ms: the other vCPU hardly ran", ns / 1e6)
    }
}

/// Round trips timed together (one sample).
const PER_SAMPLE: u32 = 50;
/// Samples at most.
const SAMPLES: usize = 200;
/// The probe stops after this long, even in the middle of a sample: when
/// the other thread rarely runs, each round trip can take a scheduler tick.
const BUDGET: Duration = Duration::from_millis(20);
/// How long the echoing thread may take to start.
const START: Duration = Duration::from_millis(200);
/// Tells the echoing thread to stop (odd, so it is seen as a ball).
const STOP: u64 = u64::MAX;

/// Median round trip, in nanoseconds, of one cache line bounced between
/// two threads: a few milliseconds, `BUDGET` at most. When the other
/// thread hardly ran, the figure is the average of the round trips that
/// completed in the budget. Callable from any part of the harness.
pub fn cache_line_rtt_ns() -> f64 {
    let line = CachePadded::new(AtomicU64::new(0));
    let mut samples = Vec::with_capacity(SAMPLES);
    let mut start = Instant::now();
    let mut bounced = 0u64;
    std::thread::scope(|s| {
        s.spawn(|| echo(&line));
        let mut ball = 0u64;
        // Let the echoing thread start before timing.
        if !bounce(&line, &mut ball, start + START) {
            line.store(STOP, Release);
            return;
        }
        start = Instant::now();
        let deadline = start + BUDGET;
        'sampling: while samples.len() < SAMPLES {
            let t = Instant::now();
            for _ in 0..PER_SAMPLE {
                if !bounce(&line, &mut ball, deadline) {
                    break 'sampling;
                }
                bounced += 1;
            }
            samples.push(t.elapsed().as_nanos() as f64 / f64::from(PER_SAMPLE));
        }
        line.store(STOP, Release);
    });
    if samples.is_empty() {
        // Not one sample in the budget: the average of what completed.
        return start.elapsed().as_nanos() as f64 / bounced.max(1) as f64;
    }
    crate::stats::median(&samples)
}

/// One round trip: serve an odd ball, wait for it to come back even;
/// `false` if `deadline` passed first.
fn bounce(line: &AtomicU64, ball: &mut u64, deadline: Instant) -> bool {
    line.store(*ball + 1, Release);
    let mut spins = 0u32;
    while line.load(Acquire) != *ball + 2 {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(4096) && Instant::now() > deadline {
            return false;
        }
    }
    *ball += 2;
    true
}

/// The other thread: returns every odd ball as the next even one (by
/// compare-and-swap, so a STOP stored meanwhile is never overwritten).
fn echo(line: &AtomicU64) {
    loop {
        let ball = line.load(Acquire);
        if ball == STOP {
            return;
        }
        if ball % 2 == 1 {
            let _ = line.compare_exchange(ball, ball + 1, AcqRel, Acquire);
        }
        std::hint::spin_loop();
    }
}

/// System calls timed together (one sample of [`syscall_ns`]).
const CALLS_PER_SAMPLE: u32 = 1000;
/// Samples of [`syscall_ns`].
const CALL_SAMPLES: usize = 31;

/// Median cost, in nanoseconds, of one `getppid` system call (which does
/// next to nothing in the kernel, so it measures entering and leaving
/// it), over 31 samples of 1000 calls each: a
/// few milliseconds.
pub fn syscall_ns() -> f64 {
    let samples: Vec<f64> = (0..CALL_SAMPLES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..CALLS_PER_SAMPLE {
                std::hint::black_box(rustix::process::getppid());
            }
            t.elapsed().as_nanos() as f64 / f64::from(CALLS_PER_SAMPLE)
        })
        .collect();
    crate::stats::median(&samples)
}

/// Both probes, taken together before a netlink case.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Host {
    /// The cache-line ping-pong probe, in nanoseconds.
    pub probe_ns: f64,
    /// The system-call probe, in nanoseconds.
    pub syscall_ns: f64,
}

impl Host {
    /// Takes both probes.
    pub fn probe() -> Host {
        Host {
            probe_ns: cache_line_rtt_ns(),
            syscall_ns: syscall_ns(),
        }
    }
}

impl std::fmt::Display for Host {
    /// "cache-line probe 119 ns; a system call 72 ns".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (probe, calls) = (shown(self.probe_ns), self.syscall_ns);
        write!(f, "cache-line probe {probe}; a system call {calls:.0} ns")
    }
}

#[cfg(test)]
mod tests {
    use super::judge;

    #[test]
    fn far_placements_are_told_from_near_ones_once_the_run_knows_its_usual_one() {
        let mut probes = Vec::new();
        // Calibration: no verdict on the first probes, far or not.
        for ns in [450.0, 80.0, 460.0, 82.0, 79.0] {
            assert_eq!(judge(&mut probes, ns), None);
        }
        assert_eq!(judge(&mut probes, 85.0), Some(true));
        assert_eq!(
            judge(&mut probes, 455.0),
            Some(false),
            "far: over 2x and 150 ns"
        );
        assert_eq!(judge(&mut probes, 150.0), Some(true), "under the floor");
        // vCPUs sharing a core pull the quartile down; neighbours stay near.
        for _ in 0..10 {
            judge(&mut probes, 35.0);
        }
        assert_eq!(judge(&mut probes, 90.0), Some(true));
        assert_eq!(judge(&mut probes, 400.0), Some(false));
    }

    #[test]
    fn a_probe_whose_other_thread_hardly_ran_says_so() {
        assert_eq!(super::shown(119.4), "119 ns");
        assert_eq!(
            super::shown(6_737_722.0),
            "6.7 ms: the other vCPU hardly ran"
        );
    }

    #[test]
    fn syscall_probe_times_real_calls() {
        // A system call takes tens of nanoseconds at the very least; a
        // loop the compiler had dropped would time at under one.
        let ns = super::syscall_ns();
        assert!(ns > 10.0 && ns < 1e6, "{ns}");
    }

    #[test]
    fn probe_gives_a_positive_round_trip() {
        let ns = super::cache_line_rtt_ns();
        assert!(ns > 0.0 && ns.is_finite(), "{ns}");
    }
}
