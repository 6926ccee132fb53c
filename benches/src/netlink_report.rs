//! The netlink part of the harness as printed: the route dump table and
//! the nfqueue table, each ringlink figure with its ratio to the baselines
//! of the same run.

use crate::nfqueue;

/// Runs the netlink part (as root; says why it skips otherwise) and prints
/// its tables: shorter with `quick`, `runs` runs of each case.
pub fn run(quick: bool, runs: usize) -> Result<(), String> {
    println!();
    if !rustix::process::geteuid().is_root() {
        println!(
            "Netlink: skipped (the route dump and the nfqueue comparison run in a private network namespace, which needs root)"
        );
        return Ok(());
    }
    let routes = if quick { 20_000 } else { 200_000 };
    let f = crate::netlink::route_dump(routes, runs, &mut |line| eprintln!("  {line}"))?;
    println!(
        "Netlink route dump, {} IPv4 routes in a private namespace (medians):",
        f.routes
    );
    println!();
    println!("| way | routes/s | ringlink vs it |");
    println!("|---|---|---|");
    println!(
        "| ringlink link, routes parsed | {:.2} M | 1.00 |",
        f.ringlink.0 / 1e6
    );
    println!(
        "| plain 32 KiB recv loop, messages walked | {:.2} M | {:.2} |",
        f.plain / 1e6,
        f.ringlink.0 / f.plain
    );
    println!(
        "| ip -j route show | {:.2} M | {:.2} |",
        f.ip / 1e6,
        f.ringlink.0 / f.ip
    );
    println!();
    println!(
        "- ringlink / plain recv loop, median of the runs' ratios: {:.2} (goal >= 0.95)",
        f.vs_plain
    );
    println!(
        "- ringlink / ip -j route show, median of the runs' ratios: {:.2} (goal >= 3)",
        f.vs_ip
    );
    println!("- ringlink ran in {}", f.ringlink.1);
    println!();
    match nfqueue::missing_tool() {
        Some(why) => println!("Nfqueue: skipped ({why})"),
        None => {
            let packets = if quick { 50_000 } else { 200_000 };
            print_nfqueue(&nfqueue::compare(packets, runs, &mut |line| {
                eprintln!("  {line}")
            })?);
        }
    }
    Ok(())
}

/// Prints the nfqueue table and its ratios.
fn print_nfqueue(f: &nfqueue::NfqFigures) {
    println!(
        "Nfqueue, {} UDP packets of {} B per consumer through an iptables-legacy NFQUEUE rule on lo in a private namespace, batch verdicts every {} packets or when drained (medians of {} runs):",
        f.packets,
        nfqueue::PACKET,
        nfqueue::BATCH,
        f.runs
    );
    println!();
    println!(
        "| consumer | packets/s | receiver CPU/packet | receiver CPU | syscalls/packet | ringlink vs it |"
    );
    println!("|---|---|---|---|---|---|");
    let ringlink = f.ways[nfqueue::Way::Ringlink as usize].packets_per_s;
    for w in &f.ways {
        let syscalls = w
            .syscalls_per_packet
            .map_or("n/a".into(), |s| format!("{s:.3}"));
        println!(
            "| {} | {:.0} k | {:.2} µs | {:.0}% | {syscalls} | {:.2} |",
            w.way.name(),
            w.packets_per_s / 1e3,
            w.cpu_per_packet * 1e6,
            w.cpu_share * 100.0,
            ringlink / w.packets_per_s
        );
    }
    println!();
    println!(
        "- ringlink / per-packet verdicts, packets/s, median of the runs' ratios: {:.2} (goal >= 1.8)",
        f.vs_per_packet
    );
    println!(
        "- ringlink / plain batch verdicts, receiver CPU per packet, median of the runs' ratios: {:.2} (goal <= 1.0)",
        f.cpu_vs_plain_batch
    );
    println!("- ringlink ran in {}", f.mode);
    if let Some(why) = &f.syscalls_unavailable {
        println!("- system calls not counted: {why}");
    }
}
