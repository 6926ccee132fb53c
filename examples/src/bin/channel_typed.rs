//! Two threads exchanging typed (rkyv) messages through the core ring,
//! built in place in the frames and read in place with validation.
//!
//! Run: `cargo run -p ringlink-examples --bin channel_typed [COUNT]`

use ringlink_core::{FrameReceiver, FrameSender, Geometry, SpinPolicy, channel, typed};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: channel_typed [COUNT]";

/// A message with a variable-length part, archived by rkyv.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug)]
struct Reading {
    seq: u64,
    sensor: String,
    samples: Vec<f32>,
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let count: u64 = match std::env::args().nth(1) {
        Some(arg) => ringlink_examples::count(&arg)?,
        None => 100_000,
    };
    let geometry = Geometry::for_messages(256, 1024)?;
    let (mut tx, mut rx) = channel::channel(geometry, SpinPolicy::default())?;
    let start = Instant::now();
    let producer = std::thread::spawn(move || -> Result<(), String> {
        for seq in 0..count {
            let reading = Reading {
                seq,
                sensor: format!("probe-{}", seq % 8),
                samples: vec![seq as f32; (seq % 16) as usize],
            };
            loop {
                if let Some(frame) = tx.reserve().map_err(|e| e.to_string())? {
                    typed::write(frame, &reading).map_err(|e| e.to_string())?;
                    break;
                }
                tx.wait_writable(Some(Duration::from_secs(5)))
                    .map_err(|e| e.to_string())?;
            }
            if seq % 64 == 63 {
                tx.flush().map_err(|e| e.to_string())?;
            }
        }
        tx.flush().map_err(|e| e.to_string())
    });
    let mut total_samples = 0usize;
    for expected in 0..count {
        let msg = rx.recv(Some(Duration::from_secs(5)))?;
        let reading = typed::access::<Reading>(&msg)?;
        if reading.seq != expected {
            return Err(format!("expected message {expected}, got {}", reading.seq).into());
        }
        total_samples += reading.samples.len();
    }
    producer.join().map_err(|_| "producer thread panicked")??;
    let elapsed = start.elapsed();
    println!(
        "{count} typed messages ({total_samples} samples) in {elapsed:.2?}: {:.2} M msgs/s",
        count as f64 / elapsed.as_secs_f64() / 1e6
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
            eprintln!("channel_typed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
