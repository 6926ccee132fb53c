//! A ring placed in a memory region: bounds-checked access to frame headers
//! (atomics) and payloads (raw bytes). The only module that turns addresses
//! into references.

use crate::consumer::Consumer;
use crate::error::RingError;
use crate::frame::{HDRLEN, offset};
use crate::geometry::Geometry;
use crate::memory::Memory;
use crate::producer::Producer;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};

/// One ring of frames inside a [`Memory`] region, at a byte offset.
///
/// Construction checks that every frame lies inside the region; from then on
/// frame indices are kept below `frame_nr` by the producer and consumer, so
/// no access can leave the region whatever the peer writes.
pub struct Ring<M> {
    mem: M,
    base: NonNull<u8>,
    geometry: Geometry,
    per_block: u32,
    /// `frame_size` divides `block_size`: frame `i` is at `i * frame_size`.
    contiguous: bool,
    /// Where the producer announces how far it stepped over SKIP frames.
    skip_cursor: Option<NonNull<AtomicU64>>,
    /// Payload bytes per frame (after the headroom).
    capacity: usize,
    /// Bytes between the frame header and the payload (see
    /// [`Ring::with_headroom`]).
    headroom: usize,
}

// SAFETY: the ring only holds the region (which is Send/Sync if M is) and a
// pointer into it; all shared accesses go through atomics or raw copies.
unsafe impl<M: Memory + Send> Send for Ring<M> {}
// SAFETY: as above; `&Ring` only gives atomic or raw-copy access to frames.
unsafe impl<M: Memory + Sync> Sync for Ring<M> {}

/// Both ends of one in-process ring: the frames from byte 0 of `mem`, the
/// skip cursor right after them (so `mem` holds at least
/// `geometry.ring_size() + 8` bytes), `headroom` bytes in front of each
/// payload ([`Ring::with_headroom`]). The layout of the in-process
/// channel, the netlink link's own rings and the benchmarks.
pub fn ring_ends<M: Memory + Clone>(
    mem: M,
    geometry: Geometry,
    headroom: usize,
) -> Result<(Producer<M>, Consumer<M>), RingError> {
    let ring = || {
        Ring::new(mem.clone(), 0, geometry)?
            .with_skip_cursor(geometry.ring_size())?
            .with_headroom(headroom)
    };
    Ok((Producer::new(ring()?), Consumer::new(ring()?)))
}

impl<M: Memory> Ring<M> {
    /// Places a ring of `geometry` at byte `offset` of `mem`.
    pub fn new(mem: M, offset: usize, geometry: Geometry) -> Result<Ring<M>, RingError> {
        geometry.validate()?;
        if geometry.frame_nr == 0 {
            return Err(RingError::NoFrames);
        }
        let out = RingError::OutOfRegion {
            offset,
            ring_size: geometry.ring_size(),
            region: mem.len(),
        };
        let end = offset
            .checked_add(geometry.ring_size())
            .ok_or(out.clone())?;
        if end > mem.len() {
            return Err(out);
        }
        let base = mem.as_ptr().wrapping_add(offset);
        if base as usize % 16 != 0 {
            return Err(RingError::Misaligned(base as usize));
        }
        let base = NonNull::new(base).ok_or(RingError::Misaligned(0))?;
        let per_block = geometry.frames_per_block();
        Ok(Ring {
            mem,
            base,
            geometry,
            per_block,
            contiguous: per_block * geometry.frame_size == geometry.block_size,
            skip_cursor: None,
            capacity: geometry.payload_capacity(),
            headroom: 0,
        })
    }

    /// Leaves `headroom` bytes between each frame's header and its payload,
    /// for a filler that writes its own header in front of the message
    /// (io_uring's `recvmsg` result header, say): lent frames
    /// ([`crate::Producer::lend`]) hand out the headroom and payload
    /// together, every other view starts at the payload. Not part of the
    /// shared layout: both sides must place their rings with the same
    /// headroom. Refused when no payload byte would be left.
    pub fn with_headroom(mut self, headroom: usize) -> Result<Ring<M>, RingError> {
        let area = self.geometry.payload_capacity();
        if headroom >= area {
            return Err(RingError::Headroom { headroom, area });
        }
        self.headroom = headroom;
        self.capacity = area - headroom;
        Ok(self)
    }

    /// Places the ring's skip cursor, a 64-bit word outside the frames, at
    /// byte `offset` of the region. The producer announces in it each SKIP
    /// frame it steps over, which lets the consumer hand released deferred
    /// frames back without racing it (see [`crate::consumer`]). Both sides
    /// must use the same word. A ring without one (the kernel's) hands
    /// deferred frames back at release, as the kernel documented.
    pub fn with_skip_cursor(mut self, offset: usize) -> Result<Ring<M>, RingError> {
        let bad = RingError::CursorPlacement { offset };
        let end = offset.checked_add(8).ok_or(bad.clone())?;
        let ring_start = self.base.as_ptr() as usize - self.mem.as_ptr() as usize;
        let ring_end = ring_start + self.geometry.ring_size();
        let overlaps = offset < ring_end && end > ring_start;
        let ptr = self.mem.as_ptr().wrapping_add(offset);
        if end > self.mem.len() || overlaps || ptr as usize % 8 != 0 {
            return Err(bad);
        }
        self.skip_cursor = NonNull::new(ptr as *mut AtomicU64);
        Ok(self)
    }

