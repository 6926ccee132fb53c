//! The consumer role: take frames in ring order, release or defer them.
//!
//! # Deferred frames and when SKIP turns back into UNUSED
//!
//! A deferred frame is marked SKIP and both sides step over it. Storing
//! UNUSED when its handle is released would race the producer: if the
//! producer already stepped over the frame in the lap the consumer is about
//! to visit it in, the consumer waits on a frame that is filled a lap late,
//! after newer messages; if the consumer stepped over it before the producer
//! did, the producer fills it and the consumer reads it a lap late. Both
//! reorder messages (this crate's tests found both).
//!
//! So both sides count absolute positions (frames passed since the start),
//! the producer announces each SKIP frame it steps over in the ring's skip
//! cursor (store, then re-read the status), and a released frame stays SKIP
//! until the consumer holds a filled frame at position `Y`. The producer
//! cannot then get past `Y + N`, so the released frame's next visit `X`
//! (between `Y` and `Y + N`) is the only one in play: the consumer stores
//! UNUSED, reads the cursor, and if the producer announced passing `X` it
//! takes the frame back (a CAS). The producer only meets that frame UNUSED
//! after its announce for it, when it re-reads the frame; it then reserves
//! with a CAS too, so exactly one wins. Either both sides skip the frame at
//! `X` or both use it.
//!
//! At most `N - 1` frames may be deferred at once, so the producer always
//! has a frame to fill and the consumer always reaches a filled one. A ring
//! without a skip cursor (the kernel's own rings) hands frames back at
//! release, as the kernel documented, race included.

use crate::error::{Corruption, RingError};
use crate::frame::{FrameMeta, Status, offset};
use crate::memory::Memory;
use crate::ring::{Frame, Ring};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};

/// What this side knows about a frame it may have deferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Local {
    /// Not deferred.
    Free,
    /// Deferred (SKIP), its handle still held.
    Held,
    /// Deferred, handle released, still SKIP until handed back.
    Pending,
}

/// Takes frames of a ring in order (user space's side of a netlink RX ring).
// Aligned so that its per-message fields never share a cache line (or the
// adjacent-line prefetch pair) with a producer living next to it.
#[repr(align(128))]
pub struct Consumer<M> {
    ring: Ring<M>,
    pos: u32,
    /// Absolute position of `pos`: frames passed since the start.
    abs: u64,
    local: Box<[Local]>,
    /// Frames deferred or pending (SKIP by this side).
    skipped: u32,
    /// Frames in [`Local::Pending`].
    pending: Vec<u32>,
    /// Frames taken and released while more were waiting, whose UNUSED is
    /// still to be stored (see [`Consumer::release_later`]): the run of
    /// `lag_len` consecutive frames starting at `lag_start`.
    lag_start: u32,
    lag_len: u32,
    /// Longest run held back: [`LAG_MAX`], at most a quarter of the ring.
    lag_max: u32,
    /// Corruption noticed while releasing a frame, reported by the next call.
    fault: Option<RingError>,
    id: u64,
}

/// A plain message a consumer saw at its position
/// ([`Consumer::message_at_hand`]): where it is, its length, and whose
/// position it was.
pub struct AtHand {
    frame: Frame,
    len: u32,
    owner: u64,
    abs: u64,
}

/// A handle on a deferred (SKIP) frame: read it later, release it later, in
/// any order.
#[derive(Debug)]
pub struct Deferred {
    owner: u64,
    index: u32,
    len: u32,
    meta: FrameMeta,
    bytes: Option<Box<[u8]>>,
}

impl Deferred {
    /// Index of the deferred frame.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Metadata the frame carried.
    pub fn meta(&self) -> FrameMeta {
        self.meta
    }

