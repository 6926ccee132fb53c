//! nfnetlink_queue: UDP packets an iptables `NFQUEUE` rule hands to user
//! space, given their verdicts by several consumers in a private network
//! namespace the harness creates and removes. Needs root and
//! `iptables-legacy`.
//!
//! The consumers, each for the same number of packets:
//!
//! - the ringlink link, in every mode it runs in here (the default
//!   first): datagrams read from its receive ring, packets parsed in
//!   place, one batch verdict ([`Target::UpTo`]) every [`BATCH`] packets
//!   and whenever the ring is drained;
//! - a plain recv loop with one verdict `send` per packet;
//! - a plain recv loop with batch verdicts at the ringlink link's cadence
//!   (non-blocking recv; when it finds nothing, the verdict, then a
//!   blocking recv).
//!
//! Each is measured for packets per second and its CPU time per packet:
//! the process's CPU time (`CLOCK_PROCESS_CPUTIME_ID`, user and system)
//! less the sender thread's (`CLOCK_THREAD_CPUTIME_ID`), so that the
//! receiving thread and any worker threads io_uring runs for it are all
//! counted; it includes the kernel's work on each accepted packet, done in
//! the thread that sends the verdict. Then, in a run of its own (an
//! enabled syscall tracepoint slows every system call), the receiving
//! thread's system calls per packet, counted with the
//! `raw_syscalls:sys_enter` tracepoint (io_uring's worker threads make
//! none).
//!
//! How the consumer's capacity is measured: a sender thread in the
//! namespace sends [`PACKET`]-byte datagrams to `127.0.0.1`, as fast as it
//! can, through a rule on the OUTPUT hook. It hands the kernel
//! [`SEND_BATCH`] packets per blocking `send` and has it cut them into
//! datagrams (`UDP_SEGMENT`): the rule sees one segmentation-offload
//! packet, and the queue, told nothing of offloads, cuts it into
//! [`PACKET`]-byte datagrams and queues each on its own, to be given its
//! own verdict. A sender building each datagram itself (`sendmmsg`) spent
//! over 90% of its CPU in the UDP output path and the queueing, and it,
//! not the consumer, bounded packets/s. A
//! queued packet still holds its share of the sending socket's send buffer
//! (its skb is not orphaned before the loopback device), so the sender
//! blocks once packets worth twice [`SEND_BUFFER`] bytes (the kernel
//! doubles the size asked for) wait for verdicts — a few hundred packets
//! of this size, under the queue's default limit of 1024: the send
//! buffer is the window, nothing is dropped, and the sender keeps the
//! queue non-empty. Accepted packets are dropped by an INPUT rule (no
//! socket and no ICMP errors to pay for). A lost packet would show as a
//! consumer stalled for [`STALL`], reported with the queue's counters.

use crate::netlink::{Modes, modes, paired};
use crate::netns::Netns;
use crate::stats::{median, round_order};
use crate::syscalls::SyscallCounter;
use ringlink_core::{FrameReceiver, FrameSender};
use ringlink_netlink::message::{Full, Messages};
use ringlink_netlink::nfqueue::{self, Packet, Target, Verdict};
use ringlink_netlink::request::exchange;
use ringlink_netlink::socket::{NETLINK_NETFILTER, NetlinkSocket};
use ringlink_netlink::{Mode, NetlinkLink, NetlinkOptions};
use rustix::time::ClockId;
use serde::Serialize;
use std::net::UdpSocket;
use std::process::Command;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// UDP payload bytes per packet.
pub const PACKET: usize = 1400;
/// Packets per batch verdict (a batch also ends when nothing is queued).
pub const BATCH: usize = 25;
/// The sender's send buffer, asked for with `SO_SNDBUFFORCE` (the kernel
/// doubles it): the number of bytes of packets waiting for verdicts.
pub const SEND_BUFFER: usize = 256 << 10;
/// How long a consumer waits for a packet before it reports a stall.
pub const STALL: Duration = Duration::from_secs(5);
/// The queue the rule feeds.
const QUEUE: u16 = 7;
/// The UDP port the rules match.
const PORT: u16 = 5555;
/// Packet bytes copied to user space: whole packets.
const COPY_RANGE: u32 = 0xffff;
/// The largest datagram the kernel sends a consumer: a whole packet and
/// its metadata.
const DATAGRAM_MAX: usize = (64 << 10) + 1024;
/// Datagrams per `recvmmsg` of the ringlink link in copy mode: queued
/// packets are small next to a frame, so more per call saves calls.
const RECEIVE_BATCH: usize = 16;
/// Receive frames of the ringlink link: a queued packet takes a frame of
/// its own, so many are in flight (as in `nfq_accept`).
const RX_FRAMES: u32 = 64;
/// Datagrams per `send` of the sender (kernels since 4.18 take 64).
pub const SEND_BATCH: usize = 32;
/// Writes a request with a sequence number into a buffer; its length.
type Build = fn(&mut [u8], u32) -> Result<usize, Full>;
/// The setup requests of a consumer, all acknowledged: bind the queue and
/// ask for whole packets. Not `NFQA_CFG_F_GSO` (which `nfq_accept` sets):
/// with it the queue would hand over the sender's segmentation-offload
/// packets uncut, one per `send`, instead of its 1400-byte datagrams.
const SETUP: [Build; 2] = [
    |buf, seq| nfqueue::bind_request(buf, QUEUE, seq),
    |buf, seq| nfqueue::params_request(buf, QUEUE, COPY_RANGE, seq),
];

