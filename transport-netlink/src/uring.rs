//! The io_uring mode: one multishot `recvmsg` on the socket whose provided
//! buffers are the receive ring's own frames, so the kernel writes each
//! datagram straight into a frame, with no system call per datagram while
//! data flows.
//!
//! Every free frame is lent ([`Producer::lend`]) and added to a provided-
//! buffer ring, in ring order; the kernel takes buffers in the order they
//! were added, so completions arrive in ring order too. A completion fills
//! the frame header (length, group from `NETLINK_PKTINFO`, sender from
//! `SCM_CREDENTIALS`) and publishes the frame; a frame comes back to the
//! buffer ring once the consumer releases it. In front of each payload the
//! kernel writes its `io_uring_recvmsg_out` header, the sender's address and
//! the control messages: the receive ring keeps [`HEADROOM`] bytes for
//! them.
//!
//! The completion work of a datagram that arrives runs cooperatively: it
//! waits for the receiving task's next system call instead of interrupting
//! its CPU, and the submission ring's `IORING_SQ_TASKRUN` flag says when
//! such work is queued, so that looking for datagrams costs a system call
//! only when there are some.
//!
//! When the kernel finds no buffer (every frame is full and unread), the
//! multishot ends with ENOBUFS; it is re-armed once frames are free again.
//! A real overrun (the socket dropped messages) also ends it with ENOBUFS;
//! the two are told apart by the socket's drop counter (`SO_MEMINFO`), and
//! only the overrun is reported.

use crate::socket::{NetlinkSocket, cut, receive_error};
use io_uring::{IoUring, cqueue, opcode, types};
use ringlink_core::{LentFrame, LinkError, Memory, Producer};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

/// Bytes of `struct io_uring_recvmsg_out`.
const RECVMSG_OUT: usize = 16;
/// Room for the sender's address (a 12-byte `sockaddr_nl`), rounded so the
/// payload stays 16-byte aligned.
const NAME_LEN: usize = 16;
/// Bytes the kernel writes in front of each payload.
pub(crate) const HEADROOM: usize = RECVMSG_OUT + NAME_LEN + crate::meta::CONTROL_LEN;
/// Submission queue entries: the receive and its cancellation need two.
/// The completion queue must be at least as large.
const SUBMISSIONS: u32 = 8;
/// The provided-buffer group of the receive frames.
const GROUP: u16 = 0;
/// `user_data` of the multishot receive.
const RECV: u64 = 1;
/// `user_data` of its cancellation.
const CANCEL: u64 = 2;
/// `SO_MEMINFO`: the socket's memory counters, drops among them.
const SO_MEMINFO: i32 = 55;
/// Index of the drop counter in `SO_MEMINFO`'s answer.
const SK_MEMINFO_DROPS: usize = 8;
/// Bytes of one provided-buffer entry (`struct io_uring_buf`).
const ENTRY: usize = 16;
/// Offset of the ring's tail, which overlays entry 0's reserved field.
const TAIL: usize = 14;

/// The provided-buffer ring: entries the kernel picks receive buffers
/// from, in the order they were added.
struct BufRing {
    /// The entries, page-aligned, shared with the kernel.
    map: crate::mapping::Mapping,
    /// Entries minus one (a power of two minus one).
    mask: u16,
    /// Where the next entry goes; published to the kernel by `publish`.
    tail: u16,
}

impl BufRing {
    /// A ring of at least `frames` entries.
    fn new(frames: u32) -> io::Result<BufRing> {
        let entries = frames.next_power_of_two();
        if entries > 1 << 15 {
            return Err(io::Error::other(format!(
                "{frames} receive frames are more than io_uring's 32768 buffers"
            )));
        }
        let map = crate::mapping::Mapping::anonymous(entries as usize * ENTRY)?;
        Ok(BufRing {
            map,
            mask: (entries - 1) as u16,
            tail: 0,
        })
    }

    /// How many buffers the ring holds. The receive ring may have more
    /// frames (its geometry rounds up to whole blocks): the frames past
    /// the entries are lent as the kernel uses the first ones.
    fn entries(&self) -> usize {
        usize::from(self.mask) + 1
    }