    /// Attaches the bytes of a deferred message that were not read in place
    /// (a COPY frame's, or a private copy), so
    /// [`Consumer::deferred_payload`] returns them. For transports.
    pub fn attach_bytes(&mut self, bytes: Box<[u8]>) {
        self.bytes = Some(bytes);
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl<M: Memory> Consumer<M> {
    /// A consumer starting at frame 0 of `ring`.
    pub fn new(ring: Ring<M>) -> Consumer<M> {
        let frames = ring.frame_nr() as usize;
        Consumer {
            ring,
            pos: 0,
            abs: 0,
            local: vec![Local::Free; frames].into_boxed_slice(),
            skipped: 0,
            pending: Vec::new(),
            lag_start: 0,
            lag_len: 0,
            lag_max: (LAG_MAX as u32).min(frames as u32 / 4),
            fault: None,
            id: NEXT_ID.fetch_add(1, Relaxed),
        }
    }

    /// The ring this consumer reads.
    pub fn ring(&self) -> &Ring<M> {
        &self.ring
    }

    /// Index of the frame the next call to [`Consumer::next`] looks at.
    pub fn position(&self) -> u32 {
        self.pos
    }

    /// Whether the frame at the current position may hold something to
    /// take (VALID, COPY, or SKIP to step over). A cheap, read-only check for
    /// wait loops; [`Consumer::poll`] does the full walk.
    pub fn has_pending(&self) -> bool {
        self.fault.is_some()
            || !matches!(
                Status::from_raw(self.ring.status(self.pos).load(Acquire)),
                Some(Status::Unused | Status::Reserved)
            )
    }

    /// Whether a plain message (VALID, length in bounds) waits at the
    /// current position, so [`Consumer::next`] returns it without walking:
    /// a cheap, read-only check. `false` says nothing (the walk may still
    /// find one past SKIP frames).
    #[inline]
    pub fn has_message(&self) -> bool {
        self.message_at_hand().is_some()
    }

    /// Takes the plain message [`Consumer::has_message`] reports, without
    /// walking: `None` when there is none at the current position (call
    /// [`Consumer::next`] for the rest).
    #[inline]
    pub fn take_message(&mut self) -> Option<ReadGuard<'_, M>> {
        let at_hand = self.message_at_hand()?;
        self.take_at_hand(at_hand)
    }

    /// The plain message at the current position (VALID, length in bounds,
    /// nothing deferred or faulted), looked at once, without borrowing the
    /// consumer: [`Consumer::take_at_hand`] takes it without looking again.
    /// For transports whose short path must decide before it borrows.
    ///
    /// ```
    /// use ringlink_core::{Consumer, Geometry, HeapMemory, Producer, Ring};
    /// use std::sync::Arc;
    /// let g = Geometry::for_messages(64, 4).unwrap();
    /// let mem = Arc::new(HeapMemory::new(g.ring_size()));
    /// let mut tx = Producer::new(Ring::new(mem.clone(), 0, g).unwrap());
    /// let mut rx = Consumer::new(Ring::new(mem, 0, g).unwrap());
    /// assert!(rx.message_at_hand().is_none());
    /// tx.reserve().unwrap().unwrap().write(b"hi").unwrap();
    /// let at_hand = rx.message_at_hand().expect("a message");
    /// assert_eq!(rx.take_at_hand(at_hand).unwrap().payload(), b"hi");
    /// ```
    #[inline]
    pub fn message_at_hand(&self) -> Option<AtHand> {
        if self.skipped != 0 || self.fault.is_some() {
            return None;
        }
        let frame = self.ring.frame(self.pos);
        if frame.status().load(Acquire) != Status::Valid.raw() {
            return None;
        }
        let len = frame.word(offset::LEN).load(Relaxed);
        (len != 0 && len as usize <= frame.capacity()).then_some(AtHand {
            frame,
            len,
            owner: self.id,
            abs: self.abs,
        })
    }

    /// Takes the message `at_hand` describes; `None` when it is not this
    /// consumer's current one (another consumer's, or the consumer moved
    /// since).
    #[inline]
    pub fn take_at_hand(&mut self, at_hand: AtHand) -> Option<ReadGuard<'_, M>> {
        (at_hand.owner == self.id && at_hand.abs == self.abs)
            .then(|| self.guard(at_hand.frame, at_hand.len, false))
    }

