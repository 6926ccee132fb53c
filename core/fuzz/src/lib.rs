//! # ringlink-fuzz
//!
//! The bodies of ringlink's fuzz targets, as plain functions over bytes:
//! the libFuzzer binaries in `fuzz_targets/` call them, and
//! `examples/tests/fuzz_seeds.rs` replays the committed seed corpus
//! (`corpus/<target>/`) through them in every `cargo test --workspace`, so
//! CI exercises the targets without a fuzzer. `run.sh` fuzzes them on the
//! stable toolchain; `docs/FUZZING.md` says how and why that way.
//!
//! - [`ring_consumer`]: a [`ringlink_core::Consumer`] (and a producer) over
//!   memory the input fills and keeps scribbling on.
//! - [`geometry`]: [`ringlink_core::Geometry`]'s rules and constructors.
//! - [`memfd_control`]: the memfd acceptor's checks of a peer's offer:
//!   greeting, descriptors, seals, size and control page.
//! - [`netlink`]: netlink datagrams through every parser of
//!   `ringlink_netlink`.
//!
//! A target never returns an error: it panics (a crash to libFuzzer) only
//! when ringlink broke a promise (a panic inside the library, a read out of
//! bounds, an invariant that a successful check should guarantee).
//!
//! Without AddressSanitizer (nightly-only), out-of-bounds reads are caught
//! by the memory the rings live in: [`GuardedMemory`] ends (and starts) at
//! an inaccessible page, so a read past the region faults.

pub mod geometry;
pub mod memfd_control;
pub mod netlink;
pub mod ring_consumer;

use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};
use std::ptr::NonNull;

/// Reads a fuzzer's bytes as a stream of small values; past the end every
/// value is 0, so any input is a complete program.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next `n` bytes (fewer at the end).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.data.split_at(n.min(self.data.len()));
        self.data = tail;
        head
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    /// The next byte.
    pub fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    /// The next little-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    /// The next little-endian u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    /// The next little-endian u64.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let bytes = self.bytes(N);
        out[..bytes.len()].copy_from_slice(bytes);
        out
    }
}

/// Anonymous memory whose region is followed (and preceded) by an
/// inaccessible page: the region's last byte is the last byte before the
/// guard, so any access past it (or before it) faults at once, which
/// libFuzzer reports as a crash. The stable toolchain's stand-in for
/// AddressSanitizer on the memory a ring lives in.
pub struct GuardedMemory {
    map: NonNull<u8>,
    map_len: usize,
    region: NonNull<u8>,
    len: usize,
}

// SAFETY: plain anonymous memory; ringlink only accesses it through atomics
// and raw copies.
unsafe impl Send for GuardedMemory {}
// SAFETY: as above.
unsafe impl Sync for GuardedMemory {}

impl GuardedMemory {
    /// `len` zeroed bytes ending right before a guard page (up to 15
    /// bytes before it when `len` is not a multiple of 16: the start is
    /// always 16-byte aligned, as [`ringlink_core::Memory`] requires, and
    /// 64-byte aligned when `len` is a multiple of 64).
    pub fn new(len: usize) -> GuardedMemory {
        let page = ringlink_core::page_size();
        let span = len.next_multiple_of(16);
        let body = span.next_multiple_of(page).max(page);
        let map_len = body + 2 * page;
        // SAFETY: a fresh private anonymous mapping (null hint) aliases no
        // Rust object.
        let map = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                map_len,
                ProtFlags::empty(),
                MapFlags::PRIVATE,
            )
        }
        .expect("mmap of fuzz memory");
        // SAFETY: the pages between the two guards belong to this mapping.
        unsafe {
            rustix::mm::mprotect(
                map.cast::<u8>().add(page).cast(),
                body,
                MprotectFlags::READ | MprotectFlags::WRITE,
            )
        }
        .expect("mprotect of fuzz memory");
        let map = NonNull::new(map.cast::<u8>()).expect("mmap returned null");
        // SAFETY: `page + body - span` lies inside the mapping.
        let region = unsafe { map.add(page + body - span) };
        GuardedMemory {
            map,
            map_len,
            region,
            len,
        }
    }

    /// Copies `bytes` into the region at `offset` (as much as fits).
    pub fn fill(&self, offset: usize, bytes: &[u8]) {
        let n = bytes.len().min(self.len.saturating_sub(offset));
        // SAFETY: `offset + n <= len`; nothing borrows the region as Rust
        // data (rings use atomics and raw copies), and the fuzz targets are
        // single-threaded.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.region.as_ptr().add(offset), n)
        };
    }

    /// Writes the 32-bit word at `offset` (rounded down to 4), as a hostile
    /// peer would between two calls; ignored past the end.
    pub fn poke(&self, offset: usize, value: u32) {
        let offset = offset & !3;
        if offset + 4 <= self.len && (self.region.as_ptr() as usize + offset) % 4 == 0 {
            // SAFETY: in bounds and aligned (checked above); peers and
            // ringlink access these words atomically.
            let word = unsafe {
                &*(self.region.as_ptr().add(offset) as *const std::sync::atomic::AtomicU32)
            };
            word.store(value, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl Drop for GuardedMemory {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, no longer referenced (rings
        // holding it are gone: they own it or an Arc of it).
        let _ = unsafe { rustix::mm::munmap(self.map.as_ptr().cast(), self.map_len) };
    }
}

// SAFETY: non-null, 16-byte aligned (see `new`), valid for `len` bytes until dropped,
// never moved.
unsafe impl ringlink_core::Memory for GuardedMemory {
    fn as_ptr(&self) -> *mut u8 {
        self.region.as_ptr()
    }
    fn len(&self) -> usize {
        self.len
    }
}
