//! A netlink socket behind the shared ring API: the receive ring is filled
//! from the socket, the transmit ring is sent with one `sendmsg` per flush,
//! an iovec per frame.
//!
//! Three modes would fill the rings: the kernel's own mapped rings
//! (`NETLINK_RX_RING`, Linux 3.10–4.5), io_uring, and plain copies. The mode
//! is chosen by probing, never by kernel version, can be forced by the
//! caller or by `RINGLINK_NETLINK_MODE=mapped|uring|copy`, and is reported.
//! The mapped mode cannot run on Linux 4.6 and later, which refuse the
//! rings; the report ([`ModeReport`]) says which mode runs and why.

use crate::mapping::Mapping;
use crate::socket::{NetlinkSocket, RECV_BATCH_MAX, Received};
use crate::uring::UringFeed;
use ringlink_core::{
    Consumer, FrameReceiver, FrameSender, Geometry, LentFrame, LinkError, Message, Producer, Ring,
    WriteGuard,
};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;
use std::collections::VecDeque;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// The environment variable that forces a mode.
pub const MODE_VAR: &str = "RINGLINK_NETLINK_MODE";

/// How the rings are fed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The kernel's own memory-mapped rings (Linux 3.10–4.5).
    Mapped,
    /// io_uring multishot receive into the frames.
    Uring,
    /// Receives copied into the frames (`recvmmsg`).
    Copy,
}

impl std::str::FromStr for Mode {
    type Err = ModeError;
    fn from_str(text: &str) -> Result<Mode, ModeError> {
        match text {
            "mapped" => Ok(Mode::Mapped),
            "uring" => Ok(Mode::Uring),
            "copy" => Ok(Mode::Copy),
            other => Err(ModeError::Unknown(other.to_string())),
        }
    }
}

/// A mode that cannot be had.
#[derive(Debug, Error)]
pub enum ModeError {
    /// Not one of mapped, uring, copy.
    #[error("unknown netlink mode {0:?}: use mapped, uring or copy")]
    Unknown(String),
    /// The mode was asked for but this kernel or build cannot run it.
    #[error("netlink mode {mode:?} was asked for ({by}) but is unavailable: {why}")]
    Unavailable {
        /// The mode asked for.
        mode: Mode,
        /// Who asked: the caller or the environment.
        by: &'static str,
        /// Why it cannot run.
        why: String,
    },
    /// Setting up the socket or the rings failed.
    #[error("setting up the netlink link: {0}")]
    Setup(String),
}

/// Which mode a link runs in, and why the others were not taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModeReport {
    /// The mode in use.
    pub mode: Mode,
    /// What the probes found, one line each.
    pub reasons: Vec<String>,
}

impl std::fmt::Display for ModeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} mode ({})", self.mode, self.reasons.join("; "))
    }
}

/// How a netlink link is set up.
#[derive(Clone, Debug)]
pub struct NetlinkOptions {
    /// The netlink protocol (e.g. `socket::NETLINK_ROUTE`).
    pub protocol: i32,
    /// Frames in the receive ring.
    pub rx_frames: u32,
    /// Frames in the transmit ring.
    pub tx_frames: u32,
    /// Payload bytes per frame: at least the largest datagram, so none is
    /// ever truncated (dumps: 32 KiB; nfqueue: 64 KiB and metadata).
    pub frame_message: usize,
    /// A mode to use instead of probing (the environment variable wins).
    pub mode: Option<Mode>,
    /// Multicast groups to join (e.g. `RTNLGRP_IPV4_ROUTE` = 7), for
    /// monitors.
    pub groups: Vec<u32>,
    /// Socket receive buffer to ask for; `None` for the default (8 MiB,
    /// forced when allowed). Small buffers overrun under event floods.
    pub receive_buffer: Option<usize>,
    /// Copy mode: datagrams moved into the ring per `recvmmsg` (at most
    /// 32). Few keep large datagrams in cache until read (dumps: 2); more
    /// save system calls on small ones (queued packets: 16).
    pub receive_batch: usize,
}

impl Default for NetlinkOptions {
    fn default() -> Self {
        NetlinkOptions {
            protocol: crate::socket::NETLINK_ROUTE,
            rx_frames: 64,
            tx_frames: 64,
            frame_message: 32 << 10,
            mode: None,
            groups: Vec::new(),
            receive_buffer: None,
            receive_batch: 2,
        }
    }
}

/// What fills the receive ring: the kernel's role in mapped mode.
enum Feed {
    /// `recvmmsg` into lent frames, oldest first.
    Copy(VecDeque<LentFrame>),
    /// io_uring receives into lent frames.
    Uring(Box<UringFeed>),
}