    /// The next message in ring order, `Ok(None)` if there is none yet.
    ///
    /// VALID and COPY frames are returned; empty VALID frames (aborted
    /// reservations) are released unseen; SKIP frames this side deferred are
    /// stepped over. Corruption (unknown status, length beyond the frame, a
    /// SKIP this side never set, a deferred frame overwritten) is returned as
    /// an error once and the frame is stepped over, so the next call goes on.
    #[inline]
    #[allow(
        clippy::should_implement_trait,
        reason = "a lending iterator: each frame borrows the consumer"
    )]
    pub fn next(&mut self) -> Result<Option<ReadGuard<'_, M>>, RingError> {
        // Fast paths: a plain message here, or nothing deferred and the
        // frame here plainly not filled yet.
        if let Some(at_hand) = self.message_at_hand() {
            return Ok(Some(self.guard(at_hand.frame, at_hand.len, false)));
        }
        if self.skipped == 0 && !self.has_pending() {
            self.publish_releases();
            return Ok(None);
        }
        self.next_slow()
    }

    /// [`Consumer::next`] past the fast path.
    fn next_slow(&mut self) -> Result<Option<ReadGuard<'_, M>>, RingError> {
        let Some((status, len, frame)) = self.advance()? else {
            return Ok(None);
        };
        let capacity = frame.capacity();
        if status == Status::Valid && len as usize > capacity {
            let index = self.pos;
            self.give_back(index);
            return Err(corrupt(index, Corruption::LenOutOfBounds { len, capacity }));
        }
        Ok(Some(self.guard(frame, len, status == Status::Copy)))
    }

    /// A guard on the frame at the current position.
    #[inline]
    fn guard(&mut self, frame: Frame, len: u32, copy: bool) -> ReadGuard<'_, M> {
        ReadGuard {
            consumer: self,
            frame,
            len,
            copy,
        }
    }

    /// Walks to the next frame the producer filled without taking it:
    /// `Ok(true)` when [`Consumer::next`] has a frame to return, `Ok(false)`
    /// when nothing is there yet. Corruption met on the way is returned
    /// here, once, and the frame stepped over.
    #[inline]
    pub fn poll(&mut self) -> Result<bool, RingError> {
        Ok(self.has_message() || self.advance()?.is_some())
    }

    /// Steps over SKIP frames and empty VALID frames (aborted reservations,
    /// released unseen) to the next VALID or COPY frame and stops on it,
    /// returning its status, length word and place; `None` when the next
    /// frame is not filled.
    fn advance(&mut self) -> Result<Option<(Status, u32, Frame)>, RingError> {
        if self.fault.is_some() {
            if let Some(fault) = self.fault.take() {
                return Err(fault);
            }
        }
        // Releases held back still read VALID: a walk over a lap of empty
        // frames would come round to them and take them again.
        self.publish_releases();
        // Each turn steps one frame or returns.
        for _ in 0..=self.ring.frame_nr() {
            let index = self.pos;
            let frame = self.ring.frame(index);
            let raw = frame.status().load(Acquire);
            let mine = self.local[index as usize];
            match (Status::from_raw(raw), mine) {
                (Some(Status::Skip), Local::Held | Local::Pending) => self.step(),
                (Some(Status::Skip), Local::Free) => {
                    self.step();
                    return Err(corrupt(index, Corruption::ForeignSkip));
                }
                (_, Local::Held | Local::Pending) => {
                    // Only this side leaves SKIP; the peer wrote over it. Not
                    // data: stepped over, as this side's SKIP frames are.
                    self.forget(index);
                    self.step();
                    return Err(corrupt(index, Corruption::DeferredOverwritten(raw)));
                }
                (Some(status @ (Status::Valid | Status::Copy)), Local::Free) => {
                    let len = frame.word(offset::LEN).load(Relaxed);
                    if status == Status::Valid && len == 0 {
                        self.give_back(index);
                        continue;
                    }
                    if !self.pending.is_empty() {
                        self.hand_back_pending();
                    }
                    return Ok(Some((status, len, frame)));
                }
                (Some(Status::Unused | Status::Reserved), Local::Free) => {
                    self.publish_releases();
                    return Ok(None);
                }
                (None, Local::Free) => {
                    self.step();
                    return Err(corrupt(index, Corruption::UnknownStatus(raw)));
                }
            }
        }
        Ok(None)
    }

    /// Moves to the next frame.
    fn step(&mut self) {
        self.pos = self.ring.next_index(self.pos);
        self.abs += 1;
    }

    /// Drops this side's claim on a deferred frame.
    fn forget(&mut self, index: u32) {
        if self.local[index as usize] != Local::Free {
            self.local[index as usize] = Local::Free;
            self.skipped -= 1;
            self.pending.retain(|&i| i != index);
        }
    }

    /// Hands released deferred frames back to the producer while this side
    /// stands on a filled frame (see the module documentation).
    fn hand_back_pending(&mut self) {
        let frames = self.ring.frame_nr();
        let mut pending = std::mem::take(&mut self.pending);
        pending.retain(|&index| {
            // The frame's next visit; it is not the current frame (that one
            // is filled, a pending one is SKIP).
            let ahead =
                (u64::from(index) + u64::from(frames) - u64::from(self.pos)) % u64::from(frames);
            let visit = self.abs + ahead;
            let handed_back = match self.ring.skip_cursor() {
                Some(cursor) => self.try_hand_back(index, visit, cursor),
                None => {
                    self.ring.status(index).store(Status::Unused.raw(), Release);
                    true
                }
            };
            if handed_back {
                self.local[index as usize] = Local::Free;
                self.skipped -= 1;
            }
            !handed_back
        });
        self.pending = pending;
    }

    /// Stores UNUSED in pending frame `index` unless the producer announced
    /// stepping over its next visit `visit`; `true` when handed back.
    fn try_hand_back(&self, index: u32, visit: u64, cursor: &AtomicU64) -> bool {
        if cursor.load(SeqCst) > visit {
            // The producer stepped over it; this side must too, first.
            return false;
        }
        let status = self.ring.status(index);
        status.store(Status::Unused.raw(), SeqCst);
        crate::sync::yield_point();
        if cursor.load(SeqCst) <= visit {
            // The producer will see UNUSED when it gets there.
            return true;
        }
        crate::sync::yield_point();
        // It announced stepping over meanwhile: take the frame back, unless
        // it reserved it first (then it fills it at `visit`).
        let (unused, skip) = (Status::Unused.raw(), Status::Skip.raw());
        status
            .compare_exchange(unused, skip, SeqCst, SeqCst)
            .is_err()
    }

    /// Takes up to `max` (at most [`BATCH_MAX`]) consecutive plain VALID
    /// frames at once (empty ones, i.e. aborted reservations, included:
    /// their payloads are empty), e.g. to hand them to one `sendmsg` as an
    /// iovec each;
    /// dropping the batch releases them all ([`Batch::release_first`] keeps
    /// the rest). Stops early at anything else
    /// (nothing yet, COPY, deferred frames, corruption: [`Consumer::next`]
    /// deals with those).
    pub fn batch(&mut self, max: usize) -> Batch<'_, M> {
        // Held-back releases are behind us; a lap-long scan must not meet them.
        self.publish_releases();
        let mut frames = [(None, 0u32); BATCH_MAX];
        let mut count = 0;
        if self.skipped == 0 && self.fault.is_none() {
            let mut index = self.pos;
            // At most one lap: frames are only released when the batch goes.
            let max = max.min(BATCH_MAX).min(self.ring.frame_nr() as usize);
            while count < max {
                let frame = self.ring.frame(index);
                if frame.status().load(Acquire) != Status::Valid.raw() {
                    break;
                }
                let len = frame.word(offset::LEN).load(Relaxed);
                if len as usize > frame.capacity() {
                    break;
                }
                frames[count] = (Some(frame), len);
                count += 1;
                index = self.ring.next_index(index);
            }
        }
        Batch {
            consumer: self,
            frames,
            count,
        }
    }

    /// The payload of a deferred frame (or the bytes attached to it).
    pub fn deferred_payload<'a>(&'a self, handle: &'a Deferred) -> Result<&'a [u8], RingError> {
        self.check_handle(handle)?;
        if let Some(bytes) = &handle.bytes {
            return Ok(bytes);
        }
        // SAFETY: the frame is inside the region and `len` was checked
        // against the capacity when the frame was taken; this side owns the
        // frame while it is deferred.
        Ok(unsafe {
            std::slice::from_raw_parts(self.ring.frame(handle.index).payload(), handle.len as usize)
        })
    }

    /// Releases a deferred frame, in any order. The frame returns to the
    /// producer at the next safe point (see the module documentation).
    pub fn release_deferred(&mut self, handle: Deferred) -> Result<(), RingError> {
        self.check_handle(&handle)?;
        self.local[handle.index as usize] = Local::Pending;
        self.pending.push(handle.index);
        Ok(())
    }

    /// Whether one more frame may be deferred: at most `frame_nr - 1` at
    /// once, so the producer always has a frame to fill.
    pub fn can_defer(&self) -> bool {
        self.skipped + 1 < self.ring.frame_nr()
    }

    /// Frames this side keeps as SKIP: deferred handles held, plus released
    /// ones not yet handed back to the producer.
    pub fn deferred_count(&self) -> u32 {
        self.skipped
    }

    fn check_handle(&self, handle: &Deferred) -> Result<(), RingError> {
        let held = self.local.get(handle.index as usize) == Some(&Local::Held);
        if handle.owner != self.id || !held {
            return Err(RingError::ForeignHandle(handle.index));
        }
        Ok(())
    }

    /// Releases frame `index` (at the current position) and moves on.
    fn give_back(&mut self, index: u32) {
        // Release: our reads of the payload happen before the producer's
        // next writes.
        self.ring.status(index).store(Status::Unused.raw(), Release);
        self.step();
    }

    /// Releases the frame the user is done with (at the current position)
    /// and moves on. While the next frame already holds a message (the
    /// consumer is working through a backlog), the UNUSED store waits and
    /// goes out with the next ones, in a batch of up to [`LAG_MAX`]: the
    /// producer, waiting for room, then does not keep pulling the cache
    /// line of the very frame being read. Once nothing follows, everything
    /// is released at once, so nothing is ever held back from a producer
    /// that the consumer is not about to serve anyway.
    #[inline]
    fn release_later(&mut self, frame: Frame) {
        let next = self.ring.next_index(self.pos);
        // A quarter of the ring at most, so the run never reaches round
        // to the frame being read.
        let more = self.lag_len + 1 < self.lag_max
            && matches!(
                Status::from_raw(self.ring.status(next).load(Relaxed)),
                Some(Status::Valid | Status::Copy)
            );
        if more {
            if self.lag_len == 0 {
                self.lag_start = self.pos;
            }
            self.lag_len += 1;
        } else {
            if self.lag_len != 0 {
                self.publish_releases();
            }
            frame.status().store(Status::Unused.raw(), Release);
        }
        self.pos = next;
        self.abs += 1;
    }
}

