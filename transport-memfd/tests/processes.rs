//! memfd links between two real processes: this test binary re-runs itself
//! as the child (the ignored `child_entry` test, picked by an environment
//! variable), with its end of the link inherited.

mod common;

use common::{
    PATIENCE, SharedWords, child_command, drain_until_disconnected, message, options,
    segment_of_process, verify,
};
use ringlink_core::{FrameReceiver, FrameSender, LinkError};
use ringlink_memfd::{Address, Link, LinkOptions, Listener, connect};
use std::process::Child;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::time::{Duration, Instant};

/// How many messages the child's role moves.
const COUNT: &str = "RINGLINK_TEST_COUNT";
/// Path of a file whose first 8 bytes count the child's commits.
const COUNTER: &str = "RINGLINK_TEST_COUNTER";
/// A listener's address for clients: `path:...` or `abstract:...`.
const ADDRESS: &str = "RINGLINK_TEST_ADDRESS";

/// Spawns this test binary as the child playing `role`.
fn spawn(role: &str, count: u64, env: &[(&str, String)]) -> (Link, Child) {
    let mut env = env.to_vec();
    env.push((COUNT, count.to_string()));
    common::spawn(&options(), role, &env)
}

/// Sends `count` messages, flushing in batches, until done or the link fails.
fn produce(link: &mut Link, count: u64, progress: Option<&AtomicU64>) -> Result<(), LinkError> {
    for seq in 0..count {
        let msg = message(seq);
        while !link.try_send(&msg)? {
            link.wait_writable(PATIENCE)?;
        }
        if let Some(counter) = progress {
            counter.store(seq + 1, Release);
        }
        if seq % 16 == 15 {
            link.flush()?;
        }
    }
    link.flush()
}

/// Receives `count` messages in order, verifying each.
fn consume(link: &mut Link, count: u64) {
    for expected in 0..count {
        let msg = link.recv(PATIENCE).expect("a message in time");
        verify(&msg, expected);
    }
}