/// A netlink socket with a receive ring and a transmit ring.
pub struct NetlinkLink {
    /// First, so it is dropped first: the kernel may write into the receive
    /// frames until it is gone.
    feed: Feed,
    socket: NetlinkSocket,
    report: ModeReport,
    /// Fills the receive ring.
    rx_fill: Producer<Arc<Mapping>>,
    rx: Consumer<Arc<Mapping>>,
    tx: Producer<Arc<Mapping>>,
    /// Drains the transmit ring into `sendmsg` (the kernel's role).
    tx_drain: Consumer<Arc<Mapping>>,
    /// Datagrams per `recvmmsg` in copy mode.
    receive_batch: usize,
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
    let make = || {
        Ring::new(mem.clone(), 0, geometry)
            .and_then(|r| r.with_skip_cursor(geometry.ring_size()))
            .and_then(|r| r.with_headroom(headroom))
            .map_err(|e| setup(&e))
    };
    Ok((Producer::new(make()?), Consumer::new(make()?)))
}

impl NetlinkLink {
    /// Opens a socket of `options.protocol` and picks a mode: the one in
    /// [`MODE_VAR`], else `options.mode`, else the best the probes allow.
    pub fn open(options: &NetlinkOptions) -> Result<NetlinkLink, ModeError> {
        let mut socket =
            NetlinkSocket::open(options.protocol).map_err(|e| ModeError::Setup(e.to_string()))?;
        if let Some(size) = options.receive_buffer {
            socket.set_receive_buffer(size).map_err(|e| {
                ModeError::Setup(format!("setting a {size}-byte receive buffer: {e}"))
            })?;
        }
        for &group in &options.groups {
            socket
                .join_group(group)
                .map_err(|e| ModeError::Setup(format!("joining multicast group {group}: {e}")))?;
        }
        let requested = match std::env::var(MODE_VAR) {
            Ok(text) => Some((text.parse::<Mode>()?, "environment")),
            Err(_) => options.mode.map(|m| (m, "caller")),
        };
        let mapped = crate::mapped::probe(socket.as_fd()).map_err(|e| e.to_string());
        let uring = match requested {
            Some((Mode::Mapped | Mode::Copy, _)) => {
                Err("not probed: another mode was asked for".into())
            }
            _ => UringFeed::new(&socket, options.rx_frames)
                .map_err(|e| format!("io_uring refused: {e}")),
        };
        let report = choose(
            &mapped,
            uring.as_ref().map(drop).map_err(Clone::clone),
            requested,
        )?;
        let (feed, headroom) = match (report.mode, uring) {
            (Mode::Uring, Ok(uring)) => (Feed::Uring(Box::new(uring)), crate::uring::HEADROOM),
            _ => (Feed::Copy(VecDeque::new()), 0),
        };
        let (rx_fill, rx) = ring(options.rx_frames, options.frame_message, headroom)?;
        let (tx, tx_drain) = ring(options.tx_frames, options.frame_message, 0)?;
        let mut link = NetlinkLink {
            feed,
            socket,
            report,
            rx_fill,
            rx,
            tx,
            tx_drain,
            receive_batch: options.receive_batch.clamp(1, RECV_BATCH_MAX),
        };
        // Lends the receive frames to the kernel in uring mode.
        link.fill().map_err(|e| ModeError::Setup(e.to_string()))?;
        Ok(link)
    }

    /// Sets the socket's receive buffer (forced when allowed), e.g. larger
    /// after an overrun, before the resynchronising dump.
    pub fn set_receive_buffer(&mut self, size: usize) -> std::io::Result<()> {
        self.socket.set_receive_buffer(size)
    }

    /// The mode in use and why.
    pub fn mode(&self) -> &ModeReport {
        &self.report
    }

    /// The socket's port id.
    pub fn port(&self) -> u32 {
        self.socket.port()
    }

    /// Moves queued datagrams into free receive frames, without blocking;
    /// returns how many.
    fn fill(&mut self) -> Result<usize, LinkError> {
        match &mut self.feed {
            Feed::Uring(uring) => uring.fill(&self.socket, &mut self.rx_fill),
            Feed::Copy(lent) => {
                copy_fill(&self.socket, &mut self.rx_fill, lent, self.receive_batch)
            }
        }
    }

