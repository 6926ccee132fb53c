//! The link's memory: a sealed memfd holding the control page and two
//! rings, mapped shared into both processes.

use crate::control::{ControlPage, Layout, control_size};
use crate::error::{SetupError, memfd_io};
use memfd::{FileSeal, Memfd, MemfdOptions};
use ringlink_core::{Memory, page_size};
use rustix::mm::{MapFlags, ProtFlags};
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;

/// The seals a segment must carry: its size can never change, so a mapping
/// of it can never fault (SIGBUS) because the peer shrank the file.
const REQUIRED_SEALS: [FileSeal; 3] =
    [FileSeal::SealShrink, FileSeal::SealGrow, FileSeal::SealSeal];

/// A shared, writable mapping of a whole segment.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    backing: Backing,
}

/// What keeps a mapping's memory mapped.
#[derive(Debug)]
enum Backing {
    /// Our own mmap of a memfd: unmapped on drop.
    Memfd,
    /// A named POSIX shared-memory segment: the `shared_memory` crate
    /// unmaps it (and unlinks the name, for its creator) on drop.
    Named {
        /// Held for its drop, which unmaps the segment.
        _segment: NamedSegment,
    },
}

/// A `shared_memory` segment, owned by one mapping.
pub(crate) struct NamedSegment(shared_memory::Shmem);

impl std::fmt::Debug for NamedSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NamedSegment({})", self.0.get_os_id())
    }
}

// SAFETY: the mapping is plain shared memory (a named segment's handle is
// only dropped, never used from two threads); ringlink accesses the memory
// only through atomics and raw copies, from any thread.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` shared, read-write.
    fn map(fd: impl AsFd, len: usize) -> Result<Mapping, SetupError> {
        // SAFETY: a fresh mapping chosen by the kernel (null hint) aliases no
        // Rust object; the segment is sealed against shrinking, so the
        // mapping stays backed for its whole life.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )
        }
        .map_err(|e| SetupError::io(format!("mapping the {len}-byte link segment"), e))?;
        let ptr = NonNull::new(ptr.cast())
            .ok_or_else(|| SetupError::BadSegment("mmap returned null".into()))?;
        Ok(Mapping {
            ptr,
            len,
            backing: Backing::Memfd,
        })
    }

    /// Wraps a named segment's mapping.
    pub(crate) fn named(shmem: shared_memory::Shmem) -> Result<Mapping, SetupError> {
        let (ptr, len) = (shmem.as_ptr(), shmem.len());
        let ptr =
            NonNull::new(ptr).ok_or_else(|| SetupError::BadSegment("null named mapping".into()))?;
        if len < control_size() || ptr.as_ptr() as usize % page_size() != 0 {
            return Err(SetupError::BadSegment(format!(
                "a named segment of {len} bytes cannot hold the {}-byte control page",
                control_size()
            )));
        }
        Ok(Mapping {
            ptr,
            len,
            backing: Backing::Named {
                _segment: NamedSegment(shmem),
            },
        })
    }

    /// The control page at the start of the mapping.
    pub(crate) fn control(&self) -> &ControlPage {
        // SAFETY: the mapping is at least `control_size()` bytes (checked
        // when created or opened), page-aligned, and the control page is
        // made of atomics only, so any bytes are a valid value.
        unsafe { &*(self.ptr.as_ptr() as *const ControlPage) }
    }

    /// Byte offset of `word` inside the mapping (for placing skip cursors).
    pub(crate) fn offset_of<T>(&self, word: &T) -> usize {
        word as *const T as usize - self.ptr.as_ptr() as usize
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if let Backing::Memfd = self.backing {
            // SAFETY: the mapping was made by `map` with this length and is
            // not referenced any more (rings and guards hold an Arc to it).
            // A failure leaves the mapping in place: nothing to recover.
            let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
        }
    }
}

// SAFETY: page-aligned (so 16-aligned), valid for `len` bytes while mapped,
// fixed for its life; peers only use atomics and raw copies on it.
unsafe impl Memory for Mapping {
    fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    fn len(&self) -> usize {
        self.len
    }
}

