//! The uring and copy modes: rings in this process's own memory, on which
//! the link plays the kernel's side. The receive ring is filled from the
//! socket (io_uring receives or `recvmmsg` copies into lent frames); the
//! transmit ring is drained into one `sendmsg` per flush, an iovec per
//! frame.

use crate::link::{ModeError, poll_socket};
use crate::mapping::Mapping;
use crate::socket::{NetlinkSocket, RECV_BATCH_MAX, Received};
use crate::uring::UringFeed;
use ringlink_core::{Consumer, Geometry, LentFrame, LinkError, Producer, ring_ends};
use rustix::event::PollFlags;
use std::collections::VecDeque;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Duration;

/// What fills the receive ring.
enum Filler {
    /// `recvmmsg` into lent frames, oldest first, up to `batch` at once.
    Copy {
        lent: VecDeque<LentFrame>,
        batch: usize,
    },
    /// io_uring receives into lent frames.
    Uring(Box<UringFeed>),
}

/// The kernel's side of both in-process rings.
pub(crate) struct LocalFeed {
    /// First, so it is dropped first: io_uring may write into the receive
    /// frames until it is gone.
    filler: Filler,
    /// Fills the receive ring (its consumer is the link's).
    fill: Producer<Arc<Mapping>>,
    /// Drains the transmit ring (its producer is the link's).
    drain: Consumer<Arc<Mapping>>,
}

/// The two ends of one in-process ring.
type RingEnds = (Producer<Arc<Mapping>>, Consumer<Arc<Mapping>>);

/// A ring pair over a fresh anonymous mapping, each frame holding
/// `headroom` bytes before a payload of `frame_message` bytes.
fn ring(frames: u32, frame_message: usize, headroom: usize) -> Result<RingEnds, ModeError> {
    let setup = |e: &dyn std::fmt::Display| ModeError::Setup(e.to_string());
    let geometry =
        Geometry::for_messages(frame_message + headroom, frames).map_err(|e| setup(&e))?;
    let mem = Arc::new(Mapping::anonymous(geometry.ring_size() + 64).map_err(|e| setup(&e))?);
    ring_ends(mem, geometry, headroom).map_err(|e| setup(&e))
}

/// Where a link's messages go and come from: the consumer of the receive
/// ring and the producer of the transmit ring.
pub(crate) type LinkEnds = (Consumer<Arc<Mapping>>, Producer<Arc<Mapping>>);

impl LocalFeed {
    /// Rings of `rx_frames` and `tx_frames` frames of `frame_message`
    /// payload bytes, the receive ring filled by `uring` if given, else by
    /// `recvmmsg` of up to `batch` datagrams. Returns the feed and the
    /// link's ends of the rings.
    pub(crate) fn new(
        uring: Option<UringFeed>,
        (rx_frames, tx_frames, frame_message): (u32, u32, usize),
        batch: usize,
    ) -> Result<(LocalFeed, LinkEnds), ModeError> {
        let (filler, headroom) = match uring {
            Some(uring) => (Filler::Uring(Box::new(uring)), crate::uring::HEADROOM),
            None => {
                let batch = batch.clamp(1, RECV_BATCH_MAX);
                let lent = VecDeque::with_capacity(batch);
                (Filler::Copy { lent, batch }, 0)
            }
        };
        let (fill, rx) = ring(rx_frames, frame_message, headroom)?;
        let (tx, drain) = ring(tx_frames, frame_message, 0)?;
        let feed = LocalFeed {
            filler,
            fill,
            drain,
        };
        Ok((feed, (rx, tx)))
    }

    /// Moves received datagrams into free receive frames, without
    /// blocking (in uring mode: also lends the free frames to the kernel);
    /// returns how many.
    pub(crate) fn fill(&mut self, socket: &NetlinkSocket) -> Result<usize, LinkError> {
        match &mut self.filler {
            Filler::Uring(uring) => uring.fill(socket, &mut self.fill),
            Filler::Copy { lent, batch } => copy_fill(socket, &mut self.fill, lent, *batch),
        }
    }

    /// Waits up to `timeout` for something to receive; `false` on timeout.
    pub(crate) fn wait(
        &mut self,
        socket: &NetlinkSocket,
        timeout: Option<Duration>,
    ) -> Result<bool, LinkError> {
        // In uring mode: frames the kernel filled, or a receive to re-arm.
        if matches!(self.filler, Filler::Uring(_)) && self.fill(socket)? > 0 {
            return Ok(true);
        }
        match &mut self.filler {
            Filler::Uring(uring) => uring.wait(timeout),
            Filler::Copy { .. } => Ok(!poll_socket(socket, PollFlags::IN, timeout)?.is_empty()),
        }
    }

    /// The io_uring instance in uring mode (it polls readable when
    /// received datagrams are waiting), the socket in copy mode.
    pub(crate) fn fd<'a>(&'a self, socket: &'a NetlinkSocket) -> BorrowedFd<'a> {
        match &self.filler {
            Filler::Uring(uring) => uring.fd(),
            Filler::Copy { .. } => socket.as_fd(),
        }
    }