/// A way of giving verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// The ringlink link in a mode, batch verdicts.
    Ringlink(Mode),
    /// Plain recv, a verdict per packet.
    PerPacket,
    /// Plain recv, batch verdicts at the ringlink link's cadence.
    PlainBatch,
}

impl Serialize for Way {
    /// A way is written as its name.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl Way {
    /// How the way is shown.
    pub fn name(self) -> String {
        match self {
            Way::Ringlink(mode) => format!("ringlink link ({mode:?} mode), batch verdicts"),
            Way::PerPacket => "plain recv, a verdict per packet".into(),
            Way::PlainBatch => "plain recv, batch verdicts".into(),
        }
    }
}

/// What one way measured, medians of the runs.
#[derive(Serialize)]
pub struct WayFigures {
    /// The way.
    pub way: Way,
    /// For every way but the per-packet loop: median over runs of its
    /// packets per second / the per-packet loop's, within the run.
    pub vs_per_packet: Option<f64>,
    /// For the ringlink link: median over runs of its CPU time per packet
    /// / the plain batch loop's, within the run.
    pub cpu_vs_plain_batch: Option<f64>,
    /// For every way but the per-packet loop: median over runs of the
    /// per-packet loop's CPU time per packet / its own, within the run.
    /// Packets per second of receiver CPU against the per-packet loop's:
    /// how much more a way takes from a sender that keeps up, where
    /// `vs_per_packet` is capped by this sender.
    pub capacity_vs_per_packet: Option<f64>,
    /// Packets given their verdict per second.
    pub packets_per_s: f64,
    /// Receiver CPU time per packet, in seconds.
    pub cpu_per_packet: f64,
    /// Receiver CPU time over wall time.
    pub cpu_share: f64,
    /// The sender thread's CPU time over wall time: near 100%, the sender
    /// (which also pays for queueing each packet to the consumer) is what
    /// limits packets/s, not the consumer.
    pub sender_share: f64,
    /// System calls of the receiving thread per packet, when countable.
    pub syscalls_per_packet: Option<f64>,
}

/// The whole comparison.
#[derive(Serialize)]
pub struct NfqFigures {
    /// Packets per consumer and run.
    pub packets: u64,
    /// The probes before the case.
    #[serde(flatten)]
    pub host: crate::probe::Host,
    /// Runs of each way.
    pub runs: usize,
    /// The ways: the ringlink link in each mode it runs in here (the
    /// default first), then the per-packet and the plain batch loop.
    pub ways: Vec<WayFigures>,
    /// The ringlink link's modes, as probed.
    pub modes: Modes,
    /// Why system calls were not counted, if they were not.
    pub syscalls_unavailable: Option<String>,
}

/// Why the comparison cannot run here (beyond root, which the caller
/// checks), or `None`.
pub fn missing_tool() -> Option<String> {
    match Command::new("iptables-legacy").arg("--version").output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "iptables-legacy --version failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Some(format!(
            "iptables-legacy is needed ({e}); on Debian: apt-get install -y iptables"
        )),
    }
}

