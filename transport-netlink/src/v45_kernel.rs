//! The v4.5 kernel's side of the mapped rings, played in tests: the RX
//! ring filled and the TX ring sent as `net/netlink/af_netlink.c` of Linux
//! 4.5 does it (frame lookup, head, SKIP forwarding, status stores), over
//! rings laid out in an anonymous mapping as `netlink_mmap` lays them out.
//! It lets the mapped mode's frame walking run on kernels that no longer
//! have the rings.

use crate::mapped::{KernelRings, place};
use crate::mapping::Mapping;
use ringlink_core::{FrameMeta, Geometry, HDRLEN, Memory, Status};
use std::mem::offset_of;
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};
use std::sync::atomic::{AtomicU32, fence};

/// `struct nl_mmap_hdr` field offsets, as libc states the ABI.
const NM_LEN: usize = offset_of!(libc::nl_mmap_hdr, nm_len);
const NM_GROUP: usize = offset_of!(libc::nl_mmap_hdr, nm_group);
const NM_PID: usize = offset_of!(libc::nl_mmap_hdr, nm_pid);
const NM_UID: usize = offset_of!(libc::nl_mmap_hdr, nm_uid);
const NM_GID: usize = offset_of!(libc::nl_mmap_hdr, nm_gid);
const NM_STATUS: usize = offset_of!(libc::nl_mmap_hdr, nm_status);

/// One ring as the v4.5 kernel sees it (`struct netlink_ring`):
/// `netlink_mmap` maps block `i` (`pg_vec[i]`) right after block
/// `i - 1`, the RX ring's blocks first, and `__netlink_lookup_frame`
/// finds frame `pos` at `pg_vec[pos / frames_per_block] +
/// (pos % frames_per_block) * frame_size`. Only the request's fields
/// are used, not core's layout code.
pub(crate) struct KernelRing {
    /// Keeps the frames mapped for as long as this ring may touch them.
    _mem: Arc<Mapping>,
    base: *mut u8,
    block_size: usize,
    frame_size: usize,
    frames_per_block: u32,
    frame_max: u32,
    /// The kernel's position (`ring->head`).
    pub(crate) head: u32,
}

impl KernelRing {
    /// The ring described by `req` at byte `offset` of the mapping.
    pub(crate) fn new(mem: &Arc<Mapping>, offset: usize, req: Geometry) -> KernelRing {
        assert!(offset + req.block_size as usize * req.block_nr as usize <= mem.len());
        KernelRing {
            _mem: mem.clone(),
            base: mem.as_ptr().wrapping_add(offset),
            block_size: req.block_size as usize,
            frame_size: req.frame_size as usize,
            frames_per_block: req.block_size / req.frame_size,
            frame_max: req.frame_nr - 1,
            head: 0,
        }
    }

    /// `__netlink_lookup_frame`.
    pub(crate) fn frame(&self, pos: u32) -> *mut u8 {
        let block = (pos / self.frames_per_block) as usize;
        let within = (pos % self.frames_per_block) as usize;
        self.base
            .wrapping_add(block * self.block_size + within * self.frame_size)
    }

    /// Header word at byte `field` of frame `pos`.
    fn word(&self, pos: u32, field: usize) -> &AtomicU32 {
        // SAFETY: `frame` lies inside the mapping (checked in `new`, kept
        // mapped by `self._mem`),
        // 4-aligned (page-aligned blocks, frames multiples of 4), and
        // every side accesses header words atomically only.
        unsafe { AtomicU32::from_ptr(self.frame(pos).wrapping_add(field).cast()) }
    }

    /// `netlink_get_status`: `smp_rmb()`, then the status.
    pub(crate) fn status(&self, pos: u32) -> u32 {
        self.word(pos, NM_STATUS).load(Acquire)
    }

    /// `netlink_set_status`: `smp_mb()`, then the store.
    fn set_status(&self, pos: u32, status: Status) {
        fence(SeqCst);
        self.word(pos, NM_STATUS).store(status.raw(), Relaxed);
    }

    /// `netlink_increment_head`.
    fn increment_head(&mut self) {
        self.head = if self.head != self.frame_max {
            self.head + 1
        } else {
            0
        };
    }

    /// `netlink_forward_ring`: steps over SKIP frames.
    fn forward(&mut self) {
        let start = self.head;
        loop {
            if self.status(self.head) != Status::Skip.raw() {
                break;
            }
            self.increment_head();
            if self.head == start {
                break;
            }
        }
    }

    /// The RX ring part of `netlink_alloc_skb`: forward, take the head
    /// frame if UNUSED, mark it RESERVED, advance. `None`: ring full.
    pub(crate) fn reserve(&mut self) -> Option<u32> {
        self.forward();
        let pos = self.head;
        if self.status(pos) != Status::Unused.raw() {
            return None;
        }
        self.set_status(pos, Status::Reserved);
        self.increment_head();
        Some(pos)
    }

