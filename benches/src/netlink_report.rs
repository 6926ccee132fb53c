//! The netlink part of the harness as printed: the route dump table and
//! the nfqueue table, the ringlink link in every mode it runs in here, each
//! figure with its ratio to the baselines of the same run (medians of the
//! runs' ratios), and the goals checked against the default mode.

use crate::netlink::{self, DumpFigures, Modes};
use crate::nfqueue::{self, NfqFigures, Way};
use serde::Serialize;

/// What the netlink part measured, for the JSON report.
#[derive(Serialize)]
pub struct NetlinkFigures {
    /// The route dumps.
    pub route_dump: DumpFigures,
    /// The nfqueue comparison, or why it was skipped.
    pub nfqueue: Result<NfqFigures, String>,
}

/// Runs the netlink part and prints its tables: shorter with `quick`,
/// `runs` runs of each case. `None` when not root (it says why it skips).
pub fn run(quick: bool, runs: usize) -> Result<Option<NetlinkFigures>, String> {
    println!();
    if !rustix::process::geteuid().is_root() {
        println!(
            "Netlink: skipped (the route dump and the nfqueue comparison run in a private network namespace, which needs root)"
        );
        return Ok(None);
    }
    let routes = if quick { 20_000 } else { 200_000 };
    let dump = netlink::route_dump(routes, runs, &mut |line| eprintln!("  {line}"))?;
    print_dump(&dump);
    println!();
    let nfqueue = match nfqueue::missing_tool() {
        Some(why) => {
            println!("Nfqueue: skipped ({why})");
            Err(why)
        }
        None => {
            let packets = if quick { 50_000 } else { 200_000 };
            let figures = nfqueue::compare(packets, runs, &mut |line| eprintln!("  {line}"))?;
            print_nfqueue(&figures);
            Ok(figures)
        }
    };
    Ok(Some(NetlinkFigures {
        route_dump: dump,
        nfqueue,
    }))
}

/// Prints the route dump table, the goals and the modes.
fn print_dump(f: &DumpFigures) {
    println!(
        "Netlink route dump, {} IPv4 routes in a private namespace (medians of {} dumps of each way; {}):",
        f.routes, f.dumps, f.host
    );
    println!();
    println!(
        "| way | routes/s | vs plain recv loop | vs plain loop, routes parsed | vs ip -j route show |"
    );
    println!("|---|---|---|---|---|");
    for (i, link) in f.links.iter().enumerate() {
        println!(
            "| ringlink link, {:?} mode{}, routes parsed | {:.2} M | {:.2} | {:.2} | {:.2} |",
            link.mode,
            if i == 0 { " (default)" } else { "" },
            link.routes_per_s / 1e6,
            link.vs_plain,
            link.vs_plain_parsed,
            link.vs_ip
        );
    }
    println!(
        "| plain 32 KiB recv loop, messages walked | {:.2} M | 1.00 | | |",
        f.plain / 1e6
    );
    println!(
        "| plain 32 KiB recv loop, routes parsed | {:.2} M | | 1.00 | |",
        f.plain_parsed / 1e6
    );
    println!("| ip -j route show | {:.2} M | | | 1.00 |", f.ip / 1e6);
    println!();
    if let Some(default) = f.links.first() {
        println!(
            "- default mode ({:?}) / plain recv loop: {:.2} (goal >= 0.95); / ip -j route show: {:.2} (goal >= 3)",
            default.mode, default.vs_plain, default.vs_ip
        );
        println!(
            "- default mode / plain loop parsing the same routes: {:.2} (the ring against plain recv doing the same work; the goal's plain loop parses nothing)",
            default.vs_plain_parsed
        );
    }
    print_modes(&f.modes);
}

/// Prints the nfqueue table, the goals and the modes.
fn print_nfqueue(f: &NfqFigures) {
    println!(
        "Nfqueue, {} UDP packets of {} B per consumer through an iptables-legacy NFQUEUE rule on lo in a private namespace, batch verdicts every {} packets or when drained (medians of {} runs; {}):",
        f.packets,
        nfqueue::PACKET,
        nfqueue::BATCH,
        f.runs,
        f.host
    );
    println!();
    println!(
        "| consumer | packets/s | receiver CPU/packet | receiver CPU | sender CPU | syscalls/packet | packets/s vs per-packet loop | CPU/packet vs plain batch loop |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let ratio = |r: Option<f64>| r.map_or(String::new(), |r| format!("{r:.2}"));
    for w in &f.ways {
        let syscalls = w
            .syscalls_per_packet
            .map_or("n/a".into(), |s| format!("{s:.3}"));
        println!(
            "| {} | {:.0} k | {:.2} µs | {:.0}% | {:.0}% | {syscalls} | {} | {} |",
            w.way.name(),
            w.packets_per_s / 1e3,
            w.cpu_per_packet * 1e6,
            w.cpu_share * 100.0,
            w.sender_share * 100.0,
            ratio(w.vs_per_packet),
            ratio(w.cpu_vs_plain_batch),
        );
    }
    println!();
    if let Some(default) = f.ways.first()
        && let Way::Ringlink(mode) = default.way
    {
        println!(
            "- default mode ({mode:?}) / per-packet loop, packets/s: {} (goal >= 1.8); / plain batch loop, receiver CPU per packet: {} (goal <= 1.0)",
            ratio(default.vs_per_packet),
            ratio(default.cpu_vs_plain_batch)
        );
        println!(
            "- default mode's packets per second of receiver CPU / the per-packet loop's: {} (what it would take from a sender that kept up; packets/s above is capped by the sender when its CPU is near 100%)",
            ratio(default.capacity_vs_per_packet)
        );
    }
    if let Some(plain) = f.ways.iter().find(|w| w.way == Way::PlainBatch) {
        println!(
            "- plain batch loop / per-packet loop, packets/s: {} (batch verdicts with no ring, the same kernel and sender: what batching alone reaches here)",
            ratio(plain.vs_per_packet)
        );
    }
    print_modes(&f.modes);
    if let Some(why) = &f.syscalls_unavailable {
        println!("- system calls not counted: {why}");
    }
}

/// Prints the default link's probe report and why the modes not measured
/// could not run.
fn print_modes(modes: &Modes) {
    println!("- a link opened with defaults runs in {}", modes.probe);
    for line in &modes.unavailable {
        println!("- not measured: {line}");
    }
}
