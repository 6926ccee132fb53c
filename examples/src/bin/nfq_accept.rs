//! Gives verdicts to the packets an iptables `NFQUEUE` rule queues:
//! accepts them, or drops UDP packets to one port, with one batch verdict
//! per run of accepted packets. Prints packets per second, verdict
//! messages per packet and system calls per packet every second (and at
//! the end). The system calls are this program's, all of them, counted by
//! the kernel (the `raw_syscalls:sys_enter` tracepoint, through the bench
//! harness's counter; needs root, else they are shown as n/a).
//!
//! ```text
//! iptables-legacy -A INPUT -p udp -j NFQUEUE --queue-num 0
//! cargo run --release -p ringlink-examples --bin nfq_accept -- --queue 0 [--drop-port 53] [--count N]
//! ```

use ringlink_benches::syscalls::SyscallCounter;
use ringlink_core::{FrameReceiver, FrameSender, LinkError};
use ringlink_netlink::message::Messages;
use ringlink_netlink::nfqueue::{self, FLAG_FAIL_OPEN, FLAG_GSO, Packet, Target, Verdict};
use ringlink_netlink::request::exchange;
use ringlink_netlink::socket::NETLINK_NETFILTER;
use ringlink_netlink::{NetlinkLink, NetlinkOptions};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: nfq_accept --queue N [--drop-port P] [--count N]";

struct Options {
    queue: u16,
    drop_port: Option<u16>,
    count: Option<u64>,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut queue, mut drop_port, mut count) = (None, None, None);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} takes a number; {USAGE}"));
        match arg.as_str() {
            "--queue" => queue = Some(ringlink_examples::number("--queue", &value("--queue")?)?),
            "--drop-port" => {
                drop_port = Some(ringlink_examples::number(
                    "--drop-port",
                    &value("--drop-port")?,
                )?);
            }
            "--count" => count = Some(ringlink_examples::count(&value("--count")?)?),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    Ok(Options {
        queue: queue.ok_or(USAGE)?,
        drop_port,
        count,
    })
}

/// Whether `packet` (an IPv4 or IPv6 packet) is UDP to `port`.
fn udp_to(packet: &[u8], port: u16) -> bool {
    let (proto, header) = match packet.first().map(|b| b >> 4) {
        Some(4) => (packet.get(9), usize::from(packet[0] & 0x0f) * 4),
        Some(6) => (packet.get(6), 40),
        _ => return false,
    };
    let dport = packet.get(header + 2..header + 4);
    proto == Some(&17) && dport == Some(&port.to_be_bytes()[..])
}

/// Sends one verdict for `target`.
fn verdict(link: &mut NetlinkLink, queue: u16, target: Target, v: Verdict) -> Result<(), String> {
    let mut frame = link
        .reserve()
        .map_err(|e| e.to_string())?
        .ok_or("no free transmit frame")?;
    let len =
        nfqueue::verdict_request(frame.buf(), queue, target, v, 0).map_err(|e| e.to_string())?;
    frame.commit(len).map_err(|e| e.to_string())?;
    link.flush().map_err(|e| e.to_string())
}

fn run() -> Result<(), String> {
    let options = options()?;
    let q = options.queue;
    let mut link = NetlinkLink::open(&NetlinkOptions {
        protocol: NETLINK_NETFILTER,
        rx_frames: 64,
        frame_message: 64 << 10,
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    eprintln!("ringlink netlink: {}", link.mode());
    let setup = [
        &(|b: &mut [u8], s| nfqueue::bind_request(b, q, s)) as &dyn Fn(&mut [u8], u32) -> _,
        &|b: &mut [u8], s| nfqueue::params_request(b, q, 0xffff, s),
        &|b: &mut [u8], s| {
            nfqueue::flags_request(
                b,
                q,
                FLAG_FAIL_OPEN | FLAG_GSO,
                FLAG_FAIL_OPEN | FLAG_GSO,
                s,
            )
        },
    ];
    for (seq, build) in (1..).zip(setup) {
        exchange(&mut link, seq, build, |_| Ok(()))
            .map_err(|e| format!("setting up queue {q} (is another program bound to it?): {e}"))?;
    }
    // Counts from here on: the calls made for packets, not for the setup.
    let mut syscalls = SyscallCounter::start(0)
        .inspect_err(|e| eprintln!("system calls not counted: {e}"))
        .ok();
    let mut counted = 0;
    eprintln!("queue {q}: bound; waiting for packets");
    let (mut packets, mut verdicts, mut total) = (0u64, 0u64, 0u64);
    let mut since = Instant::now();
    // The last packet accepted but not yet given its verdict.
    let mut pending: Option<u32> = None;
    while options.count.is_none_or(|n| total < n) {
        // Out of packets for now: the batch verdict for what was taken.
        if !link.poll().map_err(|e| e.to_string())? {
            if let Some(id) = pending.take() {
                verdict(&mut link, q, Target::UpTo(id), Verdict::Accept)?;
                verdicts += 1;
            }
            match link.wait_readable(Some(Duration::from_secs(1))) {
                Ok(_) => {}
                Err(LinkError::TimedOut { .. }) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        // Decisions in id order, made in place; sent once the frame is
        // released.
        let mut decided = Vec::new();
        if let Some(datagram) = link.next().map_err(|e| e.to_string())? {
            for msg in Messages::new(&datagram) {
                let msg = msg.map_err(|e| e.to_string())?;
                let packet = Packet::parse(&msg).map_err(|e| e.to_string())?;
                let drop = options.drop_port.is_some_and(|p| udp_to(packet.payload, p));
                decided.push((packet.id, drop));
            }
        }
        packets += decided.len() as u64;
        total += decided.len() as u64;
        for (id, drop) in decided {
            if !drop {
                pending = Some(id);
                continue;
            }
            // The accepted packets before it first, as one batch.
            if let Some(before) = pending.take() {
                verdict(&mut link, q, Target::UpTo(before), Verdict::Accept)?;
                verdicts += 1;
            }
            verdict(&mut link, q, Target::Packet(id), Verdict::Drop)?;
            verdicts += 1;
        }
        if since.elapsed() >= Duration::from_secs(1) || options.count.is_some_and(|n| total >= n) {
            let secs = since.elapsed().as_secs_f64();
            let per_packet = |n: u64| n as f64 / packets.max(1) as f64;
            // n/a when not countable, or when no packet came (idle calls).
            let calls = match syscalls.as_mut().map(SyscallCounter::read).transpose()? {
                Some(now) if packets > 0 => format!(
                    "{:.3}",
                    per_packet(now - std::mem::replace(&mut counted, now))
                ),
                Some(now) => {
                    counted = now;
                    "n/a".into()
                }
                None => "n/a".into(),
            };
            println!(
                "{:.0} packets/s, {:.3} verdict messages and {calls} system calls per packet ({total} packets so far)",
                packets as f64 / secs,
                per_packet(verdicts)
            );
            (packets, verdicts, since) = (0, 0, Instant::now());
        }
    }
    if let Some(id) = pending {
        verdict(&mut link, q, Target::UpTo(id), Verdict::Accept)?;
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    if ringlink_examples::help_asked(USAGE) {
        return std::process::ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nfq_accept: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
