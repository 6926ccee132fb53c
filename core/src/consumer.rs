//! The consumer role: take frames in ring order, release or defer them.
//!
//! # Deferred frames and when SKIP turns back into UNUSED
//!
//! A deferred frame is marked SKIP and both sides step over it. Releasing
//! its handle must not store UNUSED at once: if the producer already stepped
//! over the SKIP frame in this lap and the consumer has not, the consumer
//! would then wait on an UNUSED frame the producer will only fill a lap later,
//! after newer messages (a stall, then reordering). So a released handle only
//! marks the frame locally; the consumer stores UNUSED when it is safe, that
//! is, for the released frames it stepped over before the next frame the
//! producer filled: the producer passed them on its way to that frame and
//! cannot pass them again before the consumer releases that frame. When every
//! frame is SKIP (the producer is stuck), exactly one released frame is
//! reclaimed, so both sides meet on it.

use crate::error::{Corruption, RingError};
use crate::frame::{FrameMeta, Status, offset};
use crate::memory::Memory;
use crate::ring::Ring;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// What this side knows about a frame it may have deferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Local {
    /// Not deferred.
    Free,
    /// Deferred (SKIP), its handle still held by the user.
    Held,
    /// Deferred, handle released; waits for a safe moment to become UNUSED.
    Released,
}

/// Takes frames of a ring in order (user space's side of a netlink RX ring).
pub struct Consumer<M> {
    ring: Ring<M>,
    pos: u32,
    local: Box<[Local]>,
    /// Released frames stepped over since the last frame the producer filled.
    stepped: Vec<u32>,
    /// SKIP frames stepped over since the last non-SKIP frame.
    skip_run: u32,
    /// Corruption noticed while releasing a frame, reported by the next call.
    fault: Option<RingError>,
    id: u64,
}

/// A handle on a deferred (SKIP) frame: read it later, release it later, in
/// any order.
#[derive(Debug)]
pub struct Deferred {
    owner: u64,
    index: u32,
    len: u32,
    meta: FrameMeta,
    out_of_band: Option<Box<[u8]>>,
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

    /// Attaches the out-of-band bytes of a deferred COPY frame, so
    /// [`Consumer::deferred_payload`] returns them. For transports.
    pub fn attach_out_of_band(&mut self, bytes: Box<[u8]>) {
        self.out_of_band = Some(bytes);
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
            local: vec![Local::Free; frames].into_boxed_slice(),
            stepped: Vec::new(),
            skip_run: 0,
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
            || matches!(
                Status::from_raw(self.ring.status(self.pos).load(Acquire)),
                Some(Status::Valid | Status::Copy | Status::Skip) | None
            )
    }

