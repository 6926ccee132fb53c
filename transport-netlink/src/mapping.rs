//! Memory mappings rings live in: anonymous private memory for the rings
//! this process fills itself, and the kernel's own rings mapped from a
//! netlink socket (Linux 3.10–4.5, see [`crate::mapped`]).

use ringlink_core::Memory;
use rustix::mm::{MapFlags, ProtFlags};
use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;

/// A read-write memory mapping, unmapped on drop.
///
/// Mappings start on a page boundary (so the 16-byte alignment
/// [`Memory`] asks for always holds) and stay mapped, at the same place and
/// length, until dropped: share one between rings with an `Arc`.
///
/// ```
/// use ringlink_core::{Consumer, Geometry, Memory, Producer, Ring};
/// use ringlink_netlink::mapping::Mapping;
/// use std::sync::Arc;
///
/// let geometry = Geometry::for_messages(64, 8).unwrap();
/// let mem = Arc::new(Mapping::anonymous(geometry.ring_size()).unwrap());
/// assert_eq!(mem.len(), geometry.ring_size());
/// let mut tx = Producer::new(Ring::new(mem.clone(), 0, geometry).unwrap());
/// let mut rx = Consumer::new(Ring::new(mem, 0, geometry).unwrap());
/// tx.reserve().unwrap().expect("an empty ring has room").write(b"hi").unwrap();
/// assert_eq!(rx.next().unwrap().expect("a message").payload(), b"hi");
/// ```
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value alone (nothing
// else unmaps it, it moves with the value) and usable from any thread; the
// rings on it only touch it through atomics and raw copies.
unsafe impl Send for Mapping {}
// SAFETY: `&Mapping` only hands out the address and length; all accesses
// through the address are atomics or raw copies (the `Memory` contract), so
// sharing it between threads is sound.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of fresh private anonymous memory
    /// (`MAP_PRIVATE | MAP_ANONYMOUS`), read-write.
    ///
    /// The pages are zero (every frame UNUSED) and only materialize when
    /// first touched, so a large ring costs nothing until it is used,
    /// unlike a heap allocation that is zeroed eagerly. A length of 0 is
    /// refused (`EINVAL`).
    pub fn anonymous(len: usize) -> io::Result<Mapping> {
        // SAFETY: a null hint lets the kernel pick fresh address space that
        // aliases no Rust object; nothing else knows of the mapping yet.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
            )
        }?;
        Mapping::new(ptr, len)
    }

    /// Maps the first `len` bytes of `socket` shared (`MAP_SHARED`, offset
    /// 0), read-write: the kernel's netlink rings once `NETLINK_RX_RING`
    /// and `NETLINK_TX_RING` are set. The Linux 3.10–4.5 kernel wants
    /// exactly one such mapping, `len` being the RX plus the TX ring size
    /// (`EINVAL` otherwise); later kernels cannot map netlink sockets at
    /// all (`ENODEV`). [`crate::mapped::map_rings`] does the whole setup.
    ///
    /// The mapping holds its own reference to the socket: it stays valid
    /// even if the socket is closed first.
    pub fn of_socket(socket: BorrowedFd<'_>, len: usize) -> io::Result<Mapping> {
        // SAFETY: a null hint lets the kernel pick fresh address space that
        // aliases no Rust object. The kernel backs the whole range with the
        // rings' pages until unmapped (it refuses lengths other than the
        // rings' size), so no access within `len` can fault.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                socket,
                0,
            )
        }?;
        Mapping::new(ptr, len)
    }

    /// Wraps a fresh mapping of `len` bytes at `ptr`.
    fn new(ptr: *mut std::ffi::c_void, len: usize) -> io::Result<Mapping> {
        let ptr = NonNull::new(ptr.cast())
            .ok_or_else(|| io::Error::other("mmap returned a mapping at address 0"))?;
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the range was mapped by `anonymous` or `of_socket` with
        // this length and nothing refers to it any more (rings hold the
        // mapping itself, so they are gone). A failure would leave the
        // mapping in place: nothing to recover, only address space lost.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

// SAFETY: `ptr` is non-null and page-aligned (mmap returns page-aligned
// addresses, pages being at least 4 KiB, so 16-byte aligned), the range is
// mapped read-write for `len` bytes until drop, and neither changes.
unsafe impl Memory for Mapping {
    fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    fn len(&self) -> usize {
        self.len
    }
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlink_core::{Geometry, page_size, ring_ends};
    use std::hash::BuildHasher;
    use std::os::fd::AsFd;
    use std::sync::Arc;

    #[test]
    fn anonymous_mappings_have_the_length_asked_for_page_aligned_and_zeroed() {
        for len in [1, 24, page_size(), 10_000, 3 * page_size() + 5, 4 << 20] {
            let mapping = Mapping::anonymous(len).unwrap();
            assert_eq!(mapping.len(), len);
            assert_eq!(mapping.as_ptr() as usize % page_size(), 0, "{mapping:?}");
            assert_eq!(mapping.as_ptr() as usize % 16, 0);
            // SAFETY: a fresh private mapping of `len` readable bytes that
            // nothing else in this test writes while the slice lives.
            let bytes = unsafe { std::slice::from_raw_parts(mapping.as_ptr(), len) };
            assert!(
                bytes.iter().all(|&b| b == 0),
                "a fresh mapping of {len} bytes is zero"
            );
        }
    }

    #[test]
    fn an_empty_mapping_is_refused() {
        let err = Mapping::anonymous(0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }

    /// Reads `N` bytes at `addr` of this process through the kernel
    /// (`process_vm_readv`), so an unmapped address is an error, not a
    /// crash: `None` when nothing readable is mapped there.
    fn read_own<const N: usize>(addr: *const u8) -> Option<[u8; N]> {
        let mut out = [0u8; N];
        let local = libc::iovec {
            iov_base: out.as_mut_ptr().cast(),
            iov_len: N,
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: N,
        };
        // SAFETY: `local` describes `out`, writable for N bytes; the kernel
        // checks `remote` and fails with EFAULT if it is not mapped.
        let read = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
        (read == N as isize).then_some(out)
    }

    #[test]
    fn dropping_a_mapping_unmaps_it() {
        let mapping = Mapping::anonymous(3 * page_size()).unwrap();
        let addr = mapping.as_ptr();
        // A random cookie: whatever another test thread maps at this
        // address after the drop holds zeros or its own bytes, never this.
        let random = std::collections::hash_map::RandomState::new();
        let mut cookie = [0u8; 16];
        cookie[..8].copy_from_slice(&random.hash_one(addr as usize).to_ne_bytes());
        cookie[8..].copy_from_slice(&random.hash_one(!(addr as usize)).to_ne_bytes());
        // SAFETY: the first 16 bytes of a live mapping this test owns.
        unsafe { std::ptr::copy_nonoverlapping(cookie.as_ptr(), addr, cookie.len()) };
        assert_eq!(
            read_own::<16>(addr),
            Some(cookie),
            "mapped: the cookie reads back"
        );
        drop(mapping);
        assert_ne!(
            read_own::<16>(addr),
            Some(cookie),
            "dropped: the pages are gone (unmapped, or fresh pages of someone else's mapping)"
        );
    }

    #[test]
    fn threads_move_messages_through_a_ring_in_an_anonymous_mapping() {
        // The layout of the in-process links: a ring, then its skip cursor.
        let geometry = Geometry::for_messages(100, 64).unwrap();
        let mem = Arc::new(Mapping::anonymous(geometry.ring_size() + 64).unwrap());
        let (mut tx, mut rx) = ring_ends(mem, geometry, 0).unwrap();
        const COUNT: u32 = 200_000;
        let producer = std::thread::spawn(move || {
            for i in 0..COUNT {
                let len = 1 + i as usize % 100;
                loop {
                    if let Some(mut frame) = tx.reserve().unwrap() {
                        frame.buf()[..4].copy_from_slice(&i.to_le_bytes());
                        frame.commit(len.max(4)).unwrap();
                        break;
                    }
                    std::thread::yield_now();
                }
            }
        });
        let mut next = 0;
        while next < COUNT {
            match rx.next().unwrap() {
                Some(frame) => {
                    let payload = frame.payload();
                    assert_eq!(payload.len(), (1 + next as usize % 100).max(4));
                    assert_eq!(payload[..4], next.to_le_bytes());
                    next += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        producer.join().unwrap();
        assert!(rx.next().unwrap().is_none());
    }

    #[test]
    fn a_netlink_socket_without_rings_cannot_be_mapped_here() {
        // Linux >= 4.6 has no netlink mmap: the socket layer answers ENODEV.
        let socket = crate::socket::NetlinkSocket::open(crate::socket::NETLINK_ROUTE).unwrap();
        let err = Mapping::of_socket(socket.as_fd(), page_size()).unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(libc::ENODEV),
            "this test expects a kernel without netlink mmap (Linux >= 4.6): {err}"
        );
    }
}
