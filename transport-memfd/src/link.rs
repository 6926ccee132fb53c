//! One end of a memfd link: it sends on one ring and receives on the other,
//! through the shared API ([`FrameSender`], [`FrameReceiver`]).

use crate::control::{Layout, PADDING, PAYLOAD_OFFSET, Side};
use crate::error::SetupError;
use crate::handshake;
use crate::segment::{self, Mapping};
use crate::wake::{self, Wake};
use ringlink_core::{
    AtHand, Consumer, Corruption, Deadline, FrameReceiver, FrameSender, Geometry, LinkError,
    Message, Producer, Ring, RingError, SpinPolicy, WriteGuard, wait_until,
};
use rkyv::util::AlignedVec;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;
use rustix::net::{RecvAncillaryBuffer, RecvFlags, SendFlags};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering::Release;
use std::time::Duration;

/// Whether to trust the peer not to change a message while it is read.
///
/// The default is [`Trust::Untrusted`]: each message is copied out of the
/// shared frame before the caller sees it, so validation (e.g.
/// `typed::access`) and use see the same bytes whatever the peer does; a
/// peer that rewrote a frame between the two could otherwise turn a
/// validated archive into an out-of-bounds read. [`Trust::Peer`] hands out
/// the frame itself (zero copy) and is for peers you control, such as your
/// own processes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Trust {
    /// Copy each message out before handing it over.
    #[default]
    Untrusted,
    /// Read messages in place, in the shared frame.
    Peer,
}

/// How a link is set up.
#[derive(Clone, Debug)]
pub struct LinkOptions {
    /// Largest message a frame holds; larger ones go out of band (COPY).
    /// Used by the creating side for both rings.
    pub frame_message: usize,
    /// Frames per ring, exactly (one block of them).
    pub frames: u32,
    /// Largest message at all (the out-of-band path's limit), as far as
    /// the link socket's send buffer carries it: without `CAP_NET_ADMIN`
    /// the buffer is capped by `net.core.wmem_max` (by default 212,992
    /// bytes, which carry messages of about 206 KiB). `max_message` of
    /// `FrameSender` gives the limit granted.
    pub max_message: usize,
    /// Spinning before a wait parks.
    pub spin: SpinPolicy,
    /// Whether messages are read in place.
    pub trust: Trust,
    /// How long the accepting side waits for the creator's handshake.
    pub handshake_timeout: Duration,
}

