//! Soak: two processes move sequence-numbered, checksummed messages of
//! every size class (tiny, up to a frame, exactly a frame, larger than a
//! frame and so out of band) for a set time, in each wait mode (busy spin;
//! blocking, which parks at once; the default short spin, then park), in
//! bursts and pauses so that both sides sleep and are woken, with runs of
//! aborted reservations (empty frames) between, in both directions (one
//! per mode). Nothing may be lost, duplicated, reordered
//! or damaged, and the resident memory, descriptors and mappings of both
//! processes must stay flat from the end of the warm-up to the end.
//!
//! CI runs 2 s per mode; the long form:
//! `RINGLINK_SOAK_SECS=300 cargo test --release -p ringlink-memfd --test soak -- --nocapture`
//! (seconds per mode).

mod common;

use common::{PATIENCE, Rng, SharedWords, Usage, check, env_number, fill_message, options, spawn};
use ringlink_core::{FrameReceiver, FrameSender, LinkError, SpinPolicy};
use ringlink_memfd::{Link, LinkOptions};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

/// Seconds per wait mode.
const SECS: &str = "RINGLINK_SOAK_SECS";
/// Path of the page shared with the child.
const WORDS: &str = "RINGLINK_TEST_WORDS";
/// Seed of the child's random choices.
const SEED: &str = "RINGLINK_TEST_SEED";
/// Spin rounds of the mode.
const SPIN: &str = "RINGLINK_TEST_SPIN";

/// The size classes.
const CLASSES: [&str; 4] = [
    "tiny",
    "under a frame",
    "a whole frame",
    "over a frame (COPY)",
];

/// Words of the shared page: the producer's sent count, then the
/// consumer's tally (see [`Tally::store`]).
const SENT: usize = 0;
const TALLY: usize = 1;
const WORD_COUNT: usize = TALLY + 6 + CLASSES.len();

/// Most growth of resident memory between the warm-up and the end (KiB).
const RSS_SLACK_KIB: u64 = 1024;

fn link_options(spin: SpinPolicy) -> LinkOptions {
    LinkOptions { spin, ..options() }
}

/// The size class and length of message `seq`: the first messages cover
/// the extremes of each class, so buffers reach their size in the warm-up.
fn size_of(seq: u64, rng: &mut Rng, capacity: usize, max: usize) -> (usize, usize) {
    let class = match seq {
        0..4 => seq as usize,
        _ => match rng.below(20) {
            0..8 => 0,
            8..14 => 1,
            14..17 => 2,
            _ => 3,
        },
    };
    let len = match (class, seq) {
        (3, 3) => max,
        (0, _) => rng.range(16..65) as usize,
        (1, _) => rng.range(65..capacity as u64) as usize,
        (2, _) => capacity,
        _ => rng.range(capacity as u64 + 1..max as u64 + 1) as usize,
    };
    (class, len)
}

/// Sends messages numbered from `*seq` on until `end`, in bursts with
/// pauses (the consumer parks), flushing every 16 and at each pause, now
/// and then aborting a run of reservations.
fn produce(link: &mut Link, end: Instant, rng: &mut Rng, seq: &mut u64) -> Result<(), LinkError> {
    let (capacity, max) = (link.frame_capacity(), link.max_message().min(64 << 10));
    while Instant::now() < end {
        for _ in 0..rng.range(1..300) {
            let (_, len) = size_of(*seq, rng, capacity, max);
            if len <= capacity {
                // Built in place.
                loop {
                    if let Some(mut frame) = link.reserve()? {
                        fill_message(&mut frame.buf()[..len], *seq);
                        frame.commit(len)?;
                        break;
                    }
                    link.wait_writable(PATIENCE)?;
                }
            } else {
                let mut msg = vec![0; len];
                fill_message(&mut msg, *seq);
                while !link.try_send(&msg)? {
                    link.wait_writable(PATIENCE)?;
                }
            }
            *seq += 1;
            if *seq % 16 == 0 {
                link.flush()?;
            }
        }
        link.flush()?;
        if rng.one_in(8) {
            std::thread::sleep(Duration::from_micros(rng.range(0..2000)));
        }
        if rng.one_in(64) {
            // A run of aborted reservations (empty frames, which the
            // consumer steps over), up to more than a ring's worth.
            for _ in 0..rng.range(1..100) {
                match link.reserve()? {
                    Some(frame) => drop(frame),
                    None => break,
                }
            }
        }
    }
    Ok(())
}

/// What a consumer saw.
#[derive(Debug, Default)]
struct Tally {
    received: u64,
    /// Sequence numbers skipped and not (yet) seen.
    missing: BTreeSet<u64>,
    /// The next sequence number in order.
    next: u64,
    duplicated: u64,
    reordered: u64,
    damaged: u64,
    bytes: u64,
    by_class: [u64; CLASSES.len()],
}