    /// The message built in place at frame + NL_MMAP_HDRLEN, then
    /// `netlink_queue_mmaped_skb`: header words, then VALID.
    pub(crate) fn deliver(&self, pos: u32, msg: &[u8], meta: FrameMeta) {
        assert!(msg.len() <= self.frame_size - HDRLEN);
        // SAFETY: the frame's data area holds `frame_size - 24` bytes
        // inside the mapping; the frame is RESERVED, so only this
        // (kernel) side touches it.
        unsafe {
            let data = self.frame(pos).wrapping_add(HDRLEN);
            std::ptr::copy_nonoverlapping(msg.as_ptr(), data, msg.len());
        }
        self.write_header(pos, msg.len() as u32, meta);
        self.set_status(pos, Status::Valid);
    }

    /// `netlink_skb_destructor` for a ring skb never delivered: the
    /// frame is handed over VALID with length 0.
    pub(crate) fn drop_undelivered(&self, pos: u32) {
        self.word(pos, NM_LEN).store(0, Relaxed);
        self.set_status(pos, Status::Valid);
    }

    /// `netlink_ring_set_copied`: the message went to the socket's
    /// queue; the head frame, if UNUSED, keeps its place as COPY.
    pub(crate) fn set_copied(&mut self, len: u32, meta: FrameMeta) -> Option<u32> {
        let pos = self.head;
        if self.status(pos) != Status::Unused.raw() {
            return None;
        }
        self.increment_head();
        self.write_header(pos, len, meta);
        self.set_status(pos, Status::Copy);
        Some(pos)
    }

    fn write_header(&self, pos: u32, len: u32, meta: FrameMeta) {
        self.word(pos, NM_LEN).store(len, Relaxed);
        self.word(pos, NM_GROUP).store(meta.group, Relaxed);
        self.word(pos, NM_PID).store(meta.pid, Relaxed);
        self.word(pos, NM_UID).store(meta.uid, Relaxed);
        self.word(pos, NM_GID).store(meta.gid, Relaxed);
    }

    /// `netlink_mmap_sendmsg`: from the head, while the frame is VALID:
    /// `nm_len` read once and checked against the frame, the message
    /// copied from frame + NL_MMAP_HDRLEN, the frame set UNUSED.
    pub(crate) fn send_all(&mut self) -> Vec<Vec<u8>> {
        let maxlen = self.frame_size - HDRLEN;
        let mut sent = Vec::new();
        while self.status(self.head) == Status::Valid.raw() {
            let nm_len = self.word(self.head, NM_LEN).load(Relaxed) as usize;
            assert!(nm_len <= maxlen, "the kernel would answer EINVAL");
            let mut msg = vec![0u8; nm_len];
            // SAFETY: `nm_len` bytes of the frame's data area, inside
            // the mapping; the frame is VALID, so user space leaves it
            // alone until it is UNUSED again.
            unsafe {
                let data = self.frame(self.head).wrapping_add(HDRLEN);
                std::ptr::copy_nonoverlapping(data, msg.as_mut_ptr(), nm_len);
            }
            self.set_status(self.head, Status::Unused);
            self.increment_head();
            sent.push(msg);
        }
        sent
    }
}
impl KernelRing {
    /// `nm_len` of frame `pos`.
    pub(crate) fn len(&self, pos: u32) -> u32 {
        self.word(pos, NM_LEN).load(Relaxed)
    }
}

/// Rings of geometries `rx` and `tx` in one anonymous mapping, placed by
/// [`place`] as `map_rings` places the kernel's, and the kernel's view of
/// each. Checks that core finds every frame header where the kernel does.
pub(crate) fn lay_out(rx: Geometry, tx: Geometry) -> (KernelRings, KernelRing, KernelRing) {
    let mem = Arc::new(Mapping::anonymous(rx.ring_size() + tx.ring_size()).unwrap());
    let kernel_rx = KernelRing::new(&mem, 0, rx);
    let kernel_tx = KernelRing::new(&mem, rx.ring_size(), tx);
    let rings = place(mem, rx, tx).unwrap();
    for (ring, kernel) in [(&rings.rx, &kernel_rx), (&rings.tx, &kernel_tx)] {
        for pos in 0..ring.frame_nr() {
            let core = ring.raw_header(pos).unwrap().status().as_ptr();
            assert_eq!(core.cast::<u8>(), kernel.frame(pos), "frame {pos}");
        }
    }
    (rings, kernel_rx, kernel_tx)
}

/// Delivery metadata: group, then the sender's pid, uid and gid.
pub(crate) fn meta(group: u32, pid: u32, uid: u32, gid: u32) -> FrameMeta {
    FrameMeta {
        group,
        pid,
        uid,
        gid,
    }
}
