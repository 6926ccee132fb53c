//! Ring geometry: the `struct nl_mmap_req` equivalent and the kernel's rules
//! for it (`netlink_set_ring` in Linux 3.10–4.5).

use crate::frame::{HDRLEN, MSG_ALIGNMENT};
use thiserror::Error;

/// Block and frame layout of one ring, byte-exact with `struct nl_mmap_req`.
///
/// Frames are grouped in blocks of `block_size` bytes holding
/// `block_size / frame_size` frames each; a frame never straddles a block.
///
/// ```
/// use ringlink_core::Geometry;
/// let g = Geometry::for_messages(1000, 64).unwrap();
/// assert!(g.payload_capacity() >= 1000);
/// assert!(g.frame_nr >= 64);
/// g.validate().unwrap();
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// `nm_block_size`: bytes per block, a multiple of the page size.
    pub block_size: u32,
    /// `nm_block_nr`: number of blocks; 0 means "no ring".
    pub block_nr: u32,
    /// `nm_frame_size`: bytes per frame, header included.
    pub frame_size: u32,
    /// `nm_frame_nr`: total frames, `(block_size / frame_size) * block_nr`.
    pub frame_nr: u32,
}

/// A geometry the kernel (and ringlink) would refuse, one variant per rule.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum GeometryError {
    /// `(int)nm_block_size <= 0`.
    #[error("block size {0} must be greater than 0 and at most {max}", max = i32::MAX)]
    BlockSizeRange(u32),
    /// `!PAGE_ALIGNED(nm_block_size)`.
    #[error("block size {block_size} is not a multiple of the page size {page_size}")]
    BlockNotPageAligned {
        /// The requested block size.
        block_size: u32,
        /// The page size it must be a multiple of.
        page_size: usize,
    },
    /// `nm_frame_size < NL_MMAP_HDRLEN`.
    #[error("frame size {0} is smaller than the {HDRLEN}-byte frame header")]
    FrameTooSmall(u32),
    /// `!IS_ALIGNED(nm_frame_size, NL_MMAP_MSG_ALIGNMENT)`.
    #[error("frame size {0} is not a multiple of {MSG_ALIGNMENT}")]
    FrameMisaligned(u32),
    /// `nm_block_size / nm_frame_size == 0`.
    #[error("frame size {frame_size} is larger than the block size {block_size}")]
    FrameLargerThanBlock {
        /// The requested frame size.
        frame_size: u32,
        /// The requested block size.
        block_size: u32,
    },
    /// `frames_per_block * nm_block_nr != nm_frame_nr`.
    #[error(
        "frame count {frame_nr} must equal frames per block ({per_block}) x block count ({block_nr}) = {expected}"
    )]
    FrameCountMismatch {
        /// The requested frame count.
        frame_nr: u32,
        /// Frames that fit one block.
        per_block: u32,
        /// The requested block count.
        block_nr: u32,
        /// The product the frame count must equal.
        expected: u64,
    },
    /// `nm_block_nr == 0` but `nm_frame_nr != 0`.
    #[error("a disabled ring (0 blocks) must have 0 frames, not {0}")]
    FramesWithoutBlocks(u32),
    /// The ring's byte size does not fit the address space (ringlink's own rule).
    #[error("ring of {block_nr} blocks of {block_size} bytes is too large to map")]
    TooLarge {
        /// The requested block size.
        block_size: u32,
        /// The requested block count.
        block_nr: u32,
    },
    /// More frames than ringlink handles (its own rule): each end keeps
    /// per-frame state, so a peer's geometry must not size it at will.
    #[error("{0} frames are more than the {max} a ring may have", max = MAX_FRAMES)]
    TooManyFrames(u32),
    /// [`Geometry::for_messages`] was asked for nothing.
    #[error(
        "a ring needs at least one frame and a maximum message size that fits a u32 frame, got {frames} frames of {max_message} bytes"
    )]
    BadRequest {
        /// Requested frame count.
        frames: u32,
        /// Requested maximum message size.
        max_message: usize,
    },
}

/// Frames picked by ringlink are multiples of a cache line.
const FRAME_ALIGN: usize = 64;

/// The most frames a ring may have (ringlink's own rule): the ends keep
/// a byte or so of state per frame, and index arithmetic stays far from
/// `u32` overflow.
pub const MAX_FRAMES: u32 = 1 << 20;

/// The system page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions. (libc rather than rustix's
    // auxv reader, which faults under valgrind, our instruction counter.)
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    }
}

