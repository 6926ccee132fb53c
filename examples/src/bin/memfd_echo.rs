//! An echo server and client over memfd links, as two commands.
//!
//! ```text
//! cargo run --release -p ringlink-examples --bin memfd_echo -- server [ADDRESS]
//! cargo run --release -p ringlink-examples --bin memfd_echo -- client [ADDRESS] [COUNT]
//! ```
//!
//! ADDRESS is a socket path (anything with a `/`) or an abstract name
//! (a leading `@` is optional); the default is `@ringlink-echo`. The server echoes every
//! message of every client (a thread each); the client sends COUNT messages
//! of 64 bytes to 64 KiB, checks each echo, and prints round-trip times.

use ringlink_core::{FrameReceiver, FrameSender};
use ringlink_memfd::{Address, Link, LinkOptions, Listener, connect};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: memfd_echo server [ADDRESS] | memfd_echo client [ADDRESS] [COUNT]";
const PATIENCE: Option<Duration> = Some(Duration::from_secs(10));

fn address(arg: Option<&String>) -> Address {
    match arg {
        Some(a) if a.contains('/') => Address::Path(a.into()),
        Some(a) => Address::Abstract(a.trim_start_matches('@').as_bytes().to_vec()),
        None => Address::Abstract(b"ringlink-echo".to_vec()),
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => serve(address(args.get(1))),
        Some("client") => {
            let count = match args.get(2) {
                Some(n) => ringlink_examples::count(n)? as usize,
                None => 10_000,
            };
            run_client(address(args.get(1)), count)
        }
        _ => Err(USAGE.into()),
    }
}

fn serve(address: Address) -> Result<(), Box<dyn std::error::Error>> {
    let listener = Listener::bind(address, LinkOptions::default())?;
    println!("echoing on {} (Ctrl-C to stop)", listener.address());
    loop {
        let link = listener.accept()?;
        std::thread::spawn(move || {
            if let Err(e) = echo(link) {
                eprintln!("client gone: {e}");
            }
        });
    }
}

fn echo(mut link: Link) -> Result<(), ringlink_core::LinkError> {
    loop {
        let msg = link.recv(None)?.to_vec();
        link.send(&msg, PATIENCE)?;
    }
}

fn run_client(address: Address, count: usize) -> Result<(), Box<dyn std::error::Error>> {
    let mut link = connect(&address, &LinkOptions::default())?;
    let sizes = [64usize, 1024, 16 << 10, 64 << 10];
    let mut rtts = Vec::with_capacity(count);
    let start = Instant::now();
    for i in 0..count {
        let size = sizes[i % sizes.len()];
        let msg: Vec<u8> = (0..size).map(|j| (i + j) as u8).collect();
        let t = Instant::now();
        link.send(&msg, PATIENCE)?;
        let reply = link.recv(PATIENCE)?;
        rtts.push(t.elapsed());
        if reply[..] != msg[..] {
            return Err(format!("echo {i} differs from what was sent").into());
        }
    }
    let elapsed = start.elapsed();
    rtts.sort();
    let at = |q: f64| rtts[((rtts.len() - 1) as f64 * q) as usize];
    println!(
        "{count} echoes of {sizes:?} bytes in {elapsed:.2?}: round trip p50 {:?}, p99 {:?}",
        at(0.5),
        at(0.99)
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    if ringlink_examples::help_asked(USAGE) {
        return std::process::ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("memfd_echo: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