#[test]
#[ignore = "the child process's entry point; the other tests run it"]
fn child_entry() {
    let role = common::role();
    let count: u64 = std::env::var(COUNT).unwrap().parse().unwrap();
    if let Some(name) = role.strip_prefix("named:") {
        let mut link = Link::open_named(name, &options()).expect("opening the named segment");
        match produce(&mut link, count, None) {
            Ok(()) => std::thread::sleep(Duration::from_secs(60)),
            Err(LinkError::TooLarge { .. }) => {
                drop(link);
                std::process::exit(3);
            }
            Err(e) => panic!("{e}"),
        }
        return;
    }
    if role == "client" {
        let address = parse_address(&std::env::var(ADDRESS).unwrap());
        let mut link = connect(&address, &options()).expect("connecting to the listener");
        for seq in 0..count {
            link.send(&message(seq), PATIENCE).unwrap();
            verify(&link.recv(PATIENCE).unwrap(), seq);
        }
        return;
    }
    let mut link = Link::from_inherited(&options()).expect("the inherited link");
    match role.as_str() {
        "produce" => produce(&mut link, count, None).unwrap(),
        "produce_counted" => {
            let progress = SharedWords::open(&std::env::var(COUNTER).unwrap(), 1);
            // Runs until the parent kills it.
            let _ = produce(&mut link, count, Some(&progress[0]));
            std::thread::sleep(Duration::from_secs(60));
        }
        "consume" => consume(&mut link, count),
        "consume_then_hang" => {
            consume(&mut link, count);
            std::thread::sleep(Duration::from_secs(60));
        }
        "echo" => {
            for _ in 0..count {
                let msg = link.recv(PATIENCE).unwrap().to_vec();
                link.send(&msg, PATIENCE).unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn a_million_mixed_messages_cross_processes_intact() {
    let count = 1_000_000;
    let (mut link, mut child) = spawn("produce", count, &[]);
    let start = Instant::now();
    consume(&mut link, count);
    assert!(child.wait().unwrap().success(), "the producer failed");
    // Everything was delivered; then the peer is gone.
    assert!(matches!(link.recv(PATIENCE), Err(LinkError::Disconnected)));
    eprintln!("{count} messages in {:?}", start.elapsed());
}

#[test]
fn both_directions_carry_messages() {
    let count = 10_000;
    let (mut link, mut child) = spawn("echo", count, &[]);
    for seq in 0..count {
        link.send(&message(seq), PATIENCE).unwrap();
        verify(&link.recv(PATIENCE).unwrap(), seq);
    }
    assert!(child.wait().unwrap().success());
}

#[test]
fn deferred_frames_survive_the_ring_wrapping_across_processes() {
    let count = 20_000;
    let (mut link, mut child) = spawn("produce", count, &[]);
    let mut held = Vec::new();
    for expected in 0..count {
        {
            let msg = link.recv(PATIENCE).unwrap();
            verify(&msg, expected);
            // Hold every 7th frame for a while; the producer skips them.
            if expected % 7 == 0 && !msg.is_copy() {
                if let Ok(handle) = msg.defer() {
                    held.push((expected, handle));
                }
            }
        }
        if held.len() > 20 {
            // Release out of order: newest first, then the oldest.
            let newest = held.pop().unwrap();
            let oldest = held.remove(0);
            for (seq, handle) in [newest, oldest] {
                verify(link.deferred_payload(&handle).unwrap(), seq);
                link.release(handle).unwrap();
            }
        }
    }
    for (seq, handle) in held {
        verify(link.deferred_payload(&handle).unwrap(), seq);
        link.release(handle).unwrap();
    }
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_killed_producer_loses_nothing_it_committed() {
    for round in 0..20u64 {
        let progress = SharedWords::create(&format!("counter-{round}"), 1);
        let env = [(COUNTER, progress.path().to_string())];
        let (mut link, mut child) = spawn("produce_counted", u64::MAX, &env);
        // Kill it after a pseudo-random number of received messages.
        let kill_after = 1 + (round * 7919 + 13) % 5000;
        let mut received = 0u64;
        let killed_at = loop {
            let msg = link.recv(PATIENCE).expect("messages before the kill");
            verify(&msg, received);
            received += 1;
            if received == kill_after {
                child.kill().unwrap();
                child.wait().unwrap();
                break Instant::now();
            }
        };
        let committed = progress[0].load(Acquire);
        let received = drain_until_disconnected(&mut link, received);
        // The counter is bumped just after each commit: the last commit
        // may not be counted yet.
        assert!(
            received == committed || received == committed + 1,
            "round {round}: {received} received, {committed} committed"
        );
        assert!(
            killed_at.elapsed() < Duration::from_secs(5),
            "Disconnected took too long"
        );
    }
}

#[test]
fn a_killed_consumer_disconnects_a_blocked_producer() {
    let (mut link, mut child) = spawn("consume_then_hang", 10, &[]);
    for seq in 0..10 {
        link.send(&message(seq), PATIENCE).unwrap();
    }
    // Fill the ring: the child no longer reads.
    let mut seq = 10;
    while link.try_send(&message(seq)).unwrap() {
        seq += 1;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let started = Instant::now();
    let result = link.send(&message(seq), PATIENCE);
    assert!(matches!(result, Err(LinkError::Disconnected)), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn the_peer_cannot_resize_the_segment_through_proc() {
    let (link, mut child) = spawn("consume_then_hang", 0, &[]);
    // The child holds its own descriptor of the memfd: open it through /proc.
    let file = std::fs::File::from(segment_of_process(child.id()));
    assert!(
        file.set_len(0).is_err(),
        "shrinking a sealed segment must fail"
    );
    assert!(
        file.set_len(1 << 30).is_err(),
        "growing a sealed segment must fail"
    );
    drop(link);
    child.kill().unwrap();
    child.wait().unwrap();
}

fn parse_address(text: &str) -> Address {
    match text.split_once(':') {
        Some(("path", path)) => Address::Path(path.into()),
        Some(("abstract", name)) => Address::Abstract(name.as_bytes().to_vec()),
        _ => panic!("bad address {text}"),
    }
}

/// Spawns a child that connects to `address` and exchanges `count`
/// echoed messages.
fn spawn_client(address: &str, count: u64) -> Child {
    child_command("client")
        .env(COUNT, count.to_string())
        .env(ADDRESS, address)
        .spawn()
        .unwrap()
}

#[test]
fn a_listener_serves_many_client_processes_by_name() {
    let path = std::env::temp_dir().join(format!("ringlink-test-{}.sock", std::process::id()));
    let names = [
        format!("path:{}", path.display()),
        format!("abstract:ringlink-test-{}", std::process::id()),
    ];
    for name in names {
        let listener = Listener::bind(parse_address(&name), options()).unwrap();
        let count = 500;
        let mut children: Vec<Child> = (0..3).map(|_| spawn_client(&name, count)).collect();
        let mut links: Vec<Link> = (0..3).map(|_| listener.accept().unwrap()).collect();
        // Echo for all clients at once, round-robin.
        let mut echoed = vec![0u64; links.len()];
        while echoed.iter().any(|&n| n < count) {
            for (link, n) in links.iter_mut().zip(echoed.iter_mut()) {
                if *n < count && link.poll().unwrap() {
                    let msg = link.next().unwrap().expect("polled").to_vec();
                    link.send(&msg, PATIENCE).unwrap();
                    *n += 1;
                }
            }
        }
        for child in &mut children {
            assert!(child.wait().unwrap().success(), "a client failed");
        }
        drop(listener);
        assert!(!path.exists(), "the listener removes its socket file");
    }
}

#[test]
fn connecting_to_nothing_says_where() {
    let address = Address::Path("/nonexistent/ringlink.sock".into());
    let err = connect(&address, &options())
        .err()
        .expect("no listener there");
    assert!(
        err.to_string().contains("/nonexistent/ringlink.sock"),
        "{err}"
    );
}

/// Spawns a child that opens the named segment `name` and sends `count`
/// messages (forever, for `u64::MAX`).
fn spawn_named_producer(name: &str, count: u64) -> Child {
    child_command(&format!("named:{name}"))
        .env(COUNT, count.to_string())
        .spawn()
        .unwrap()
}

#[test]
fn a_named_segment_links_processes_that_pass_no_descriptors() {
    let name = format!("ringlink-test-{}", std::process::id());
    let small = LinkOptions {
        max_message: 0,
        ..options()
    };
    let mut link = Link::create_named(&name, &small).unwrap();
    assert!(link.pollable_fd().is_none(), "no descriptors in named mode");
    let mut child = spawn_named_producer(&name, 100_000);
    // The child's messages fit a frame except every 61st, which a named
    // link (no out-of-band path) refuses: the child stops there.
    let received = drain_until_disconnected(&mut link, 0);
    assert_eq!(
        child.wait().unwrap().code(),
        Some(3),
        "refused with TooLarge"
    );
    assert_eq!(
        received, 60,
        "everything before the oversized message arrived"
    );
    // A second link cannot take the same name while this one lives.
    let err = Link::create_named(&name, &small).err().expect("name taken");
    assert!(err.to_string().contains("exists"), "{err}");
}

#[test]
fn a_killed_named_peer_is_noticed() {
    let name = format!("ringlink-test-kill-{}", std::process::id());
    let mut link = Link::create_named(&name, &options()).unwrap();
    let mut child = spawn_named_producer(&name, u64::MAX);
    for seq in 0..50 {
        verify(&link.recv(PATIENCE).unwrap(), seq);
    }
    // The child keeps sending (the ring is full behind it): kill it.
    child.kill().unwrap();
    child.wait().unwrap();
    let started = Instant::now();
    drain_until_disconnected(&mut link, 50);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