/// Sets up the namespace and its rules, then measures each way for
/// `packets` packets, `runs` times (in a changing order, [`round_order`]), and
/// once more counting system calls; `progress` gets a line per run.
pub fn compare(
    packets: u64,
    runs: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<NfqFigures, String> {
    let ns = Netns::create("ringlink-nfq-bench", "link set lo up\n")?;
    let host = crate::probe::Host::probe();
    progress(&format!("nfqueue: {host}"));
    let rules = [
        format!("OUTPUT -o lo -p udp --dport {PORT} -j NFQUEUE --queue-num {QUEUE}"),
        format!("INPUT -p udp --dport {PORT} -j DROP"),
    ];
    for rule in &rules {
        let args: Vec<&str> = ["iptables-legacy", "-A"]
            .into_iter()
            .chain(rule.split(' '))
            .collect();
        ns.exec(&args)
            .map_err(|e| format!("{e} (the kernel needs the NFQUEUE target)"))?;
    }
    let modes = ns.inside(|| modes(NETLINK_NETFILTER))?;
    let ways: Vec<Way> = modes
        .runs
        .iter()
        .copied()
        .map(Way::Ringlink)
        .chain([Way::PerPacket, Way::PlainBatch])
        .collect();
    // A short untimed pass first, so that no way pays for the first
    // packets through the namespace's rules.
    for &way in &ways {
        ns.inside(|| measure(way, packets / 10, false))
            .map_err(|e| format!("{} (warming up): {e}", way.name()))?;
    }
    let mut samples: Vec<Vec<Sample>> = ways.iter().map(|_| Vec::new()).collect();
    for run in 0..runs {
        let mut line = format!("nfqueue: run {}/{runs}:", run + 1);
        for i in round_order(run, ways.len()) {
            let sample = ns
                .inside(|| measure(ways[i], packets, false))
                .map_err(|e| format!("{}: {e}", ways[i].name()))?;
            line += &format!(
                " {} {:.0} k/s;",
                ways[i].name(),
                packets as f64 / sample.elapsed.as_secs_f64() / 1e3
            );
            samples[i].push(sample);
        }
        progress(line.trim_end_matches(';'));
    }
    // Counted in runs of their own: an enabled syscall tracepoint slows
    // every system call, the sender's too.
    let mut line = String::from("nfqueue: system calls per packet:");
    let mut unavailable_calls = None;
    let mut calls = Vec::new();
    for &way in &ways {
        let sample = ns
            .inside(|| measure(way, packets, true))
            .map_err(|e| format!("{} (counting system calls): {e}", way.name()))?;
        let per_packet = match sample.calls.transpose() {
            Ok(c) => c.map(|c| c as f64 / packets as f64),
            Err(e) => {
                unavailable_calls = Some(e);
                None
            }
        };
        let shown = per_packet.map_or("n/a".into(), |c| format!("{c:.3}"));
        line += &format!(" {} {shown};", way.name());
        calls.push(per_packet);
    }
    progress(line.trim_end_matches(';'));
    let rates = |i: usize| -> Vec<f64> {
        samples[i]
            .iter()
            .map(|s| packets as f64 / s.elapsed.as_secs_f64())
            .collect()
    };
    let cpu = |i: usize| -> Vec<f64> {
        samples[i]
            .iter()
            .map(|s| s.cpu.as_secs_f64() / packets as f64)
            .collect()
    };
    let place = |way| ways.iter().position(|&w| w == way).unwrap_or_default();
    let (per_packet, plain_batch) = (place(Way::PerPacket), place(Way::PlainBatch));
    let figures = ways
        .iter()
        .enumerate()
        .map(|(i, &way)| {
            let share = |cpu: fn(&Sample) -> Duration| -> Vec<f64> {
                samples[i]
                    .iter()
                    .map(|s| cpu(s).as_secs_f64() / s.elapsed.as_secs_f64())
                    .collect()
            };
            let ring = matches!(way, Way::Ringlink(_));
            let batched = way != Way::PerPacket;
            WayFigures {
                way,
                vs_per_packet: batched.then(|| median(&paired(&rates(i), &rates(per_packet)))),
                capacity_vs_per_packet: batched.then(|| median(&paired(&cpu(per_packet), &cpu(i)))),
                cpu_vs_plain_batch: ring.then(|| median(&paired(&cpu(i), &cpu(plain_batch)))),
                packets_per_s: median(&rates(i)),
                cpu_per_packet: median(&cpu(i)),
                cpu_share: median(&share(|s| s.cpu)),
                sender_share: median(&share(|s| s.sender_cpu)),
                syscalls_per_packet: calls[i],
            }
        })
        .collect();
    Ok(NfqFigures {
        packets,
        host,
        runs,
        ways: figures,
        modes,
        syscalls_unavailable: unavailable_calls,
    })
}

/// One way's run.
struct Sample {
    /// From the first packet let go to the last verdict.
    elapsed: Duration,
    /// The receiver's CPU time meanwhile: the process's less the
    /// sender's.
    cpu: Duration,
    /// The sender thread's CPU time meanwhile.
    sender_cpu: Duration,
    /// Its system calls meanwhile, if asked for, or why they could not be
    /// counted.
    calls: Option<Result<u64, String>>,
}

/// A bound consumer.
enum Consumer {
    /// Through the ringlink link.
    Ring(Box<NetlinkLink>),
    /// Through a plain socket, per packet or batched.
    Plain(NetlinkSocket, Way),
}

impl Consumer {
    /// Opens a consumer of `way` and binds it to the queue.
    fn open(way: Way) -> Result<Consumer, String> {
        let bound = |e: &dyn std::fmt::Display| format!("binding queue {QUEUE}: {e}");
        match way {
            Way::Ringlink(mode) => {
                let mut link = NetlinkLink::open(&NetlinkOptions {
                    protocol: NETLINK_NETFILTER,
                    frame_message: DATAGRAM_MAX,
                    rx_frames: RX_FRAMES,
                    mode: Some(mode),
                    receive_batch: RECEIVE_BATCH,
                    ..Default::default()
                })
                .map_err(|e| e.to_string())?;
                for (seq, build) in (1..).zip(SETUP) {
                    exchange(&mut link, seq, build, |_| Ok(())).map_err(|e| bound(&e))?;
                }
                Ok(Consumer::Ring(Box::new(link)))
            }
            Way::PerPacket | Way::PlainBatch => {
                let socket = NetlinkSocket::open(NETLINK_NETFILTER)
                    .map_err(|e| format!("opening a netfilter socket: {e}"))?;
                for (seq, build) in (1..).zip(SETUP) {
                    acknowledged(&socket, seq, build).map_err(|e| bound(&e))?;
                }
                rustix::net::sockopt::set_socket_timeout(
                    &socket,
                    rustix::net::sockopt::Timeout::Recv,
                    Some(STALL),
                )
                .map_err(|e| format!("setting a receive timeout: {e}"))?;
                Ok(Consumer::Plain(socket, way))
            }
        }
    }

    /// Takes `n` packets and gives them all their verdicts.
    fn take(&mut self, n: u64) -> Result<(), String> {
        match self {
            Consumer::Ring(link) => ring_loop(link, n),
            Consumer::Plain(socket, Way::PerPacket) => per_packet_loop(socket, n),
            Consumer::Plain(socket, _) => batch_loop(socket, n),
        }
    }
}

/// Sends the request `build` writes on a plain socket and waits for its
/// acknowledgement.
fn acknowledged(socket: &NetlinkSocket, seq: u32, build: Build) -> Result<(), String> {
    let mut buf = vec![0u8; 4096];
    let len = build(&mut buf, seq).map_err(|e| e.to_string())?;
    socket.send(&buf[..len]).map_err(|e| e.to_string())?;
    let len = socket.recv(&mut buf).map_err(|e| e.to_string())?;
    for msg in Messages::new(&buf[..len]) {
        if let Some(error) = msg.map_err(|e| e.to_string())?.error() {
            return match error.map_err(|e| e.to_string())?.code {
                0 => Ok(()),
                code => Err(std::io::Error::from_raw_os_error(-code).to_string()),
            };
        }
    }
    Err("no acknowledgement".into())
}

/// Measures one way: binds a consumer, lets a sender thread send `n`
/// packets, and times the consumer until every one has its verdict,
/// counting its system calls if `count`. Runs on a thread in the
/// namespace.
fn measure(way: Way, n: u64, count: bool) -> Result<Sample, String> {
    let mut consumer = Consumer::open(way)?;
    let go = Barrier::new(2);
    std::thread::scope(|s| {
        let sender = s.spawn(|| {
            go.wait();
            let cpu = cpu_time(ClockId::ThreadCPUTime);
            send(n).map(|()| cpu_time(ClockId::ThreadCPUTime).saturating_sub(cpu))
        });
        // Started after the sender exists, so only this thread is counted.
        let counter = count.then(|| SyscallCounter::start(0));
        let cpu = cpu_time(ClockId::ProcessCPUTime);
        let start = Instant::now();
        go.wait();
        let taken = consumer.take(n);
        let elapsed = start.elapsed();
        let calls = counter.map(|c| c.and_then(|mut c| c.read()));
        // Unbinds the queue: if this consumer failed, the packets still
        // queued are dropped and a blocked sender returns.
        drop(consumer);
        let sent = sender
            .join()
            .unwrap_or_else(|_| Err("the sender panicked".into()));
        let process = cpu_time(ClockId::ProcessCPUTime).saturating_sub(cpu);
        match (taken, sent) {
            (Ok(()), Ok(sender_cpu)) => Ok(Sample {
                elapsed,
                cpu: process.saturating_sub(sender_cpu),
                sender_cpu,
                calls,
            }),
            (Err(e), Ok(_)) | (Ok(()), Err(e)) => Err(e),
            (Err(taken), Err(sent)) => Err(format!("{taken}; {sent}")),
        }
    })
}

/// CPU time, user and system, of the calling thread or the process.
fn cpu_time(clock: ClockId) -> Duration {
    let t = rustix::time::clock_gettime(clock);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Sends `n` UDP packets to the rule's port with blocking sends of
/// [`SEND_BATCH`] packets each, segmented by the kernel (`UDP_SEGMENT`).
fn send(n: u64) -> Result<(), String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("sender: {what}: {e}");
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| fail("binding", &e))?;
    rustix::net::sockopt::set_socket_send_buffer_size_force(&socket, SEND_BUFFER)
        .map_err(|e| fail("setting the send buffer", &e))?;
    set_segment_size(&socket, PACKET).map_err(|e| fail("setting UDP_SEGMENT", &e))?;
    socket
        .connect(("127.0.0.1", PORT))
        .map_err(|e| fail("connecting", &e))?;
    let payload = vec![0x5au8; PACKET * SEND_BATCH];
    let mut sent = 0;
    while sent < n {
        let batch = (n - sent).min(SEND_BATCH as u64) as usize;
        let bytes = socket
            .send(&payload[..batch * PACKET])
            .map_err(|e| fail(&format!("after {sent} of {n} packets"), &e))?;
        sent += (bytes / PACKET) as u64;
    }
    Ok(())
}

