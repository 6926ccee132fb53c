//! Resource limits: links opened and closed in a loop leak no descriptors,
//! mappings or memory; running out of descriptors gives an error that says
//! so and what to do, never a panic, and leaks nothing either.
//!
//! Both run in a child process of their own, where nothing else opens or
//! maps anything meanwhile (this binary's other test would).
//!
//! CI opens and closes 1,000 links; the long form:
//! `RINGLINK_LINKS=100000 cargo test --release -p ringlink-memfd --test resources -- --nocapture`.

mod common;

use common::{PATIENCE, Usage, child_command, env_number, message, options, verify};
use ringlink_core::{FrameReceiver, FrameSender};
use ringlink_memfd::{Address, Link, LinkOptions, Listener, SetupError, connect, pair};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::time::Instant;

/// Links the churn opens and closes.
const LINKS: &str = "RINGLINK_LINKS";

/// Most growth of resident memory over the churn (KiB).
const RSS_SLACK_KIB: u64 = 1024;

/// Moves one message each way, one of them out of band.
fn exchange(a: &mut Link, b: &mut Link, seq: u64) {
    a.send(&message(seq), PATIENCE).unwrap();
    verify(&b.recv(PATIENCE).unwrap(), seq);
    let big = common::message_of_len(seq + 1, 3000);
    b.send(&big, PATIENCE).unwrap();
    verify(&a.recv(PATIENCE).unwrap(), seq + 1);
}

/// Opens, uses and closes link number `i`: a pair in this process; every
/// tenth also a named segment, and a link through a listener.
fn one_link(i: u64) {
    let (mut a, mut b) = pair(&options()).expect("a link pair");
    exchange(&mut a, &mut b, i);
    drop((a, b));
    if i % 10 == 0 {
        let name = format!("ringlink-churn-{}", std::process::id());
        let named = LinkOptions {
            max_message: 0,
            ..options()
        };
        let mut a = Link::create_named(&name, &named).expect("a named segment");
        let mut b = Link::open_named(&name, &named).expect("opening it");
        a.send(&common::message_of_len(i, 100), PATIENCE).unwrap();
        verify(&b.recv(PATIENCE).unwrap(), i);
    }
    if i % 10 == 5 {
        let name = format!("ringlink-churn-{}", std::process::id());
        let listener = Listener::bind(Address::Abstract(name.clone().into()), options()).unwrap();
        let client = std::thread::spawn(move || {
            let mut link = connect(&Address::Abstract(name.into()), &options()).unwrap();
            let msg = link.recv(PATIENCE).unwrap().to_vec();
            link.send(&msg, PATIENCE).unwrap();
        });
        let mut link = listener.accept().unwrap();
        link.send(&message(i), PATIENCE).unwrap();
        verify(&link.recv(PATIENCE).unwrap(), i);
        client.join().unwrap();
    }
}

/// The full text of an error and its sources.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text += &format!(" / {e}");
        source = e.source();
    }
    text
}

/// Fills the holes among this process's descriptors (with /dev/null), so
/// that the next ones opened are numbered from just above the highest now
/// open; returns the fillers (keep them open) and that number.
fn fill_holes() -> (Vec<std::fs::File>, u64) {
    let highest: u64 = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .max()
        .unwrap();
    let mut fillers = Vec::new();
    loop {
        let file = std::fs::File::open("/dev/null").unwrap();
        if file.as_raw_fd() as u64 > highest {
            return (fillers, file.as_raw_fd() as u64);
        }
        fillers.push(file);
    }
}

fn set_soft_limit(soft: Option<u64>) {
    let limit = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: soft.or(limit.maximum),
            maximum: limit.maximum,
        },
    )
    .unwrap();
}

/// Checks that a setup error says the descriptors ran out and what to do.
fn check_clear(error: &SetupError) -> String {
    let text = chain(error);
    assert!(
        matches!(error, SetupError::OutOfDescriptors { .. }),
        "not reported as out of descriptors: {error:?}"
    );
    for needed in ["file descriptor", "RLIMIT_NOFILE", "ulimit -n", "close"] {
        assert!(text.contains(needed), "{needed:?} missing from: {text}");
    }
    text
}

