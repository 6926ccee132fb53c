//! The producer role: reserve the head frame, build in place, commit.

use crate::error::{Corruption, RingError};
use crate::frame::{FrameMeta, Status, offset};
use crate::memory::Memory;
use crate::ring::{Frame, Ring};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};

/// Once full, the producer resumes when this many frames (at most a quarter
/// of the ring) are free again.
const RESUME_GAP: u32 = 16;

/// Frames the producer checks at once when it needs a free one: the head
/// and those after it, up to this many (at most the ring).
const LOOKAHEAD: u32 = 16;

/// Fills frames of a ring in order (the kernel's side of a netlink RX ring,
/// user space's side of a TX ring).
///
/// ```
/// use ringlink_core::{Consumer, Geometry, HeapMemory, Producer, Ring};
/// use std::sync::Arc;
/// let g = Geometry::for_messages(64, 4).unwrap();
/// let mem = Arc::new(HeapMemory::new(g.ring_size()));
/// let mut tx = Producer::new(Ring::new(mem.clone(), 0, g).unwrap());
/// let mut rx = Consumer::new(Ring::new(mem, 0, g).unwrap());
/// tx.reserve().unwrap().expect("ring has room").write(b"hello").unwrap();
/// let frame = rx.next().unwrap().expect("a message");
/// assert_eq!(frame.payload(), b"hello");
/// ```
// Aligned so that its per-message fields never share a cache line (or the
// adjacent-line prefetch pair) with a consumer living next to it.
#[repr(align(128))]
pub struct Producer<M> {
    ring: Ring<M>,
    head: u32,
    /// The ring was found full: wait for a gap before polling the head.
    full: bool,
    /// A reservation of the head won against the consumer's hand-back was
    /// cancelled: the consumer may still take the frame back, so the next
    /// reservation must win it again (by CAS), not take it as free.
    contested: bool,
    /// Absolute position of `head`: frames passed (filled or skipped) since
    /// the start. The consumer counts the same way.
    abs: u64,
    /// Frames lent out ([`Producer::lend`]): the `lent` frames from the
    /// head on, RESERVED, published oldest first.
    lent: u32,
    /// Absolute position below which every frame from `abs` on was seen
    /// UNUSED ([`Producer::look_ahead`]). Only this side takes a frame out
    /// of UNUSED (the consumer's take-back needs an announce this side only
    /// makes for a SKIP frame), so they stay free until filled.
    free_until: u64,
}

impl<M: Memory> Producer<M> {
    /// A producer starting at frame 0 of `ring`.
    pub fn new(ring: Ring<M>) -> Producer<M> {
        Producer {
            ring,
            head: 0,
            full: false,
            contested: false,
            abs: 0,
            lent: 0,
            free_until: 0,
        }
    }

    /// The ring this producer fills.
    pub fn ring(&self) -> &Ring<M> {
        &self.ring
    }

    /// Index of the frame the next reservation will try.
    pub fn head(&self) -> u32 {
        self.head
    }

    /// Whether [`Producer::reserve`] may find a frame: the head frame is
    /// UNUSED or SKIP, or, once the ring was found full, the frame
    /// `RESUME_GAP` (16, at most a quarter of the ring) ahead of it is. A
    /// cheap, read-only check for wait loops.
    pub fn has_room(&self) -> bool {
        matches!(
            Status::from_raw(self.ring.status(self.watched()).load(Acquire)),
            Some(Status::Unused | Status::Skip) | None
        )
    }

    /// The frame whose status says whether to try the head: the head
    /// itself, or, once the ring was found full, a frame `RESUME_GAP` ahead.
    /// Waiting for that gap keeps a producer on a full ring from polling the
    /// very frame the consumer is reading, which would bounce its cache line
    /// between the two on every message.
    fn watched(&self) -> u32 {
        match self.full {
            false => self.head,
            true => {
                let gap = RESUME_GAP.min(self.ring.frame_nr() / 4);
                (self.head + gap) % self.ring.frame_nr()
            }
        }
    }

