//! A hostile process scribbles over a live link's memory while both ends
//! keep using it: random statuses, lengths and payloads, frames flipped
//! between states, bytes written past the lengths, the control page's
//! run-time words. Both ends must keep running: every call returns in
//! bounded time with a message, nothing, a typed corruption error or a
//! timeout; never a crash, a hang, an unbounded allocation or a message
//! longer than the link carries. Closing the honest end still ends the
//! victim's link with `Disconnected`.
//!
//! Three processes: this test (the honest peer, scribbled on as well), the
//! victim (a child with the other end, inherited), and the hostile child,
//! which finds the victim's memfd in `/proc/<victim>/fd` and maps it.
//!
//! CI runs each trust mode for 2 s; the long form:
//! `RINGLINK_HOSTILE_SECS=300 cargo test --release -p ringlink-memfd --test hostile -- --nocapture`
//! (a failure prints its seed; `RINGLINK_SEED=<seed>` replays the scribbles).

mod common;

use common::{
    PATIENCE, Rng, Usage, check, child_command, env_number, message, message_of_len, options,
    parse_report,
};
use ringlink_core::Status;
use ringlink_core::{
    Corruption, Deferred, FrameReceiver, FrameSender, Geometry, LinkError, RingError,
};
use ringlink_memfd::control::fuzzing::{check_control_page, control_page_len};
use ringlink_memfd::control::{Layout, PAYLOAD_OFFSET};
use ringlink_memfd::{Link, LinkOptions, Trust};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Read;
use std::os::fd::AsFd;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Seconds the hostile child scribbles, per trust mode.
const SECS: &str = "RINGLINK_HOSTILE_SECS";
/// The victim's process id, for the hostile child.
const VICTIM: &str = "RINGLINK_TEST_VICTIM";
/// `peer` or `untrusted`.
const TRUST: &str = "RINGLINK_TEST_TRUST";
/// The seed of the child's random choices.
const SEED: &str = "RINGLINK_TEST_SEED";

/// Longest any single call may take: the waits ask for 2 ms, so anything
/// near this is a hang.
const CALL_BOUND: Duration = Duration::from_secs(1);

/// Most resident memory a victim may reach (KiB): hostile lengths must
/// never size an allocation.
const PEAK_BOUND_KIB: u64 = 256 << 10;

fn link_options(trust: Trust) -> LinkOptions {
    LinkOptions { trust, ..options() }
}

/// What one end saw while it was scribbled on.
#[derive(Debug, Default)]
struct Tally {
    /// Messages returned.
    messages: u64,
    /// Of those, intact (sequence number, length and checksum agree).
    intact: u64,
    /// Messages longer than the link carries (must stay 0).
    oversize: u64,
    /// Messages sent.
    sent: u64,
    /// Typed corruption errors, by kind.
    corrupt: BTreeMap<&'static str, u64>,
    /// Waits that timed out.
    timed_out: u64,
    /// Any other error (must stay 0); the first few are kept.
    other: Vec<String>,
    /// Longest single call.
    max_call: Duration,
    /// Frames reported as deferred and overwritten by the peer.
    overwritten: BTreeSet<u32>,
    /// Handles of those frames refused afterwards (as foreign).
    handles_lost: u64,
    /// Deferred frames taken and released.
    deferred: u64,
    /// When `Disconnected` was seen (CLOCK_MONOTONIC, ns).
    disconnected_at: Option<u64>,
}

/// CLOCK_MONOTONIC in nanoseconds: comparable across processes.
fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn corruption_name(kind: &Corruption) -> &'static str {
    match kind {
        Corruption::UnknownStatus(_) => "unknown_status",
        Corruption::LenOutOfBounds { .. } => "len_out_of_bounds",
        Corruption::ChangedUnderUs { .. } => "changed_under_us",
        Corruption::DeferredOverwritten(_) => "deferred_overwritten",
        Corruption::ForeignSkip => "foreign_skip",
        Corruption::CopyTooLong { .. } => "copy_too_long",
        Corruption::CopyMissing => "copy_missing",
        Corruption::CopyMismatch { .. } => "copy_mismatch",
    }
}