/// Asks the kernel to cut every datagram `socket` sends into datagrams of
/// `size` payload bytes (`UDP_SEGMENT`, Linux 4.18).
fn set_segment_size(socket: &UdpSocket, size: usize) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let size = size as libc::c_int;
    // SAFETY: the descriptor is open for the call (borrowed from `socket`)
    // and the option value is a live c_int whose size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            (&raw const size).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The packets taken but not yet given their verdict.
#[derive(Default)]
struct Pending {
    /// The id of the last one.
    last: Option<u32>,
    /// How many.
    count: usize,
}

impl Pending {
    /// Notes packet `id` (ids rise).
    fn take(&mut self, id: u32) {
        self.last = Some(id);
        self.count += 1;
    }

    /// The id to accept up to once [`BATCH`] packets are waiting.
    fn full(&mut self) -> Option<u32> {
        match self.count >= BATCH {
            true => self.drain(),
            false => None,
        }
    }

    /// The id to accept up to, if any packet is waiting; none is after.
    fn drain(&mut self) -> Option<u32> {
        self.count = 0;
        self.last.take()
    }
}

/// Hands the id of every packet of `datagram` to `each` (the payload is
/// parsed and kept alive, as a filter would read it); how many there were.
fn packets(
    datagram: &[u8],
    mut each: impl FnMut(u32) -> Result<(), String>,
) -> Result<u64, String> {
    let mut count = 0;
    for msg in Messages::new(datagram) {
        let msg = msg.map_err(|e| e.to_string())?;
        if let Some(error) = msg.error() {
            let code = error.map_err(|e| e.to_string())?.code;
            return Err(format!(
                "the kernel refused a verdict: {}",
                std::io::Error::from_raw_os_error(-code)
            ));
        }
        let packet = Packet::parse(&msg).map_err(|e| e.to_string())?;
        std::hint::black_box(packet.payload);
        each(packet.id)?;
        count += 1;
    }
    Ok(count)
}

