//! Typed request/response between two processes: the parent sends rkyv
//! requests, a child it spawns answers; both read the archives in place.
//!
//! ```text
//! cargo run --release -p ringlink-examples --bin memfd_typed [COUNT]
//! ```

use ringlink_core::{FrameReceiver, FrameSender, typed};
use ringlink_memfd::{Link, LinkOptions, pair_for_child};
use std::process::Command;
use std::time::{Duration, Instant};

const PATIENCE: Option<Duration> = Some(Duration::from_secs(10));
/// The argument that makes this program the answering child.
const SERVE: &str = "--serve";
const USAGE: &str = "usage: memfd_typed [COUNT]";

/// A request: add up the numbers.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct Sum {
    id: u64,
    numbers: Vec<i64>,
}

/// The answer.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct Total {
    id: u64,
    total: i64,
}

/// Sends `value` typed, waiting for room.
fn send<T>(link: &mut Link, value: &T) -> Result<(), Box<dyn std::error::Error>>
where
    T: for<'a, 'b> rkyv::Serialize<
            rkyv::api::high::HighSerializer<
                rkyv::ser::writer::Buffer<'b>,
                rkyv::ser::allocator::ArenaHandle<'a>,
                rkyv::rancor::Error,
            >,
        >,
{
    loop {
        if let Some(frame) = link.reserve()? {
            typed::write(frame, value)?;
            break;
        }
        link.wait_writable(PATIENCE)?;
    }
    Ok(link.flush()?)
}

fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let mut link = Link::from_inherited(&LinkOptions::default())?;
    loop {
        let answer = {
            let msg = match link.recv(None) {
                Ok(msg) => msg,
                Err(ringlink_core::LinkError::Disconnected) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            let request = typed::access::<Sum>(&msg)?;
            Total {
                id: request.id.into(),
                total: request.numbers.iter().map(|n| i64::from(*n)).sum(),
            }
        };
        send(&mut link, &answer)?;
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(SERVE) {
        return serve();
    }
    let count: u64 = match args.get(1) {
        Some(n) => ringlink_examples::count(n)?,
        None => 10_000,
    };
    let (mut link, child_end) = pair_for_child(&LinkOptions::default())?;
    let mut child = child_end.spawn(Command::new(&args[0]).arg(SERVE))?;
    let start = Instant::now();
    for id in 0..count {
        let numbers: Vec<i64> = (0..(id % 32) as i64).collect();
        let expected: i64 = numbers.iter().sum();
        send(&mut link, &Sum { id, numbers })?;
        let msg = link.recv(PATIENCE)?;
        let answer = typed::access::<Total>(&msg)?;
        if answer.id != id || answer.total != expected {
            return Err(
                format!("request {id}: got id {} total {}", answer.id, answer.total).into(),
            );
        }
    }
    let elapsed = start.elapsed();
    drop(link);
    child.wait()?;
    println!(
        "{count} typed request/response round trips in {elapsed:.2?} ({:.1} µs each)",
        elapsed.as_secs_f64() * 1e6 / count as f64
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
            eprintln!("memfd_typed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
