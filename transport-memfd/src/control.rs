//! The control page at the start of every link segment: what the creator
//! declares (magic, version, the two rings' places and geometries) and the
//! words both sides share at run time (skip cursors, wake-up announcements,
//! closed flags).
//!
//! Everything in it is an atomic word: the peer may change it at any time.
//! The declared part is read once, into a [`Layout`], and validated against
//! the segment's real size before anything is mapped by offset.

use crate::error::SetupError;
use ringlink_core::{DoorbellWords, Geometry, page_size};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, AtomicU64};

/// "RINGLNK1", little-endian.
pub const MAGIC: u64 = u64::from_le_bytes(*b"RINGLNK1");
/// Layout version of the control page (2: payloads at
/// [`PAYLOAD_OFFSET`]).
pub const VERSION: u32 = 2;

/// Where a frame's payload starts: on the frame's second cache line, after
/// the 24-byte netlink header (`ringlink_core::HDRLEN`) and 40 bytes of
/// padding. The status word then shares its cache line with no payload
/// byte, so a consumer polling it never pulls away the line the producer
/// is writing the message into (with the payload right after the header,
/// a poll during a build cost the producer a cache-line transfer). The
/// header stays byte-exact with `struct nl_mmap_hdr`.
pub const PAYLOAD_OFFSET: usize = 64;

/// Bytes between a frame's header and its payload (the rings' headroom,
/// `ringlink_core::Ring::with_headroom`).
pub const PADDING: usize = PAYLOAD_OFFSET - ringlink_core::HDRLEN;

/// Which end of a link: the creator of the segment is `A`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The creator: sends on ring 0, receives on ring 1.
    A,
    /// The acceptor: sends on ring 1, receives on ring 0.
    B,
}

impl Side {
    /// Index of this side's words and of the ring it sends on.
    pub(crate) fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }

    /// The other side.
    pub(crate) fn peer(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// One ring's declaration.
#[repr(C)]
struct RingWords {
    offset: AtomicU64,
    block_size: AtomicU32,
    block_nr: AtomicU32,
    frame_size: AtomicU32,
    frame_nr: AtomicU32,
}

/// Words one side writes at run time, on a cache line of their own.
#[repr(C, align(64))]
pub(crate) struct SideWords {
    /// Waiters of this side announced as about to sleep on its eventfd.
    pub(crate) waiting: AtomicU32,
    /// Named mode: the futex words this side sleeps on.
    pub(crate) doorbell: DoorbellWords,
    /// Set when this side closed the link in an orderly way.
    pub(crate) closed: AtomicU32,
    /// This side's process id (named mode: how its death is noticed).
    pub(crate) pid: AtomicU32,
    /// Set when this side never sleeps (it spins with `SpinPolicy::BUSY`):
    /// the peer then skips waking it.
    pub(crate) never_parks: AtomicU32,
}

/// A skip cursor on a cache line of its own.
#[repr(C, align(64))]
pub(crate) struct CursorWord(AtomicU64);

/// The control page.
#[repr(C)]
pub(crate) struct ControlPage {
    magic: AtomicU64,
    version: AtomicU32,
    _reserved: AtomicU32,
    total_size: AtomicU64,
    rings: [RingWords; 2],
    /// Skip cursor of each ring, written by its producer.
    pub(crate) cursors: [CursorWord; 2],
    /// Run-time words of side A and side B.
    pub(crate) sides: [SideWords; 2],
}

/// Bytes reserved for the control page (one page).
pub fn control_size() -> usize {
    page_size().max(std::mem::size_of::<ControlPage>())
}

/// Where the rings are: the declared part of the control page, as read once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Byte offset of ring 0 (A to B) and ring 1 (B to A).
    pub offsets: [u64; 2],
    /// Geometry of ring 0 and ring 1.
    pub geometries: [Geometry; 2],
    /// Size of the whole segment.
    pub total_size: u64,
}

impl Layout {
    /// The layout for rings of `a_to_b` and `b_to_a`: the control page,
    /// then each ring on a page boundary.
    pub fn new(a_to_b: Geometry, b_to_a: Geometry) -> Result<Layout, SetupError> {
        a_to_b.validate()?;
        b_to_a.validate()?;
        if a_to_b.frame_nr == 0 || b_to_a.frame_nr == 0 {
            return Err(ringlink_core::RingError::NoFrames.into());
        }
        let page = page_size() as u64;
        let first = control_size() as u64;
        let second = (first + a_to_b.ring_size() as u64).next_multiple_of(page);
        Ok(Layout {
            offsets: [first, second],
            geometries: [a_to_b, b_to_a],
            total_size: second + b_to_a.ring_size() as u64,
        })
    }

