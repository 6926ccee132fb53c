//! Lending frames to an outside filler (`Producer::lend`/`publish_lent`):
//! a property test against a model queue, with deferring consumers and a
//! headroom in front of every payload, and the refusals.

mod common;

use common::ring_ends;
use proptest::prelude::*;
use ringlink_core::{Deferred, FrameMeta, Geometry, HeapMemory, LentFrame, Ring, RingError};
use std::collections::VecDeque;
use std::sync::Arc;

/// Bytes the filler writes in front of each payload.
const HEADROOM: usize = 12;

#[derive(Clone, Debug)]
enum Op {
    /// Lend the next frame.
    Lend,
    /// Fill the oldest lent frame with this many payload bytes and publish it.
    Publish(usize),
    /// Take the next message and release it.
    Recv,
    /// Take the next message and defer it.
    Defer,
    /// Release the held handle at this index (modulo the count).
    Release(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Lend),
        3 => (0usize..=28).prop_map(Op::Publish),
        3 => Just(Op::Recv),
        1 => Just(Op::Defer),
        1 => any::<usize>().prop_map(Op::Release),
    ]
}

/// Writes what the filler would: junk in the headroom, `msg` after it.
fn fill(frame: &LentFrame, msg: &[u8]) {
    assert!(HEADROOM + msg.len() <= frame.len());
    // SAFETY: the data area of a lent frame, `frame.len()` bytes, is the
    // filler's until published; nothing else writes it meanwhile.
    let area = unsafe { std::slice::from_raw_parts_mut(frame.as_mut_ptr(), frame.len()) };
    area[..HEADROOM].fill(0xEE);
    area[HEADROOM..HEADROOM + msg.len()].copy_from_slice(msg);
}

fn meta(seq: u32) -> FrameMeta {
    FrameMeta {
        group: seq,
        pid: seq + 1,
        uid: seq + 2,
        gid: seq + 3,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn lent_frames_are_delivered_in_order(frames in 1u32..6, ops in proptest::collection::vec(op(), 1..200)) {
        let (mut tx, mut rx) = ring_ends(frames, HEADROOM);
        let mut lent: VecDeque<LentFrame> = VecDeque::new();
        // Published messages not yet received: (seq, bytes), empty ones
        // included (the consumer steps over them).
        let mut model: VecDeque<(u32, Vec<u8>)> = VecDeque::new();
        let mut held: Vec<(u32, Deferred)> = Vec::new();
        let mut seq = 0u32;
        for op in ops {
            match op {
                Op::Lend => match tx.lend().unwrap() {
                    Some(frame) => {
                        prop_assert_eq!(frame.len(), HEADROOM + tx.ring().capacity());
                        prop_assert!(lent.iter().all(|l| l.index != frame.index), "lent twice");
                        prop_assert!(held.iter().all(|(i, _)| *i != frame.index), "a deferred frame was lent");
                        lent.push_back(frame);
                    }
                    // Full only when every frame is lent, unread or held.
                    None => prop_assert!(!lent.is_empty() || !model.is_empty() || !held.is_empty()),
                },
                Op::Publish(len) => match lent.pop_front() {
                    Some(frame) => {
                        let msg: Vec<u8> = (0..len).map(|i| (seq as usize * 7 + i) as u8).collect();
                        fill(&frame, &msg);
                        tx.publish_lent(len, meta(seq)).unwrap();
                        model.push_back((seq, msg));
                        seq += 1;
                    }
                    None => prop_assert_eq!(tx.publish_lent(0, meta(0)), Err(RingError::NothingLent)),
                },
                Op::Recv | Op::Defer => {
                    let expected = loop {
                        match model.pop_front() {
                            Some((_, msg)) if msg.is_empty() => continue,
                            other => break other,
                        }
                    };
                    match rx.next().unwrap() {
                        Some(frame) => {
                            let (s, msg) = expected.expect("a message nobody published");
                            prop_assert_eq!(frame.payload(), &msg[..]);
                            prop_assert_eq!(frame.meta(), meta(s));
                            let index = frame.index();
                            if matches!(op, Op::Defer) {
                                if let Ok(handle) = frame.defer() {
                                    held.push((index, handle));
                                }
                            }
                        }
                        None => prop_assert!(expected.is_none(), "a published message is missing"),
                    }
                }
                Op::Release(i) => {
                    if !held.is_empty() {
                        let (_, handle) = held.remove(i % held.len());
                        rx.release_deferred(handle).unwrap();
                    }
                }
            }
            prop_assert_eq!(tx.lent() as usize, lent.len());
        }
    }
}

#[test]
fn a_payload_past_the_frame_is_refused_and_published_empty() {
    let (mut tx, mut rx) = ring_ends(2, HEADROOM);
    let first = tx.lend().unwrap().expect("a free frame");
    let second = tx.lend().unwrap().expect("a second free frame");
    assert_eq!(
        tx.lend().unwrap().map(|f| f.index),
        None,
        "both frames lent"
    );
    let capacity = first.len() - HEADROOM;
    assert_eq!(
        tx.publish_lent(capacity + 1, FrameMeta::default()),
        Err(RingError::TooLong {
            len: capacity + 1,
            capacity
        })
    );
    fill(&second, b"after");
    tx.publish_lent(5, FrameMeta::default()).unwrap();
    let frame = rx.next().unwrap().expect("the second frame");
    assert_eq!(
        frame.payload(),
        b"after",
        "the refused frame is stepped over"
    );
}

#[test]
fn a_headroom_that_leaves_no_payload_is_refused() {
    let g = Geometry::exact(40, 2).unwrap();
    let ring = Ring::new(Arc::new(HeapMemory::new(g.ring_size())), 0, g).unwrap();
    let area = g.payload_capacity();
    assert_eq!(
        ring.with_headroom(area).err(),
        Some(RingError::Headroom {
            headroom: area,
            area
        })
    );
}