impl Geometry {
    /// A disabled ring: no blocks, no frames.
    pub const NONE: Geometry = Geometry {
        block_size: 0,
        block_nr: 0,
        frame_size: 0,
        frame_nr: 0,
    };

    /// Checks every kernel rule against the system page size.
    pub fn validate(&self) -> Result<(), GeometryError> {
        self.validate_with_page_size(page_size())
    }

    /// Checks every kernel rule against `page_size`, in the kernel's order.
    pub fn validate_with_page_size(&self, page_size: usize) -> Result<(), GeometryError> {
        if self.block_nr == 0 {
            return match self.frame_nr {
                0 => Ok(()),
                n => Err(GeometryError::FramesWithoutBlocks(n)),
            };
        }
        if self.block_size == 0 || self.block_size > i32::MAX as u32 {
            return Err(GeometryError::BlockSizeRange(self.block_size));
        }
        if page_size == 0 || self.block_size as usize % page_size != 0 {
            return Err(GeometryError::BlockNotPageAligned {
                block_size: self.block_size,
                page_size,
            });
        }
        if (self.frame_size as usize) < HDRLEN {
            return Err(GeometryError::FrameTooSmall(self.frame_size));
        }
        if self.frame_size % MSG_ALIGNMENT != 0 {
            return Err(GeometryError::FrameMisaligned(self.frame_size));
        }
        let per_block = self.block_size / self.frame_size;
        if per_block == 0 {
            return Err(GeometryError::FrameLargerThanBlock {
                frame_size: self.frame_size,
                block_size: self.block_size,
            });
        }
        if self.frame_nr > MAX_FRAMES {
            return Err(GeometryError::TooManyFrames(self.frame_nr));
        }
        let expected = u64::from(per_block) * u64::from(self.block_nr);
        if expected != u64::from(self.frame_nr) {
            return Err(GeometryError::FrameCountMismatch {
                frame_nr: self.frame_nr,
                per_block,
                block_nr: self.block_nr,
                expected,
            });
        }
        if usize::try_from(u64::from(self.block_size) * u64::from(self.block_nr)).is_err() {
            return Err(GeometryError::TooLarge {
                block_size: self.block_size,
                block_nr: self.block_nr,
            });
        }
        Ok(())
    }

    /// Picks a valid geometry for messages of up to `max_message` bytes and at
    /// least `frames` frames (rounded up to whole blocks).
    ///
    /// Frames are sized to whole 64-byte cache lines, so neighbouring frames
    /// never share a line (no false sharing between producer and consumer)
    /// and every payload has the same alignment (frame + 24); the block is
    /// the run of pages, from the fewest that hold a frame to 15 more,
    /// that wastes the least space at its end.
    pub fn for_messages(max_message: usize, frames: u32) -> Result<Geometry, GeometryError> {
        Self::for_messages_with_page_size(max_message, frames, page_size())
    }

    /// [`Geometry::for_messages`] for a given page size.
    pub fn for_messages_with_page_size(
        max_message: usize,
        frames: u32,
        page_size: usize,
    ) -> Result<Geometry, GeometryError> {
        let bad = GeometryError::BadRequest {
            frames,
            max_message,
        };
        let frame_size = max_message
            .checked_add(HDRLEN)
            .and_then(|n| n.checked_next_multiple_of(FRAME_ALIGN))
            .filter(|&n| n <= i32::MAX as usize)
            .ok_or_else(|| bad.clone())?;
        if frames == 0 || page_size == 0 {
            return Err(bad);
        }
        let min_pages = frame_size.div_ceil(page_size);
        // Only blocks the kernel accepts (at most i32::MAX bytes): that also
        // keeps the products below from overflowing with any page size.
        let block_size = (min_pages..min_pages + 16)
            .map_while(|pages| {
                pages
                    .checked_mul(page_size)
                    .filter(|&block| block <= i32::MAX as usize)
            })
            .min_by_key(|&block| {
                // waste per frame, in parts per million of the block
                let per_block = block / frame_size;
                (block % frame_size) * 1_000_000 / (block * per_block)
            })
            .ok_or_else(|| bad.clone())?;
        let block_size = u32::try_from(block_size).map_err(|_| bad.clone())?;
        let frame_size = frame_size as u32;
        let per_block = block_size / frame_size;
        let block_nr = frames.div_ceil(per_block);
        let frame_nr = block_nr.checked_mul(per_block).ok_or(bad)?;
        let geometry = Geometry {
            block_size,
            block_nr,
            frame_size,
            frame_nr,
        };
        geometry.validate_with_page_size(page_size)?;
        Ok(geometry)
    }

