//! The conformance suite: one set of behavioural tests written against the
//! shared API ([`FrameSender`], [`FrameReceiver`]) that every transport
//! instantiates with [`conformance_tests!`](crate::conformance_tests).
//!
//! ```
//! use ringlink_core::conformance::{self, Harness};
//! use ringlink_core::{Geometry, SpinPolicy, channel};
//!
//! struct Threads;
//!
//! impl Harness for Threads {
//!     type Tx = channel::Sender;
//!     type Rx = channel::Receiver;
//!     fn pair(capacity: usize, frames: u32) -> (Self::Tx, Self::Rx) {
//!         let geometry = Geometry::exact(capacity, frames).unwrap();
//!         channel::channel(geometry, SpinPolicy::default()).unwrap()
//!     }
//! }
//!
//! // In a test file, `ringlink_core::conformance_tests!(Threads);` makes one
//! // #[test] per case; each case is also a plain function:
//! conformance::ordering::<Threads>();
//! ```

use crate::api::{FrameReceiver, FrameSender};
use crate::error::{Corruption, LinkError, RingError};
use crate::frame::Status;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

/// Generous bound for anything that should happen at once.
const PATIENCE: Option<Duration> = Some(Duration::from_secs(10));

/// Builds connected pairs of a transport for the suite.
pub trait Harness {
    /// The sending end.
    type Tx: FrameSender;
    /// The receiving end.
    type Rx: FrameReceiver;

    /// A new connected pair whose rings have exactly `frames` frames of at
    /// least `capacity` payload bytes.
    fn pair(capacity: usize, frames: u32) -> (Self::Tx, Self::Rx);
}

/// A recognisable message: sequence number, then a pattern of `len` bytes.
pub fn message(seq: u32, len: usize) -> Vec<u8> {
    let mut msg: Vec<u8> = (0..len)
        .map(|i| (i as u32 ^ seq.rotate_left(7)) as u8)
        .collect();
    let head = seq.to_le_bytes();
    let n = head.len().min(len);
    msg[..n].copy_from_slice(&head[..n]);
    msg
}

fn recv_vec<R: FrameReceiver>(rx: &mut R) -> Vec<u8> {
    rx.recv(PATIENCE)
        .expect("a message within the patience bound")
        .to_vec()
}

/// Messages of many lengths arrive complete and in order, over several laps.
pub fn ordering<H: Harness>() {
    let (mut tx, mut rx) = H::pair(256, 8);
    let capacity = tx.frame_capacity();
    let mut sent = 0u32;
    let mut received = 0u32;
    for round in 0..50u32 {
        let burst = 1 + round % tx.frame_count();
        for _ in 0..burst {
            let len = 1 + (sent as usize * 37) % capacity;
            tx.send(&message(sent, len), PATIENCE).unwrap();
            sent += 1;
        }
        while received < sent {
            let len = 1 + (received as usize * 37) % capacity;
            assert_eq!(
                recv_vec(&mut rx),
                message(received, len),
                "message {received}"
            );
            received += 1;
        }
    }
    assert!(!rx.poll().unwrap(), "nothing beyond what was sent");
}

/// A message larger than a frame travels out of band (COPY) and still
/// arrives in ring order. Skipped for transports without that path.
pub fn copy_in_order<H: Harness>() {
    let (mut tx, mut rx) = H::pair(128, 4);
    let big = tx.frame_capacity() * 3 + 5;
    if tx.max_message() < big {
        return;
    }
    let msgs = [
        message(0, 10),
        message(1, big),
        message(2, 20),
        message(3, big * 2),
    ];
    for m in &msgs {
        tx.send(m, PATIENCE).unwrap();
    }
    for (i, m) in msgs.iter().enumerate() {
        let got = rx.recv(PATIENCE).unwrap();
        assert_eq!(got.is_copy(), m.len() > tx.frame_capacity(), "message {i}");
        assert_eq!(&got[..], &m[..], "message {i}");
    }
}