    /// Reserves the head frame for building a message in place.
    ///
    /// Steps over frames the consumer deferred (SKIP); `Ok(None)` when the
    /// ring is full (the head frame is not UNUSED, or every frame is SKIP):
    /// that is backpressure, not an error. Once full, it stays full until
    /// the consumer has freed 16 frames more than the head (a quarter of
    /// the ring if that is less), so a producer waiting on a full ring does
    /// not poll the very frame the consumer is reading: a consumer must not
    /// wait for the producer while holding fewer frames than that. A
    /// status no honest consumer writes is reported as corruption and the
    /// frame is left alone.
    #[inline]
    pub fn reserve(&mut self) -> Result<Option<WriteGuard<'_, M>>, RingError> {
        if self.full {
            if !self.has_room() {
                return Ok(None);
            }
            self.full = false;
        } else if !self.contested && (self.abs < self.free_until || self.look_ahead()) {
            // Fast path: the head frame is free.
            let frame = self.ring.frame(self.head);
            return Ok(Some(self.guard(frame)));
        }
        self.reserve_slow()
    }

    /// Counts the UNUSED frames from the head on, up to [`LOOKAHEAD`], into
    /// `free_until`; `false` when the head is not one. The loads do not
    /// depend on each other, so the processor has them all in flight at
    /// once: one wait for the consumer's cache lines every [`LOOKAHEAD`]
    /// messages instead of one per message.
    #[inline]
    fn look_ahead(&mut self) -> bool {
        let (unused, most) = (Status::Unused.raw(), LOOKAHEAD.min(self.ring.frame_nr()));
        let (mut index, mut free) = (self.head, 0);
        // Acquire: the consumer's reads of the old payloads happen before
        // our writes.
        while free < most && self.ring.status(index).load(Acquire) == unused {
            free += 1;
            index = self.ring.next_index(index);
        }
        self.free_until = self.abs + u64::from(free);
        free != 0
    }

    /// A guard on the head frame.
    fn guard(&mut self, frame: Frame) -> WriteGuard<'_, M> {
        WriteGuard {
            frame,
            meta: FrameMeta::default(),
            producer: self,
        }
    }

    /// [`Producer::reserve`] past the fast path: SKIP frames, contested
    /// frames, a full ring, corruption.
    fn reserve_slow(&mut self) -> Result<Option<WriteGuard<'_, M>>, RingError> {
        let frames = u64::from(self.ring.frame_nr());
        let (start_head, start_abs) = (self.head, self.abs);
        // Set when a SKIP frame turned UNUSED as we announced stepping over
        // it: the consumer is handing it back and may take it back again.
        let mut contested = std::mem::take(&mut self.contested);
        // Each turn steps a frame or re-reads one that changed under us.
        for _ in 0..2 * frames + 2 {
            let frame = self.ring.frame(self.head);
            let status = frame.status();
            // Acquire: the consumer's reads of the old payload happen before
            // our writes of the new one.
            let raw = status.load(Acquire);
            match Status::from_raw(raw) {
                Some(Status::Unused) => {
                    // Uncontested, the frame stays UNUSED until commit: the
                    // consumer reads UNUSED and RESERVED alike ("nothing
                    // yet"), and not touching the line until the message is
                    // built keeps a polling consumer from pulling it away
                    // mid-build. Contested, a CAS marks it RESERVED, so
                    // exactly one of us wins.
                    let reserved = Status::Reserved.raw();
                    if contested
                        && status
                            .compare_exchange(raw, reserved, Acquire, Relaxed)
                            .is_err()
                    {
                        continue;
                    }
                    return Ok(Some(self.guard(frame)));
                }
                Some(Status::Skip) => {
                    if !self.announce_skip() {
                        contested = true;
                        continue;
                    }
                    self.head = self.ring.next_index(self.head);
                    self.abs += 1;
                    if self.abs - start_abs >= frames {
                        break;
                    }
                }
                Some(Status::Reserved | Status::Valid | Status::Copy) => {
                    self.full = true;
                    return Ok(None);
                }
                None => {
                    return Err(RingError::Corrupt {
                        frame: self.head,
                        kind: Corruption::UnknownStatus(raw),
                    });
                }
            }
        }
        // Every frame is SKIP: full. Step back, so the positions of both
        // sides keep counting the same laps.
        self.head = start_head;
        self.abs = start_abs;
        if let Some(cursor) = self.ring.skip_cursor() {
            cursor.store(start_abs, SeqCst);
        }
        Ok(None)
    }

    /// Before stepping over the SKIP frame at the head, announces it in the
    /// skip cursor and re-reads it (the announce/re-read pairs with the
    /// consumer's hand-back store/read). `false` when it is no longer SKIP.
    fn announce_skip(&self) -> bool {
        match self.ring.skip_cursor() {
            None => true,
            Some(cursor) => {
                cursor.store(self.abs + 1, SeqCst);
                self.ring.status(self.head).load(SeqCst) == Status::Skip.raw()
            }
        }
    }

    /// Lends the next frame to a filler outside this producer (the kernel
    /// through io_uring, a batch receive): the frame after those already
    /// lent, marked RESERVED, its data area (headroom and payload) handed
    /// out as a raw [`LentFrame`]. Lent frames are published oldest first
    /// with [`Producer::publish_lent`]; they stay lent until then.
    ///
    /// `Ok(None)` when the next frame is not free (the ring is full, or a
    /// SKIP frame lies beyond the lent ones: it is stepped over once they
    /// are published). A producer either lends or reserves: while frames
    /// are lent, [`Producer::reserve`] finds the ring full.
    pub fn lend(&mut self) -> Result<Option<LentFrame>, RingError> {
        let frames = self.ring.frame_nr();
        let frame = match self.lent {
            // Nothing lent: the head, reached as a reservation reaches it
            // (stepping over SKIP frames, spotting corruption).
            0 => match self.reserve()? {
                Some(guard) => {
                    let frame = guard.frame;
                    std::mem::forget(guard);
                    frame
                }
                None => return Ok(None),
            },
            n if n >= frames => return Ok(None),
            n => {
                let index = (self.head + n) % frames;
                let frame = self.ring.frame(index);
                // Acquire: the consumer's reads of the old payload happen
                // before the filler's writes.
                let raw = frame.status().load(Acquire);
                match Status::from_raw(raw) {
                    Some(Status::Unused) => frame,
                    Some(_) => return Ok(None),
                    None => {
                        return Err(RingError::Corrupt {
                            frame: index,
                            kind: Corruption::UnknownStatus(raw),
                        });
                    }
                }
            }
        };
        // RESERVED: the frame is neither free nor data until published.
        frame.status().store(Status::Reserved.raw(), Relaxed);
        // Lent frames are not free: reservations look again once published.
        self.free_until = 0;
        let index = (self.head + self.lent) % frames;
        self.lent += 1;
        Ok(Some(LentFrame {
            index,
            data: frame.data(),
            len: self.ring.headroom() + frame.capacity(),
        }))
    }

    /// Frames lent and not yet published.
    pub fn lent(&self) -> u32 {
        self.lent
    }

    /// Publishes the oldest lent frame (VALID) with a payload of `len`
    /// bytes, which starts after the ring's headroom, and `meta`. A `len`
    /// past the payload area is refused and the frame published empty.
    pub fn publish_lent(&mut self, len: usize, meta: FrameMeta) -> Result<(), RingError> {
        if self.lent == 0 {
            return Err(RingError::NothingLent);
        }
        let frame = self.ring.frame(self.head);
        self.lent -= 1;
        let capacity = frame.capacity();
        if len > capacity {
            self.publish(frame, Status::Valid, 0, meta);
            return Err(RingError::TooLong { len, capacity });
        }
        self.publish(frame, Status::Valid, len as u32, meta);
        Ok(())
    }

    /// Publishes the head frame with `status` and `len` and moves on.
    fn publish(&mut self, frame: Frame, status: Status, len: u32, meta: FrameMeta) {
        frame.word(offset::LEN).store(len, Relaxed);
        frame.word(offset::GROUP).store(meta.group, Relaxed);
        frame.word(offset::PID).store(meta.pid, Relaxed);
        frame.word(offset::UID).store(meta.uid, Relaxed);
        frame.word(offset::GID).store(meta.gid, Relaxed);
        // Release: payload and header words are visible before the status.
        frame.status().store(status.raw(), Release);
        self.head = self.ring.next_index(self.head);
        self.abs += 1;
    }
}

