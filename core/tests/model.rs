//! Property test: random sequences of reserve/commit/abort/next/defer/
//! release, put back and batches released in part, against a model queue.
//! Every committed message is delivered once, in commit order, with its
//! bytes (a message put back or left in a batch comes again, not twice);
//! deferred frames keep their bytes; no frame leaks.

mod common;

use common::ring_ends;
use proptest::prelude::*;
use ringlink_core::{Consumer, Deferred, HeapMemory, Producer};
use std::collections::VecDeque;
use std::sync::Arc;

#[derive(Clone, Debug)]
enum Op {
    /// Commit a message of this many bytes.
    Send(usize),
    /// Reserve and drop the guard without committing.
    Abort,
    /// Reserve and give the frame back unpublished.
    Cancel,
    /// Take the next message and release it.
    Recv,
    /// Take it by the short path (`has_message`, `take_message`) when
    /// that says one is there, else as `Recv`.
    RecvShort,
    /// Take the next message and defer it.
    Defer,
    /// Release the held handle at this index (modulo the count).
    Release(usize),
    /// Take the next message and put it back (it comes again next).
    PutBack,
    /// Take up to this many frames as a batch, then release only the
    /// first so many of them (the rest come again).
    Batch(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..=40).prop_map(Op::Send),
        1 => Just(Op::Abort),
        1 => Just(Op::Cancel),
        4 => Just(Op::Recv),
        2 => Just(Op::RecvShort),
        2 => Just(Op::Defer),
        2 => any::<usize>().prop_map(Op::Release),
        1 => Just(Op::PutBack),
        1 => (0usize..8, prop_oneof![0usize..8, Just(usize::MAX)])
            .prop_map(|(max, release)| Op::Batch(max, release)),
    ]
}

fn payload(seq: u32, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq as usize * 31 + i) as u8).collect()
}

struct Rig {
    tx: Producer<Arc<HeapMemory>>,
    rx: Consumer<Arc<HeapMemory>>,
    frames: u32,
}

fn rig(frames: u32) -> Rig {
    let (tx, rx) = ring_ends(frames, 0);
    Rig { tx, rx, frames }
}

/// Takes the next message if there is one: (seq, bytes, handle if deferred).
fn take(rig: &mut Rig, defer: bool, short: bool) -> Option<(Vec<u8>, Option<Deferred>)> {
    if short && rig.rx.has_message() {
        let frame = rig.rx.take_message().expect("has_message saw a message");
        return Some((frame.payload().to_vec(), None));
    }
    let frame = rig.rx.next().unwrap()?;
    let bytes = frame.payload().to_vec();
    if defer {
        match frame.defer() {
            Ok(handle) => return Some((bytes, Some(handle))),
            Err(frame) => drop(frame),
        }
    }
    Some((bytes, None))
}

/// The next message the model expects, past aborted frames.
fn next_message(model: &mut VecDeque<Option<Vec<u8>>>) -> Option<Vec<u8>> {
    while let Some(entry) = model.pop_front() {
        if entry.is_some() {
            return entry;
        }
    }
    None
}