impl<M> Consumer<M> {
    /// Stores UNUSED in every frame whose release was held back.
    fn publish_releases(&mut self) {
        let mut index = self.lag_start;
        for _ in 0..self.lag_len {
            self.ring.status(index).store(Status::Unused.raw(), Release);
            index = self.ring.next_index(index);
        }
        self.lag_len = 0;
    }
}

impl<M> Drop for Consumer<M> {
    fn drop(&mut self) {
        self.publish_releases();
    }
}

/// Most releases held back while a consumer works through a backlog.
pub const LAG_MAX: usize = 16;

/// Most frames one [`Consumer::batch`] takes.
pub const BATCH_MAX: usize = 64;

/// Consecutive VALID frames taken together (see [`Consumer::batch`]);
/// dropping it releases them in order.
pub struct Batch<'a, M: Memory> {
    consumer: &'a mut Consumer<M>,
    frames: [(Option<Frame>, u32); BATCH_MAX],
    count: usize,
}

impl<M: Memory> Batch<'_, M> {
    /// Number of frames taken.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no frame was taken.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Releases only the first `n` frames (all of them if there are fewer)
    /// and leaves the rest in the ring as they are, to be taken again by
    /// the next [`Consumer::batch`] or [`Consumer::next`] (e.g. when
    /// sending them on failed and will be retried).
    pub fn release_first(mut self, n: usize) {
        // Drop gives back the first `count` frames, in order.
        self.count = self.count.min(n);
    }

    /// The payloads, in ring order.
    pub fn payloads(&self) -> impl Iterator<Item = &[u8]> {
        self.frames[..self.count].iter().filter_map(|(frame, len)| {
            // SAFETY: each frame lies inside the region, its length was
            // checked against its capacity, and this side owns it until the
            // batch is dropped.
            frame.map(|f| unsafe { std::slice::from_raw_parts(f.payload(), *len as usize) })
        })
    }
}