impl Default for LinkOptions {
    /// 4 KiB frames (4,032-byte messages in place), 256 per direction,
    /// messages up to 1 MiB (where the socket carries them: see
    /// `max_message`), untrusted peer, the core's default spin.
    fn default() -> Self {
        LinkOptions {
            frame_message: 4096 - PAYLOAD_OFFSET,
            frames: 256,
            max_message: 1 << 20,
            spin: SpinPolicy::default(),
            trust: Trust::default(),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// One end of a memfd link.
pub struct Link {
    tx: Producer<Arc<Mapping>>,
    rx: Consumer<Arc<Mapping>>,
    mapping: Arc<Mapping>,
    /// The socket and memfd (links made over a socket).
    channel: Option<Channel>,
    wake: Wake,
    side: Side,
    spin: SpinPolicy,
    trust: Trust,
    max_message: usize,
    /// Out-of-band messages and private copies land here, at the same
    /// offset modulo 16 as a frame payload, so typed messages stay aligned.
    buf: AlignedVec<16>,
    /// Empty polls since the last look at the socket for a hang-up.
    idle_polls: u32,
    /// Corrupt frames in a row met after the peer was gone.
    corrupt_since_gone: u64,
    /// The last out-of-band send found the socket full.
    socket_full: bool,
}

/// The descriptors a link is made of.
struct LinkFds {
    socket: OwnedFd,
    segment: OwnedFd,
    /// This side's eventfd.
    own: OwnedFd,
    /// The peer's eventfd.
    peer: OwnedFd,
}

/// The socket side of a link made over a socket (none for named segments).
pub(crate) struct Channel {
    /// Carries out-of-band messages; hangs up when the peer dies.
    socket: OwnedFd,
    /// The sealed memfd behind the mapping.
    segment: OwnedFd,
}

/// Longest stretch a wait goes without looking for a dead peer.
const HANGUP_SLICE: Duration = Duration::from_millis(10);

/// Empty polls between two checks for a dead peer by a caller that polls
/// without waiting (waits notice a hang-up at once).
const HANGUP_CHECK_EVERY: u32 = 1 << 16;

impl Link {
    /// Creates a segment, offers it over `socket` and becomes side A.
    pub(crate) fn create_on(socket: OwnedFd, options: &LinkOptions) -> Result<Link, SetupError> {
        let layout = layout(options)?;
        let (segment, mapping) = segment::create(&layout)?;
        let own = wake::new_eventfd().map_err(|e| SetupError::io("creating an eventfd", e))?;
        let peer = wake::new_eventfd().map_err(|e| SetupError::io("creating an eventfd", e))?;
        handshake::send(socket.as_fd(), [segment.as_fd(), peer.as_fd(), own.as_fd()])?;
        let fds = LinkFds {
            socket,
            segment,
            own,
            peer,
        };
        Link::over_socket(Side::A, fds, Arc::new(mapping), &layout, options)
    }

    /// Receives a segment offered over `socket`, validates it, and becomes
    /// side B.
    pub(crate) fn accept_on(socket: OwnedFd, options: &LinkOptions) -> Result<Link, SetupError> {
        let offer = handshake::receive(socket.as_fd(), options.handshake_timeout)?;
        let (segment, layout, mapping) = segment::open(offer.segment)?;
        let fds = LinkFds {
            socket,
            segment,
            own: offer.acceptor_wake,
            peer: offer.creator_wake,
        };
        Link::over_socket(Side::B, fds, Arc::new(mapping), &layout, options)
    }

    fn over_socket(
        side: Side,
        fds: LinkFds,
        mapping: Arc<Mapping>,
        layout: &Layout,
        options: &LinkOptions,
    ) -> Result<Link, SetupError> {
        let LinkFds {
            socket,
            segment,
            own,
            peer,
        } = fds;
        let max_message = size_socket(socket.as_fd(), options.max_message)?;
        let wake = Wake::events(mapping.clone(), side, own, peer, socket.as_fd())
            .map_err(|e| SetupError::io("setting up wake-ups", e))?;
        let channel = Some(Channel { socket, segment });
        Link::assemble(side, channel, wake, mapping, layout, options, max_message)
    }

    /// Puts a link together over a mapped, validated segment.
    pub(crate) fn assemble(
        side: Side,
        channel: Option<Channel>,
        wake: Wake,
        mapping: Arc<Mapping>,
        layout: &Layout,
        options: &LinkOptions,
        max_message: usize,
    ) -> Result<Link, SetupError> {
        let ring = |i: usize| -> Result<Ring<Arc<Mapping>>, SetupError> {
            let cursor = mapping.offset_of(&mapping.control().cursors[i]);
            let ring = Ring::new(
                mapping.clone(),
                layout.offsets[i] as usize,
                layout.geometries[i],
            )?;
            Ok(ring.with_skip_cursor(cursor)?.with_headroom(PADDING)?)
        };
        let (send_ring, receive_ring) = (ring(side.index())?, ring(side.peer().index())?);
        mapping.control().sides[side.index()]
            .pid
            .store(std::process::id(), Release);
        if options.spin == SpinPolicy::BUSY {
            wake.never_park();
        }
        Ok(Link {
            tx: Producer::new(send_ring),
            rx: Consumer::new(receive_ring),
            mapping,
            channel,
            wake,
            side,
            spin: options.spin,
            trust: options.trust,
            max_message,
            buf: AlignedVec::new(),
            idle_polls: 0,
            corrupt_since_gone: 0,
            socket_full: false,
        })
    }

    /// Which end of the link this is (A created the segment).
    pub fn side(&self) -> Side {
        self.side
    }

    /// Arms the pollable fd ([`FrameReceiver::pollable_fd`]) for an event
    /// loop (epoll, mio, tokio): announces that this side is about to wait
    /// on it, so the peer's next flush makes it readable.
    ///
    /// Returns `false`, disarmed again, when messages (or a hang-up) are
    /// already there: drain them with `next` and arm again. Returns `true`
    /// when armed: wait for the fd, then call [`Link::disarm`] and drain.
    ///
    /// While armed, every flush of the peer costs it a system call; under
    /// load, drain and stay disarmed. A link that spins with
    /// [`SpinPolicy::BUSY`] never sleeps, is never woken, and so never arms:
    /// this returns `false` (poll it).
    pub fn arm(&self) -> bool {
        if !self.wake.parks() {
            return false;
        }
        self.wake.arm();
        if self.rx.has_pending() || self.peer_gone() {
            self.wake.disarm();
            return false;
        }
        true
    }

    /// Ends an [`Link::arm`]: call it when the fd fired (or the wait is
    /// abandoned), before draining with `next`.
    pub fn disarm(&self) {
        self.wake.disarm();
    }

    /// The sealed memfd behind the link (to inspect its seals or size);
    /// `None` for a named segment.
    pub fn segment(&self) -> Option<BorrowedFd<'_>> {
        self.channel.as_ref().map(|c| c.segment.as_fd())
    }

    /// Whether the peer is known to be gone: it closed the link, or its
    /// socket hung up (it exited or was killed).
    #[inline]
    fn peer_gone(&self) -> bool {
        self.wake.peer_gone()
    }

    /// Waits until `ready` (or the peer is gone), in slices of at most
    /// [`HANGUP_SLICE`] with a look for a dead peer between them, so that
    /// even a wait that never parks notices one. `Ok(false)` at the timeout.
    fn wait_in_slices(
        &self,
        timeout: Option<Duration>,
        ready: impl Fn(&Link) -> bool,
    ) -> Result<bool, LinkError> {
        let deadline = Deadline::new(timeout);
        loop {
            let slice = match deadline.remaining() {
                Ok(left) => left.map_or(HANGUP_SLICE, |l| l.min(HANGUP_SLICE)),
                Err(_) => return Ok(false),
            };
            let done = wait_until(&self.wake, self.spin, Some(slice), || {
                ready(self) || self.wake.peer_gone()
            })
            .map_err(|e| LinkError::io("waiting on the link", e))?;
            if done || self.check_hangup() {
                return Ok(true);
            }
        }
    }

    /// Waits until the socket has room for an out-of-band message again
    /// (the peer took some), or the peer hangs up; `Ok(false)` at the
    /// timeout.
    fn wait_socket_writable(&mut self, timeout: Option<Duration>) -> Result<bool, LinkError> {
        use ringlink_core::Notifier;
        // The peer makes room by reaching the COPY frames: wake it.
        self.wake
            .notify()
            .map_err(|e| LinkError::io("waking the peer", e))?;
        let Some(channel) = &self.channel else {
            return Ok(true);
        };
        let timeout = timeout.map(|t| rustix::time::Timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        let mut fds = [PollFd::new(
            &channel.socket,
            PollFlags::OUT | PollFlags::RDHUP,
        )];
        let ready = match poll(&mut fds, timeout.as_ref()) {
            Ok(n) => n > 0,
            Err(Errno::INTR) => false,
            Err(e) => return Err(LinkError::io("waiting for room in the link socket", e)),
        };
        let hang_up = PollFlags::HUP | PollFlags::RDHUP | PollFlags::ERR;
        if fds[0].revents().intersects(hang_up) {
            self.wake.mark_peer_gone();
        }
        if self.peer_gone() {
            return Err(LinkError::Disconnected);
        }
        Ok(ready)
    }

    /// Looks for a dead peer: a hang-up of the socket, or for a named
    /// segment, the peer's process gone (one system call either way).
    fn check_hangup(&self) -> bool {
        match &self.channel {
            Some(channel) => {
                let mut fds = [PollFd::new(&channel.socket, PollFlags::RDHUP)];
                let zero = rustix::time::Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                if let Ok(1..) = poll(&mut fds, Some(&zero)) {
                    let hang_up = PollFlags::HUP | PollFlags::RDHUP | PollFlags::ERR;
                    if fds[0].revents().intersects(hang_up) {
                        self.wake.mark_peer_gone();
                    }
                }
            }
            None => self.wake.check_peer_process(),
        }
        self.peer_gone()
    }
}

/// The segment layout `options` ask for: the same geometry both ways,
/// frames with room for `frame_message` bytes after [`PAYLOAD_OFFSET`].
pub(crate) fn layout(options: &LinkOptions) -> Result<Layout, SetupError> {
    let message = options.frame_message.saturating_add(PADDING);
    let geometry = Geometry::exact(message, options.frames)?;
    Layout::new(geometry, geometry)
}

/// Makes `socket`'s buffers large enough for out-of-band messages of
/// `wanted` bytes where the system allows; returns the largest message the
/// socket then carries.
fn size_socket(socket: BorrowedFd<'_>, wanted: usize) -> Result<usize, SetupError> {
    use rustix::net::sockopt;
    let want = wanted.saturating_mul(2).saturating_add(64 << 10);
    // The forced variants need CAP_NET_ADMIN; the plain ones are capped by
    // the system's wmem_max/rmem_max.
    if sockopt::set_socket_send_buffer_size_force(socket, want).is_err() {
        let _ = sockopt::set_socket_send_buffer_size(socket, want);
    }
    if sockopt::set_socket_recv_buffer_size_force(socket, want).is_err() {
        let _ = sockopt::set_socket_recv_buffer_size(socket, want);
    }
    let send = sockopt::socket_send_buffer_size(socket)
        .map_err(|e| SetupError::io("reading the link socket's send buffer size", e))?;
    // A datagram must fit the send buffer with its bookkeeping.
    Ok(wanted.min(send.saturating_sub(4096) / 2))
}

impl FrameSender for Link {
    type Memory = Arc<Mapping>;

    #[inline]
    fn reserve(&mut self) -> Result<Option<WriteGuard<'_, Self::Memory>>, LinkError> {
        if self.peer_gone() {
            return Err(LinkError::Disconnected);
        }
        Ok(self.tx.reserve()?)
    }

    #[inline]
    fn flush(&mut self) -> Result<(), LinkError> {
        use ringlink_core::Notifier;
        self.wake
            .notify()
            .map_err(|e| LinkError::io("waking the peer", e))
    }

    fn wait_writable(&mut self, timeout: Option<Duration>) -> Result<bool, LinkError> {
        if std::mem::take(&mut self.socket_full) {
            return self.wait_socket_writable(timeout);
        }
        // No flush needed first: before parking, the wait wakes a sleeping
        // consumer itself.
        let ready = self.wait_in_slices(timeout, |link| link.tx.has_room())?;
        if self.peer_gone() {
            return Err(LinkError::Disconnected);
        }
        Ok(ready)
    }

    fn frame_capacity(&self) -> usize {
        self.tx.ring().capacity()
    }

    fn frame_count(&self) -> u32 {
        self.tx.ring().frame_nr()
    }

    fn max_message(&self) -> usize {
        self.max_message.max(self.frame_capacity())
    }

    fn send_out_of_band(&mut self, msg: &[u8]) -> Result<bool, LinkError> {
        if msg.len() > self.max_message() {
            return Err(LinkError::TooLarge {
                len: msg.len(),
                max: self.max_message(),
            });
        }
        if self.peer_gone() {
            return Err(LinkError::Disconnected);
        }
        let Some(channel) = &self.channel else {
            return Err(LinkError::TooLarge {
                len: msg.len(),
                max: self.max_message(),
            });
        };
        let Some(frame) = self.tx.reserve()? else {
            return Ok(false);
        };
        let mut control = Default::default();
        let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
        // The bytes go out before the COPY status is published, so the
        // receiver finds them queued when it reaches the frame.
        match rustix::net::sendmsg(&channel.socket, &[IoSlice::new(msg)], &mut control, flags) {
            Ok(n) if n == msg.len() => {
                frame.commit_copy(msg.len() as u32);
                Ok(true)
            }
            Ok(n) => {
                frame.abort();
                Err(LinkError::Protocol(format!(
                    "the socket took {n} of {} bytes",
                    msg.len()
                )))
            }
            Err(Errno::AGAIN) => {
                // The socket is full: the peer has yet to take the messages
                // before this one. Not a failed message, so no empty frame
                // is published for it (a retry loop would fill the ring with
                // them): the frame goes back unpublished, and
                // `wait_writable` waits for room in the socket.
                frame.cancel();
                self.socket_full = true;
                Ok(false)
            }
            Err(Errno::PIPE | Errno::CONNRESET) => {
                frame.abort();
                self.wake.mark_peer_gone();
                Err(LinkError::Disconnected)
            }
            Err(e) => {
                frame.abort();
                Err(LinkError::io("sending an out-of-band message", e))
            }
        }
    }
}

impl FrameReceiver for Link {
    type Memory = Arc<Mapping>;

    #[inline]
    fn next(&mut self) -> Result<Option<Message<'_, Self::Memory>>, LinkError> {
        self.nudge()?;
        match self.in_place_at_hand() {
            Some(at_hand) => self.take_in_place(at_hand).map(Some),
            None => self.next_walking(),
        }
    }

    /// [`FrameReceiver::recv`] with the short path of [`Link::next`] first.
    #[inline]
    fn recv(&mut self, timeout: Option<Duration>) -> Result<Message<'_, Self::Memory>, LinkError> {
        if let Some(at_hand) = self.in_place_at_hand() {
            self.nudge()?;
            return self.take_in_place(at_hand);
        }
        ringlink_core::wait_and_take(self, timeout)
    }