    /// Sends every committed transmit frame: one `sendmsg` with an iovec per
    /// frame (the kernel processes the messages in order), split only where
    /// the socket's send buffer would be exceeded; a frame whose length is
    /// not a multiple of 4 is padded, so the next frame's message starts
    /// where the kernel looks for it. A frame committed as COPY has no
    /// bytes here to send: it is dropped and reported, after the frames
    /// around it are sent. A failed `sendmsg` loses nothing: it is
    /// returned, the frames sent before it are released, and its frames
    /// and all after them stay committed, to go with the next flush (the
    /// kernel takes a datagram whole or not at all).
    pub(crate) fn flush(&mut self, socket: &NetlinkSocket) -> Result<(), LinkError> {
        let limit = socket.max_datagram();
        let mut copies = 0;
        loop {
            let batch = self.drain.batch(ringlink_core::BATCH_MAX);
            if batch.is_empty() {
                drop(batch);
                // A batch stops at anything but a plain VALID frame.
                match self.drain.next()? {
                    None => return copy_refused(copies),
                    Some(frame) if frame.is_copy() => copies += 1,
                    Some(frame) => {
                        if let Err(e) = send(socket, &[IoSlice::new(frame.payload())]) {
                            frame.put_back();
                            return Err(e);
                        }
                    }
                }
                continue;
            }
            let datagrams = datagrams(batch.payloads(), limit);
            let mut sent = 0;
            let mut failed = None;
            for (iov, frames) in &datagrams {
                if let Err(e) = send(socket, iov) {
                    failed = Some(e);
                    break;
                }
                sent += frames;
            }
            drop(datagrams);
            if let Some(e) = failed {
                batch.release_first(sent);
                return Err(e);
            }
        }
    }
}

/// Splits a batch's payloads into datagrams of at most `limit` bytes
/// (unless one payload alone is larger): each as its iovecs, every
/// payload padded to netlink's 4-byte alignment, and how many frames it
/// carries (an empty frame, an aborted reservation, rides along).
fn datagrams<'a>(
    payloads: impl Iterator<Item = &'a [u8]>,
    limit: usize,
) -> Vec<(Vec<IoSlice<'a>>, usize)> {
    let mut datagrams = Vec::new();
    let (mut iov, mut frames, mut size) = (Vec::new(), 0, 0);
    for payload in payloads {
        let padded = crate::attr::align(payload.len());
        if size + padded > limit && !iov.is_empty() {
            datagrams.push((std::mem::take(&mut iov), frames));
            (frames, size) = (0, 0);
        }
        frames += 1;
        if !payload.is_empty() {
            size += padded;
            iov.push(IoSlice::new(payload));
            let pad = &PAD[..padded - payload.len()];
            if !pad.is_empty() {
                iov.push(IoSlice::new(pad));
            }
        }
    }
    datagrams.push((iov, frames));
    datagrams
}

/// Zeros to pad a frame to netlink's 4-byte alignment.
const PAD: [u8; 3] = [0; 3];

/// One `sendmsg` of `iov` to the kernel (none if `iov` is empty).
fn send(socket: &NetlinkSocket, iov: &[IoSlice<'_>]) -> Result<(), LinkError> {
    if iov.is_empty() {
        return Ok(());
    }
    socket.send_vectored(iov).map_err(|e| {
        LinkError::io(
            "sending to the kernel (the frames not sent stay committed: flush again to \
             send them)",
            e,
        )
    })
}

/// The error for `copies` transmit frames committed as COPY (none: `Ok`).
pub(crate) fn copy_refused(copies: usize) -> Result<(), LinkError> {
    match copies {
        0 => Ok(()),
        n => Err(LinkError::Protocol(format!(
            "{n} transmit frame(s) were committed as COPY, a message a netlink link has no \
             out-of-band path for: the frames were given up; send a message larger than a \
             frame with try_send or send, which send it after the committed frames"
        ))),
    }
}

/// Copy mode: lends free frames up to `batch`, receives into them with one
/// `recvmmsg`, and publishes what arrived.
fn copy_fill(
    socket: &NetlinkSocket,
    rx: &mut Producer<Arc<Mapping>>,
    lent: &mut VecDeque<LentFrame>,
    batch: usize,
) -> Result<usize, LinkError> {
    while lent.len() < batch {
        match rx.lend()? {
            Some(frame) => lent.push_back(frame),
            None => break,
        }
    }
    let mut bufs: [IoSliceMut<'_>; RECV_BATCH_MAX] =
        std::array::from_fn(|_| IoSliceMut::new(&mut []));
    for (buf, frame) in bufs.iter_mut().zip(lent.iter()) {
        // SAFETY: a lent frame's data area is this side's until published
        // (see `LentFrame`), nothing else reads or writes it meanwhile, and
        // lent frames are distinct; the slices die with this call.
        *buf = IoSliceMut::new(unsafe {
            std::slice::from_raw_parts_mut(frame.as_mut_ptr(), frame.len())
        });
    }
    let mut got = [Received::default(); RECV_BATCH_MAX];
    let n = socket.try_recv_batch(&mut bufs[..lent.len()], &mut got)?;
    let mut cut = None;
    for received in &got[..n] {
        let frame = lent.pop_front();
        if received.truncated {
            // Not data: published empty (the reader skips it), and the
            // datagrams after it are still handed over; then the error.
            rx.publish_lent(0, received.meta)?;
            cut = frame.map(|f| crate::socket::cut(f.len()));
        } else {
            rx.publish_lent(received.len, received.meta)?;
        }
    }
    cut.map_or(Ok(n), Err)
}