#[test]
#[ignore = "the child process's entry point; the other tests run it"]
fn child_entry() {
    match common::role().as_str() {
        "churn" => churn(),
        "fd_limit" => fd_limit(),
        other => panic!("unknown role {other}"),
    }
}

fn churn() {
    let links = env_number(LINKS, 1000);
    // Warm-up: the allocator, thread-stack cache and buffers settle.
    for i in 0..30 {
        one_link(i);
    }
    let before = Usage::own();
    let started = Instant::now();
    for i in 0..links {
        one_link(i);
    }
    let took = started.elapsed();
    let after = Usage::own();
    println!("REPORT links={links}");
    println!("REPORT millis={}", took.as_millis());
    println!("REPORT fds={}->{}", before.fds, after.fds);
    println!("REPORT maps={}->{}", before.maps, after.maps);
    println!("REPORT rss_kib={}->{}", before.rss_kib, after.rss_kib);
}

fn fd_limit() {
    // With the holes filled, a limit of `first + k` leaves k descriptors.
    let (_fillers, first) = fill_holes();
    let base = Usage::own().fds;
    // A limit that leaves k descriptors free, for k from none to enough.
    let (mut refused, mut opened) = (0, 0);
    for k in 0..=12 {
        set_soft_limit(Some(first + k));
        match pair(&options()) {
            Ok((mut a, mut b)) => {
                exchange(&mut a, &mut b, k);
                opened += 1;
            }
            Err(e) => {
                let text = check_clear(&e);
                println!("REPORT error.{k}={text}");
                refused += 1;
            }
        }
        set_soft_limit(None);
        assert_eq!(Usage::own().fds, base, "descriptors leaked with {k} free");
    }
    // Links kept open until the limit refuses one.
    set_soft_limit(Some(first + 64));
    let mut links = Vec::new();
    let error = loop {
        match pair(&options()) {
            Ok(pair) => links.push(pair),
            Err(e) => break e,
        }
        assert!(
            links.len() < 64,
            "64 descriptors held {} links",
            links.len()
        );
    };
    let text = check_clear(&error);
    let held = links.len();
    for (a, b) in &mut links {
        exchange(a, b, 1);
    }
    drop(links);
    set_soft_limit(None);
    assert_eq!(Usage::own().fds, base, "descriptors leaked");
    println!("REPORT refused={refused}");
    println!("REPORT opened={opened}");
    println!("REPORT held={held}");
    println!("REPORT error={text}");
}

/// Runs `role` in a child and returns its `REPORT` lines.
fn run(role: &str) -> BTreeMap<String, String> {
    let mut child = child_command(role).stdout(Stdio::piped()).spawn().unwrap();
    let mut output = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "the {role} child failed: {status:?}");
    common::parse_report(&output)
}

/// A `before->after` figure.
fn pair_of(report: &BTreeMap<String, String>, key: &str) -> (u64, u64) {
    let (a, b) = report[key].split_once("->").unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn a_thousand_links_opened_and_closed_leak_nothing() {
    let report = run("churn");
    eprintln!("{report:?}");
    let (fds, maps, rss) = (
        pair_of(&report, "fds"),
        pair_of(&report, "maps"),
        pair_of(&report, "rss_kib"),
    );
    assert_eq!(fds.0, fds.1, "descriptors leaked");
    assert_eq!(maps.0, maps.1, "mappings leaked");
    assert!(
        rss.1 <= rss.0 + RSS_SLACK_KIB,
        "resident memory grew from {} to {} KiB",
        rss.0,
        rss.1
    );
}

#[test]
fn running_out_of_descriptors_is_a_clear_error_not_a_panic() {
    let report = run("fd_limit");
    for (key, value) in &report {
        eprintln!("{key}: {value}");
    }
    let number = |key: &str| report[key].parse::<u64>().unwrap();
    assert!(number("refused") > 0, "no attempt was refused");
    assert!(number("opened") > 0, "no attempt succeeded");
}