/// Why a consumer stopped after `got` of `n` packets, with the queue's
/// counters (from this thread's namespace).
fn stalled(got: u64, n: u64) -> String {
    let stats = std::fs::read_to_string("/proc/thread-self/net/netfilter/nfnetlink_queue")
        .ok()
        .and_then(|text| {
            text.lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .find(|f| f.len() >= 7 && f[0] == QUEUE.to_string())
                .map(|f| {
                    format!(
                        "{} waiting, {} dropped as the queue was full, {} not delivered to the socket",
                        f[2], f[5], f[6]
                    )
                })
        })
        .unwrap_or_else(|| "no queue counters".into());
    format!(
        "no packet for {STALL:?} after {got} of {n} (queue {QUEUE}: {stats}); packets were lost"
    )
}

/// The ringlink consumer: datagrams from the receive ring, a batch verdict
/// through the transmit ring every [`BATCH`] packets and when drained.
fn ring_loop(link: &mut NetlinkLink, n: u64) -> Result<(), String> {
    let mut pending = Pending::default();
    let mut got = 0;
    while got < n {
        if !link.poll().map_err(|e| e.to_string())? {
            if let Some(id) = pending.drain() {
                ring_verdict(link, id)?;
            }
            if !link.wait_readable(Some(STALL)).map_err(|e| e.to_string())? {
                return Err(stalled(got, n));
            }
            continue;
        }
        if let Some(datagram) = link.next().map_err(|e| e.to_string())? {
            got += packets(&datagram, |id| {
                pending.take(id);
                Ok(())
            })?;
        }
        if let Some(id) = pending.full() {
            ring_verdict(link, id)?;
        }
    }
    match pending.drain() {
        Some(id) => ring_verdict(link, id),
        None => Ok(()),
    }
}