    /// Waits for the socket to have `events`, up to `timeout`.
    fn wait_for(&self, events: PollFlags, timeout: Option<Duration>) -> Result<bool, LinkError> {
        let timeout = timeout.map(|t| rustix::time::Timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        let mut fds = [PollFd::new(&self.socket, events)];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(n) => Ok(n > 0),
            Err(Errno::INTR) => Ok(false),
            Err(e) => Err(LinkError::io("polling the netlink socket", e)),
        }
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
    for received in &got[..n] {
        lent.pop_front();
        rx.publish_lent(received.len, received.meta)?;
    }
    Ok(n)
}

/// Picks the mode: the requested one if it can run, else the best.
fn choose(
    mapped: &Result<(), String>,
    uring: Result<(), String>,
    requested: Option<(Mode, &'static str)>,
) -> Result<ModeReport, ModeError> {
    let why = |r: &Result<(), String>| r.clone().err().unwrap_or_else(|| "available".into());
    if let Some((mode, by)) = requested {
        let verdict = match mode {
            Mode::Mapped => mapped
                .clone()
                .and(Err("this build does not drive mapped rings yet".into())),
            Mode::Uring => uring.clone(),
            Mode::Copy => Ok(()),
        };
        return match verdict {
            Ok(()) => Ok(ModeReport {
                mode,
                reasons: vec![format!("asked for by the {by}")],
            }),
            Err(why) => Err(ModeError::Unavailable { mode, by, why }),
        };
    }
    Ok(ModeReport {
        mode: match uring {
            Ok(()) => Mode::Uring,
            Err(_) => Mode::Copy,
        },
        reasons: vec![
            format!("mapped: {}", why(mapped)),
            format!("uring: {}", why(&uring)),
            "copy: always available".into(),
        ],
    })
}

impl FrameSender for NetlinkLink {
    type Memory = Arc<Mapping>;

    fn reserve(&mut self) -> Result<Option<WriteGuard<'_, Self::Memory>>, LinkError> {
        Ok(self.tx.reserve()?)
    }

    /// Sends every committed frame: one `sendmsg` with an iovec per frame
    /// (the kernel processes the messages in order), split only where the
    /// socket's send buffer would be exceeded.
    fn flush(&mut self) -> Result<(), LinkError> {
        let limit = self.socket.max_datagram();
        loop {
            let batch = self.tx_drain.batch(ringlink_core::BATCH_MAX);
            if batch.is_empty() {
                return Ok(());
            }
            let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(batch.len());
            let mut size = 0;
            for payload in batch.payloads().filter(|p| !p.is_empty()) {
                if size + payload.len() > limit && !iov.is_empty() {
                    self.socket
                        .send_vectored(&iov)
                        .map_err(|e| LinkError::io("sending to the kernel", e))?;
                    iov.clear();
                    size = 0;
                }
                size += payload.len();
                iov.push(IoSlice::new(payload));
            }
            if !iov.is_empty() {
                self.socket
                    .send_vectored(&iov)
                    .map_err(|e| LinkError::io("sending to the kernel", e))?;
            }
        }
    }

    fn wait_writable(&mut self, timeout: Option<Duration>) -> Result<bool, LinkError> {
        // Frames free up when flushed: flushing is the wait.
        self.flush()?;
        match self.tx.has_room() {
            true => Ok(true),
            false => self.wait_for(PollFlags::OUT, timeout),
        }
    }

    fn frame_capacity(&self) -> usize {
        self.tx.ring().capacity()
    }

    fn frame_count(&self) -> u32 {
        self.tx.ring().frame_nr()
    }
}

impl FrameReceiver for NetlinkLink {
    type Memory = Arc<Mapping>;

    fn next(&mut self) -> Result<Option<Message<'_, Self::Memory>>, LinkError> {
        if !self.rx.poll()? {
            self.fill()?;
        }
        Ok(self.rx.next()?.map(Message::in_frame))
    }

    fn poll(&mut self) -> Result<bool, LinkError> {
        if self.rx.poll()? {
            return Ok(true);
        }
        self.fill()?;
        Ok(self.rx.poll()?)
    }

    fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<bool, LinkError> {
        if self.rx.has_pending() {
            return Ok(true);
        }
        // In uring mode: frames the kernel filled, or a receive to re-arm.
        if matches!(self.feed, Feed::Uring(_)) && self.fill()? > 0 {
            return Ok(true);
        }
        match &mut self.feed {
            Feed::Uring(uring) => uring.wait(timeout),
            Feed::Copy(_) => self.wait_for(PollFlags::IN, timeout),
        }
    }

    /// The socket in copy mode; the io_uring instance in uring mode (it
    /// polls readable when received datagrams are waiting).
    fn pollable_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.feed {
            Feed::Uring(uring) => Some(uring.fd()),
            Feed::Copy(_) => Some(self.socket.as_fd()),
        }
    }

    fn consumer(&self) -> &Consumer<Self::Memory> {
        &self.rx
    }

    fn consumer_mut(&mut self) -> &mut Consumer<Self::Memory> {
        &mut self.rx
    }
}