impl Tally {
    /// Records the time a call took.
    fn call(&mut self, started: Instant) {
        self.max_call = self.max_call.max(started.elapsed());
    }

    /// Records an error; `true` when it is `Disconnected` (the end).
    fn error(&mut self, error: LinkError) -> bool {
        match error {
            LinkError::Ring(RingError::Corrupt { kind, frame }) => {
                if let Corruption::DeferredOverwritten(_) = kind {
                    self.overwritten.insert(frame);
                }
                *self.corrupt.entry(corruption_name(&kind)).or_default() += 1;
            }
            // A deferred frame the peer overwrote was reported as such
            // and taken back from this side: its handle no longer works.
            LinkError::Ring(RingError::ForeignHandle(frame))
                if self.overwritten.contains(&frame) =>
            {
                self.handles_lost += 1;
            }
            LinkError::TimedOut { .. } => self.timed_out += 1,
            LinkError::Disconnected => {
                self.disconnected_at = Some(monotonic_ns());
                return true;
            }
            other => {
                if self.other.len() < 5 {
                    self.other.push(other.to_string());
                } else {
                    self.other.push(String::new());
                }
            }
        }
        false
    }

    /// Records a message.
    fn message(&mut self, msg: &[u8], max: usize) {
        self.messages += 1;
        self.intact += u64::from(check(msg).is_ok());
        self.oversize += u64::from(msg.len() > max);
    }

    fn corrupt_total(&self) -> u64 {
        self.corrupt.values().sum()
    }

    /// The tally as `REPORT key=value` lines.
    fn report(&self) -> String {
        let mut lines = vec![
            format!("messages={}", self.messages),
            format!("intact={}", self.intact),
            format!("oversize={}", self.oversize),
            format!("sent={}", self.sent),
            format!("corrupt={}", self.corrupt_total()),
            format!("timed_out={}", self.timed_out),
            format!("other={}", self.other.len()),
            format!("max_call_us={}", self.max_call.as_micros()),
            format!("deferred={}", self.deferred),
            format!("handles_lost={}", self.handles_lost),
            format!("disconnected_at={}", self.disconnected_at.unwrap_or(0)),
            format!("peak_kib={}", Usage::own().peak_kib),
        ];
        for (kind, n) in &self.corrupt {
            lines.push(format!("corrupt.{kind}={n}"));
        }
        for error in self.other.iter().filter(|e| !e.is_empty()) {
            lines.push(format!("error={error}"));
        }
        lines.iter().map(|l| format!("REPORT {l}\n")).collect()
    }
}

/// Sends mixed messages (some out of band) and receives whatever comes,
/// deferring some frames and releasing them later, until `stop()` or
/// `Disconnected`; every call timed and every outcome tallied.
fn traffic(link: &mut Link, rng: &mut Rng, tally: &mut Tally, mut stop: impl FnMut() -> bool) {
    let max = link.max_message();
    let mut held: VecDeque<Deferred> = VecDeque::new();
    let mut seq = 0u64;
    while !stop() {
        let mut busy = false;
        let msg = message(seq);
        let started = Instant::now();
        let sent = link.try_send(&msg);
        tally.call(started);
        match sent {
            Ok(true) => {
                seq += 1;
                tally.sent += 1;
                busy = true;
            }
            Ok(false) => {}
            Err(e) => {
                if tally.error(e) {
                    return;
                }
            }
        }
        let started = Instant::now();
        let flushed = link.flush();
        tally.call(started);
        if let Err(e) = flushed {
            if tally.error(e) {
                return;
            }
        }
        for _ in 0..8 {
            let started = Instant::now();
            match link.next() {
                Ok(Some(msg)) => {
                    tally.message(&msg, max);
                    if rng.one_in(16) {
                        if let Ok(handle) = msg.defer() {
                            held.push_back(handle);
                        }
                    }
                    tally.call(started);
                    busy = true;
                }
                Ok(None) => {
                    tally.call(started);
                    break;
                }
                Err(e) => {
                    tally.call(started);
                    if tally.error(e) {
                        return;
                    }
                    busy = true;
                }
            }
        }
        if held.len() > 8 || (!busy && !held.is_empty()) {
            let handle = held.pop_front().expect("a held frame");
            let started = Instant::now();
            match link.deferred_payload(&handle) {
                Ok(payload) => tally.message(payload, max),
                Err(e) => {
                    tally.error(e);
                }
            }
            if let Err(e) = link.release(handle) {
                tally.error(e);
            }
            tally.call(started);
            tally.deferred += 1;
        }
        if !busy {
            let started = Instant::now();
            let waited = link.wait_readable(Some(Duration::from_millis(2)));
            tally.call(started);
            if let Err(e) = waited {
                if tally.error(e) {
                    return;
                }
            }
        }
    }
}

