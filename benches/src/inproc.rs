//! In-process throughput: two threads moving 64-byte messages through the
//! core ring over heap memory, and through the minimal ring as baseline.

use crate::minimal_ring::{MinimalRing, Slot};
use crossbeam_utils::Backoff;
use ringlink_core::{Geometry, HeapMemory, ring_ends};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::time::{Duration, Instant};

/// Message size of the in-process comparison.
pub const MESSAGE: usize = 64;
/// Frames (slots) in either ring.
pub const FRAMES: u32 = 1024;

/// Runs `produce` and `consume` on two threads of their own (not pinned:
/// pinning them in the guest measured no steadier); returns the time until
/// both finished.
fn two_threads(produce: impl FnOnce() + Send, consume: impl FnOnce() + Send) -> Duration {
    std::thread::scope(|s| {
        let start = Instant::now();
        let consumer = s.spawn(consume);
        let producer = s.spawn(produce);
        producer.join().expect("producer thread");
        consumer.join().expect("consumer thread");
        start.elapsed()
    })
}

/// Where a run ends: `count` messages, or fewer when the producer passes
/// its time limit (it checks every [`CHECK`] messages and stores how many
/// it sent; the consumer reads it as it goes).
struct End {
    count: AtomicU64,
    limit: Duration,
}

/// Messages between the producer's looks at the clock.
const CHECK: u64 = 1 << 16;

impl End {
    fn new(count: u64, limit: Duration) -> End {
        End {
            count: AtomicU64::new(count),
            limit,
        }
    }

    /// Producer: `true` to go on with message `seq`.
    fn go_on(&self, seq: u64, start: Instant) -> bool {
        if seq.is_multiple_of(CHECK) && seq > 0 && start.elapsed() > self.limit {
            self.count.store(seq, Release);
            return false;
        }
        true
    }

    /// Consumer: messages to take in all (may shrink once).
    fn count(&self) -> u64 {
        self.count.load(Acquire)
    }
}

/// Moves `count` 64-byte messages through a ringlink core ring (reserve,
/// copy the message in, commit; next, read in place, release); returns the
/// elapsed time. Panics if a message is lost or reordered. Both rings copy
/// the whole message in and read its sequence number out.
pub fn core_ring(count: u64) -> Duration {
    core_ring_within(count, Duration::MAX).0
}

/// [`core_ring`], stopping early once `limit` has passed; returns the
/// elapsed time and the messages moved.
pub fn core_ring_within(count: u64, limit: Duration) -> (Duration, u64) {
    let geometry = Geometry::exact(MESSAGE, FRAMES).expect("geometry");
    let mem = Arc::new(HeapMemory::new(geometry.ring_size() + 64));
    let (mut tx, mut rx) = ring_ends(mem, geometry, 0).expect("ring");
    let end = &End::new(count, limit);
    let elapsed = two_threads(
        move || {
            let mut msg = [0u8; MESSAGE];
            let start = Instant::now();
            for seq in 0..count {
                if !end.go_on(seq, start) {
                    break;
                }
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
            while expected < end.count() {
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
    );
    (elapsed, end.count())
}

/// Moves `count` 64-byte messages through the minimal ring; returns the
/// elapsed time. Panics if a message is lost or reordered.
pub fn minimal_ring(count: u64) -> Duration {
    minimal_ring_within(count, Duration::MAX).0
}

/// [`minimal_ring`], stopping early once `limit` has passed; returns the
/// elapsed time and the messages moved.
pub fn minimal_ring_within(count: u64, limit: Duration) -> (Duration, u64) {
    let end = &End::new(count, limit);
    let ring = MinimalRing::new(FRAMES as usize);
    let elapsed = two_threads(
        || {
            let mut cached_tail = 0;
            let mut msg: Slot = [0; MESSAGE];
            let start = Instant::now();
            for seq in 0..count {
                if !end.go_on(seq, start) {
                    break;
                }
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
            while expected < end.count() {
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
    );
    (elapsed, end.count())
}

/// The most one in-process run may take before it is cut short.
pub const LIMIT: Duration = Duration::from_secs(2);

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
