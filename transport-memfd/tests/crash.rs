//! Peers killed with SIGKILL at random points.
//!
//! A producer child builds sequence-numbered, checksummed messages in place
//! (reserve, fill, a random pause, commit) or sends them out of band (COPY,
//! larger than a frame), and records in a page it shares with this process
//! the message it is about to commit, the last one it committed, and what
//! it is doing. It is killed after a random delay, while this process reads
//! at full speed or lags behind (so that it is also killed waiting for
//! room). Every message it committed must then arrive exactly once, in
//! order, intact, and then `Disconnected`, within a bounded time.
//!
//! A consumer child verifies what it receives and is killed the same way:
//! this process, still sending, must get `Disconnected` (never block for
//! good on the ring the dead child no longer empties).
//!
//! CI kills each side `RINGLINK_KILLS` times (default 100); the long form:
//! `RINGLINK_KILLS=2000 cargo test --release -p ringlink-memfd --test crash -- --nocapture`.

mod common;

use common::{
    PATIENCE, Rng, SharedWords, drain_until_disconnected, env_number, fill_message, message,
    message_of_len, options, spawn, verify,
};
use ringlink_core::{FrameReceiver, FrameSender, LinkError};
use ringlink_memfd::Link;
use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

/// Path of the page shared with the child.
const WORDS: &str = "RINGLINK_TEST_WORDS";
/// Seed of the child's random choices.
const SEED: &str = "RINGLINK_TEST_SEED";
/// Kills per test.
const KILLS: &str = "RINGLINK_KILLS";

/// Words of the shared page: the producer's next sequence number about to
/// be committed (+1), its committed count, and its phase; the consumer's
/// verified count.
const STARTED: usize = 0;
const COMMITTED: usize = 1;
const PHASE: usize = 2;
const RECEIVED: usize = 3;
const WORD_COUNT: usize = 4;

/// What the producer child is doing, as recorded in the shared page.
const PHASES: [&str; 7] = [
    "between messages",
    "reserving",
    "building in the frame",
    "committing",
    "sending out of band (COPY)",
    "waiting for room",
    "flushing",
];
const BETWEEN: u64 = 0;
const RESERVING: u64 = 1;
const BUILDING: u64 = 2;
const COMMITTING: u64 = 3;
const COPYING: u64 = 4;
const WAITING: u64 = 5;
const FLUSHING: u64 = 6;

/// Longest time from the kill to `Disconnected`.
const DISCONNECT_BOUND: Duration = Duration::from_secs(2);

#[test]
#[ignore = "the child process's entry point; the other tests run it"]
fn child_entry() {
    let words = SharedWords::open(&std::env::var(WORDS).unwrap(), WORD_COUNT);
    let mut rng = Rng::new(env_number(SEED, 0));
    let mut link = Link::from_inherited(&options()).expect("the inherited link");
    match common::role().as_str() {
        "producer" => {
            let result = produce(&mut link, &words, &mut rng);
            panic!("the producer stopped before it was killed: {result:?}");
        }
        "consumer" => consume(&mut link, &words, &mut rng),
        other => panic!("unknown role {other}"),
    }
}

/// A busy pause of up to 50 µs, one time in two: widens the windows a
/// kill can land in (a frame reserved and half built, say), and keeps the
/// producer from always outrunning the reader.
fn pause(rng: &mut Rng) {
    if rng.one_in(2) {
        let until = Instant::now() + Duration::from_nanos(rng.range(0..50_000));
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }
}

/// Produces until killed; returns only on an error.
fn produce(link: &mut Link, words: &SharedWords, rng: &mut Rng) -> Result<(), LinkError> {
    let capacity = link.frame_capacity();
    let phase = |p: u64| words[PHASE].store(p, SeqCst);
    for seq in 0u64.. {
        // Tiny, up to a frame, exactly a frame, or larger than a frame.
        let len = match rng.below(20) {
            0..8 => rng.range(16..64) as usize,
            8..13 => rng.range(64..capacity as u64) as usize,
            13..15 => capacity,
            _ => rng.range(capacity as u64 + 1..32 << 10) as usize,
        };
        words[STARTED].store(seq + 1, SeqCst);
        if len <= capacity {
            loop {
                phase(RESERVING);
                if let Some(mut frame) = link.reserve()? {
                    phase(BUILDING);
                    fill_message(&mut frame.buf()[..len], seq);
                    pause(rng);
                    phase(COMMITTING);
                    frame.commit(len)?;
                    break;
                }
                phase(WAITING);
                link.wait_writable(PATIENCE)?;
            }
        } else {
            let msg = message_of_len(seq, len);
            phase(COPYING);
            while !link.send_out_of_band(&msg)? {
                phase(WAITING);
                link.wait_writable(PATIENCE)?;
                phase(COPYING);
            }
        }
        words[COMMITTED].store(seq + 1, SeqCst);
        phase(BETWEEN);
        if rng.one_in(8) {
            phase(FLUSHING);
            link.flush()?;
            phase(BETWEEN);
        }
        pause(rng);
    }
    Ok(())
}

/// Receives and verifies until killed, now and then pausing so that the
/// ring fills up behind it.
fn consume(link: &mut Link, words: &SharedWords, rng: &mut Rng) {
    for expected in 0u64.. {
        let msg = link.recv(PATIENCE).expect("a message in time");
        verify(&msg, expected);
        drop(msg);
        words[RECEIVED].store(expected + 1, SeqCst);
        if rng.one_in(200) {
            std::thread::sleep(Duration::from_micros(rng.range(0..3000)));
        }
    }
}

