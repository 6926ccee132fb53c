//! Memory providers: where a ring's bytes live.

use std::sync::Arc;

/// A region of memory a ring can live in: heap memory for tests and threads,
/// an mmap of a memfd or of a netlink socket for the transports.
///
/// # Safety
///
/// Implementors promise that `as_ptr()` is non-null, 16-byte aligned, and
/// valid for reads and writes of `len()` bytes for as long as the value lives,
/// and that both stay the same for its whole life. The memory may be written
/// concurrently by a peer (another thread, process or the kernel): ringlink
/// reads and writes header words only through atomics, and copies payloads
/// out for an untrusted peer only with raw copies, never through a
/// reference the peer's writes could race. In-place views of a payload
/// (`ReadGuard::payload`, a transmit frame's buffer) are references, for a
/// peer trusted not to write a frame it handed over.
pub unsafe trait Memory {
    /// Start of the region.
    fn as_ptr(&self) -> *mut u8;
    /// Length of the region in bytes.
    fn len(&self) -> usize;
    /// Whether the region is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// SAFETY: an Arc keeps the region alive and unchanged; it forwards the
// inner guarantees unchanged.
unsafe impl<M: Memory> Memory for Arc<M> {
    fn as_ptr(&self) -> *mut u8 {
        (**self).as_ptr()
    }
    fn len(&self) -> usize {
        (**self).len()
    }
}

/// Zeroed, 64-byte aligned heap memory: the in-process provider.
///
/// ```
/// use ringlink_core::{HeapMemory, Memory};
/// let mem = HeapMemory::new(8192);
/// assert_eq!(mem.len(), 8192);
/// assert_eq!(mem.as_ptr() as usize % 64, 0);
/// ```
pub struct HeapMemory {
    /// Backing store; `CacheLine` gives the alignment, the atomics allow
    /// shared mutation through `&self`.
    words: Box<[CacheLine]>,
    len: usize,
}

#[repr(C, align(64))]
struct CacheLine([std::sync::atomic::AtomicU64; 8]);

impl HeapMemory {
    /// Allocates `len` zeroed bytes (all frames UNUSED).
    pub fn new(len: usize) -> HeapMemory {
        let lines = len.div_ceil(64);
        let words = (0..lines)
            .map(|_| CacheLine(Default::default()))
            .collect::<Box<[_]>>();
        HeapMemory { words, len }
    }
}

// SAFETY: the boxed slice is 64-byte aligned, holds at least `len` bytes, is
// never reallocated, and is made of atomics, so writes through the pointer
// from several threads are sound interior mutation.
unsafe impl Memory for HeapMemory {
    fn as_ptr(&self) -> *mut u8 {
        self.words.as_ptr() as *mut u8
    }
    fn len(&self) -> usize {
        self.len
    }
}