    /// The next message in ring order, `Ok(None)` if there is none yet.
    ///
    /// VALID and COPY frames are returned; empty VALID frames (aborted
    /// reservations) are released unseen; SKIP frames this side deferred are
    /// stepped over. Corruption (unknown status, length beyond the frame, a
    /// SKIP this side never set, a deferred frame overwritten) is returned as
    /// an error once and the frame is stepped over, so the next call goes on.
    pub fn next(&mut self) -> Result<Option<ReadGuard<'_, M>>, RingError> {
        let Some((status, len)) = self.advance()? else {
            return Ok(None);
        };
        let (ring, index) = (&self.ring, self.pos);
        // Each header word is read once; the guard keeps the copies.
        let meta = FrameMeta {
            group: ring.word(index, offset::GROUP).load(Relaxed),
            pid: ring.word(index, offset::PID).load(Relaxed),
            uid: ring.word(index, offset::UID).load(Relaxed),
            gid: ring.word(index, offset::GID).load(Relaxed),
        };
        let capacity = ring.capacity();
        if status == Status::Valid && len as usize > capacity {
            self.give_back(index);
            return Err(corrupt(index, Corruption::LenOutOfBounds { len, capacity }));
        }
        Ok(Some(ReadGuard {
            consumer: self,
            index,
            status,
            len,
            meta,
            done: false,
        }))
    }

    /// Walks to the next frame the producer filled without taking it:
    /// `Ok(true)` when [`Consumer::next`] has a frame (or a corruption error)
    /// to return, `Ok(false)` when nothing is there yet.
    pub fn poll(&mut self) -> Result<bool, RingError> {
        Ok(self.advance()?.is_some())
    }

    /// Steps over SKIP frames and empty VALID frames (aborted reservations,
    /// released unseen) to the next VALID or COPY frame and stops on it,
    /// returning its status and length word; `None` when the next frame is
    /// not filled.
    fn advance(&mut self) -> Result<Option<(Status, u32)>, RingError> {
        if let Some(fault) = self.fault.take() {
            return Err(fault);
        }
        let frames = self.ring.frame_nr();
        // Enough for one full lap, a reclaim, and a second lap.
        let mut budget = 2 * u64::from(frames) + 2;
        while budget > 0 {
            budget -= 1;
            let index = self.pos;
            let raw = self.ring.status(index).load(Acquire);
            let mine = self.local[index as usize];
            match Status::from_raw(raw) {
                Some(Status::Skip) => {
                    self.pos = self.ring.next_index(index);
                    self.skip_run += 1;
                    match mine {
                        Local::Held => {}
                        Local::Released => self.stepped.push(index),
                        Local::Free => return Err(corrupt(index, Corruption::ForeignSkip)),
                    }
                    if self.skip_run >= frames {
                        self.reclaim_one();
                    }
                }
                _ if mine != Local::Free => {
                    // Only this side leaves SKIP; the peer wrote over it.
                    self.local[index as usize] = Local::Free;
                    self.stepped.retain(|&i| i != index);
                    return Err(corrupt(index, Corruption::DeferredOverwritten(raw)));
                }
                Some(Status::Unused | Status::Reserved) => {
                    self.skip_run = 0;
                    return Ok(None);
                }
                None => {
                    self.skip_run = 0;
                    self.pos = self.ring.next_index(index);
                    return Err(corrupt(index, Corruption::UnknownStatus(raw)));
                }
                Some(status @ (Status::Valid | Status::Copy)) => {
                    // The producer filled this frame, so it passed every
                    // frame stepped over since the last one it filled.
                    self.settle_stepped();
                    let len = self.ring.word(index, offset::LEN).load(Relaxed);
                    if status == Status::Valid && len == 0 {
                        self.give_back(index);
                        continue;
                    }
                    return Ok(Some((status, len)));
                }
            }
        }
        Ok(None)
    }

    /// The payload of a deferred frame (or the out-of-band bytes attached).
    pub fn deferred_payload<'a>(&'a self, handle: &'a Deferred) -> Result<&'a [u8], RingError> {
        self.check_handle(handle)?;
        if let Some(bytes) = &handle.out_of_band {
            return Ok(bytes);
        }
        // SAFETY: the frame is inside the region and `len` was checked
        // against the capacity when the frame was taken; this side owns the
        // frame while it is deferred.
        Ok(unsafe {
            std::slice::from_raw_parts(self.ring.payload_ptr(handle.index), handle.len as usize)
        })
    }

    /// Releases a deferred frame, in any order. The frame returns to the
    /// producer at the next safe point (see the module documentation).
    pub fn release_deferred(&mut self, handle: Deferred) -> Result<(), RingError> {
        self.check_handle(&handle)?;
        self.local[handle.index as usize] = Local::Released;
        Ok(())
    }

    /// Number of deferred frames whose handles are still held.
    pub fn deferred_count(&self) -> usize {
        self.local.iter().filter(|&&l| l == Local::Held).count()
    }

    fn check_handle(&self, handle: &Deferred) -> Result<(), RingError> {
        let held = self.local.get(handle.index as usize) == Some(&Local::Held);
        if handle.owner != self.id || !held {
            return Err(RingError::ForeignHandle(handle.index));
        }
        Ok(())
    }

    /// Stores UNUSED in the released frames stepped over since the last
    /// filled frame (safe: see the module documentation).
    fn settle_stepped(&mut self) {
        self.skip_run = 0;
        for index in self.stepped.drain(..) {
            self.local[index as usize] = Local::Free;
            self.ring.status(index).store(Status::Unused.raw(), Release);
        }
    }

    /// Every frame is SKIP, so the producer cannot fill any: hand back the
    /// first released frame from here, the one both sides will meet on.
    fn reclaim_one(&mut self) {
        self.skip_run = 0;
        self.stepped.clear();
        let frames = self.ring.frame_nr();
        let mut index = self.pos;
        for _ in 0..frames {
            if self.local[index as usize] == Local::Released {
                self.local[index as usize] = Local::Free;
                self.ring.status(index).store(Status::Unused.raw(), Release);
                return;
            }
            index = self.ring.next_index(index);
        }
    }

    /// Releases frame `index` (at the current position) and moves on.
    fn give_back(&mut self, index: u32) {
        // Release: our reads of the payload happen before the producer's
        // next writes.
        self.ring.status(index).store(Status::Unused.raw(), Release);
        self.pos = self.ring.next_index(index);
    }
}