    /// Checks a layout read from a peer's control page against the real
    /// size of the segment: valid geometries, page-aligned rings after the
    /// control page, inside the segment, not overlapping.
    pub fn validate(&self, segment_size: u64) -> Result<(), SetupError> {
        let bad = |why: String| Err(SetupError::BadSegment(why));
        if self.total_size != segment_size {
            return bad(format!(
                "control page declares {} bytes but the memfd has {segment_size}",
                self.total_size
            ));
        }
        let page = page_size() as u64;
        let mut spans = [(0u64, 0u64); 2];
        for (i, (&offset, geometry)) in self.offsets.iter().zip(&self.geometries).enumerate() {
            geometry
                .validate()
                .map_err(|e| SetupError::BadSegment(format!("ring {i}: {e}")))?;
            if geometry.frame_nr == 0 {
                return bad(format!("ring {i} has no frames"));
            }
            if geometry.frame_size as usize <= PAYLOAD_OFFSET {
                return bad(format!(
                    "ring {i}: {}-byte frames leave no payload after offset {PAYLOAD_OFFSET}",
                    geometry.frame_size
                ));
            }
            let size = geometry.ring_size() as u64;
            let end = offset.checked_add(size);
            match end {
                Some(end)
                    if offset % page == 0
                        && offset >= control_size() as u64
                        && end <= segment_size =>
                {
                    spans[i] = (offset, end);
                }
                _ => {
                    return bad(format!(
                        "ring {i} of {size} bytes at offset {offset} does not lie page-aligned inside the {segment_size}-byte segment after the control page"
                    ));
                }
            }
        }
        if spans[0].0 < spans[1].1 && spans[1].0 < spans[0].1 {
            return bad("the two rings overlap".into());
        }
        Ok(())
    }
}

impl ControlPage {
    /// Writes the declaration (creator only, before sealing and sharing).
    pub(crate) fn declare(&self, layout: &Layout) {
        for (words, (offset, g)) in self
            .rings
            .iter()
            .zip(layout.offsets.iter().zip(&layout.geometries))
        {
            words.offset.store(*offset, Relaxed);
            words.block_size.store(g.block_size, Relaxed);
            words.block_nr.store(g.block_nr, Relaxed);
            words.frame_size.store(g.frame_size, Relaxed);
            words.frame_nr.store(g.frame_nr, Relaxed);
        }
        self.total_size.store(layout.total_size, Relaxed);
        self.version.store(VERSION, Relaxed);
        self.magic.store(MAGIC, Relaxed);
    }

    /// Reads the declaration once; checks magic and version only (the
    /// caller validates the layout against the segment size).
    pub(crate) fn read(&self) -> Result<Layout, SetupError> {
        let magic = self.magic.load(Relaxed);
        if magic != MAGIC {
            return Err(SetupError::BadSegment(format!(
                "magic {magic:#018x}, expected {MAGIC:#018x}"
            )));
        }
        let version = self.version.load(Relaxed);
        if version != VERSION {
            return Err(SetupError::BadSegment(format!(
                "layout version {version}, this build speaks {VERSION}"
            )));
        }
        let ring = |w: &RingWords| {
            (
                w.offset.load(Relaxed),
                Geometry {
                    block_size: w.block_size.load(Relaxed),
                    block_nr: w.block_nr.load(Relaxed),
                    frame_size: w.frame_size.load(Relaxed),
                    frame_nr: w.frame_nr.load(Relaxed),
                },
            )
        };
        let (r0, r1) = (ring(&self.rings[0]), ring(&self.rings[1]));
        Ok(Layout {
            offsets: [r0.0, r1.0],
            geometries: [r0.1, r1.1],
            total_size: self.total_size.load(Relaxed),
        })
    }
}

/// The acceptor's checks of a peer's offer, reachable without building a
/// link: entry points for ringlink's fuzz targets (`core/fuzz`). Not part
/// of the API; they run exactly the code a link runs.
#[doc(hidden)]
pub mod fuzzing {
    use super::{ControlPage, Layout};
    use crate::error::SetupError;
    use std::os::fd::OwnedFd;
    use std::time::Duration;