    /// A geometry with exactly `frames` frames in a single block, each
    /// holding at least `max_message` bytes (frames are multiples of 16
    /// bytes, so payloads stay 8-aligned after the 24-byte header, and
    /// grow to fill the block).
    ///
    /// ```
    /// use ringlink_core::Geometry;
    /// let g = Geometry::exact(64, 8).unwrap();
    /// assert_eq!((g.frame_nr, g.block_nr), (8, 1));
    /// assert!(g.payload_capacity() >= 64);
    /// ```
    pub fn exact(max_message: usize, frames: u32) -> Result<Geometry, GeometryError> {
        let page = page_size();
        let bad = GeometryError::BadRequest {
            frames,
            max_message,
        };
        let needed = max_message.checked_add(HDRLEN).ok_or(bad.clone())?;
        let frames_usize = frames as usize;
        if frames == 0 {
            return Err(bad);
        }
        // A block must fit a u32: refusing larger requests here also keeps
        // `pages * page` below from overflowing (the fuzz target found it).
        let min_pages = needed
            .checked_next_multiple_of(16)
            .and_then(|n| n.checked_mul(frames_usize))
            .filter(|&n| n <= u32::MAX as usize)
            .ok_or_else(|| bad.clone())?
            .div_ceil(page);
        for pages in min_pages..min_pages.saturating_add(64) {
            let block = pages * page;
            let frame_size = (block / frames_usize) & !15;
            if frame_size >= needed && block / frame_size == frames_usize {
                let geometry = Geometry {
                    block_size: u32::try_from(block).map_err(|_| bad.clone())?,
                    block_nr: 1,
                    frame_size: frame_size as u32,
                    frame_nr: frames,
                };
                geometry.validate_with_page_size(page)?;
                return Ok(geometry);
            }
        }
        Err(bad)
    }

    /// Frames per block.
    pub fn frames_per_block(&self) -> u32 {
        self.block_size.checked_div(self.frame_size).unwrap_or(0)
    }

    /// Byte offset of frame `index` from the ring start:
    /// `(i / fpb) * block_size + (i % fpb) * frame_size`. Correct also when
    /// the frame size does not divide the block size. `None` past the ring,
    /// and for a geometry with no whole frame in a block (one not
    /// validated).
    pub fn frame_offset(&self, index: u32) -> Option<usize> {
        if index >= self.frame_nr {
            return None;
        }
        let per_block = self.frames_per_block();
        let block = index.checked_div(per_block)? as usize;
        let within = (index % per_block) as usize;
        Some(block * self.block_size as usize + within * self.frame_size as usize)
    }

    /// Bytes the ring occupies: `block_size * block_nr`.
    pub fn ring_size(&self) -> usize {
        self.block_size as usize * self.block_nr as usize
    }