/// A frame lent out by [`Producer::lend`]: where its data area is, for a
/// filler that writes through raw pointers (a system call, the kernel).
/// The pointer stays valid while the ring's memory lives; the frame is the
/// filler's until the producer publishes it.
#[derive(Clone, Copy, Debug)]
pub struct LentFrame {
    /// Index of the frame in the ring.
    pub index: u32,
    data: *mut u8,
    len: usize,
}

impl LentFrame {
    /// Start of the data area: the ring's headroom, then the payload.
    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.data
    }

    /// Bytes of the data area (headroom and payload).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the data area is empty (never, for a valid ring).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A reserved frame being built. Commit it, commit it as COPY, or abort it;
/// dropping it without committing aborts it (VALID with length 0, which
/// consumers release unseen), so a frame is never left RESERVED.
pub struct WriteGuard<'a, M: Memory> {
    /// The producer, standing on this frame (its head) until the guard goes.
    producer: &'a mut Producer<M>,
    /// The reserved frame; valid while `producer` (and so its ring) is borrowed.
    frame: Frame,
    meta: FrameMeta,
}

impl<M: Memory> WriteGuard<'_, M> {
    /// Index of the reserved frame.
    pub fn index(&self) -> u32 {
        self.producer.head
    }

    /// Bytes the payload area holds.
    pub fn capacity(&self) -> usize {
        self.frame.capacity()
    }

    /// The whole payload area, to build the message in place.
    pub fn buf(&mut self) -> &mut [u8] {
        // SAFETY: the payload area of a frame inside the region (checked at
        // ring construction), alive while the producer is borrowed; this side
        // owns the frame until it publishes it, and `&mut self` makes this
        // the only live view of it.
        unsafe { std::slice::from_raw_parts_mut(self.frame.payload(), self.frame.capacity()) }
    }

    /// Sets the group and credential words published with the frame.
    pub fn set_meta(&mut self, meta: FrameMeta) {
        self.meta = meta;
    }

    /// Publishes the frame with `status` and `len`, consuming the guard.
    fn finish(self, status: Status, len: u32) {
        let (frame, meta) = (self.frame, self.meta);
        let producer = &mut *self.producer;
        producer.publish(frame, status, len, meta);
        // Published: nothing left for drop to do.
        std::mem::forget(self);
    }

    /// Publishes the first `len` bytes of the payload area (VALID).
    /// A `len` of 0 publishes an empty frame, which consumers skip. A `len`
    /// past the frame is refused and the frame aborted.
    pub fn commit(self, len: usize) -> Result<(), RingError> {
        let capacity = self.capacity();
        if len > capacity {
            self.finish(Status::Valid, 0);
            return Err(RingError::TooLong { len, capacity });
        }
        self.finish(Status::Valid, len as u32);
        Ok(())
    }

    /// Copies `data` into the frame and commits it.
    pub fn write(mut self, data: &[u8]) -> Result<(), RingError> {
        match self.buf().get_mut(..data.len()) {
            Some(dst) => dst.copy_from_slice(data),
            None => {
                let capacity = self.capacity();
                self.abort();
                return Err(RingError::TooLong {
                    len: data.len(),
                    capacity,
                });
            }
        }
        self.commit(data.len())
    }

    /// Publishes the frame as COPY: the message of `len` bytes travels out of
    /// band and the frame only keeps its place in ring order. Send the
    /// out-of-band message before calling this.
    pub fn commit_copy(self, len: u32) {
        self.finish(Status::Copy, len);
    }

    /// Gives the frame up: published VALID with length 0.
    pub fn abort(self) {
        self.finish(Status::Valid, 0);
    }

    /// Gives the frame back unpublished: it stays at the head, UNUSED, and
    /// the next reservation takes it again; the consumer sees nothing. (For
    /// when there turned out to be nothing to put in it, e.g. a receive
    /// that would block.)
    pub fn cancel(self) {
        // Undo the RESERVED mark of a contested reservation (an uncontested
        // one never left UNUSED), and remember that the consumer's
        // hand-back may still take the frame back as SKIP: the next
        // reservation wins it by CAS again or steps over it.
        let (reserved, unused) = (Status::Reserved.raw(), Status::Unused.raw());
        let undone = self
            .frame
            .status()
            .compare_exchange(reserved, unused, Release, Relaxed);
        self.producer.contested = undone.is_ok();
        std::mem::forget(self);
    }
}

impl<M: Memory> Drop for WriteGuard<'_, M> {
    /// A guard dropped without commit aborts its frame, so no frame is
    /// left reserved.
    fn drop(&mut self) {
        let (frame, meta) = (self.frame, self.meta);
        self.producer.publish(frame, Status::Valid, 0, meta);
    }
}
