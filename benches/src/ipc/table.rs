//! The IPC part as printed: the table of every mechanism at every size
//! with its ratios to the minimal ring of the same run, the ratio goals of
//! the memfd issue, and the fixed-rate table.

use super::fixed_rate::FixedRateFigures;
use super::{Figures, Mechanism};
use serde::Serialize;

/// One ratio of a ringlink figure to a baseline of the same run.
#[derive(Clone, Debug, Serialize)]
pub struct Ratio {
    /// What is divided by what.
    pub what: String,
    /// The ratio; `None` when a side was not measured.
    pub value: Option<f64>,
    /// The goal it is held to, if any.
    pub goal: Option<&'static str>,
}

fn find(figures: &[Figures], mechanism: Mechanism, size: usize) -> Option<&Figures> {
    figures
        .iter()
        .find(|f| f.mechanism == mechanism && f.size == size)
}

/// The ratios of ringlink's figures to the baselines of the same run: the
/// memfd issue's goals first, then ringlink against each other mechanism.
pub fn ratios(figures: &[Figures]) -> Vec<Ratio> {
    use Mechanism::*;
    let fig = |m, s| find(figures, m, s);
    let rtt = |a: &Figures, b: &Figures| a.rtt_ns[0] / b.rtt_ns[0];
    let rate = |a: &Figures, b: &Figures| a.msgs_per_s / b.msgs_per_s;
    let mut out = Vec::new();
    let ratio = |out: &mut Vec<Ratio>,
                 what: String,
                 a: Option<&Figures>,
                 b: Option<&Figures>,
                 f: &dyn Fn(&Figures, &Figures) -> f64,
                 goal: Option<&'static str>| {
        out.push(Ratio {
            what,
            value: a.zip(b).map(|(a, b)| f(a, b)),
            goal,
        })
    };
    let kib64 = 64 << 10;
    ratio(
        &mut out,
        "64 B RTT p50, ringlink spin / minimal shm ring".into(),
        fig(RinglinkSpin, 64),
        fig(ShmRing, 64),
        &rtt,
        Some("<= 1.5"),
    );
    ratio(
        &mut out,
        "64 B msgs/s, ringlink spin / minimal shm ring".into(),
        fig(RinglinkSpin, 64),
        fig(ShmRing, 64),
        &rate,
        Some(">= 0.5"),
    );
    ratio(
        &mut out,
        "64 B msgs/s, ringlink spin / unix stream socket".into(),
        fig(RinglinkSpin, 64),
        fig(UnixStream, 64),
        &rate,
        Some(">= 50"),
    );
    ratio(
        &mut out,
        "64 KiB GB/s, ringlink spin / minimal shm ring".into(),
        fig(RinglinkSpin, kib64),
        fig(ShmRing, kib64),
        &rate,
        Some(">= 0.8"),
    );
    // The default link (a short spin, then sleep), beside the busy-polling
    // one the goal is judged on: what a link opened with defaults moves.
    ratio(
        &mut out,
        "64 KiB GB/s, ringlink blocking (the default) / minimal shm ring".into(),
        fig(RinglinkBlocking, kib64),
        fig(ShmRing, kib64),
        &rate,
        None,
    );
    ratio(
        &mut out,
        "64 B msgs/s, ringlink blocking / ringlink spin".into(),
        fig(RinglinkBlocking, 64),
        fig(RinglinkSpin, 64),
        &rate,
        Some(">= 0.5"),
    );
    out.push(Ratio {
        what: "64 B syscalls per message, ringlink blocking".into(),
        value: fig(RinglinkBlocking, 64).and_then(|f| f.syscalls_per_msg),
        goal: Some("< 0.01"),
    });
    for other in [Iceoryx2, UnixSeqpacket, Pipe] {
        for size in [64, kib64] {
            let label = if size == 64 { "64 B" } else { "64 KiB" };
            ratio(
                &mut out,
                format!("{label} RTT p50, ringlink spin / {}", other.name()),
                fig(RinglinkSpin, size),
                fig(other, size),
                &rtt,
                None,
            );
            ratio(
                &mut out,
                format!("{label} msgs/s, ringlink spin / {}", other.name()),
                fig(RinglinkSpin, size),
                fig(other, size),
                &rate,
                None,
            );
        }
    }
    out
}

/// Prints the table and the ratios.
pub fn print(figures: &[Figures]) {
    println!(
        "Between two processes (medians; round trips from all runs, msgs/s the median of every one-way case; probe: cache-line round trip before each case, median):"
    );
    println!();
    println!(
        "| mechanism | size | probe | RTT p50 | RTT p99 | RTT p99.9 | msgs/s | GB/s | syscalls/msg | p50 vs shm ring | msgs/s vs shm ring |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for f in figures {
        let syscalls = f
            .syscalls_per_msg
            .map_or("n/a".into(), |s| format!("{s:.4}"));
        let (p50, rate) =
            find(figures, Mechanism::ShmRing, f.size).map_or(("n/a".into(), "n/a".into()), |b| {
                (
                    format!("{:.2}", f.rtt_ns[0] / b.rtt_ns[0]),
                    format!("{:.3}", f.msgs_per_s / b.msgs_per_s),
                )
            });
        println!(
            "| {} | {} | {:.0} ns | {:.2} µs | {:.2} µs | {:.2} µs | {:.2} M | {:.2} | {syscalls} | {p50} | {rate} |",
            f.mechanism.name(),
            f.size,
            f.probe_median_ns(),
            f.rtt_ns[0] / 1e3,
            f.rtt_ns[1] / 1e3,
            f.rtt_ns[2] / 1e3,
            f.msgs_per_s / 1e6,
            f.gb_per_s(),
        );
    }
    for f in figures.iter().filter(|f| f.cut_short > 0) {
        println!(
            "- {} at {} B: {} of its round-trip and one-way runs cut short at the {} s limit (see the probe)",
            f.mechanism.name(),
            f.size,
            f.cut_short,
            super::case::LIMIT.as_secs()
        );
    }
    println!();
    println!("Ratios against baselines measured in this run:");
    for r in ratios(figures) {
        let goal = r.goal.map_or(String::new(), |g| format!(" (goal {g})"));
        match r.value {
            Some(v) => println!("- {}: {v:.2}{goal}", r.what),
            None => println!("- {}: not measured", r.what),
        }
    }
    println!();
}

/// Prints the fixed-rate table, ringlink against the minimal ring.
pub fn print_fixed_rate(figures: &[FixedRateFigures]) {
    let Some(first) = figures.first() else {
        return;
    };
    println!(
        "Fixed rate, {:.1} M msgs/s offered, {} B, latency from the intended send time (medians of {} runs of {} messages):",
        first.rate as f64 / 1e6,
        first.size,
        first.runs,
        first.messages
    );
    println!();
    println!(
        "| mechanism | probe | p50 | p99 | p99.9 | max | sends behind schedule | p99 vs shm ring |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let baseline = figures.iter().find(|f| f.mechanism == Mechanism::ShmRing);
    for f in figures {
        let vs = baseline.map_or("n/a".into(), |b| {
            format!("{:.2}", f.latency_ns[1] / b.latency_ns[1])
        });
        println!(
            "| {} | {:.0} ns | {:.2} µs | {:.2} µs | {:.2} µs | {:.1} µs | {} of {} | {vs} |",
            f.mechanism.name(),
            f.probe_median_ns(),
            f.latency_ns[0] / 1e3,
            f.latency_ns[1] / 1e3,
            f.latency_ns[2] / 1e3,
            f.max_ns / 1e3,
            f.behind,
            f.sent,
        );
    }
    println!();
}