impl<M: Memory> Drop for Batch<'_, M> {
    fn drop(&mut self) {
        for _ in 0..self.count {
            let index = self.consumer.pos;
            self.consumer.give_back(index);
        }
    }
}

fn corrupt(frame: u32, kind: Corruption) -> RingError {
    RingError::Corrupt { frame, kind }
}

/// A frame taken from the ring: read its payload in place, then drop it to
/// release the frame (UNUSED) or [`ReadGuard::defer`] it (SKIP).
pub struct ReadGuard<'a, M: Memory> {
    /// The consumer, standing on this frame until the guard goes.
    consumer: &'a mut Consumer<M>,
    /// The frame; valid while `consumer` (and so its ring) is borrowed.
    frame: Frame,
    /// The length word as read once when the frame was taken.
    len: u32,
    /// COPY rather than VALID.
    copy: bool,
}

impl<M: Memory> ReadGuard<'_, M> {
    /// Index of the frame.
    pub fn index(&self) -> u32 {
        self.consumer.pos
    }

    /// The ring the frame is in.
    pub fn ring(&self) -> &Ring<M> {
        &self.consumer.ring
    }

    /// Whether the message travels out of band (COPY): its bytes are not in
    /// the frame; [`ReadGuard::copy_len`] tells their announced length.
    pub fn is_copy(&self) -> bool {
        self.copy
    }

    /// The announced length of an out-of-band message (COPY frames); a
    /// peer's claim, to be checked against what actually arrives.
    pub fn copy_len(&self) -> u32 {
        if self.copy { self.len } else { 0 }
    }

    /// Group and credentials the producer wrote, read from the frame now
    /// (nothing is validated against them; a hostile peer may change them
    /// between two calls).
    pub fn meta(&self) -> FrameMeta {
        let word = |field| self.frame.word(field).load(Relaxed);
        FrameMeta {
            group: word(offset::GROUP),
            pid: word(offset::PID),
            uid: word(offset::UID),
            gid: word(offset::GID),
        }
    }

    /// The message bytes, in place (empty for COPY frames), for a peer
    /// trusted not to write a frame it handed over. The length was checked
    /// against the frame; a hostile peer may still change the bytes under
    /// us: copy them out instead ([`ReadGuard::copy_payload_to`],
    /// [`ReadGuard::to_vec`]), which never makes a reference to them.
    pub fn payload(&self) -> &[u8] {
        let len = self.payload_len();
        // SAFETY: the payload area lies inside the region and `len` was
        // checked against the frame capacity; this side owns the frame until
        // the guard is dropped or deferred.
        unsafe { std::slice::from_raw_parts(self.frame.payload(), len) }
    }

    /// Copies the payload into `dst`, which must be exactly as long
    /// ([`ReadGuard::payload_len`]; panics otherwise), with a raw copy: the
    /// untrusted-peer path. Bytes a hostile peer changes meanwhile make the
    /// copy garbage (validate it), never this side's memory unsafe.
    pub fn copy_payload_to(&self, dst: &mut [u8]) {
        let len = self.payload_len();
        assert_eq!(
            dst.len(),
            len,
            "the copy's destination is the payload's length"
        );
        // SAFETY: the source lies inside the region (`len` was checked
        // against the frame capacity) and is read through a raw pointer
        // only; `dst` is a distinct, writable buffer of `len` bytes.
        unsafe { std::ptr::copy_nonoverlapping(self.frame.payload(), dst.as_mut_ptr(), len) }
    }

    /// Length of the message bytes in place (0 for COPY frames).
    pub fn payload_len(&self) -> usize {
        if self.copy { 0 } else { self.len as usize }
    }

    /// A private copy of the payload (the untrusted-peer path; see
    /// [`ReadGuard::copy_payload_to`]).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = vec![0; self.payload_len()];
        self.copy_payload_to(&mut out);
        out
    }

    /// The status this side saw when it took the frame.
    fn seen(&self) -> Status {
        if self.copy {
            Status::Copy
        } else {
            Status::Valid
        }
    }

    /// Defers the frame: it stays in the ring as SKIP, the consumer moves on,
    /// and the returned handle reads and releases it later. Refused (the
    /// guard comes back, the frame still yours) when `frame_nr - 1` frames
    /// are deferred already ([`Consumer::can_defer`]).
    pub fn defer(self) -> Result<Deferred, Self> {
        if !self.consumer.can_defer() {
            return Err(self);
        }
        let handle = Deferred {
            owner: self.consumer.id,
            index: self.consumer.pos,
            len: if self.copy { 0 } else { self.len },
            meta: self.meta(),
            bytes: None,
        };
        // The run of held-back releases must stay consecutive.
        self.consumer.publish_releases();
        self.consumer.local[handle.index as usize] = Local::Held;
        self.consumer.skipped += 1;
        self.frame.status().store(Status::Skip.raw(), Release);
        self.consumer.step();
        // The frame stays this side's, as SKIP: no release on drop.
        std::mem::forget(self);
        Ok(handle)
    }

    /// Releases the frame (UNUSED); the same as dropping the guard.
    pub fn release(self) {}

    /// Leaves the frame in the ring as it is, unread: the consumer stays on
    /// it and the next [`Consumer::next`] returns it again (e.g. when
    /// passing the message on failed and will be retried).
    pub fn put_back(self) {
        // Nothing moved: no release, and the consumer's position is still
        // this frame's.
        std::mem::forget(self);
    }
}

impl<M: Memory> Drop for ReadGuard<'_, M> {
    fn drop(&mut self) {
        let status = self.frame.status();
        let (seen, now) = (self.seen().raw(), status.load(Relaxed));
        if now != seen {
            let kind = Corruption::ChangedUnderUs {
                from: seen,
                to: now,
            };
            self.consumer.fault = Some(corrupt(self.consumer.pos, kind));
        }
        self.consumer.release_later(self.frame);
    }
}