#[test]
#[ignore = "the child process's entry point; the other tests run it"]
fn child_entry() {
    let seed = env_number(SEED, 0);
    match common::role().as_str() {
        "victim" => victim(seed),
        "hostile" => hostile(seed),
        other => panic!("unknown role {other}"),
    }
}

/// The victim: its end of the link, traffic until `Disconnected` (or a
/// minute past the attack: then it reports that it never came).
fn victim(seed: u64) {
    let trust = match std::env::var(TRUST).unwrap().as_str() {
        "peer" => Trust::Peer,
        _ => Trust::Untrusted,
    };
    let secs = env_number(SECS, 2);
    let mut link = Link::from_inherited(&link_options(trust)).expect("the inherited link");
    // Tell the parent the link is up.
    link.send(&message(0), PATIENCE).unwrap();
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    let give_up = Instant::now() + Duration::from_secs(secs + 60);
    traffic(&mut link, &mut rng, &mut tally, || Instant::now() > give_up);
    print!("{}", tally.report());
}

/// Offsets of the control page's run-time words that the hostile child
/// scribbles (see `ControlPage` in src/control.rs, `repr(C)`): the skip
/// cursors (64-byte lines at 128 and 192) and, of each side's words (at
/// 256 and 448), the sleep announcement (+0), the futex doorbell (+64,
/// +68) and the never-parks flag (+136). The `closed` flags (+128) are
/// left alone: a peer may always say it closed. The declared part (0..72)
/// is read once at setup, so scribbling it must change nothing.
const CONTROL_WORDS: [usize; 18] = [
    0, 8, 16, 24, 32, 48, 64, 128, 192, 256, 320, 324, 392, 448, 512, 516, 584, 132,
];

/// A link segment mapped a second time, as a hostile process maps it: the
/// layout the tests' options give, and raw access to every word.
struct Segment {
    base: *mut u8,
    size: usize,
    layout: Layout,
    geometry: Geometry,
}

