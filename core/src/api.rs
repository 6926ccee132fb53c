//! The shared API every transport implements: user code moves between
//! transports by changing one constructor.

use crate::consumer::{Consumer, Deferred, ReadGuard};
use crate::error::LinkError;
use crate::memory::Memory;
use crate::producer::WriteGuard;
use std::ops::Deref;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

/// The sending half of a link: build messages in frames, then flush.
pub trait FrameSender {
    /// The memory the sending ring lives in.
    type Memory: Memory;

    /// Reserves the next free frame to build a message in place;
    /// `Ok(None)` when the ring is full (flush, then wait or retry).
    fn reserve(&mut self) -> Result<Option<WriteGuard<'_, Self::Memory>>, LinkError>;

    /// Hands every committed frame to the peer: wakes a sleeping peer
    /// (memfd) or transmits them in one system call (netlink). Commit many
    /// frames, flush once.
    fn flush(&mut self) -> Result<(), LinkError>;

    /// Blocks until a frame may be free (`Ok(true)`) or `timeout` passes
    /// (`Ok(false)`). Flushes first, so the peer can make room.
    fn wait_writable(&mut self, timeout: Option<Duration>) -> Result<bool, LinkError>;

    /// Bytes one frame holds.
    fn frame_capacity(&self) -> usize;

    /// Number of frames in the sending ring.
    fn frame_count(&self) -> u32;

    /// Largest message [`FrameSender::try_send`] accepts; larger than
    /// [`FrameSender::frame_capacity`] when the transport has an
    /// out-of-band path.
    fn max_message(&self) -> usize {
        self.frame_capacity()
    }

    /// Sends a message larger than a frame out of band, marking its frame
    /// COPY. `Ok(false)` when the ring is full. Transports without an
    /// out-of-band path refuse it.
    fn send_out_of_band(&mut self, msg: &[u8]) -> Result<bool, LinkError> {
        Err(LinkError::TooLarge {
            len: msg.len(),
            max: self.max_message(),
        })
    }

    /// Copies `msg` into the next frame (or sends it out of band if larger
    /// than a frame) and commits it, without waiting and without flushing.
    /// `Ok(false)` when the ring is full: nothing was sent.
    fn try_send(&mut self, msg: &[u8]) -> Result<bool, LinkError> {
        if msg.len() > self.frame_capacity() {
            return self.send_out_of_band(msg);
        }
        match self.reserve()? {
            Some(frame) => {
                frame.write(msg)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Sends `msg`, waiting up to `timeout` for room, then flushes.
    fn send(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<(), LinkError> {
        let deadline = Deadline::new(timeout);
        while !self.try_send(msg)? {
            if !self.wait_writable(deadline.remaining()?)? {
                return Err(deadline.timed_out());
            }
        }
        self.flush()
    }
}

/// The receiving half of a link: take messages in order, release or defer.
pub trait FrameReceiver {
    /// The memory the receiving ring lives in.
    type Memory: Memory;

    /// The next message, `Ok(None)` if none is there yet; after the peer
    /// left and every message it committed was taken,
    /// `Err(LinkError::Disconnected)`.
    fn next(&mut self) -> Result<Option<Message<'_, Self::Memory>>, LinkError>;

    /// Whether [`FrameReceiver::next`] has something to return, without
    /// taking it. Corruption met on the way (a ring-level error) is returned
    /// by this call, once.
    fn poll(&mut self) -> Result<bool, LinkError>;

    /// Blocks until [`FrameReceiver::poll`] may be true (`Ok(true)`) or
    /// `timeout` passes (`Ok(false)`).
    fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<bool, LinkError>;

    /// A descriptor that polls readable when [`FrameReceiver::poll`] may be
    /// true, for epoll, mio or tokio (register it, then drain with `next`);
    /// `None` for transports without one (the in-process channel, whose
    /// threads wait with [`FrameReceiver::wait_readable`]).
    fn pollable_fd(&self) -> Option<BorrowedFd<'_>>;

    /// The ring consumer, for deferred handles and inspection.
    fn consumer(&self) -> &Consumer<Self::Memory>;

    /// The ring consumer, mutably.
    fn consumer_mut(&mut self) -> &mut Consumer<Self::Memory>;

    /// The bytes of a deferred message.
    fn deferred_payload<'a>(&'a self, handle: &'a Deferred) -> Result<&'a [u8], LinkError> {
        Ok(self.consumer().deferred_payload(handle)?)
    }

    /// Releases a deferred message, in any order.
    fn release(&mut self, handle: Deferred) -> Result<(), LinkError> {
        Ok(self.consumer_mut().release_deferred(handle)?)
    }

    /// Waits up to `timeout` for the next message.
    fn recv(&mut self, timeout: Option<Duration>) -> Result<Message<'_, Self::Memory>, LinkError> {
        wait_and_take(self, timeout)
    }
}

/// [`FrameReceiver::recv`] as every transport may do it: polls, waits up
/// to `timeout` while nothing is there, then takes the next message. For
/// transports whose own `recv` has a shorter path first.
pub fn wait_and_take<R: FrameReceiver + ?Sized>(
    rx: &mut R,
    timeout: Option<Duration>,
) -> Result<Message<'_, R::Memory>, LinkError> {
    // The deadline starts only when there is something to wait for.
    if !rx.poll()? {
        let deadline = Deadline::new(timeout);
        loop {
            if !rx.wait_readable(deadline.remaining()?)? {
                return Err(deadline.timed_out());
            }
            if rx.poll()? {
                break;
            }
        }
    }
    rx.next()?.ok_or_else(vanished)
}

/// The error for a message that [`FrameReceiver::poll`] or
/// [`crate::Consumer::has_message`] saw and the taking did not find: only
/// a peer rewriting the frame in between does that.
pub fn vanished() -> LinkError {
    LinkError::Protocol("a message seen at the ring's position vanished before it was taken".into())
}

/// A received message: its bytes in the frame, or in a buffer of the
/// transport's (a COPY frame's out-of-band bytes, or a private copy of the
/// frame). Dropping it releases the frame.
pub struct Message<'a, M: Memory> {
    frame: ReadGuard<'a, M>,
    copied: Option<&'a [u8]>,
}

impl<'a, M: Memory> Message<'a, M> {
    /// A message read in place from its frame.
    pub fn in_frame(frame: ReadGuard<'a, M>) -> Self {
        Message {
            frame,
            copied: None,
        }
    }