/// Creates a sealed segment for `layout`: writes the control page, then
/// seals the memfd against shrinking, growing and further sealing.
pub(crate) fn create(layout: &Layout) -> Result<(OwnedFd, Mapping), SetupError> {
    let memfd = MemfdOptions::default()
        .allow_sealing(true)
        .close_on_exec(true)
        .create("ringlink-link")
        .map_err(|e| SetupError::io("creating the link memfd", memfd_io(e)))?;
    memfd.as_file().set_len(layout.total_size).map_err(|e| {
        SetupError::io(
            format!("sizing the link memfd to {} bytes", layout.total_size),
            e,
        )
    })?;
    memfd
        .add_seals(&REQUIRED_SEALS)
        .map_err(|e| SetupError::io("sealing the link memfd", memfd_io(e)))?;
    let fd = OwnedFd::from(memfd.into_file());
    let mapping = Mapping::map(&fd, layout.total_size as usize)?;
    mapping.control().declare(layout);
    Ok((fd, mapping))
}

/// Opens a segment a peer offered: checks that it is a memfd, carries the
/// required seals, is large enough, and that its control page declares a
/// layout that fits its real size; only then maps it by offset.
pub(crate) fn open(fd: OwnedFd) -> Result<(OwnedFd, Layout, Mapping), SetupError> {
    let memfd = Memfd::try_from_fd(fd).map_err(|_| SetupError::NotAMemfd)?;
    let seals = memfd
        .seals()
        .map_err(|e| SetupError::io("reading the link memfd's seals", memfd_io(e)))?;
    let missing: Vec<String> = REQUIRED_SEALS
        .iter()
        .filter(|s| !seals.contains(s))
        .map(|s| format!("{s:?}"))
        .collect();
    if !missing.is_empty() {
        return Err(SetupError::MissingSeals {
            missing: missing.join(", "),
        });
    }
    let size = memfd
        .as_file()
        .metadata()
        .map_err(|e| SetupError::io("reading the link memfd's size", e))?
        .len();
    if size < control_size() as u64 || usize::try_from(size).is_err() {
        return Err(SetupError::BadSegment(format!(
            "{size} bytes cannot hold the {}-byte control page",
            control_size()
        )));
    }
    let fd = OwnedFd::from(memfd.into_file());
    let mapping = Mapping::map(&fd, size as usize)?;
    let layout = mapping.control().read()?;
    layout.validate(size)?;
    Ok((fd, layout, mapping))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlink_core::Geometry;

    fn layout() -> Layout {
        let g = Geometry::for_messages(256, 8).unwrap();
        Layout::new(g, g).unwrap()
    }

    #[test]
    fn created_segment_opens() {
        let (fd, _mapping) = create(&layout()).unwrap();
        let (_fd, read, mapping) = open(fd).unwrap();
        assert_eq!(read, layout());
        assert_eq!(mapping.len() as u64, layout().total_size);
    }

    #[test]
    fn unsealed_memfd_is_refused() {
        let memfd = MemfdOptions::default()
            .allow_sealing(true)
            .create("x")
            .unwrap();
        memfd.as_file().set_len(layout().total_size).unwrap();
        let err = open(OwnedFd::from(memfd.into_file())).unwrap_err();
        assert!(matches!(err, SetupError::MissingSeals { .. }), "{err}");
        assert!(err.to_string().contains("SealShrink"));
    }

    #[test]
    fn a_plain_file_is_not_a_memfd() {
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        assert!(matches!(
            open(OwnedFd::from(file)),
            Err(SetupError::NotAMemfd)
        ));
    }

    #[test]
    fn too_small_and_lying_segments_are_refused() {
        let seal = |len: u64, declare: Option<Layout>| {
            let memfd = MemfdOptions::default()
                .allow_sealing(true)
                .create("x")
                .unwrap();
            memfd.as_file().set_len(len).unwrap();
            if let Some(l) = declare {
                let m = Mapping::map(memfd.as_file(), len as usize).unwrap();
                m.control().declare(&l);
            }
            memfd.add_seals(&REQUIRED_SEALS).unwrap();
            open(OwnedFd::from(memfd.into_file()))
        };
        assert!(matches!(seal(100, None), Err(SetupError::BadSegment(_))));
        assert!(
            matches!(seal(8192, None), Err(SetupError::BadSegment(_))),
            "no magic"
        );
        // A control page declaring rings larger than the file.
        let l = layout();
        let err = seal(l.total_size / 2, Some(l)).unwrap_err();
        assert!(err.to_string().contains("declares"), "{err}");
    }

    #[test]
    fn sealed_segment_cannot_be_resized() {
        let (fd, _mapping) = create(&layout()).unwrap();
        let file = std::fs::File::from(fd);
        assert!(file.set_len(4096).is_err(), "shrink must fail");
        assert!(
            file.set_len(layout().total_size * 2).is_err(),
            "grow must fail"
        );
    }
}
