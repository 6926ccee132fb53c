//! `cargo run --release -p ringlink-benches`: ringlink's comparative
//! benchmark. At this stage it compares the core ring with a minimal SPSC
//! ring, in process, two threads, 64-byte messages, and prints both rates
//! and their ratio (medians of several runs, both measured in this run).

use ringlink_benches::inproc::{self, MESSAGE};
use ringlink_benches::stats::median;
use std::process::ExitCode;

/// Command-line options.
struct Options {
    /// Messages per run.
    messages: u64,
    /// Runs per ring (alternating, so drift hits both alike).
    runs: usize,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        messages: 20_000_000,
        runs: 7,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or(format!("{name} needs a value"))?
                .parse::<u64>()
                .map_err(|e| format!("{name}: {e}"))
        };
        match arg.as_str() {
            "--messages" => options.messages = value("--messages")?.max(1),
            "--runs" => options.runs = value("--runs")?.max(1) as usize,
            "--quick" => {
                options.messages = 2_000_000;
                options.runs = 3;
            }
            "-h" | "--help" => {
                return Err("usage: ringlink-benches [--quick] [--messages N] [--runs N]".into());
            }
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "ringlink in-process comparison: two threads, {MESSAGE}-byte messages, {} frames, {} messages x {} runs each",
        inproc::FRAMES,
        options.messages,
        options.runs
    );
    let (mut core, mut minimal) = (Vec::new(), Vec::new());
    for run in 1..=options.runs {
        let c = inproc::rate(options.messages, inproc::core_ring(options.messages));
        let m = inproc::rate(options.messages, inproc::minimal_ring(options.messages));
        eprintln!(
            "  run {run}/{}: core ring {:.1} M msgs/s, minimal ring {:.1} M msgs/s",
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
    ExitCode::SUCCESS
}