    /// Adds `frame`'s data area as buffer `bid` (published later); only
    /// while fewer than [`BufRing::entries`] buffers are outstanding.
    fn push(&mut self, frame: &LentFrame, bid: u16) {
        let slot = usize::from(self.tail & self.mask) * ENTRY;
        let entry = self.map.as_ptr().wrapping_add(slot);
        let (addr, len) = (frame.as_mut_ptr() as u64, frame.len() as u32);
        // SAFETY: `slot + ENTRY` is inside the mapping (mask < entries), and
        // the slot is not the kernel's: fewer buffers than the entries are
        // outstanding (`UringFeed::fill` lends no more), so the tail has not lapped the
        // kernel's head. Only addr, len and bid are written: bytes 14..16
        // of entry 0 are the shared tail, written atomically by `publish`.
        // Unaligned-safe writes keep this independent of the entry's
        // alignment.
        unsafe {
            entry.cast::<u64>().write_unaligned(addr);
            entry.add(8).cast::<u32>().write_unaligned(len);
            entry.add(12).cast::<u16>().write_unaligned(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the pushed entries visible to the kernel.
    fn publish(&self) {
        // SAFETY: bytes 14..16 of the page-aligned mapping, 2-aligned, which
        // both sides access only atomically (the kernel with acquire loads).
        let tail = unsafe { &*self.map.as_ptr().add(TAIL).cast::<AtomicU16>() };
        // Release: the entries are written before the kernel sees the tail.
        tail.store(self.tail, Ordering::Release);
    }
}

/// The io_uring feeding one receive ring.
pub(crate) struct UringFeed {
    ring: IoUring,
    /// The multishot's message header: only its name and control lengths
    /// matter, and it is kept for as long as the request may be re-armed.
    msghdr: Box<libc::msghdr>,
    bufs: BufRing,
    /// Frames lent to the kernel, oldest first.
    lent: VecDeque<LentFrame>,
    /// The multishot receive is in flight.
    armed: bool,
    /// The socket's drop counter when last read.
    drops: u32,
}

impl UringFeed {
    /// Sets up io_uring for `socket` and a buffer ring for `frames` frames.
    /// An error says why this kernel or process cannot run the mode.
    pub(crate) fn new(socket: &NetlinkSocket, frames: u32) -> io::Result<UringFeed> {
        // Cooperative task running, flagged (see the module docs): both
        // exist since Linux 5.19, as do buffer rings.
        let ring = IoUring::builder()
            .setup_cqsize(2 * frames.next_power_of_two().max(SUBMISSIONS))
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .build(SUBMISSIONS)?;
        let bufs = BufRing::new(frames)?;
        // SAFETY: the entries live in `bufs.map`, which is dropped after
        // `ring` (field order), and so outlives the registration.
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                bufs.map.as_ptr() as u64,
                bufs.mask + 1,
                GROUP,
                0,
            )?;
        }
        // SAFETY: an all-zero msghdr is a valid (empty) value.
        let mut msghdr: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        msghdr.msg_namelen = NAME_LEN as u32;
        msghdr.msg_controllen = crate::meta::CONTROL_LEN as _;
        Ok(UringFeed {
            ring,
            msghdr,
            bufs,
            lent: VecDeque::new(),
            armed: false,
            drops: drops(socket)?,
        })
    }

    /// The descriptor that polls readable when completions are waiting.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.ring.as_fd()
    }

    /// Publishes the frames the kernel has filled, lends every free frame
    /// to it, and re-arms the receive if it ended. Returns how many frames
    /// were published.
    pub(crate) fn fill<M: Memory>(
        &mut self,
        socket: &NetlinkSocket,
        rx: &mut Producer<M>,
    ) -> Result<usize, LinkError> {
        if self.ring.completion().is_empty() && self.ring.submission().taskrun() {
            // Lets the kernel run the completion work it queued for this
            // task; with none queued, no system call.
            self.ring
                .submit()
                .map_err(|e| LinkError::io("entering io_uring", e))?;
        }
        let filled = self.reap(socket, rx)?;
        let mut added = false;
        // Each lent frame is one outstanding buffer.
        while self.lent.len() < self.bufs.entries() {
            let Some(frame) = rx.lend()? else { break };
            // Buffer ids are 16 bits wide; the id only checks the order.
            self.bufs.push(&frame, frame.index as u16);
            self.lent.push_back(frame);
            added = true;
        }
        if added {
            self.bufs.publish();
        }
        if !self.armed && !self.lent.is_empty() {
            self.arm(socket)?;
        }
        Ok(filled)
    }

    /// Handles every waiting completion.
    fn reap<M: Memory>(
        &mut self,
        socket: &NetlinkSocket,
        rx: &mut Producer<M>,
    ) -> Result<usize, LinkError> {
        let mut filled = 0;
        loop {
            let Some(cqe) = self.ring.completion().next() else {
                break;
            };
            if cqe.user_data() != RECV {
                continue;
            }
            if !cqueue::more(cqe.flags()) {
                self.armed = false;
            }
            let res = cqe.result();
            if res < 0 {
                // ENOBUFS ends the multishot when no buffer was left (not
                // an error: re-armed when frames free up) and on a real
                // overrun, which the drop counter tells.
                if res == -libc::ENOBUFS && !self.overran(socket)? {
                    continue;
                }
                return Err(receive_error(-res));
            }
            let frame = self.lent.pop_front().ok_or_else(|| {
                LinkError::Protocol("io_uring completed a receive with no frame lent".into())
            })?;
            if cqueue::buffer_select(cqe.flags()) != Some(frame.index as u16) {
                return Err(LinkError::Protocol(format!(
                    "io_uring filled buffer {:?}, expected frame {} (buffers out of order)",
                    cqueue::buffer_select(cqe.flags()),
                    frame.index
                )));
            }
            let Some((len, meta)) = received(&frame) else {
                // Not data: published empty (the reader skips it), so the
                // frames after it stay in step with the kernel's buffers.
                rx.publish_lent(0, Default::default())?;
                return Err(cut(frame.len() - HEADROOM));
            };
            rx.publish_lent(len, meta)?;
            filled += 1;
        }
        Ok(filled)
    }

