//! Two threads move millions of sequence-numbered messages through the
//! in-process channel: zero loss, duplication or reordering, with busy
//! waiting and with parking (every wake-up path exercised).

use ringlink_core::{FrameReceiver, FrameSender, Geometry, SpinPolicy, channel};
use std::time::{Duration, Instant};

const PATIENCE: Option<Duration> = Some(Duration::from_secs(30));

/// Sends `count` messages of 8..=64 bytes (sequence number, then a pattern
/// derived from it), flushing every `batch`; returns what the receiver saw.
fn run(count: u64, batch: u64, spin: SpinPolicy) {
    let geometry = Geometry::for_messages(64, 256).unwrap();
    let (mut tx, mut rx) = channel::channel(geometry, spin).unwrap();
    let started = Instant::now();
    let sender = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        for seq in 0..count {
            let len = 8 + (seq % 57) as usize;
            buf[..8].copy_from_slice(&seq.to_le_bytes());
            for (i, b) in buf[8..len].iter_mut().enumerate() {
                *b = (seq as usize).wrapping_mul(131).wrapping_add(i) as u8;
            }
            while !tx.try_send(&buf[..len]).unwrap() {
                assert!(tx.wait_writable(PATIENCE).unwrap(), "sender starved");
            }
            if seq % batch == batch - 1 {
                tx.flush().unwrap();
            }
        }
        tx.flush().unwrap();
    });
    for expected in 0..count {
        let msg = rx.recv(PATIENCE).unwrap();
        let seq = u64::from_le_bytes(msg[..8].try_into().unwrap());
        assert_eq!(seq, expected, "lost, duplicated or reordered");
        let len = 8 + (seq % 57) as usize;
        assert_eq!(msg.len(), len, "message {seq} length");
        for (i, &b) in msg[8..].iter().enumerate() {
            assert_eq!(
                b,
                (seq as usize).wrapping_mul(131).wrapping_add(i) as u8,
                "message {seq} byte {i}"
            );
        }
    }
    sender.join().unwrap();
    assert!(matches!(
        rx.recv(PATIENCE),
        Err(ringlink_core::LinkError::Disconnected)
    ));
    eprintln!(
        "{count} messages, spin {:?}: {:.1} M msgs/s",
        spin.rounds,
        count as f64 / started.elapsed().as_secs_f64() / 1e6
    );
}

#[test]
fn ten_million_messages_busy_waiting() {
    run(10_000_000, 32, SpinPolicy::BUSY);
}

#[test]
fn one_million_messages_with_parking() {
    // No spinning: every wait parks on the futex, so every wake-up path
    // (data and room, flush and release) must work or the test hangs.
    run(1_000_000, 7, SpinPolicy { rounds: 0 });
}