fn corrupt(frame: u32, kind: Corruption) -> RingError {
    RingError::Corrupt { frame, kind }
}

/// A frame taken from the ring: read its payload in place, then drop it to
/// release the frame (UNUSED) or [`ReadGuard::defer`] it (SKIP).
pub struct ReadGuard<'a, M: Memory> {
    consumer: &'a mut Consumer<M>,
    index: u32,
    status: Status,
    len: u32,
    meta: FrameMeta,
    done: bool,
}

impl<M: Memory> ReadGuard<'_, M> {
    /// Index of the frame.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Whether the message travels out of band (COPY): its bytes are not in
    /// the frame; [`ReadGuard::copy_len`] tells their announced length.
    pub fn is_copy(&self) -> bool {
        self.status == Status::Copy
    }

    /// The announced length of an out-of-band message (COPY frames); a
    /// peer's claim, to be checked against what actually arrives.
    pub fn copy_len(&self) -> u32 {
        if self.is_copy() { self.len } else { 0 }
    }

    /// Group and credentials the producer wrote.
    pub fn meta(&self) -> FrameMeta {
        self.meta
    }

    /// The message bytes, in place (empty for COPY frames). The length was
    /// checked against the frame; a hostile peer may still change the bytes
    /// under us: copy them out first ([`ReadGuard::to_vec`]) if it must not.
    pub fn payload(&self) -> &[u8] {
        let len = if self.is_copy() { 0 } else { self.len as usize };
        // SAFETY: the payload area lies inside the region and `len` was
        // checked against the frame capacity; this side owns the frame until
        // the guard is dropped or deferred.
        unsafe { std::slice::from_raw_parts(self.consumer.ring.payload_ptr(self.index), len) }
    }

    /// A private copy of the payload (the untrusted-peer path).
    pub fn to_vec(&self) -> Vec<u8> {
        self.payload().to_vec()
    }

    /// Defers the frame: it stays in the ring as SKIP, the consumer moves on,
    /// and the returned handle reads and releases it later.
    pub fn defer(mut self) -> Deferred {
        self.done = true;
        let consumer = &mut *self.consumer;
        consumer.local[self.index as usize] = Local::Held;
        consumer
            .ring
            .status(self.index)
            .store(Status::Skip.raw(), Release);
        consumer.pos = consumer.ring.next_index(self.index);
        Deferred {
            owner: consumer.id,
            index: self.index,
            len: if self.status == Status::Copy { 0 } else { self.len },
            meta: self.meta,
            out_of_band: None,
        }
    }

    /// Releases the frame (UNUSED); the same as dropping the guard.
    pub fn release(self) {}
}

impl<M: Memory> Drop for ReadGuard<'_, M> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let now = self.consumer.ring.status(self.index).load(Relaxed);
        if now != self.status.raw() {
            let kind = Corruption::ChangedUnderUs {
                from: self.status.raw(),
                to: now,
            };
            self.consumer.fault = Some(corrupt(self.index, kind));
        }
        self.consumer.give_back(self.index);
    }
}
