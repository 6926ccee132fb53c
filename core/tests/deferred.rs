//! A deferred frame the peer overwrites: reported once, stepped over, and
//! its contents never delivered.

mod common;

use ringlink_core::{Corruption, HeapMemory, Producer, RingError, Status};
use std::sync::Arc;

fn send(tx: &mut Producer<Arc<HeapMemory>>, msg: &[u8]) {
    tx.reserve().unwrap().expect("room").write(msg).unwrap();
}

#[test]
fn an_overwritten_deferred_frame_is_reported_then_stepped_over() {
    let (mut tx, mut rx) = common::ring_ends(4, 0);
    send(&mut tx, b"first");
    let held = rx.next().unwrap().unwrap().defer().ok().expect("deferred");
    assert_eq!(held.index(), 0);
    for msg in [&b"two"[..], b"three", b"four"] {
        send(&mut tx, msg);
        assert_eq!(rx.next().unwrap().unwrap().payload(), msg);
    }
    // The producer steps over the deferred frame into frame 1.
    send(&mut tx, b"five");
    // The peer writes a message of its own over the SKIP of frame 0.
    let header = tx.ring().raw_header(0).unwrap();
    header.len().store(4, std::sync::atomic::Ordering::Relaxed);
    header
        .status()
        .store(Status::Valid.raw(), std::sync::atomic::Ordering::Release);
    match rx.next() {
        Err(RingError::Corrupt {
            frame: 0,
            kind: Corruption::DeferredOverwritten(_),
        }) => {}
        other => panic!(
            "expected the overwrite reported, got {:?}",
            other.map(|m| m.map(|m| m.payload().to_vec()))
        ),
    }
    let next = rx.next().unwrap().expect("the message after it");
    assert_eq!(
        next.payload(),
        b"five",
        "the overwritten frame is not delivered"
    );
}