    #[inline]
    fn poll(&mut self) -> Result<bool, LinkError> {
        // `next` decides about a gone peer before its own walk.
        Ok(self.rx.poll()? || self.peer_gone())
    }

    fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<bool, LinkError> {
        // A producer waiting for the room our releases made is woken by the
        // wait itself, before it parks.
        self.wait_in_slices(timeout, |link| link.rx.has_pending())
    }

    fn pollable_fd(&self) -> Option<BorrowedFd<'_>> {
        self.wake.pollable()
    }

    fn consumer(&self) -> &Consumer<Self::Memory> {
        &self.rx
    }

    fn consumer_mut(&mut self) -> &mut Consumer<Self::Memory> {
        &mut self.rx
    }
}

impl Link {
    /// Wakes a producer that sleeps waiting for room, if it announced so.
    #[inline]
    fn nudge(&self) -> Result<(), LinkError> {
        self.wake
            .nudge()
            .map_err(|e| LinkError::io("waking the peer", e))
    }

    /// The message read in place at the ring's position, if there is one,
    /// the common case under load: then whether the peer is gone does not
    /// matter, and the counts of idle polls and of corrupt frames start
    /// again.
    #[inline]
    fn in_place_at_hand(&mut self) -> Option<AtHand> {
        let at_hand = match self.trust {
            Trust::Peer => self.rx.message_at_hand()?,
            Trust::Untrusted => return None,
        };
        self.idle_polls = 0;
        self.corrupt_since_gone = 0;
        Some(at_hand)
    }