impl Segment {
    /// Maps the memfd `fd` (a link made with `options`) shared, writable.
    fn map(fd: impl AsFd, options: &LinkOptions) -> Segment {
        let size = rustix::fs::fstat(&fd).unwrap().st_size as usize;
        // SAFETY: a fresh shared mapping of a sealed (never resized) memfd;
        // accessed only through raw pointers and atomics; unmapped on drop.
        let base = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                size,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                fd,
                0,
            )
            .unwrap()
        } as *mut u8;
        // The layout the control page declares, checked as an acceptor does.
        // SAFETY: the mapping holds at least the control page (the link
        // validated it); read once, before anyone scribbles on it.
        let page = unsafe { std::slice::from_raw_parts(base, control_page_len()) };
        let layout = check_control_page(page, size as u64).unwrap();
        let geometry = layout.geometries[0];
        assert_eq!(geometry, layout.geometries[1], "the rings the tests use");
        assert!(geometry.frame_size as usize - PAYLOAD_OFFSET >= options.frame_message);
        Segment {
            base,
            size,
            layout,
            geometry,
        }
    }

    /// The 32-bit word at `offset`.
    fn word(&self, offset: usize) -> &AtomicU32 {
        assert!(offset + 4 <= self.size && offset % 4 == 0);
        // SAFETY: inside the mapping, 4-aligned; shared memory is only ever
        // accessed through atomics or raw copies.
        unsafe { &*(self.base.add(offset) as *const AtomicU32) }
    }

    /// The 64-bit word at `offset`.
    fn wide(&self, offset: usize) -> &AtomicU64 {
        assert!(offset + 8 <= self.size && offset % 8 == 0);
        // SAFETY: as for `word`, 8-aligned.
        unsafe { &*(self.base.add(offset) as *const AtomicU64) }
    }

    /// Payload bytes a frame holds.
    fn capacity(&self) -> usize {
        self.geometry.frame_size as usize - PAYLOAD_OFFSET
    }

    /// Offset of frame `index` of ring `ring` (0: A to B, 1: B to A).
    fn frame(&self, ring: usize, index: u32) -> usize {
        self.layout.offsets[ring] as usize + self.geometry.frame_offset(index).unwrap()
    }

    /// The byte at `offset`.
    fn peek(&self, offset: usize) -> u8 {
        assert!(offset < self.size);
        // SAFETY: inside the mapping.
        unsafe { self.base.add(offset).read_volatile() }
    }

    /// Writes `byte` at `offset`.
    fn poke(&self, offset: usize, byte: u8) {
        assert!(offset < self.size);
        // SAFETY: inside the mapping.
        unsafe { self.base.add(offset).write_volatile(byte) };
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: mapped by `map` with this size; no reference outlives self.
        let _ = unsafe { rustix::mm::munmap(self.base.cast(), self.size) };
    }
}

/// The hostile child: maps the victim's memfd and scribbles on it for
/// `SECS` seconds, then prints what it did.
fn hostile(seed: u64) {
    let pid: u32 = std::env::var(VICTIM).unwrap().parse().unwrap();
    let secs = env_number(SECS, 2);
    let file = std::fs::File::from(common::segment_of_process(pid));
    let size = file.metadata().unwrap().len();
    // The seals hold against this process too.
    let truncate_refused = file.set_len(0).is_err() && file.set_len(size * 2).is_err();
    let opts = options();
    let segment = Segment::map(&file, &opts);
    let capacity = segment.capacity();
    let frame = |rng: &mut Rng| {
        let index = rng.below(segment.geometry.frame_nr as usize) as u32;
        segment.frame(rng.below(2), index)
    };
    let lengths = [
        0,
        1,
        capacity as u32 - 1,
        capacity as u32,
        capacity as u32 + 1,
        opts.max_message as u32,
        opts.max_message as u32 + 1,
        u32::MAX,
        i32::MAX as u32,
    ];
    let mut rng = Rng::new(seed);
    let mut done: BTreeMap<&str, u64> = BTreeMap::new();
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        for _ in 0..rng.range(1..16) {
            let f = frame(&mut rng);
            let action = match rng.below(100) {
                0..20 => {
                    // A status: mostly a known one, sometimes garbage.
                    let status = match rng.one_in(4) {
                        true => rng.next_u64() as u32,
                        false => rng.range(0..5) as u32,
                    };
                    segment.word(f).store(status, Relaxed);
                    "status"
                }
                20..35 => {
                    let len = match rng.one_in(3) {
                        true => rng.next_u64() as u32,
                        false => lengths[rng.below(lengths.len())],
                    };
                    segment.word(f + 4).store(len, Relaxed);
                    "length"
                }
                35..50 => {
                    // Flip the frame to another state, as it stands.
                    let now = segment.word(f).load(Relaxed);
                    let next = (now % 5 + 1 + rng.range(0..4) as u32) % 5;
                    segment.word(f).store(next, Relaxed);
                    "flip"
                }
                50..65 => {
                    // Payload bytes anywhere in the frame, past its length
                    // as often as not.
                    let at = rng.below(capacity);
                    for i in 0..rng.below(64).min(capacity - at) {
                        segment.poke(f + PAYLOAD_OFFSET + at + i, rng.next_u64() as u8);
                    }
                    "payload"
                }
                65..75 => {
                    // A forged message: plausible length, then VALID or COPY.
                    let len = rng.below(capacity + 1) as u32;
                    segment.word(f + 4).store(len, Relaxed);
                    segment
                        .word(f)
                        .store(if rng.one_in(3) { 3 } else { 2 }, Relaxed);
                    "forged"
                }
                75..85 => {
                    // Header words after the length (group, pid, uid, gid).
                    let at = f + 8 + 4 * rng.below(4);
                    segment.word(at).store(rng.next_u64() as u32, Relaxed);
                    "meta"
                }
                _ => {
                    let offset = CONTROL_WORDS[rng.below(CONTROL_WORDS.len())];
                    if offset % 8 == 0 && rng.one_in(2) {
                        segment.wide(offset).store(rng.next_u64(), Relaxed);
                    } else {
                        let value = match rng.one_in(2) {
                            true => rng.next_u64() as u32,
                            false => rng.range(0..3) as u32,
                        };
                        segment.word(offset).store(value, Relaxed);
                    }
                    "control"
                }
            };
            *done.entry(action).or_default() += 1;
        }
        std::thread::sleep(Duration::from_micros(rng.range(0..300)));
    }
    for (action, n) in &done {
        println!("REPORT {action}={n}");
    }
    println!("REPORT truncate_refused={}", u64::from(truncate_refused));
}

