//! In-process throughput: two threads moving 64-byte messages through the
//! core ring over heap memory, and through the minimal ring as baseline.

use crate::minimal_ring::{MinimalRing, Slot};
use crossbeam_utils::Backoff;
use ringlink_core::{Consumer, Geometry, HeapMemory, Producer, Ring};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Message size of the in-process comparison.
pub const MESSAGE: usize = 64;
/// Frames (slots) in either ring.
pub const FRAMES: u32 = 1024;

/// Pins the calling thread to `cpu` when the machine has it; a best effort
/// that steadies the figures where the host allows it.
fn pin(cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu % std::thread::available_parallelism().map_or(1, |n| n.get()));
    if std::env::var_os("PIN").is_some() {
        let _ = rustix::thread::sched_setaffinity(None, &set);
    }
}

/// Runs `produce` on a thread pinned to CPU 0 and `consume` on one pinned
/// to CPU 1; returns the time until both finished.
fn two_threads(produce: impl FnOnce() + Send, consume: impl FnOnce() + Send) -> Duration {
    std::thread::scope(|s| {
        let start = Instant::now();
        let consumer = s.spawn(|| {
            pin(1);
            consume();
        });
        let producer = s.spawn(|| {
            pin(0);
            produce();
        });
        producer.join().expect("producer thread");
        consumer.join().expect("consumer thread");
        start.elapsed()
    })
}

/// Moves `count` 64-byte messages through a ringlink core ring (reserve,
/// copy the message in, commit; next, read in place, release); returns the
/// elapsed time. Panics if a message is lost or reordered. Both rings copy
/// the whole message in and read its sequence number out.
pub fn core_ring(count: u64) -> Duration {
    let geometry = Geometry::exact(MESSAGE, FRAMES).expect("geometry");
    let mem = Arc::new(HeapMemory::new(geometry.ring_size() + 64));
    let ring = || {
        Ring::new(mem.clone(), 0, geometry)
            .and_then(|r| r.with_skip_cursor(geometry.ring_size()))
            .expect("ring")
    };
    let (mut tx, mut rx) = (Producer::new(ring()), Consumer::new(ring()));
    two_threads(
        move || {
            let mut msg = [0u8; MESSAGE];
            for seq in 0..count {
                msg[..8].copy_from_slice(&seq.to_le_bytes());
                loop {
                    if let Some(mut frame) = tx.reserve().expect("reserve") {
                        frame.buf()[..MESSAGE].copy_from_slice(&msg);
                        frame.commit(MESSAGE).expect("commit");
                        break;
                    }
                    std::hint::spin_loop();
                }
            }
        },
        move || {
            let mut expected = 0u64;
            let idle = Backoff::new();
            while expected < count {
                match rx.next().expect("next") {
                    Some(frame) => {
                        let seq =
                            u64::from_le_bytes(frame.payload()[..8].try_into().expect("8 bytes"));
                        assert_eq!(seq, expected, "core ring lost or reordered a message");
                        expected += 1;
                        idle.reset();
                    }
                    None => idle.spin(),
                }
            }
        },
    )
}

/// Moves `count` 64-byte messages through the minimal ring; returns the
/// elapsed time. Panics if a message is lost or reordered.
pub fn minimal_ring(count: u64) -> Duration {
    let ring = MinimalRing::new(FRAMES as usize);
    two_threads(
        || {
            let mut cached_tail = 0;
            let mut msg: Slot = [0; MESSAGE];
            for seq in 0..count {
                msg[..8].copy_from_slice(&seq.to_le_bytes());
                while !ring.push(&msg, &mut cached_tail) {
                    std::hint::spin_loop();
                }
            }
        },
        || {
            let mut cached_head = 0;
            let mut expected = 0u64;
            let idle = Backoff::new();
            while expected < count {
                let got = ring.pop(&mut cached_head, |slot| {
                    let seq = u64::from_le_bytes(slot[..8].try_into().expect("8 bytes"));
                    assert_eq!(seq, expected, "minimal ring lost or reordered a message");
                });
                if got {
                    expected += 1;
                    idle.reset();
                } else {
                    idle.spin();
                }
            }
        },
    )
}

/// Messages per second for `count` messages moved in `elapsed`.
pub fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_rings_deliver_everything_in_order() {
        // The functions assert order themselves; this runs them briefly.
        assert!(core_ring(100_000) > Duration::ZERO);
        assert!(minimal_ring(100_000) > Duration::ZERO);
    }
}