    /// Takes the message [`Link::in_place_at_hand`] found.
    #[inline]
    fn take_in_place(&mut self, at_hand: AtHand) -> Result<Message<'_, Arc<Mapping>>, LinkError> {
        self.rx
            .take_at_hand(at_hand)
            .map(Message::in_frame)
            .ok_or_else(ringlink_core::vanished)
    }

    /// [`FrameReceiver::next`] past its short path: looks for a dead peer,
    /// walks the ring, takes COPY frames' messages from the socket and
    /// copies untrusted ones out.
    fn next_walking(&mut self) -> Result<Option<Message<'_, Arc<Mapping>>>, LinkError> {
        // Decided before looking at the ring: every frame the peer
        // committed before it went is then seen by the walk below.
        let gone = self.peer_gone()
            || (self.idle_polls >= HANGUP_CHECK_EVERY && {
                self.idle_polls = 0;
                self.check_hangup()
            });
        // Once the peer is gone, the walk meets every frame it left at
        // least once a lap: as many corrupt frames in a row as two laps
        // hold means no committed message is left, only the peer's garbage
        // (which the walk steps over without clearing, and would report
        // again and again).
        if gone && self.corrupt_since_gone > 2 * u64::from(self.rx.ring().frame_nr()) {
            return Err(LinkError::Disconnected);
        }
        let frame = match self.rx.next() {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                self.idle_polls += 1;
                return match gone {
                    true => Err(LinkError::Disconnected),
                    false => Ok(None),
                };
            }
            Err(e) => {
                if gone {
                    self.corrupt_since_gone += 1;
                }
                return Err(e.into());
            }
        };
        self.corrupt_since_gone = 0;
        self.idle_polls = 0;
        // Frame payloads sit PAYLOAD_OFFSET bytes into 64-byte aligned
        // frames; copies keep that alignment modulo 16, so typed messages
        // read in place.
        let skew = PAYLOAD_OFFSET % 16;
        if frame.is_copy() {
            let (index, announced) = (frame.index(), frame.copy_len());
            let corrupt = |kind| LinkError::Ring(RingError::Corrupt { frame: index, kind });
            let Some(channel) = &self.channel else {
                // A named segment has no out-of-band path.
                return Err(corrupt(Corruption::CopyMissing));
            };
            let socket = channel.socket.as_fd();
            // The length is the peer's word: checked before it sizes
            // anything. The message, if one is queued, is dropped, so the
            // next COPY frame meets its own.
            if announced as usize > self.max_message {
                discard_out_of_band(socket)?;
                return Err(corrupt(Corruption::CopyTooLong {
                    len: announced,
                    max: self.max_message,
                }));
            }
            let room = room_at(&mut self.buf, skew, announced as usize);
            receive_out_of_band(socket, room).map_err(|e| match e {
                OutOfBand::Missing => corrupt(Corruption::CopyMissing),
                OutOfBand::Length(received) => corrupt(Corruption::CopyMismatch {
                    announced,
                    received,
                }),
                OutOfBand::Io(e) => LinkError::io("receiving an out-of-band message", e),
            })?;
            let len = announced as usize;
            return Ok(Some(Message::copied(frame, &self.buf[skew..skew + len])));
        }
        match self.trust {
            Trust::Peer => Ok(Some(Message::in_frame(frame))),
            Trust::Untrusted => {
                let len = frame.payload_len();
                frame.copy_payload_to(room_at(&mut self.buf, skew, len));
                Ok(Some(Message::copied(frame, &self.buf[skew..skew + len])))
            }
        }
    }
}