/// Spawns the child playing `role` for round `round`, with a fresh shared
/// page and a seed of its own.
fn start(role: &str, round: u64, rng: &mut Rng) -> (SharedWords, Link, Child) {
    let words = SharedWords::create(&format!("crash-{role}-{round}"), WORD_COUNT);
    let env = [
        (WORDS, words.path().to_string()),
        (SEED, rng.next_u64().to_string()),
    ];
    let (link, child) = spawn(&options(), role, &env);
    (words, link, child)
}

#[test]
fn a_producer_killed_at_random_points_loses_nothing_it_committed() {
    let kills = env_number(KILLS, 100);
    let seed = Rng::seed();
    eprintln!("seed {seed} (RINGLINK_SEED replays it)");
    let mut rng = Rng::new(seed);
    let mut at_kill = [0u64; PHASES.len()];
    let (mut messages, mut lagging, mut exact) = (0, 0, 0);
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    for round in 0..kills {
        let (words, mut link, mut child) = start("producer", round, &mut rng);
        verify(&link.recv(PATIENCE).expect("the first message"), 0);
        let mut received = 1;
        // Kill after up to 20 ms of producing; one round in three, this
        // side lags and the producer often waits for room.
        let kill_after = Duration::from_micros(rng.range(0..20_000));
        let lag = rng.one_in(3);
        lagging += u64::from(lag);
        let producing = Instant::now();
        while producing.elapsed() < kill_after {
            if let Some(msg) = link.next().expect("no error before the kill") {
                verify(&msg, received);
                received += 1;
                if lag {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let killed_at = Instant::now();
        assert_eq!(status.signal(), Some(9), "round {round}: {status:?}");
        let phase = words[PHASE].load(SeqCst) as usize;
        at_kill[phase.min(PHASES.len() - 1)] += 1;
        // Everything committed, in order and intact (verified), then
        // Disconnected.
        let received = drain_until_disconnected(&mut link, received);
        let took = killed_at.elapsed();
        let (begun, committed) = (words[STARTED].load(SeqCst), words[COMMITTED].load(SeqCst));
        // The kill may land between a commit and its count: the message
        // being committed then may or may not have arrived, nothing else.
        assert!(
            committed <= received && received <= begun,
            "round {round}: {received} received; {committed} committed, {begun} begun (killed {})",
            PHASES[phase]
        );
        exact += u64::from(received == committed);
        assert!(
            took < DISCONNECT_BOUND,
            "round {round}: Disconnected {took:?} after the kill"
        );
        slowest = slowest.max(took);
        messages += received;
    }
    let phases: Vec<String> = PHASES
        .iter()
        .zip(at_kill)
        .filter(|(_, n)| *n > 0)
        .map(|(p, n)| format!("{p}: {n}"))
        .collect();
    eprintln!(
        "{kills} producers killed ({lagging} behind a lagging reader) in {:?}: {messages} messages received, 0 lost, 0 duplicated, 0 reordered, 0 damaged; received = committed in {exact} rounds, committed + 1 (killed between commit and count) in {}; slowest Disconnected {slowest:?} after the kill; killed while {}",
        started.elapsed(),
        kills - exact,
        phases.join(", ")
    );
}

#[test]
fn a_consumer_killed_at_random_points_disconnects_its_producer() {
    let kills = env_number(KILLS, 100);
    let seed = Rng::seed() ^ 0xc0;
    eprintln!("seed {seed} (RINGLINK_SEED replays it)");
    let mut rng = Rng::new(seed);
    let (mut sent_total, mut after_kill, mut blocked) = (0, 0, 0);
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    for round in 0..kills {
        let (words, mut link, mut child) = start("consumer", round, &mut rng);
        let kill_after = Duration::from_micros(rng.range(0..20_000));
        let mut sent = 0u64;
        let producing = Instant::now();
        while producing.elapsed() < kill_after {
            link.send(&message(sent), PATIENCE)
                .unwrap_or_else(|e| panic!("round {round}: message {sent}: {e}"));
            sent += 1;
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let killed_at = Instant::now();
        assert_eq!(
            status.signal(),
            Some(9),
            "round {round}: the consumer stopped by itself (lost, duplicated or reordered?): {status:?}"
        );
        let received = words[RECEIVED].load(SeqCst);
        assert!(received <= sent, "round {round}: {received} of {sent}");
        // Keep sending: the ring fills, then the wait for room must end
        // in Disconnected.
        let mut more = 0;
        loop {
            match link.send(&message(sent + more), PATIENCE) {
                Ok(()) => more += 1,
                Err(LinkError::Disconnected) => break,
                Err(e) => panic!("round {round}: {e}"),
            }
            assert!(
                killed_at.elapsed() < DISCONNECT_BOUND,
                "round {round}: still sending {:?} after the kill",
                killed_at.elapsed()
            );
        }
        let took = killed_at.elapsed();
        assert!(took < DISCONNECT_BOUND, "round {round}: {took:?}");
        slowest = slowest.max(took);
        blocked += u64::from(more > 0);
        after_kill += more;
        sent_total += sent;
    }
    eprintln!(
        "{kills} consumers killed in {:?}: {sent_total} messages sent before the kills; {after_kill} more accepted after them (into the ring, in {blocked} rounds) before Disconnected; slowest Disconnected {slowest:?} after the kill",
        started.elapsed()
    );
}