    /// A message whose bytes are in `bytes`: a COPY frame's out-of-band
    /// message, or a private copy of the frame's payload.
    pub fn copied(frame: ReadGuard<'a, M>, bytes: &'a [u8]) -> Self {
        Message {
            frame,
            copied: Some(bytes),
        }
    }

    /// The frame the message came in.
    pub fn frame(&self) -> &ReadGuard<'a, M> {
        &self.frame
    }

    /// Whether the bytes came out of band (COPY).
    pub fn is_copy(&self) -> bool {
        self.frame.is_copy()
    }

    /// Defers the message: its frame stays SKIP until the handle is
    /// released. Refused (the message comes back) when the ring cannot spare
    /// another frame ([`Consumer::can_defer`]).
    pub fn defer(self) -> Result<Deferred, Self> {
        let copied = self.copied;
        match self.frame.defer() {
            Ok(mut handle) => {
                if let Some(bytes) = copied {
                    handle.attach_bytes(bytes.into());
                }
                Ok(handle)
            }
            Err(frame) => Err(Message { frame, copied }),
        }
    }
}

impl<M: Memory> Deref for Message<'_, M> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.copied.unwrap_or_else(|| self.frame.payload())
    }
}

/// A timeout turned into a deadline, for wait loops.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    /// When the wait started and how long it may last; `None`: forever
    /// (and no clock read on the hot path).
    limit: Option<(Instant, Duration)>,
}

impl Deadline {
    /// A deadline `timeout` from now (`None`: never).
    pub fn new(timeout: Option<Duration>) -> Deadline {
        Deadline {
            limit: timeout.map(|t| (Instant::now(), t)),
        }
    }

    /// Time left; `Err(TimedOut)` once it has passed.
    pub fn remaining(&self) -> Result<Option<Duration>, LinkError> {
        match self.limit {
            None => Ok(None),
            Some((start, t)) => match t.checked_sub(start.elapsed()) {
                Some(left) if !left.is_zero() => Ok(Some(left)),
                _ => Err(self.timed_out()),
            },
        }
    }

    /// The error for this deadline having passed.
    pub fn timed_out(&self) -> LinkError {
        LinkError::TimedOut {
            waited: self
                .limit
                .map_or(Duration::ZERO, |(start, _)| start.elapsed()),
        }
    }
}