/// Deferred frames stay readable while the ring wraps past them, are
/// released out of order, and every message is seen exactly once.
pub fn defer_and_release_out_of_order<H: Harness>() {
    let (mut tx, mut rx) = H::pair(64, 8);
    let mut held = Vec::new();
    let mut seq = 0u32;
    let mut seen = Vec::new();
    for lap in 0..6u32 {
        // Send what fits, defer every third message while fewer than 4 are held.
        while tx.try_send(&message(seq, 16)).unwrap() {
            seq += 1;
        }
        tx.flush().unwrap();
        while rx.poll().unwrap() {
            let msg = rx.next().unwrap().expect("polled");
            let id = u32::from_le_bytes(msg[..4].try_into().unwrap());
            seen.push(id);
            if id % 3 == 0 && held.len() < 4 {
                held.push((id, msg.defer().ok().expect("room to defer")));
            }
        }
        // Held frames still carry their messages after the ring wrapped.
        for (id, handle) in &held {
            assert_eq!(rx.deferred_payload(handle).unwrap(), &message(*id, 16)[..]);
        }
        // Release the oldest and newest, out of order.
        if lap % 2 == 1 && held.len() >= 2 {
            let newest = held.pop().unwrap().1;
            rx.release(newest).unwrap();
            let oldest = held.remove(0).1;
            rx.release(oldest).unwrap();
        }
    }
    for (_, handle) in held.drain(..) {
        rx.release(handle).unwrap();
    }
    // Everything still flows, and nothing was lost or repeated.
    for _ in 0..3 * tx.frame_count() {
        tx.send(&message(seq, 16), PATIENCE).unwrap();
        seen.push(u32::from_le_bytes(
            recv_vec(&mut rx)[..4].try_into().unwrap(),
        ));
        seq += 1;
    }
    assert_eq!(seen, (0..seq).collect::<Vec<_>>());
}

/// A full ring refuses more (no error, nothing dropped), then drains in
/// order and accepts again.
pub fn ring_full_is_backpressure<H: Harness>() {
    let (mut tx, mut rx) = H::pair(64, 8);
    let mut sent = 0u32;
    while tx.try_send(&message(sent, 32)).unwrap() {
        sent += 1;
        assert!(sent <= 10 * tx.frame_count(), "the ring never filled");
    }
    assert_eq!(
        sent,
        tx.frame_count(),
        "a full ring holds exactly its frames"
    );
    assert!(tx.reserve().unwrap().is_none());
    assert!(!tx.wait_writable(Some(Duration::from_millis(20))).unwrap());
    for i in 0..sent {
        assert_eq!(recv_vec(&mut rx), message(i, 32));
    }
    // Taking exactly what was sent (no further call) hands every frame back:
    // the whole ring fills again.
    assert!(tx.wait_writable(PATIENCE).unwrap());
    let mut refill = 0;
    while tx.try_send(&message(sent + refill, 32)).unwrap() {
        refill += 1;
        assert!(refill <= tx.frame_count(), "more room than frames");
    }
    assert_eq!(refill, tx.frame_count(), "every frame came back");
    tx.flush().unwrap();
    for i in 0..refill {
        assert_eq!(recv_vec(&mut rx), message(sent + i, 32));
    }
}

/// Aborted and empty frames are never delivered.
pub fn empty_frames_are_skipped<H: Harness>() {
    let (mut tx, mut rx) = H::pair(64, 8);
    tx.reserve().unwrap().unwrap().abort();
    drop(tx.reserve().unwrap().unwrap());
    tx.reserve().unwrap().unwrap().commit(0).unwrap();
    tx.send(b"real", PATIENCE).unwrap();
    assert_eq!(recv_vec(&mut rx), b"real");
    assert!(!rx.poll().unwrap());
}

/// A frame committed longer than it is fails, aborted, without a crash.
pub fn oversized_commit_is_refused<H: Harness>() {
    let (mut tx, mut rx) = H::pair(64, 4);
    let frame = tx.reserve().unwrap().unwrap();
    let capacity = frame.capacity();
    let err = frame.commit(capacity + 1).unwrap_err();
    assert_eq!(
        err,
        RingError::TooLong {
            len: capacity + 1,
            capacity
        }
    );
    tx.send(b"after", PATIENCE).unwrap();
    assert_eq!(recv_vec(&mut rx), b"after");
}

/// Writes one header word of the frame at the receiver's position, as a
/// hostile peer would; returns the frame index.
fn scribble<R: FrameReceiver>(rx: &R, word: usize, value: u32) -> u32 {
    let pos = rx.consumer().position();
    let header = rx
        .consumer()
        .ring()
        .raw_header(pos)
        .expect("position is a frame");
    header.words[word].store(value, SeqCst);
    pos
}

fn expect_corruption<T: std::fmt::Debug>(result: Result<T, LinkError>, expected: &Corruption) {
    match result {
        Err(LinkError::Ring(RingError::Corrupt { kind, .. })) => assert_eq!(&kind, expected),
        other => panic!("expected corruption {expected:?}, got {other:?}"),
    }
}