fn number(report: &BTreeMap<String, String>, key: &str) -> u64 {
    report
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in the report {report:?}"))
        .parse()
        .unwrap()
}

/// Waits for `child` up to `limit`; kills it if it is still running then.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn output_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut text).unwrap();
    }
    text
}

/// One attack: the victim and the hostile child, this process the honest
/// peer; returns a line of figures for the table.
fn attack(trust: Trust, secs: u64, seed: u64) -> String {
    let label = format!("{trust:?}");
    let mut command = child_command("victim");
    command
        .env(
            TRUST,
            if trust == Trust::Peer {
                "peer"
            } else {
                "untrusted"
            },
        )
        .env(SECS, secs.to_string())
        .env(SEED, seed.to_string())
        .stdout(Stdio::piped());
    let (mut link, end) = ringlink_memfd::pair_for_child(&link_options(trust)).unwrap();
    let mut victim = end.spawn(&mut command).unwrap();
    common::verify(&link.recv(PATIENCE).expect("the victim's first message"), 0);

    let mut hostile = child_command("hostile");
    hostile
        .env(VICTIM, victim.id().to_string())
        .env(SECS, secs.to_string())
        .env(SEED, (seed ^ 0x5eed).to_string())
        .stdout(Stdio::piped());
    let mut hostile = hostile.spawn().unwrap();

    let mut rng = Rng::new(seed ^ 0x7e57);
    let mut tally = Tally::default();
    let started = Instant::now();
    let limit = Duration::from_secs(secs + 30);
    traffic(&mut link, &mut rng, &mut tally, || {
        matches!(hostile.try_wait(), Ok(Some(_))) || started.elapsed() > limit
    });
    let hostile_status = wait_bounded(&mut hostile, Duration::from_secs(10));
    let hostile_report = parse_report(&output_of(&mut hostile));
    assert!(
        hostile_status.is_some_and(|s| s.success()),
        "{label}: the hostile child failed: {hostile_status:?}"
    );
    assert!(
        tally.disconnected_at.is_none(),
        "{label}: the honest end saw Disconnected while the victim lived"
    );

    // The honest end closes: the victim must see Disconnected, soon.
    let closed_at = monotonic_ns();
    drop(link);
    let status = wait_bounded(&mut victim, Duration::from_secs(20));
    let victim_report = parse_report(&output_of(&mut victim));
    let status = status.unwrap_or_else(|| panic!("{label}: the victim hung (seed {seed})"));
    assert!(
        status.success(),
        "{label}: the victim crashed: {status:?} (seed {seed})"
    );
    eprintln!("{label}: hostile {hostile_report:?}");
    eprintln!("{label}: victim {victim_report:?}");
    eprintln!("{label}: honest end {tally:?}");

    // The hostile child really attacked, and the seals held against it.
    let scribbles: u64 = [
        "status", "length", "flip", "payload", "forged", "meta", "control",
    ]
    .iter()
    .map(|k| hostile_report.get(*k).map_or(0, |v| v.parse().unwrap()))
    .sum();
    assert!(scribbles > 100, "{label}: only {scribbles} scribbles");
    assert_eq!(number(&hostile_report, "truncate_refused"), 1);

    // Both ends: typed errors only, no hang, no oversized message.
    let victim_calls = Duration::from_micros(number(&victim_report, "max_call_us"));
    for (end, other, oversize, max_call, corrupt) in [
        (
            "victim",
            number(&victim_report, "other"),
            number(&victim_report, "oversize"),
            victim_calls,
            number(&victim_report, "corrupt"),
        ),
        (
            "honest end",
            tally.other.len() as u64,
            tally.oversize,
            tally.max_call,
            tally.corrupt_total(),
        ),
    ] {
        assert_eq!(
            other, 0,
            "{label}: the {end} got untyped errors (seed {seed})"
        );
        assert_eq!(oversize, 0, "{label}: the {end} got oversized messages");
        assert!(
            max_call < CALL_BOUND,
            "{label}: a call of the {end} took {max_call:?} (seed {seed})"
        );
        assert!(
            corrupt > 0,
            "{label}: the {end} never reported the corruption"
        );
    }
    let peak = number(&victim_report, "peak_kib");
    assert!(
        peak < PEAK_BOUND_KIB,
        "{label}: the victim's resident memory peaked at {peak} KiB (seed {seed})"
    );
    let own_peak = Usage::own().peak_kib;
    assert!(
        own_peak < PEAK_BOUND_KIB,
        "{label}: the honest end's resident memory peaked at {own_peak} KiB (seed {seed})"
    );
    let disconnected_at = number(&victim_report, "disconnected_at");
    assert!(
        disconnected_at >= closed_at,
        "{label}: the victim never saw Disconnected, or saw it before the close (seed {seed})"
    );
    let latency = Duration::from_nanos(disconnected_at - closed_at);
    assert!(
        latency < Duration::from_secs(5),
        "{label}: Disconnected came {latency:?} after the close"
    );
    format!(
        "{label}: {scribbles} scribbles in {secs} s; victim: {} messages ({} intact), {} corruption errors, max call {victim_calls:?}, peak {peak} KiB, Disconnected {latency:?} after close; honest end: {} messages ({} intact), {} corruption errors, max call {:?}",
        number(&victim_report, "messages"),
        number(&victim_report, "intact"),
        number(&victim_report, "corrupt"),
        tally.messages,
        tally.intact,
        tally.corrupt_total(),
        tally.max_call,
    )
}

