//! The mapped mode: the link reads the kernel's RX ring and writes its TX
//! ring directly (Linux 3.10–4.5, the v4.5 ABI; see [`crate::mapped`]).
//! The kernel plays the other side of both rings, so nothing here fills or
//! drains a ring; this is what the link adds to core's consumer and
//! producer:
//!
//! - COPY frames: the message did not fit the ring and waits on the
//!   socket; it is received (in ring order, when its frame comes up) into a
//!   buffer of the feed's and handed out with the frame
//!   ([`Message::copied`]). Empty VALID frames are released unseen by core's
//!   consumer.
//! - Dumps: a mapped socket is never read with `recvmsg`, so the v4.5
//!   kernel continues a dump from `poll()` (once half the ring is free):
//!   an empty ring is answered by a `poll` that does not wait, and waiting
//!   is `poll` on the socket, which reports readable once a frame is filled.
//! - Flush: one `sendto` with a NULL buffer makes the kernel send every VALID
//!   TX frame ([`crate::mapped::kick_tx`]); skipped when no frame waits. The
//!   kernel's walk stops at the first frame that is not VALID, so a frame
//!   committed as COPY (no out-of-band path exists here) is turned into an
//!   empty VALID frame before the kick and reported.
//! - Errors: an overrun (the kernel found the ring full and dropped a
//!   message) is the socket's pending error, reported with `POLLERR`.

use crate::link::poll_socket;
use crate::mapped::{MappedError, recv_copy};
use crate::mapping::Mapping;
use crate::socket::{NetlinkSocket, receive_error};
use ringlink_core::{Consumer, LinkError, Message, Producer, Ring, Status};
use rustix::event::PollFlags;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::Duration;

/// Makes the kernel send the TX ring's VALID frames: [`crate::mapped::kick_tx`]
/// (a stand-in playing the kernel in tests).
pub(crate) type Kick = Box<dyn FnMut(BorrowedFd<'_>) -> Result<usize, MappedError>>;

/// The most a COPY frame's announced length (a word read from shared
/// memory) may make the feed allocate: a frame announcing more gets its
/// message consumed and refused. Netlink messages stay far below it.
const COPY_MAX: usize = 16 << 20;

/// The link's part in the mapped mode.
pub(crate) struct MappedFeed {
    /// Where COPY frames' messages are received; grows to the largest
    /// announced (up to [`COPY_MAX`]).
    copy: Vec<u8>,
    kick: Kick,
}

/// A link's end of a kernel RX ring.
type Rx = Consumer<Arc<Mapping>>;

impl MappedFeed {
    /// A feed that sends the TX ring with `kick`.
    pub(crate) fn new(kick: Kick) -> MappedFeed {
        MappedFeed {
            copy: Vec::new(),
            kick,
        }
    }

    /// The next message of the RX ring, in ring order: a VALID frame's in
    /// place, a COPY frame's from the socket. An empty ring first lets the
    /// kernel go on with a dump.
    pub(crate) fn next<'a>(
        &'a mut self,
        socket: &NetlinkSocket,
        rx: &'a mut Rx,
    ) -> Result<Option<Message<'a, Arc<Mapping>>>, LinkError> {
        if !rx.poll()? {
            drive(socket)?;
        }
        let Some(frame) = rx.next()? else {
            return Ok(None);
        };
        if !frame.is_copy() {
            return Ok(Some(Message::in_frame(frame)));
        }
        // On an error the frame is released as it goes: the message was
        // consumed, so ring and queue stay in step.
        let announced = frame.copy_len();
        let want = (announced as usize).min(COPY_MAX);
        if self.copy.len() < want {
            self.copy.resize(want, 0);
        }
        let len = recv_copy(socket, frame.index(), announced, &mut self.copy[..want])?;
        Ok(Some(Message::copied(frame, &self.copy[..len])))
    }

    /// Whether [`MappedFeed::next`] has something to return; an empty ring
    /// first lets the kernel go on with a dump.
    pub(crate) fn poll(&self, socket: &NetlinkSocket, rx: &mut Rx) -> Result<bool, LinkError> {
        if rx.poll()? {
            return Ok(true);
        }
        drive(socket)?;
        Ok(rx.poll()?)
    }

    /// Waits up to `timeout` for the kernel to fill a frame: `poll` on the
    /// socket. `false` on timeout.
    pub(crate) fn wait(
        &self,
        socket: &NetlinkSocket,
        rx: &Rx,
        timeout: Option<Duration>,
    ) -> Result<bool, LinkError> {
        if rx.has_pending() {
            return Ok(true);
        }
        let ready = poll_socket(socket, PollFlags::IN, timeout)?;
        pending_error(socket, ready)?;
        Ok(!ready.is_empty())
    }

    /// Makes the kernel send every committed TX frame, in ring order; no
    /// system call when none waits.
    pub(crate) fn flush(
        &mut self,
        socket: &NetlinkSocket,
        tx: &Producer<Arc<Mapping>>,
    ) -> Result<(), LinkError> {
        let (waiting, copies) = unsent(tx.ring(), tx.head());
        if waiting > 0 {
            (self.kick)(socket.as_fd())?;
        }
        crate::local_feed::copy_refused(copies)
    }
}

/// Lets the v4.5 kernel go on with a dump (its `poll` does that for mapped
/// sockets) without waiting, and reports a pending error.
fn drive(socket: &NetlinkSocket) -> Result<(), LinkError> {
    let ready = poll_socket(socket, PollFlags::IN, Some(Duration::ZERO))?;
    pending_error(socket, ready)
}

/// The socket's pending error when `ready` has `POLLERR`: an overrun
/// (`ENOBUFS`, the kernel found the ring full and dropped a message) says
/// how to recover. Reading it clears it.
fn pending_error(socket: &NetlinkSocket, ready: PollFlags) -> Result<(), LinkError> {
    if !ready.contains(PollFlags::ERR) {
        return Ok(());
    }
    match rustix::net::sockopt::socket_error(socket) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(errno)) => Err(receive_error(errno.raw_os_error())),
        Err(e) => Err(LinkError::io("reading the socket's error (SO_ERROR)", e)),
    }
}

/// The frames committed and not yet sent, counted back from the producer's
/// `head`: the kernel sends in ring order and marks each frame it sent
/// UNUSED, so they are the VALID (or COPY) frames right before it. A COPY
/// frame among them would stop the kernel's walk for good: it becomes an
/// empty VALID frame (sent as an empty message, which netlink ignores).
/// Returns the frames waiting and how many were COPY.
fn unsent(ring: &Ring<Arc<Mapping>>, head: u32) -> (u32, usize) {
    let frames = ring.frame_nr();
    let (mut waiting, mut copies) = (0, 0);
    let mut index = head;
    while waiting < frames {
        index = index.checked_sub(1).unwrap_or(frames - 1);
        let Some(header) = ring.raw_header(index) else {
            break;
        };
        match Status::from_raw(header.status().load(Acquire)) {
            Some(Status::Valid) => {}
            Some(Status::Copy) => {
                header.len().store(0, Relaxed);
                // Release: the length is seen before the status.
                header.status().store(Status::Valid.raw(), Release);
                copies += 1;
            }
            _ => break,
        }
        waiting += 1;
    }
    (waiting, copies)
}

#[cfg(test)]
mod tests;
