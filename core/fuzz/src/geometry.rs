//! [`Geometry`]'s rules and constructors: `validate_with_page_size` on raw
//! words and any page size, `for_messages_with_page_size` and `exact` on any
//! request. None may panic; a geometry any of them accepts or builds must
//! keep every frame inside the ring, and a built one must be what was asked.
//!
//! Input: a selector byte, then the values each call takes (see [`run`]).

use super::Input;
use ringlink_core::{Geometry, HDRLEN, page_size};

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let selector = input.u8();
    let page = match selector & 3 {
        0 => page_size(),
        1 => 4096,
        2 => 1 << (input.u8() % 24),
        // Any page size, nonsense included: the functions are public.
        _ => input.u64() as usize,
    };
    // Sizes near the top of the range are where overflows live.
    let wide = |input: &mut Input<'_>| match selector >> 2 & 3 {
        0 => usize::from(input.u16()),
        1 => input.u32() as usize,
        2 => usize::MAX - usize::from(input.u16()),
        _ => input.u64() as usize,
    };
    let raw = Geometry {
        block_size: input.u32(),
        block_nr: input.u32(),
        frame_size: input.u32(),
        frame_nr: input.u32(),
    };
    if raw.validate_with_page_size(page).is_ok() {
        check_layout(&raw);
    }
    // A valid geometry's neighbours: one word off.
    let mut nudged = raw;
    match selector >> 4 & 3 {
        0 => nudged.frame_nr = nudged.frame_nr.wrapping_add(1),
        1 => nudged.block_size = nudged.block_size.wrapping_sub(4),
        2 => nudged.frame_size = nudged.frame_size.wrapping_add(4),
        _ => nudged.block_nr = nudged.block_nr.wrapping_mul(3),
    }
    if nudged.validate_with_page_size(page).is_ok() {
        check_layout(&nudged);
    }

    let max_message = wide(&mut input);
    let frames = input.u32();
    if let Ok(g) = Geometry::for_messages_with_page_size(max_message, frames, page) {
        assert_eq!(g.validate_with_page_size(page), Ok(()), "{g:?}");
        assert!(g.payload_capacity() >= max_message, "{g:?}");
        assert!(g.frame_nr >= frames, "{g:?}");
        check_layout(&g);
    }
    // `exact` uses the system page size; keep its allocation-free loop
    // bounded by asking for plausible frame counts too.
    let frames = if selector & 0x40 != 0 {
        frames
    } else {
        frames % 4096
    };
    if let Ok(g) = Geometry::exact(max_message, frames) {
        assert_eq!(g.validate(), Ok(()), "{g:?}");
        assert_eq!(g.frame_nr, frames, "{g:?}");
        assert!(g.payload_capacity() >= max_message, "{g:?}");
        check_layout(&g);
    }
}

/// Every frame of a valid geometry lies inside the ring, frames do not
/// overlap, and the ring has exactly `frame_nr` of them.
fn check_layout(g: &Geometry) {
    if g.block_nr == 0 {
        assert_eq!(g.frame_nr, 0);
        assert_eq!(g.ring_size(), 0);
        assert_eq!(g.frame_offset(0), None);
        return;
    }
    let fpb = g.frames_per_block();
    assert!(fpb >= 1);
    assert_eq!(
        u64::from(fpb) * u64::from(g.block_nr),
        u64::from(g.frame_nr)
    );
    assert_eq!(g.payload_capacity() + HDRLEN, g.frame_size as usize);
    let ring = g.ring_size();
    let frame = g.frame_size as usize;
    // The first, last and a few block-edge frames.
    let last = g.frame_nr - 1;
    let edges = [0, 1, fpb - 1, fpb, fpb.saturating_add(1), last / 2, last];
    for index in edges.into_iter().filter(|&i| i <= last) {
        let at = g.frame_offset(index).expect("frame inside the ring");
        assert!(
            at + frame <= ring,
            "frame {index} of {g:?} at {at} past {ring}"
        );
        // Header words are atomics: 4-aligned, given a block size that
        // is (a real page size, a power of two, makes it so; an odd
        // "page size" passed to `validate_with_page_size` does not).
        if g.block_size % 4 == 0 {
            assert_eq!(at % 4, 0, "{g:?} {index}");
        }
        // The frame does not straddle a block.
        let block = g.block_size as usize;
        assert_eq!(at / block, (at + frame - 1) / block, "{g:?} {index}");
        if index > 0 {
            let before = g.frame_offset(index - 1).expect("frame inside the ring");
            assert!(before + frame <= at, "frames {index} overlap in {g:?}");
        }
    }
    assert_eq!(g.frame_offset(g.frame_nr), None);
    assert_eq!(g.frame_offset(u32::MAX), None);
}