impl Tally {
    fn record(&mut self, msg: &[u8], capacity: usize) {
        self.received += 1;
        self.bytes += msg.len() as u64;
        let class = match msg.len() {
            0..=64 => 0,
            n if n < capacity => 1,
            n if n == capacity => 2,
            _ => 3,
        };
        self.by_class[class] += 1;
        match check(msg) {
            Err(_) => self.damaged += 1,
            Ok(seq) if seq == self.next => self.next += 1,
            Ok(seq) if seq > self.next => {
                self.missing
                    .extend(self.next..seq.min(self.next + 1_000_000));
                self.next = seq + 1;
            }
            Ok(seq) => match self.missing.remove(&seq) {
                true => self.reordered += 1,
                false => self.duplicated += 1,
            },
        }
    }

    /// Messages the producer sent that never came.
    fn lost(&self, sent: u64) -> u64 {
        self.missing.len() as u64 + sent.saturating_sub(self.next)
    }

    fn store(&self, words: &SharedWords) {
        let values = [
            self.received,
            self.missing.len() as u64,
            self.next,
            self.duplicated,
            self.reordered,
            self.damaged,
        ];
        for (i, v) in values.into_iter().chain(self.by_class).enumerate() {
            words[TALLY + i].store(v, SeqCst);
        }
    }

    fn load(words: &SharedWords) -> Tally {
        let w = |i: usize| words[TALLY + i].load(SeqCst);
        Tally {
            received: w(0),
            // Only the count travels.
            missing: (0..w(1)).collect(),
            next: w(2),
            duplicated: w(3),
            reordered: w(4),
            damaged: w(5),
            bytes: 0,
            by_class: std::array::from_fn(|c| w(6 + c)),
        }
    }
}

/// Receives until `Disconnected`, pausing now and then (the producer finds
/// the ring full and parks).
fn consume(link: &mut Link, rng: &mut Rng, mut sample: impl FnMut()) -> Tally {
    let capacity = link.frame_capacity();
    let mut tally = Tally::default();
    loop {
        match link.recv(PATIENCE) {
            Ok(msg) => tally.record(&msg, capacity),
            Err(LinkError::Disconnected) => return tally,
            Err(e) => panic!("after {} messages: {e}", tally.received),
        }
        if rng.one_in(4096) {
            std::thread::sleep(Duration::from_micros(rng.range(0..2000)));
        }
        if tally.received % 1024 == 0 {
            sample();
        }
    }
}

#[test]
#[ignore = "the child process's entry point; the other tests run it"]
fn child_entry() {
    let words = SharedWords::open(&std::env::var(WORDS).unwrap(), WORD_COUNT);
    let mut rng = Rng::new(env_number(SEED, 0));
    let spin = SpinPolicy {
        rounds: env_number(SPIN, 0) as u32,
    };
    let secs = Duration::from_secs(env_number(SECS, 2));
    let mut link = Link::from_inherited(&link_options(spin)).expect("the inherited link");
    match common::role().as_str() {
        "producer" => {
            let mut sent = 0;
            produce(&mut link, Instant::now() + secs, &mut rng, &mut sent).expect("producing");
            words[SENT].store(sent, SeqCst);
        }
        "consumer" => consume(&mut link, &mut rng, || {}).store(&words),
        other => panic!("unknown role {other}"),
    }
}

/// Usage of both processes after the warm-up and at the end.
#[derive(Debug, Default)]
struct Samples {
    parent: Vec<Usage>,
    child: Vec<Usage>,
}

impl Samples {
    fn take(&mut self, child: u32) {
        self.parent.push(Usage::own());
        self.child.push(Usage::of(&child.to_string()));
    }
}

