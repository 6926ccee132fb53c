//! `cargo run --release -p ringlink-benches`: ringlink's comparative
//! benchmark. Every figure is compared with a baseline measured in the same
//! run (the machines these run on are noisy): medians, and ratios.
//!
//! - in process: the core ring against a minimal SPSC ring, two threads;
//! - between processes: memfd links against a minimal shared-memory ring,
//!   iceoryx2, Unix stream and seqpacket sockets and pipes, round trips and
//!   one-way throughput, then a fixed-rate latency run; a cache-line
//!   ping-pong probe before each case;
//! - netlink (as root): route dumps against a plain recv loop and `ip`,
//!   and nfqueue verdicts through the ringlink link against plain recv
//!   loops (with `iptables-legacy`).
//!
//! Every figure with the probes, the machine and the versions is written as
//! JSON, and a picture of them next to it (`.svg`): to [`DEFAULT_JSON`],
//! or to `--json PATH`; both paths are printed at the end.

use ringlink_benches::inproc::{self, MESSAGE};
use ringlink_benches::ipc;
use ringlink_benches::probe::{cache_line_rtt_ns, shown};
use ringlink_benches::report::{InprocFigures, IpcReport, Report, RunOptions};
use ringlink_benches::stats::median;
use std::path::PathBuf;
use std::process::ExitCode;

/// Where the report goes without `--json`: beside the build, relative to
/// the directory the harness runs in (the workspace, under `cargo run`).
const DEFAULT_JSON: &str = "target/ringlink-benches/results.json";

const USAGE: &str = "usage: ringlink-benches [--quick] [--only inproc|memfd|netlink] [--runs N] [--messages N] [--json PATH]";

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
    /// Where to write the JSON report (and the picture beside it).
    json: PathBuf,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        messages: 20_000_000,
        runs: 5,
        quick: false,
        only: None,
        json: PathBuf::from(DEFAULT_JSON),
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
                // The two-process part is the memfd transport's comparison.
                Some("memfd") => options.only = Some("ipc".to_string()),
                other => {
                    return Err(format!(
                        "--only takes inproc, memfd (or ipc) or netlink, not {:?}",
                        other.unwrap_or("nothing")
                    ));
                }
            },
            "--json" => match args.next() {
                Some(path) => options.json = PathBuf::from(path),
                None => return Err(format!("--json needs a path; {USAGE}")),
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
    let mut report = Report::new(RunOptions {
        quick: options.quick,
        runs: options.runs,
        messages: options.messages,
        only: options.only.clone(),
    });
    let progress = &mut |line: &str| eprintln!("  {line}");
    if wants("inproc") {
        report.inproc = Some(in_process(options));
    }
    if wants("ipc") {
        let sizes = [64, 1024, 64 << 10];
        let runs = options.runs.min(3);
        let cases = ipc::run(&sizes, runs, options.quick, progress)?;
        ipc::table::print(&cases);
        let fixed_rate = ipc::fixed_rate::run(runs, options.quick, progress)?;
        ipc::table::print_fixed_rate(&fixed_rate);
        report.ipc = Some(IpcReport {
            ratios: ipc::table::ratios(&cases),
            cases,
            fixed_rate,
        });
    }
    if wants("netlink")
        && let Some(figures) = ringlink_benches::netlink_report::run(options.quick, options.runs)?
    {
        report.set_netlink(&figures)?;
    }
    let path = &options.json;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let svg = report.write(path)?;
    println!();
    println!("Figures: {}", path.display());
    println!("Picture: {}", svg.display());
    Ok(())
}

fn in_process(options: &Options) -> InprocFigures {
    let probe_ns = cache_line_rtt_ns();
    println!(
        "In process: two threads, {MESSAGE}-byte messages, {} frames, {} messages x {} runs each (cache-line probe {})",
        inproc::FRAMES,
        options.messages,
        options.runs,
        shown(probe_ns)
    );
    let (mut core, mut minimal) = (Vec::new(), Vec::new());
    for run in 1..=options.runs {
        let (elapsed, moved) = inproc::core_ring_within(options.messages, inproc::LIMIT);
        let c = inproc::rate(moved, elapsed);
        let (elapsed, moved) = inproc::minimal_ring_within(options.messages, inproc::LIMIT);
        let m = inproc::rate(moved, elapsed);
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
    InprocFigures {
        messages: options.messages,
        runs: options.runs,
        core_msgs_per_s: core,
        minimal_msgs_per_s: minimal,
        core_vs_minimal: core / minimal,
        probe_ns,
    }
}