    /// Reads a control page image (`page`, zero-padded to the page's size)
    /// the way a peer's mapped page is read, and validates the layout it
    /// declares against a segment of `segment_size` bytes.
    pub fn check_control_page(page: &[u8], segment_size: u64) -> Result<Layout, SetupError> {
        let shape = std::alloc::Layout::new::<ControlPage>();
        let n = page.len().min(shape.size());
        // SAFETY: a zeroed allocation of the control page's size and
        // alignment, `n` bytes of which are overwritten, then owned by the
        // box; the control page is made of atomics only, so any bytes are a
        // valid value.
        let control = unsafe {
            let raw = std::alloc::alloc_zeroed(shape);
            if raw.is_null() {
                std::alloc::handle_alloc_error(shape);
            }
            std::ptr::copy_nonoverlapping(page.as_ptr(), raw, n);
            Box::from_raw(raw.cast::<ControlPage>())
        };
        let layout = control.read()?;
        layout.validate(segment_size)?;
        Ok(layout)
    }

    /// The acceptor's side of the handshake on `socket`: receives the
    /// greeting and descriptors (waiting up to `timeout`), then checks the
    /// offered segment (memfd, seals, size, control page) and maps it, as
    /// [`crate::connect`] does before it sets up a link.
    pub fn accept_offer(socket: OwnedFd, timeout: Duration) -> Result<Layout, SetupError> {
        use std::os::fd::AsFd;
        let offer = crate::handshake::receive(socket.as_fd(), timeout)?;
        let (_segment, layout, _mapping) = crate::segment::open(offer.segment)?;
        Ok(layout)
    }

    /// Byte offsets in the segment of the skip cursors of ring 0 and 1 (in
    /// the control page), where a link places them.
    pub fn cursor_offsets() -> [usize; 2] {
        let cursors = std::mem::offset_of!(ControlPage, cursors);
        let size = std::mem::size_of::<super::CursorWord>();
        [cursors, cursors + size]
    }

    /// Bytes of the control page that carry data (the rest of its page is
    /// zero).
    pub fn control_page_len() -> usize {
        std::mem::size_of::<ControlPage>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        let g = Geometry::for_messages(1000, 16).unwrap();
        Layout::new(g, g).unwrap()
    }

    fn refused(l: Layout, size: u64) -> String {
        match l.validate(size) {
            Err(SetupError::BadSegment(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn control_page_fits_a_page() {
        assert!(std::mem::size_of::<ControlPage>() <= 4096);
    }

    #[test]
    fn a_fresh_layout_validates() {
        let l = layout();
        assert!(l.validate(l.total_size).is_ok());
        assert_eq!(l.offsets[0], control_size() as u64);
        assert!(l.offsets[1] >= l.offsets[0] + l.geometries[0].ring_size() as u64);
    }

    #[test]
    fn hostile_layouts_are_refused() {
        let l = layout();
        assert!(refused(l, l.total_size + 4096).contains("declares"));
        let mut past_end = l;
        past_end.offsets[1] = l.total_size;
        assert!(refused(past_end, l.total_size).contains("ring 1"));
        let mut overlap = l;
        overlap.offsets[1] = overlap.offsets[0];
        assert!(refused(overlap, l.total_size).contains("overlap"));
        let mut misaligned = l;
        misaligned.offsets[0] += 8;
        assert!(refused(misaligned, l.total_size).contains("ring 0"));
        let mut inside_control = l;
        inside_control.offsets[0] = 0;
        assert!(refused(inside_control, l.total_size).contains("ring 0"));
        let mut bad_geometry = l;
        bad_geometry.geometries[0].frame_nr += 1;
        assert!(refused(bad_geometry, l.total_size).contains("frame count"));
        let mut huge = l;
        huge.offsets[1] = u64::MAX - 10;
        assert!(refused(huge, l.total_size).contains("ring 1"));
        // Kernel-valid frames with no byte past the payload offset.
        let tiny = Geometry {
            block_size: 4096,
            block_nr: 1,
            frame_size: PAYLOAD_OFFSET as u32,
            frame_nr: 4096 / PAYLOAD_OFFSET as u32,
        };
        let no_payload = Layout::new(tiny, tiny).unwrap();
        let why = refused(no_payload, no_payload.total_size);
        assert!(why.contains("leave no payload"), "{why}");
    }
}