#[test]
fn a_hostile_process_scribbling_the_segment_gets_typed_errors_never_a_crash() {
    let secs = env_number(SECS, 2);
    let seed = Rng::seed();
    eprintln!("seed {seed} (RINGLINK_SEED replays it)");
    for trust in [Trust::Untrusted, Trust::Peer] {
        let line = attack(trust, secs, seed);
        eprintln!("{line}");
    }
}

/// A pair in this process with the receiving ring of `b` mapped a second
/// time, to forge frames in it.
fn forged_pair() -> (Link, Link, Segment) {
    let (a, b) = ringlink_memfd::pair(&options()).unwrap();
    let segment = Segment::map(a.segment().unwrap(), &options());
    (a, b, segment)
}

#[test]
fn payloads_start_on_the_second_cache_line_of_their_frame() {
    let (mut a, mut b, segment) = forged_pair();
    assert_eq!(a.frame_capacity(), segment.capacity());
    assert!(a.try_send(b"in place").unwrap());
    let f = segment.frame(0, 0);
    assert_eq!(segment.word(f).load(Relaxed), Status::Valid.raw());
    assert_eq!(segment.word(f + 4).load(Relaxed), 8);
    let at = |i: usize| segment.peek(f + PAYLOAD_OFFSET + i);
    assert_eq!((0..8).map(at).collect::<Vec<u8>>(), b"in place");
    // What is read is what lies there.
    segment.poke(f + PAYLOAD_OFFSET, b'I');
    assert_eq!(&b.next().unwrap().unwrap()[..], b"In place");
}