/// Garbage written into the receiving ring by a hostile peer is a typed
/// error on both sides, never a panic; after a frame whose length was
/// forged, later messages still arrive.
pub fn corruption_is_an_error<H: Harness>() {
    // An unknown status where the next message would go.
    let (mut tx, mut rx) = H::pair(64, 4);
    let pos = scribble(&rx, 0, 0xdead_beef);
    let unknown = Corruption::UnknownStatus(0xdead_beef);
    match rx.next() {
        Err(LinkError::Ring(RingError::Corrupt { frame, kind })) => {
            assert_eq!((frame, kind), (pos, unknown.clone()));
        }
        other => panic!(
            "expected corruption, got {:?}",
            other.map(|m| m.map(|m| m.to_vec()))
        ),
    }
    expect_corruption(tx.try_send(b"x"), &unknown);

    // A SKIP this side never set.
    let (_tx, mut rx) = H::pair(64, 4);
    scribble(&rx, 0, Status::Skip.raw());
    expect_corruption(rx.next().map(|m| m.is_some()), &Corruption::ForeignSkip);

    // A length past the frame: reported, stepped over, the link goes on.
    let (mut tx, mut rx) = H::pair(64, 4);
    tx.send(b"victim", PATIENCE).unwrap();
    assert!(rx.poll().unwrap());
    scribble(&rx, 1, u32::MAX);
    let capacity = tx.frame_capacity();
    let len = Corruption::LenOutOfBounds {
        len: u32::MAX,
        capacity,
    };
    expect_corruption(rx.next().map(|m| m.is_some()), &len);
    tx.send(b"survivor", PATIENCE).unwrap();
    assert_eq!(recv_vec(&mut rx), b"survivor");

    // The status changed while the message was held: reported next call.
    let (mut tx, mut rx) = H::pair(64, 4);
    tx.send(b"held", PATIENCE).unwrap();
    let msg = rx.recv(PATIENCE).unwrap();
    let index = msg.frame().index();
    let header = rx_ring_header::<H>(&msg, index);
    header.store(Status::Reserved.raw(), SeqCst);
    drop(msg);
    let changed = Corruption::ChangedUnderUs {
        from: Status::Valid.raw(),
        to: Status::Reserved.raw(),
    };
    expect_corruption(rx.next().map(|m| m.is_some()), &changed);
}

/// The status word of the frame a message came in, as a hostile peer sees it.
fn rx_ring_header<'a, H: Harness>(
    msg: &'a crate::api::Message<'_, <H::Rx as FrameReceiver>::Memory>,
    index: u32,
) -> &'a std::sync::atomic::AtomicU32 {
    msg.frame().ring().raw_header(index).expect("a frame").words[0]
}

/// After the sender leaves, every committed message is delivered, then
/// `Disconnected`; after the receiver leaves, sending fails.
pub fn disconnect_after_drain<H: Harness>() {
    let (mut tx, mut rx) = H::pair(64, 8);
    for i in 0..5 {
        tx.send(&message(i, 8), PATIENCE).unwrap();
    }
    drop(tx);
    for i in 0..5 {
        assert_eq!(recv_vec(&mut rx), message(i, 8));
    }
    assert!(matches!(rx.recv(PATIENCE), Err(LinkError::Disconnected)));

    let (mut tx, rx) = H::pair(64, 8);
    drop(rx);
    let mut result = Ok(());
    for i in 0..2 * tx.frame_count() {
        result = tx.send(&message(i, 8), Some(Duration::from_secs(2)));
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(result, Err(LinkError::Disconnected)), "{result:?}");
}

/// Waiting on an idle link times out instead of hanging.
pub fn idle_receive_times_out<H: Harness>() {
    let (_tx, mut rx) = H::pair(64, 4);
    let err = rx.recv(Some(Duration::from_millis(30))).err();
    assert!(matches!(err, Some(LinkError::TimedOut { .. })), "{err:?}");
}

/// Instantiates every conformance test for a [`Harness`] type.
#[macro_export]
macro_rules! conformance_tests {
    ($harness:ty) => {
        $crate::conformance_tests!(@each $harness;
            ordering, copy_in_order, defer_and_release_out_of_order,
            ring_full_is_backpressure, empty_frames_are_skipped,
            oversized_commit_is_refused, corruption_is_an_error,
            disconnect_after_drain, idle_receive_times_out);
    };
    (@each $harness:ty; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::$name::<$harness>();
            }
        )*
    };
}