/// Accepts every packet up to `id` through the link's transmit ring.
fn ring_verdict(link: &mut NetlinkLink, id: u32) -> Result<(), String> {
    let mut frame = link
        .reserve()
        .map_err(|e| e.to_string())?
        .ok_or("no free transmit frame")?;
    let len = nfqueue::verdict_request(frame.buf(), QUEUE, Target::UpTo(id), Verdict::Accept, 0)
        .map_err(|e| e.to_string())?;
    frame.commit(len).map_err(|e| e.to_string())?;
    link.flush().map_err(|e| e.to_string())
}

/// Sends the verdict for `target` on a plain socket.
fn plain_verdict(socket: &NetlinkSocket, target: Target) -> Result<(), String> {
    let mut buf = [0u8; 64];
    let len = nfqueue::verdict_request(&mut buf, QUEUE, target, Verdict::Accept, 0)
        .map_err(|e| e.to_string())?;
    socket
        .send(&buf[..len])
        .map_err(|e| format!("sending a verdict: {e}"))
}

/// A blocking recv into `buf` (the socket times out after [`STALL`]).
fn plain_recv(socket: &NetlinkSocket, buf: &mut [u8], got: u64, n: u64) -> Result<usize, String> {
    socket.recv(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => stalled(got, n),
        _ => format!("receiving: {e}"),
    })
}

/// The per-packet loop: a blocking recv, a verdict per packet.
fn per_packet_loop(socket: &NetlinkSocket, n: u64) -> Result<(), String> {
    let mut buf = vec![0u8; DATAGRAM_MAX];
    let mut got = 0;
    while got < n {
        let len = plain_recv(socket, &mut buf, got, n)?;
        got += packets(&buf[..len], |id| plain_verdict(socket, Target::Packet(id)))?;
    }
    Ok(())
}

/// The plain batch loop: non-blocking recv; a batch verdict every
/// [`BATCH`] packets, and when nothing is queued, before a blocking recv.
fn batch_loop(socket: &NetlinkSocket, n: u64) -> Result<(), String> {
    let mut buf = vec![0u8; DATAGRAM_MAX];
    let mut pending = Pending::default();
    let mut got = 0;
    while got < n {
        let len = match socket.try_recv(&mut buf).map_err(|e| e.to_string())? {
            Some(len) => len,
            None => {
                if let Some(id) = pending.drain() {
                    plain_verdict(socket, Target::UpTo(id))?;
                }
                plain_recv(socket, &mut buf, got, n)?
            }
        };
        got += packets(&buf[..len], |id| {
            pending.take(id);
            Ok(())
        })?;
        if let Some(id) = pending.full() {
            plain_verdict(socket, Target::UpTo(id))?;
        }
    }
    match pending.drain() {
        Some(id) => plain_verdict(socket, Target::UpTo(id)),
        None => Ok(()),
    }
}