    /// Largest payload a frame holds: `frame_size - 24`.
    pub fn payload_capacity(&self) -> usize {
        (self.frame_size as usize).saturating_sub(HDRLEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 4096;

    fn geometry(block_size: u32, block_nr: u32, frame_size: u32, frame_nr: u32) -> Geometry {
        Geometry {
            block_size,
            block_nr,
            frame_size,
            frame_nr,
        }
    }

    #[test]
    fn accepts_the_documentation_example() {
        // netlink_mmap.txt: 16-page blocks, 64 blocks, 16 KiB frames.
        let block = 16 * PAGE as u32;
        let g = geometry(block, 64, 16384, 64 * block / 16384);
        assert_eq!(g.validate_with_page_size(PAGE), Ok(()));
        assert_eq!(g.ring_size(), 64 * 16 * PAGE);
    }

    #[test]
    fn each_rule_has_its_error() {
        use GeometryError::*;
        let cases = [
            (geometry(0, 1, 64, 64), BlockSizeRange(0)),
            (geometry(1 << 31, 1, 64, 1 << 25), BlockSizeRange(1 << 31)),
            (
                geometry(4000, 1, 64, 62),
                BlockNotPageAligned {
                    block_size: 4000,
                    page_size: PAGE,
                },
            ),
            (geometry(4096, 1, 20, 204), FrameTooSmall(20)),
            (geometry(4096, 1, 26, 157), FrameMisaligned(26)),
            (
                geometry(4096, 1, 8192, 0),
                FrameLargerThanBlock {
                    frame_size: 8192,
                    block_size: 4096,
                },
            ),
            (
                geometry(4096, 2, 2048, 5),
                FrameCountMismatch {
                    frame_nr: 5,
                    per_block: 2,
                    block_nr: 2,
                    expected: 4,
                },
            ),
            (geometry(4096, 0, 2048, 2), FramesWithoutBlocks(2)),
        ];
        for (g, expected) in cases {
            assert_eq!(g.validate_with_page_size(PAGE), Err(expected), "{g:?}");
        }
        assert_eq!(Geometry::NONE.validate_with_page_size(PAGE), Ok(()));
    }

    #[test]
    fn frame_offset_skips_block_tail_when_frames_do_not_divide_blocks() {
        // 3 frames of 1360 bytes per 4096-byte block; 16 bytes of tail per block.
        let g = geometry(4096, 2, 1360, 6);
        g.validate_with_page_size(PAGE).unwrap();
        let offsets: Vec<_> = (0..6).map(|i| g.frame_offset(i).unwrap()).collect();
        assert_eq!(offsets, [0, 1360, 2720, 4096, 5456, 6816]);
        assert_eq!(g.frame_offset(6), None);
        // The naive `offset += frame_size` would put frame 3 at 4080, inside block 0.
        assert_ne!(offsets[3], 3 * 1360);
    }

    #[test]
    fn more_frames_than_a_ring_may_have_are_refused() {
        // 2^21 frames of 32 bytes in 8 MiB blocks: valid for the kernel.
        let g = geometry(8 << 20, 8, 32, 1 << 21);
        let e = g.validate_with_page_size(PAGE).unwrap_err();
        assert_eq!(e, GeometryError::TooManyFrames(1 << 21));
        assert!(e.to_string().contains("1048576"), "{e}");
        let g = geometry(8 << 20, 4, 32, MAX_FRAMES);
        g.validate_with_page_size(PAGE).unwrap();
    }

    #[test]
    fn an_unvalidated_geometry_with_no_whole_frame_has_no_frame_offsets() {
        for (block_size, frame_size) in [(4096, 0), (4096, 8192)] {
            let g = geometry(block_size, 1, frame_size, 4);
            assert!(g.validate_with_page_size(PAGE).is_err());
            assert_eq!(g.frame_offset(0), None, "frame size {frame_size}");
        }
    }

    #[test]
    fn for_messages_picks_valid_geometries() {
        for max in [0, 1, 40, 64, 1000, 4072, 4073, 5000, 32 * 1024, 65535 + 256] {
            for frames in [1, 2, 7, 64, 1000] {
                let g = Geometry::for_messages_with_page_size(max, frames, PAGE).unwrap();
                assert_eq!(g.validate_with_page_size(PAGE), Ok(()));
                assert!(g.payload_capacity() >= max, "{max} {g:?}");
                assert!(g.frame_nr >= frames);
                assert!(g.frame_nr < frames + g.frames_per_block());
                assert_eq!(g.frame_size % 64, 0);
                // Every frame lies inside the ring.
                let last = g.frame_offset(g.frame_nr - 1).unwrap();
                assert!(last + g.frame_size as usize <= g.ring_size());
            }
        }
    }

    #[test]
    fn exact_gives_exactly_the_frames_asked_for() {
        for max in [0, 16, 64, 100, 1000, 5000] {
            for frames in [1, 2, 3, 4, 7, 8, 16, 17, 100, 1000] {
                let g = Geometry::exact(max, frames).unwrap();
                assert_eq!(g.validate(), Ok(()));
                assert_eq!(g.frame_nr, frames, "{max} {frames} {g:?}");
                assert!(g.payload_capacity() >= max);
            }
        }
        assert!(Geometry::exact(64, 0).is_err());
    }

    #[test]
    fn for_messages_refuses_nonsense() {
        assert!(Geometry::for_messages_with_page_size(64, 0, PAGE).is_err());
        assert!(Geometry::for_messages_with_page_size(usize::MAX, 1, PAGE).is_err());
        assert!(Geometry::for_messages_with_page_size(1 << 31, 1, PAGE).is_err());
    }

    #[test]
    fn for_messages_wastes_little() {
        // 5000-byte messages: frames of 5056; a 5-page block holds 4 with 256 spare.
        let g = Geometry::for_messages_with_page_size(5000, 8, PAGE).unwrap();
        let per_block = g.frames_per_block() as usize;
        let waste = g.block_size as usize - per_block * g.frame_size as usize;
        assert!(waste * 10 < g.block_size as usize, "{g:?}");
    }
}
