//! `cargo run --release -p ringlink-benches`: ringlink's comparative
//! benchmark. Every figure is compared with a baseline measured in the same
//! run (the machines these run on are noisy): medians, and ratios.
//!
//! - in process: the core ring against a minimal SPSC ring, two threads;
//! - between processes: memfd links against a minimal shared-memory ring
//!   and a Unix stream socket, round trips and one-way throughput;
//! - netlink (as root): route dumps against a plain recv loop and `ip`,
//!   and nfqueue verdicts through the ringlink link against plain recv
//!   loops (with `iptables-legacy`).

use ringlink_benches::inproc::{self, MESSAGE};
use ringlink_benches::ipc::{self, Figures, Mechanism};
use ringlink_benches::stats::median;
use std::process::ExitCode;

const USAGE: &str =
    "usage: ringlink-benches [--quick] [--only inproc|ipc|netlink] [--runs N] [--messages N]";

/// Command-line options.
struct Options {
    /// Messages per in-process run.
    messages: u64,
    /// Runs per case (alternating, so drift hits all alike).
    runs: usize,
    /// Shorter runs.
    quick: bool,
    /// Which part to run: `None` for all.
    only: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        messages: 20_000_000,
        runs: 5,
        quick: false,
        only: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or(format!("{name} needs a value; {USAGE}"))?
                .parse::<u64>()
                .map_err(|e| format!("{name}: {e}"))
        };
        match arg.as_str() {
            "--messages" => options.messages = value("--messages")?.max(1),
            "--runs" => options.runs = value("--runs")?.max(1) as usize,
            "--quick" => {
                options.quick = true;
                options.messages = 2_000_000;
                options.runs = 3;
            }
            "--only" => match args.next().map(String::as_str) {
                Some(part @ ("inproc" | "ipc" | "netlink")) => {
                    options.only = Some(part.to_string())
                }
                other => {
                    return Err(format!(
                        "--only takes inproc, ipc or netlink, not {other:?}"
                    ));
                }
            },
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some(ipc::CHILD_FLAG) => ipc::child_main(&args[1..]),
        _ => parse_args(&args).and_then(|options| run(&options)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringlink-benches: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> Result<(), String> {
    let wants = |part: &str| options.only.as_deref().is_none_or(|only| only == part);
    if wants("inproc") {
        in_process(options);
    }
    if wants("ipc") {
        let sizes = [64, 1024, 64 << 10];
        let figures = ipc::run(&sizes, options.runs.min(3), options.quick, &mut |line| {
            eprintln!("  {line}")
        })?;
        print_ipc(&figures);
    }
    if wants("netlink") {
        ringlink_benches::netlink_report::run(options.quick, options.runs)?;
    }
    Ok(())
}

fn in_process(options: &Options) {
    println!(
        "In process: two threads, {MESSAGE}-byte messages, {} frames, {} messages x {} runs each",
        inproc::FRAMES,
        options.messages,
        options.runs
    );
    let (mut core, mut minimal) = (Vec::new(), Vec::new());
    for run in 1..=options.runs {
        let c = inproc::rate(options.messages, inproc::core_ring(options.messages));
        let m = inproc::rate(options.messages, inproc::minimal_ring(options.messages));
        eprintln!(
            "  inproc: run {run}/{}: core ring {:.1} M msgs/s, minimal ring {:.1} M msgs/s",
            options.runs,
            c / 1e6,
            m / 1e6
        );
        core.push(c);
        minimal.push(m);
    }
    let (core, minimal) = (median(&core), median(&minimal));
    println!();
    println!("| ring (64 B, 2 threads) | median msgs/s | vs minimal |");
    println!("|---|---|---|");
    println!(
        "| minimal SPSC ring (baseline) | {:.1} M | 1.00 |",
        minimal / 1e6
    );
    println!(
        "| ringlink core ring | {:.1} M | {:.2} |",
        core / 1e6,
        core / minimal
    );
    println!();
}

fn find(figures: &[Figures], mechanism: Mechanism, size: usize) -> Option<&Figures> {
    figures
        .iter()
        .find(|f| f.mechanism == mechanism && f.size == size)
}

fn print_ipc(figures: &[Figures]) {
    println!("Between two processes (medians; round trips from all runs):");
    println!();
    println!("| mechanism | size | RTT p50 | RTT p99 | RTT p99.9 | msgs/s | GB/s | syscalls/msg |");
    println!("|---|---|---|---|---|---|---|---|");
    for f in figures {
        let syscalls = f
            .syscalls_per_msg
            .map_or("n/a".into(), |s| format!("{s:.4}"));
        println!(
            "| {} | {} | {:.2} µs | {:.2} µs | {:.2} µs | {:.2} M | {:.2} | {syscalls} |",
            f.mechanism.name(),
            f.size,
            f.rtt_ns[0] / 1e3,
            f.rtt_ns[1] / 1e3,
            f.rtt_ns[2] / 1e3,
            f.msgs_per_s / 1e6,
            f.gb_per_s(),
        );
    }
    println!();
    println!("Ratios against baselines measured in this run:");
    let ratio = |what: &str, value: Option<f64>, goal: &str| match value {
        Some(v) => println!("- {what}: {v:.2} (goal {goal})"),
        None => println!("- {what}: not measured"),
    };
    let fig = |m, s| find(figures, m, s);
    let (spin, block, shm, unix) = (
        Mechanism::RinglinkSpin,
        Mechanism::RinglinkBlocking,
        Mechanism::ShmRing,
        Mechanism::UnixStream,
    );
    let both = |a: Option<&Figures>, b: Option<&Figures>, f: fn(&Figures, &Figures) -> f64| {
        a.zip(b).map(|(a, b)| f(a, b))
    };
    ratio(
        "64 B RTT p50, ringlink spin / minimal shm ring",
        both(fig(spin, 64), fig(shm, 64), |a, b| {
            a.rtt_ns[0] / b.rtt_ns[0]
        }),
        "<= 1.5",
    );
    ratio(
        "64 B msgs/s, ringlink spin / minimal shm ring",
        both(fig(spin, 64), fig(shm, 64), |a, b| {
            a.msgs_per_s / b.msgs_per_s
        }),
        ">= 0.5",
    );
    ratio(
        "64 B msgs/s, ringlink spin / unix socket",
        both(fig(spin, 64), fig(unix, 64), |a, b| {
            a.msgs_per_s / b.msgs_per_s
        }),
        ">= 50",
    );
    ratio(
        "64 KiB GB/s, ringlink spin / minimal shm ring",
        both(fig(spin, 64 << 10), fig(shm, 64 << 10), |a, b| {
            a.gb_per_s() / b.gb_per_s()
        }),
        ">= 0.8",
    );
    ratio(
        "64 B msgs/s, ringlink blocking / ringlink spin",
        both(fig(block, 64), fig(spin, 64), |a, b| {
            a.msgs_per_s / b.msgs_per_s
        }),
        ">= 0.5",
    );
    ratio(
        "64 B syscalls per message, ringlink blocking",
        fig(block, 64).and_then(|f| f.syscalls_per_msg),
        "< 0.01",
    );
}