/// One mode: `secs` of messages one way; returns a line for the table.
fn soak(mode: &str, spin: SpinPolicy, child_produces: bool, secs: u64, seed: u64) -> String {
    let words = SharedWords::create(&format!("soak-{mode}"), WORD_COUNT);
    let env = [
        (WORDS, words.path().to_string()),
        (SEED, seed.to_string()),
        (SPIN, spin.rounds.to_string()),
        (SECS, secs.to_string()),
    ];
    let role = if child_produces {
        "producer"
    } else {
        "consumer"
    };
    let (mut link, mut child) = spawn(&link_options(spin), role, &env);
    let pid = child.id();
    let mut rng = Rng::new(seed ^ 0x50a4);
    let started = Instant::now();
    let warm = started + Duration::from_secs_f64((secs as f64 / 4.0).min(1.0));
    let end = started + Duration::from_secs(secs);
    let mut samples = Samples::default();
    // Sampled once after the warm-up, and last just before the end.
    let sample = |samples: &mut Samples| {
        let now = Instant::now();
        if (samples.parent.is_empty() && now >= warm)
            || (samples.parent.len() == 1 && now + Duration::from_millis(100) >= end)
        {
            samples.take(pid);
        }
    };
    let (sent, tally) = if child_produces {
        let tally = consume(&mut link, &mut rng, || sample(&mut samples));
        assert!(
            child.wait().unwrap().success(),
            "{mode}: the producer failed"
        );
        (words[SENT].load(SeqCst), tally)
    } else {
        // Produce in slices, so that the samples are taken on time.
        let mut sent = 0;
        while Instant::now() < end {
            sample(&mut samples);
            let slice = end.min(Instant::now() + Duration::from_millis(50));
            produce(&mut link, slice, &mut rng, &mut sent).expect("producing");
        }
        drop(link);
        assert!(
            child.wait().unwrap().success(),
            "{mode}: the consumer failed"
        );
        (sent, Tally::load(&words))
    };
    let elapsed = started.elapsed();
    let lost = tally.lost(sent);
    eprintln!("{mode}: sent {sent}, {tally:?}");
    assert_eq!(
        (lost, tally.duplicated, tally.reordered, tally.damaged),
        (0, 0, 0, 0),
        "{mode}: lost, duplicated, reordered, damaged (seed {seed})"
    );
    assert_eq!(tally.received, sent, "{mode}");
    assert!(
        tally.by_class.iter().all(|&n| n > 0),
        "{mode}: every size class: {:?}",
        tally.by_class
    );
    assert_eq!(samples.parent.len(), 2, "{mode}: samples {samples:?}");
    for (who, usage) in [
        ("this process", &samples.parent),
        ("the child", &samples.child),
    ] {
        let (start, end) = (usage[0], usage[1]);
        assert_eq!(start.fds, end.fds, "{mode}: descriptors of {who}");
        assert_eq!(start.maps, end.maps, "{mode}: mappings of {who}");
        assert!(
            end.rss_kib <= start.rss_kib + RSS_SLACK_KIB,
            "{mode}: resident memory of {who} grew from {} to {} KiB",
            start.rss_kib,
            end.rss_kib
        );
    }
    let (p, c) = (&samples.parent, &samples.child);
    format!(
        "{mode} ({}): {sent} messages in {elapsed:.1?} ({:.0}/s), by class {:?}; lost 0, duplicated 0, reordered 0, damaged 0; RSS KiB this {}->{} child {}->{}; fds this {}->{} child {}->{}; maps this {}->{} child {}->{}",
        if child_produces {
            "child to parent"
        } else {
            "parent to child"
        },
        sent as f64 / elapsed.as_secs_f64(),
        tally.by_class,
        p[0].rss_kib,
        p[1].rss_kib,
        c[0].rss_kib,
        c[1].rss_kib,
        p[0].fds,
        p[1].fds,
        c[0].fds,
        c[1].fds,
        p[0].maps,
        p[1].maps,
        c[0].maps,
        c[1].maps,
    )
}

#[test]
fn two_processes_move_every_size_class_in_every_wait_mode_with_nothing_lost_and_memory_flat() {
    let secs = env_number(SECS, 2);
    let seed = Rng::seed();
    eprintln!("seed {seed} (RINGLINK_SEED replays it)");
    let modes = [
        ("spin", SpinPolicy::BUSY, true),
        ("blocking", SpinPolicy { rounds: 0 }, false),
        ("default", SpinPolicy::default(), true),
    ];
    for (mode, spin, child_produces) in modes {
        let line = soak(mode, spin, child_produces, secs, seed);
        eprintln!("{line}");
    }
}

/// Found by the soak: when the socket had no room for another out-of-band
/// message, the sender published an empty frame for each retry, filling
/// the ring with them; a consumer whose releases were held back (working
/// through a backlog) could then walk a lap of empty frames onto a frame it
/// had already read, and read it again. A full socket is now backpressure
/// like a full ring: nothing is published, and `wait_writable` waits for
/// the socket.
#[test]
fn a_full_socket_is_backpressure_and_publishes_no_empty_frames() {
    let (mut a, mut b) = ringlink_memfd::pair(&options()).unwrap();
    let big = |seq| common::message_of_len(seq, 60 << 10);
    let mut sent = 0;
    while a.try_send(&big(sent)).unwrap() {
        sent += 1;
        assert!(sent < 64, "the socket never filled");
    }
    // Retries while the socket is full publish nothing: the ring keeps
    // its room for messages that fit a frame.
    for _ in 0..200 {
        assert!(!a.try_send(&big(sent)).unwrap());
    }
    let small = common::message_of_len(sent, 100);
    assert!(
        a.try_send(&small).unwrap(),
        "the ring filled up with empty frames"
    );
    // The wait is for the socket, and times out while nobody reads.
    let started = Instant::now();
    assert!(!a.try_send(&big(sent + 1)).unwrap());
    assert!(!a.wait_writable(Some(Duration::from_millis(50))).unwrap());
    assert!(started.elapsed() >= Duration::from_millis(40));
    a.flush().unwrap();
    // Everything arrives in order, nothing twice; then the socket has room.
    for seq in 0..=sent {
        common::verify(&b.recv(PATIENCE).unwrap(), seq);
    }
    while !a.try_send(&big(sent + 1)).unwrap() {
        assert!(a.wait_writable(PATIENCE).unwrap());
    }
    a.flush().unwrap();
    common::verify(&b.recv(PATIENCE).unwrap(), sent + 1);
    assert!(b.next().unwrap().is_none());
}
