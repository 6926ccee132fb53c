//! Concurrency check of the status protocol with shuttle: one producer
//! thread, one consumer thread, a ring small enough to wrap constantly,
//! deferred frames released out of order. Shuttle explores thread
//! interleavings at every status-word access (see `sync::yield_point`).

use crate::consumer::Consumer;
use crate::geometry::Geometry;
use crate::memory::HeapMemory;
use crate::producer::Producer;
use crate::ring::Ring;
use crate::sync::UNDER_SHUTTLE;
use std::sync::Arc;

/// Moves `messages` sequence numbers through a ring of `frames` frames;
/// the consumer defers every `defer_every`-th message and releases held
/// frames newest first; the producer gives back (cancels) a reservation
/// before every `cancel_every`-th message. Panics on loss, duplication or
/// reordering.
fn scenario(frames: u32, messages: u32, defer_every: u32, cancel_every: u32, skip_cursor: bool) {
    UNDER_SHUTTLE.with(|f| f.set(true));
    let geometry = Geometry::exact(8, frames).unwrap();
    let mem = Arc::new(HeapMemory::new(geometry.ring_size() + 64));
    let ring = || {
        let ring = Ring::new(mem.clone(), 0, geometry).unwrap();
        match skip_cursor {
            true => ring.with_skip_cursor(geometry.ring_size()).unwrap(),
            false => ring,
        }
    };
    let mut tx = Producer::new(ring());
    let mut rx = Consumer::new(ring());
    let producer = shuttle::thread::spawn(move || {
        for seq in 0..messages {
            if seq % cancel_every == 0
                && let Some(frame) = tx.reserve().unwrap()
            {
                frame.cancel();
            }
            loop {
                if let Some(frame) = tx.reserve().unwrap() {
                    frame.write(&seq.to_le_bytes()).unwrap();
                    break;
                }
                shuttle::thread::yield_now();
            }
        }
    });
    let mut seen = Vec::new();
    let mut held = Vec::new();
    while seen.len() < messages as usize {
        if rx.poll().unwrap() {
            let frame = rx.next().unwrap().expect("polled");
            {
                let seq = u32::from_le_bytes(frame.payload().try_into().unwrap());
                seen.push(seq);
                if seq % defer_every == 0 {
                    if let Ok(handle) = frame.defer() {
                        held.push((seq, handle));
                    }
                }
            }
        } else {
            match held.pop() {
                Some((seq, handle)) => {
                    let payload = rx.deferred_payload(&handle).unwrap();
                    assert_eq!(payload, seq.to_le_bytes(), "deferred frame kept its bytes");
                    rx.release_deferred(handle).unwrap();
                }
                None => shuttle::thread::yield_now(),
            }
        }
    }
    for (_, handle) in held {
        rx.release_deferred(handle).unwrap();
    }
    producer.join().unwrap();
    UNDER_SHUTTLE.with(|f| f.set(false));
    assert_eq!(
        seen,
        (0..messages).collect::<Vec<_>>(),
        "in order, once each"
    );
}

#[test]
fn status_protocol_in_order_under_random_schedules() {
    shuttle::check_random(|| scenario(3, 12, 2, u32::MAX, true), 3000);
}

#[test]
fn status_protocol_in_order_under_pct_schedules() {
    shuttle::check_pct(|| scenario(4, 14, 3, u32::MAX, true), 3000, 3);
}

#[test]
fn cancelled_reservations_under_random_and_pct_schedules() {
    shuttle::check_random(|| scenario(3, 12, 2, 1, true), 3000);
    shuttle::check_pct(|| scenario(3, 12, 2, 2, true), 3000, 3);
}

#[test]
fn plain_wraparound_without_deferral() {
    shuttle::check_random(|| scenario(2, 10, u32::MAX, u32::MAX, true), 2000);
}

/// The checker has teeth: with the kernel's release rule (no skip cursor,
/// UNUSED stored as soon as a filled frame is reached) it finds the
/// reordering race the skip cursor closes.
#[test]
fn checker_finds_the_race_without_a_skip_cursor() {
    let result = std::panic::catch_unwind(|| {
        shuttle::check_random(|| scenario(3, 12, 2, u32::MAX, false), 3000);
    });
    UNDER_SHUTTLE.with(|f| f.set(false));
    assert!(
        result.is_err(),
        "shuttle should find the legacy release race"
    );
}