    /// Whether the socket dropped messages since the last look.
    fn overran(&mut self, socket: &NetlinkSocket) -> Result<bool, LinkError> {
        let now = drops(socket).map_err(|e| LinkError::io("reading SO_MEMINFO", e))?;
        let grew = now != self.drops;
        self.drops = now;
        Ok(grew)
    }

    /// Submits the multishot receive.
    fn arm(&mut self, socket: &NetlinkSocket) -> Result<(), LinkError> {
        let fd = types::Fd(socket.as_fd().as_raw_fd());
        let entry = opcode::RecvMsgMulti::new(fd, &*self.msghdr, GROUP)
            .build()
            .user_data(RECV);
        // SAFETY: the message header lives in a Box owned by self, which
        // outlives the request (cancelled and awaited on drop); the buffers
        // are frames of the receive ring, kept alive by the link that owns
        // both.
        unsafe { self.ring.submission().push(&entry) }
            .map_err(|_| LinkError::Protocol("the io_uring submission queue is full".into()))?;
        self.ring
            .submit()
            .map_err(|e| LinkError::io("arming the io_uring receive", e))?;
        self.armed = true;
        Ok(())
    }

    /// Waits up to `timeout` for a completion; `false` on timeout.
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> Result<bool, LinkError> {
        if !self.ring.completion().is_empty() {
            return Ok(true);
        }
        let waited = match timeout {
            None => self.ring.submit_and_wait(1),
            Some(t) => {
                let ts = types::Timespec::from(t);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        match waited {
            Ok(_) => Ok(!self.ring.completion().is_empty()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => Ok(false),
            Err(e) => Err(LinkError::io("waiting on io_uring", e)),
        }
    }
}

impl Drop for UringFeed {
    /// Cancels the receive and waits for its last completion, so the kernel
    /// is done with the frames before they are freed.
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let cancel = opcode::AsyncCancel::new(RECV).build().user_data(CANCEL);
        // SAFETY: the cancel request carries no pointers.
        if unsafe { self.ring.submission().push(&cancel) }.is_err() {
            return;
        }
        for _ in 0..100 {
            if self.wait(Some(Duration::from_millis(10))).is_err() {
                return;
            }
            while let Some(cqe) = self.ring.completion().next() {
                if cqe.user_data() == RECV && !cqueue::more(cqe.flags()) {
                    return;
                }
            }
        }
    }
}

/// The payload length and metadata of a frame the kernel filled, from the
/// `io_uring_recvmsg_out` header and control messages in its headroom;
/// `None` if the datagram did not fit and was cut.
fn received(frame: &LentFrame) -> Option<(usize, ringlink_core::FrameMeta)> {
    // SAFETY: the first HEADROOM bytes of the lent frame's data area (which
    // holds more: the ring was placed with this headroom); the kernel has
    // finished writing them (its completion was reaped) and the frame is
    // not yet published, so nothing else touches them.
    let head = unsafe { std::slice::from_raw_parts(frame.as_mut_ptr(), HEADROOM) };
    // Indexed byte by byte, as the compiler turns this into one load (an
    // array `map` here stayed a call per datagram).
    let h = head;
    let word = |i: usize| u32::from_ne_bytes([h[4 * i], h[4 * i + 1], h[4 * i + 2], h[4 * i + 3]]);
    let (controllen, payloadlen, flags) = (word(1) as usize, word(2) as usize, word(3));
    if flags & libc::MSG_TRUNC as u32 != 0 {
        return None;
    }
    let control = RECVMSG_OUT + NAME_LEN;
    let control = &head[control..control + controllen.min(crate::meta::CONTROL_LEN)];
    Some((payloadlen, crate::meta::from_control(control)))
}

/// The socket's count of dropped messages.
fn drops(socket: &NetlinkSocket) -> io::Result<u32> {
    let mut info = [0u32; 9];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: a valid descriptor, a live buffer and its length.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    match rc {
        0 => Ok(info[SK_MEMINFO_DROPS]),
        _ => Err(io::Error::last_os_error()),
    }
}