    /// The skip cursor, if the ring has one.
    pub(crate) fn skip_cursor(&self) -> Option<&AtomicU64> {
        // SAFETY: checked at placement to lie inside the region, 8-aligned,
        // outside the frames; the region outlives `&self`; both sides only
        // access it atomically.
        self.skip_cursor.map(|p| unsafe { p.as_ref() })
    }
}

impl<M> Ring<M> {
    /// The ring's geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The memory region the ring lives in.
    pub fn memory(&self) -> &M {
        &self.mem
    }

    /// Number of frames.
    pub fn frame_nr(&self) -> u32 {
        self.geometry.frame_nr
    }

    /// Largest payload one frame holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes between each frame's header and its payload.
    pub fn headroom(&self) -> usize {
        self.headroom
    }

    /// The index after `index`, wrapping.
    #[inline]
    pub(crate) fn next_index(&self, index: u32) -> u32 {
        if index + 1 == self.geometry.frame_nr {
            0
        } else {
            index + 1
        }
    }

    /// Frame `index`. Callers keep `index < frame_nr`; a larger index is
    /// clamped to the last frame, so no access can leave the region.
    #[inline]
    pub(crate) fn frame(&self, index: u32) -> Frame {
        debug_assert!(index < self.geometry.frame_nr);
        let index = index.min(self.geometry.frame_nr - 1);
        let offset = if self.contiguous {
            index as usize * self.geometry.frame_size as usize
        } else {
            (index / self.per_block) as usize * self.geometry.block_size as usize
                + (index % self.per_block) as usize * self.geometry.frame_size as usize
        };
        Frame {
            // In bounds: offset + frame_size <= ring_size, checked at construction.
            ptr: self.base.as_ptr().wrapping_add(offset),
            payload_at: HDRLEN + self.headroom,
            capacity: self.capacity,
        }
    }

    /// Status word of frame `index`.
    #[inline]
    pub(crate) fn status(&self, index: u32) -> &AtomicU32 {
        let word = self.frame(index).status() as *const AtomicU32;
        // SAFETY: the word lies in this ring's region, which lives as long
        // as `&self` (see `Frame`).
        unsafe { &*word }
    }

    /// Raw header words of frame `index`, for tools that inspect a ring and
    /// for tests that play a hostile peer. `None` past the last frame.
    pub fn raw_header(&self, index: u32) -> Option<RawHeader<'_>> {
        (index < self.geometry.frame_nr).then(|| {
            let frame = self.frame(index);
            let word = |field| -> &AtomicU32 {
                let word = frame.word(field) as *const AtomicU32;
                // SAFETY: the word lies in this ring's region, which lives
                // as long as `&self` (see `Frame`).
                unsafe { &*word }
            };
            RawHeader {
                words: [
                    word(offset::STATUS),
                    word(offset::LEN),
                    word(offset::GROUP),
                    word(offset::PID),
                    word(offset::UID),
                    word(offset::GID),
                ],
            }
        })
    }
}

/// The six atomic header words of one frame (see [`Ring::raw_header`]).
pub struct RawHeader<'a> {
    /// status, len, group, pid, uid, gid.
    pub words: [&'a AtomicU32; 6],
}

impl RawHeader<'_> {
    /// The status word.
    pub fn status(&self) -> &AtomicU32 {
        self.words[0]
    }
    /// The length word.
    pub fn len(&self) -> &AtomicU32 {
        self.words[1]
    }
}

/// One frame of a ring: where its header words and payload are.
///
/// A `Frame` is a plain pointer, valid only while the ring it came from is
/// alive; crate code keeps it next to a borrow of that ring (a guard holds
/// the producer or consumer borrowed), so it never outlives it.
#[derive(Clone, Copy)]
pub(crate) struct Frame {
    ptr: *mut u8,
    /// Offset of the payload: the header and the ring's headroom before it.
    payload_at: usize,
    capacity: usize,
}

impl Frame {
    /// Header word at byte `field`.
    #[inline]
    pub(crate) fn word(&self, field: usize) -> &AtomicU32 {
        debug_assert!(field + 4 <= HDRLEN && field % 4 == 0);
        // SAFETY: the frame lies inside a live ring's region (see the type
        // documentation), frames start at multiples of 4 from a 16-aligned
        // base so the word is aligned, and the peer only ever accesses
        // these words atomically.
        unsafe { &*(self.ptr.wrapping_add(field) as *const AtomicU32) }
    }

    /// Status word: every protocol step goes through here.
    #[inline]
    pub(crate) fn status(&self) -> &AtomicU32 {
        crate::sync::yield_point();
        self.word(offset::STATUS)
    }

    /// Payload area: `capacity` bytes after the header and headroom.
    #[inline]
    pub(crate) fn payload(&self) -> *mut u8 {
        self.ptr.wrapping_add(self.payload_at)
    }

    /// Data area: the headroom and the payload, everything after the header.
    #[inline]
    pub(crate) fn data(&self) -> *mut u8 {
        self.ptr.wrapping_add(HDRLEN)
    }

    /// Bytes the payload area holds.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}