#[test]
fn a_copy_frame_announcing_gigabytes_allocates_nothing() {
    let (mut a, mut b, segment) = forged_pair();
    // An honest out-of-band message, whose frame then claims 4 GiB.
    assert!(a.try_send(&message_of_len(7, 5000)).unwrap());
    a.flush().unwrap();
    segment
        .word(segment.frame(0, 0) + 4)
        .store(u32::MAX, Relaxed);
    let before = Usage::own().peak_kib;
    let started = Instant::now();
    let result = b.next().map(|m| m.map(|m| m.len()));
    let (took, grew) = (started.elapsed(), Usage::own().peak_kib - before);
    assert!(
        grew < 16 << 10,
        "the peak resident memory grew by {grew} KiB"
    );
    assert!(took < Duration::from_millis(100), "took {took:?}");
    match result {
        Err(LinkError::Ring(RingError::Corrupt {
            frame: 0,
            kind: Corruption::CopyTooLong { len: u32::MAX, .. },
        })) => {}
        other => panic!("expected CopyTooLong, got {other:?}"),
    }
    // Its message was dropped with it: the next out-of-band message
    // arrives with its own frame.
    a.send(&message_of_len(8, 6000), PATIENCE).unwrap();
    common::verify(&b.recv(PATIENCE).unwrap(), 8);
}

#[test]
fn a_copy_frame_of_the_wrong_length_is_corruption_and_the_next_one_is_read() {
    let (mut a, mut b, segment) = forged_pair();
    // An honest out-of-band message, whose frame then claims one byte less.
    let big = message_of_len(7, 5000);
    assert!(a.try_send(&big).unwrap());
    a.flush().unwrap();
    segment.word(segment.frame(0, 0) + 4).store(4999, Relaxed);
    match b.next() {
        Err(LinkError::Ring(RingError::Corrupt {
            kind:
                Corruption::CopyMismatch {
                    announced: 4999,
                    received: 5000,
                },
            ..
        })) => {}
        other => panic!(
            "expected CopyMismatch, got {:?}",
            other.map(|m| m.map(|m| m.len()))
        ),
    }
    // The mismatched message was taken off the socket with its frame: the
    // next COPY frame gets its own.
    let next = message_of_len(8, 6000);
    a.send(&next, PATIENCE).unwrap();
    common::verify(&b.recv(PATIENCE).unwrap(), 8);
    // A COPY frame with nothing queued for it.
    let frame = segment.frame(0, 2);
    segment.word(frame + 4).store(100, Relaxed);
    segment.word(frame).store(Status::Copy.raw(), Relaxed);
    assert!(matches!(
        b.next(),
        Err(LinkError::Ring(RingError::Corrupt {
            frame: 2,
            kind: Corruption::CopyMissing
        }))
    ));
}

#[test]
fn a_ring_full_of_garbage_still_ends_in_disconnected_once_the_peer_is_gone() {
    let (a, mut b, segment) = forged_pair();
    let frames = segment.geometry.frame_nr;
    for index in 0..frames {
        // Unknown statuses and foreign SKIPs: stepped over, never cleared.
        let status = if index % 2 == 0 {
            0xdead_beef
        } else {
            Status::Skip.raw()
        };
        segment.word(segment.frame(0, index)).store(status, Relaxed);
    }
    drop(a);
    let mut errors = 0;
    loop {
        match b.next() {
            Err(LinkError::Disconnected) => break,
            Err(LinkError::Ring(RingError::Corrupt { .. })) => errors += 1,
            Err(e) => panic!("{e}"),
            Ok(m) => panic!("a message from garbage: {:?}", m.map(|m| m.len())),
        }
        assert!(
            errors <= 4 * frames,
            "{errors} corruption errors and still no Disconnected"
        );
    }
    assert!(errors >= frames, "each garbage frame is reported: {errors}");
}