/// `len` bytes of `buf`, starting at `skew`.
fn room_at(buf: &mut AlignedVec<16>, skew: usize, len: usize) -> &mut [u8] {
    buf.clear();
    buf.resize(skew + len, 0);
    &mut buf[skew..]
}

/// Why an out-of-band message could not be received.
enum OutOfBand {
    /// None is queued.
    Missing,
    /// The one queued has this many bytes, not as many as announced.
    Length(usize),
    /// The socket failed.
    Io(Errno),
}

/// Receives the out-of-band message a COPY frame announced into `buf`,
/// which is exactly as long as announced. The datagram was queued before
/// the frame was published, so it must be there, whole, and of that length
/// (`MSG_TRUNC` makes the kernel tell its real length).
fn receive_out_of_band(socket: BorrowedFd<'_>, buf: &mut [u8]) -> Result<(), OutOfBand> {
    // No room for descriptors: any the peer attaches are closed by the kernel.
    let mut control = RecvAncillaryBuffer::default();
    let flags = RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC | RecvFlags::TRUNC;
    let expected = buf.len();
    let msg = rustix::net::recvmsg(socket, &mut [IoSliceMut::new(buf)], &mut control, flags)
        .map_err(|e| match e {
            Errno::AGAIN => OutOfBand::Missing,
            e => OutOfBand::Io(e),
        })?;
    if msg.bytes != expected {
        return Err(OutOfBand::Length(msg.bytes));
    }
    Ok(())
}

/// Drops the next queued out-of-band message, if any, without reading it.
fn discard_out_of_band(socket: BorrowedFd<'_>) -> Result<(), LinkError> {
    let mut control = RecvAncillaryBuffer::default();
    let flags = RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC | RecvFlags::TRUNC;
    match rustix::net::recvmsg(socket, &mut [], &mut control, flags) {
        Ok(_) | Err(Errno::AGAIN) => Ok(()),
        Err(e) => Err(LinkError::io(
            "dropping an oversized out-of-band message",
            e,
        )),
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.mapping.control().sides[self.side.index()]
            .closed
            .store(1, Release);
        // Best effort: a peer asleep also sees the socket hang up.
        let _ = self.flush();
    }
}
