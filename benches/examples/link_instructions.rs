//! Instructions per message on the memfd link's hot path, for
//! `valgrind --tool=callgrind` (which counts instructions exactly, where
//! timings on a shared host do not): one thread sends a 64-byte message
//! through one end of a memfd `pair()` (reserve, copy, commit) and
//! receives it at the other (`recv`, copy out, release), `N` times.
//!
//! Run it for two counts and divide the difference by the difference of
//! the counts, so that setting up the link cancels out:
//!
//! ```sh
//! cargo build --release -p ringlink-benches --example link_instructions
//! for n in 100000 200000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/link_instructions $n 2>&1 | grep Collected
//! done
//! ```

use ringlink_core::{FrameReceiver, FrameSender, SpinPolicy};
use ringlink_memfd::{Link, LinkOptions, Trust, pair};

/// Reserves a frame, copies `msg` in and commits it.
#[inline(never)]
fn send(link: &mut Link, msg: &[u8]) -> Result<(), String> {
    let mut frame = link
        .reserve()
        .map_err(|e| e.to_string())?
        .ok_or("the ring is full")?;
    frame.buf()[..msg.len()].copy_from_slice(msg);
    frame.commit(msg.len()).map_err(|e| e.to_string())
}

/// Receives the next message and copies it out.
#[inline(never)]
fn recv(link: &mut Link, out: &mut [u8]) -> Result<(), String> {
    let msg = link.recv(None).map_err(|e| e.to_string())?;
    out.copy_from_slice(&msg);
    Ok(())
}

fn main() -> Result<(), String> {
    let n: u64 = match std::env::args().nth(1) {
        Some(n) => n.parse().map_err(|e| format!("the count {n:?}: {e}"))?,
        None => 100_000,
    };
    // The benchmark's 64 B case: messages read in place, spinning waits.
    let options = LinkOptions {
        frame_message: 64,
        frames: 1024,
        max_message: 64,
        trust: Trust::Peer,
        spin: SpinPolicy::BUSY,
        ..LinkOptions::default()
    };
    let (mut a, mut b) = pair(&options).map_err(|e| e.to_string())?;
    let (mut msg, mut out) = ([0u8; 64], [0u8; 64]);
    let mut sum = 0u64;
    for i in 0..n {
        msg[0] = i as u8;
        send(&mut a, &msg)?;
        recv(&mut b, &mut out)?;
        sum += u64::from(out[0]);
    }
    // Every message came back as sent.
    let expected: u64 = (0..n).map(|i| u64::from(i as u8)).sum();
    if sum != expected {
        return Err(format!("checksum {sum}, expected {expected}"));
    }
    println!("{n} messages of 64 B sent and received");
    Ok(())
}