/// The next message the model expects, past aborted frames (which
/// `next` steps over), left in the model.
fn peek_message(model: &mut VecDeque<Option<Vec<u8>>>) -> Option<Vec<u8>> {
    while model.front().is_some_and(Option::is_none) {
        model.pop_front();
    }
    model.front().cloned().flatten()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn ring_matches_a_queue(frames in prop_oneof![1u32..6, 8u32..20], ops in proptest::collection::vec(op(), 1..200)) {
        let mut rig = rig(frames);
        // Committed frames in order; `None` for aborted or empty ones,
        // which the consumer steps over unseen.
        let mut model: VecDeque<Option<Vec<u8>>> = VecDeque::new();
        let mut held: Vec<(Vec<u8>, Deferred)> = Vec::new();
        let mut seq = 0u32;
        for op in ops {
            match op {
                Op::Send(len) => {
                    if let Some(frame) = rig.tx.reserve().unwrap() {
                        let msg = payload(seq, len);
                        frame.write(&msg).unwrap();
                        model.push_back((len > 0).then_some(msg));
                        seq += 1;
                    } else {
                        // Full only when frames are really taken.
                        prop_assert!(!model.is_empty() || rig.rx.deferred_count() > 0,
                            "full with nothing in flight");
                    }
                }
                Op::Abort => {
                    if let Some(frame) = rig.tx.reserve().unwrap() {
                        frame.abort();
                        model.push_back(None);
                    }
                }
                Op::Cancel => {
                    let cancelled = rig.tx.reserve().unwrap().map(|frame| {
                        let index = frame.index();
                        frame.cancel();
                        index
                    });
                    if let Some(index) = cancelled {
                        // Nothing published; the same frame comes next.
                        let again = rig.tx.reserve().unwrap().expect("the cancelled frame");
                        prop_assert_eq!(again.index(), index);
                        again.cancel();
                    }
                }
                Op::Recv | Op::RecvShort | Op::Defer => {
                    match take(&mut rig, matches!(op, Op::Defer), matches!(op, Op::RecvShort)) {
                        Some((bytes, handle)) => {
                            prop_assert_eq!(Some(bytes.clone()), next_message(&mut model));
                            if let Some(handle) = handle {
                                held.push((bytes, handle));
                            }
                        }
                        None => prop_assert_eq!(next_message(&mut model), None, "a message is missing"),
                    }
                }
                Op::PutBack => match rig.rx.next().unwrap() {
                    Some(frame) => {
                        prop_assert_eq!(Some(frame.payload().to_vec()), peek_message(&mut model));
                        frame.put_back();
                    }
                    None => prop_assert_eq!(peek_message(&mut model), None, "a message is missing"),
                },
                Op::Batch(max, release) => {
                    let batch = rig.rx.batch(max);
                    prop_assert!(batch.len() <= max);
                    for (payload, expected) in batch.payloads().zip(&model) {
                        // A batch hands out aborted frames as empty payloads.
                        prop_assert_eq!(payload, expected.as_deref().unwrap_or(&[]));
                    }
                    prop_assert!(batch.len() <= model.len(), "more frames than committed");
                    let released = batch.len().min(release);
                    batch.release_first(release);
                    model.drain(..released);
                }
                Op::Release(i) => {
                    if !held.is_empty() {
                        let (bytes, handle) = held.remove(i % held.len());
                        prop_assert_eq!(rig.rx.deferred_payload(&handle).unwrap(), &bytes[..]);
                        rig.rx.release_deferred(handle).unwrap();
                    }
                }
            }
            for (bytes, handle) in &held {
                prop_assert_eq!(rig.rx.deferred_payload(handle).unwrap(), &bytes[..]);
            }
        }
        // Drain, release everything, and cycle: every frame comes back.
        while let Some((bytes, _)) = take(&mut rig, false, false) {
            prop_assert_eq!(Some(bytes), next_message(&mut model));
        }
        prop_assert_eq!(next_message(&mut model), None);
        for (_, handle) in held.drain(..) {
            rig.rx.release_deferred(handle).unwrap();
        }
        for round in 0..3 * rig.frames {
            let frame = rig.tx.reserve().unwrap().expect("room after draining");
            frame.write(&round.to_le_bytes()).unwrap();
            let (bytes, _) = take(&mut rig, false, false).expect("the message just sent");
            prop_assert_eq!(bytes, round.to_le_bytes().to_vec());
        }
        let mut filled = 0;
        while let Some(frame) = rig.tx.reserve().unwrap() {
            frame.write(b"x").unwrap();
            filled += 1;
        }
        prop_assert_eq!(filled, rig.frames, "no frame leaked");
    }
}

/// A release held back while a backlog is read must not be read again when
/// the consumer then walks a whole lap of aborted frames back to it.
#[test]
fn a_lap_of_aborted_frames_does_not_bring_a_message_back() {
    let mut rig = rig(8);
    let frame = rig.tx.reserve().unwrap().unwrap();
    frame.write(b"once").unwrap();
    // The other seven frames: reservations dropped without a commit.
    for _ in 1..8 {
        drop(rig.tx.reserve().unwrap().expect("a free frame"));
    }
    let (bytes, _) = take(&mut rig, false, false).expect("the message");
    assert_eq!(bytes, b"once");
    assert!(
        take(&mut rig, false, false).is_none(),
        "read once, not twice"
    );
    // Every frame comes back to the producer.
    for _ in 0..8 {
        rig.tx
            .reserve()
            .unwrap()
            .expect("room")
            .write(b"x")
            .unwrap();
    }
}
