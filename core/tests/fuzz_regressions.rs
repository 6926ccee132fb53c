//! Inputs the fuzz targets (`core/fuzz`, docs/FUZZING.md) found crashing
//! ringlink-core, replayed as plain calls.

use ringlink_core::{Geometry, page_size};

/// `geometry` target, crash-cef1f824: `Geometry::exact` for a message near
/// `usize::MAX` overflowed `pages * page` (a panic with debug assertions,
/// a wrapped block size without).
#[test]
fn exact_refuses_a_message_near_usize_max() {
    assert!(Geometry::exact(usize::MAX - 41634, 162).is_err());
    // Rounding the frame up to 16 bytes overflowed too.
    assert!(Geometry::exact(usize::MAX - 25, 1).is_err());
    // And a request whose one block would not fit a u32.
    assert!(Geometry::exact(1 << 20, 1 << 14).is_err());
}

/// Rounding the frame size up to a cache line overflowed for messages
/// within 64 bytes of `usize::MAX`.
#[test]
fn for_messages_refuses_a_message_near_usize_max() {
    assert!(Geometry::for_messages_with_page_size(usize::MAX - 30, 1, 4096).is_err());
}

/// Any page size is an input to `for_messages_with_page_size`: a huge one
/// overflowed `pages * page_size`.
#[test]
fn for_messages_survives_any_page_size() {
    for page in [1 << 31, 1 << 40, 1 << 62, usize::MAX] {
        assert!(Geometry::for_messages_with_page_size(64, 1, page).is_err());
    }
    // The same choice as before the fix for a real page size: 12 frames
    // of 5056 bytes in 15 pages waste the least.
    let g = Geometry::for_messages_with_page_size(5000, 8, 4096).unwrap();
    assert_eq!((g.block_size, g.frame_size), (15 * 4096, 5056));
    let g = Geometry::for_messages(1000, 64).unwrap();
    g.validate_with_page_size(page_size()).unwrap();
}
