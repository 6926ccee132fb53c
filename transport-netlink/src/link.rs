//! A netlink socket behind the shared ring API: the receive ring is filled
//! from the socket, the transmit ring is sent with one `sendmsg` per flush,
//! an iovec per frame.
//!
//! Three modes would fill the rings: the kernel's own mapped rings
//! (`NETLINK_RX_RING`, Linux 3.10–4.5), io_uring, and plain copies. The mode
//! is chosen by probing, never by kernel version, can be forced by the
//! caller or by `RINGLINK_NETLINK_MODE=mapped|uring|copy`, and is reported.
//! This build runs the copy mode; it says so, and why, in [`ModeReport`].

use crate::socket::NetlinkSocket;
use ringlink_core::{
    Consumer, FrameMeta, FrameReceiver, FrameSender, Geometry, HeapMemory, LinkError, Message,
    Producer, Ring, WriteGuard,
};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
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
    /// Receives copied into the frames.
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
        }
    }
}

/// Datagrams moved into the ring per fill: few enough that they are still
/// in cache when read (a 2 MiB ring filled at once is not).
const FILL_MAX: usize = 2;

/// A netlink socket with a receive ring and a transmit ring.
pub struct NetlinkLink {
    socket: NetlinkSocket,
    report: ModeReport,
    /// Fills the receive ring (the kernel's role in mapped mode).
    rx_fill: Producer<Arc<HeapMemory>>,
    rx: Consumer<Arc<HeapMemory>>,
    tx: Producer<Arc<HeapMemory>>,
    /// Drains the transmit ring into `sendmsg` (the kernel's role).
    tx_drain: Consumer<Arc<HeapMemory>>,
}

/// The two ends of one in-process ring.
type RingEnds = (Producer<Arc<HeapMemory>>, Consumer<Arc<HeapMemory>>);

/// A ring pair over fresh heap memory: a producer and a consumer of it.
fn ring(frames: u32, frame_message: usize) -> Result<RingEnds, ModeError> {
    let setup = |e: &dyn std::fmt::Display| ModeError::Setup(e.to_string());
    let geometry = Geometry::for_messages(frame_message, frames).map_err(|e| setup(&e))?;
    let mem = Arc::new(HeapMemory::new(geometry.ring_size() + 64));
    let make = || {
        Ring::new(mem.clone(), 0, geometry)
            .and_then(|r| r.with_skip_cursor(geometry.ring_size()))
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
        let report = choose(&socket, requested)?;
        let (rx_fill, rx) = ring(options.rx_frames, options.frame_message)?;
        let (tx, tx_drain) = ring(options.tx_frames, options.frame_message)?;
        Ok(NetlinkLink {
            socket,
            report,
            rx_fill,
            rx,
            tx,
            tx_drain,
        })
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

    /// Moves up to [`FILL_MAX`] queued datagrams from the socket into free
    /// receive frames, without blocking; returns how many.
    fn fill(&mut self) -> Result<usize, LinkError> {
        let mut filled = 0;
        while filled < FILL_MAX {
            let Some(mut frame) = self.rx_fill.reserve()? else {
                break;
            };
            match self.socket.try_recv(frame.buf()) {
                Ok(Some(len)) => {
                    frame.set_meta(FrameMeta::default());
                    frame.commit(len)?;
                    filled += 1;
                }
                Ok(None) => {
                    frame.cancel();
                    break;
                }
                Err(e) => {
                    frame.cancel();
                    return Err(e);
                }
            }
        }
        Ok(filled)
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

/// Picks the mode: the requested one if it can run, else the best.
fn choose(
    socket: &NetlinkSocket,
    requested: Option<(Mode, &'static str)>,
) -> Result<ModeReport, ModeError> {
    let mapped = probe_mapped(socket);
    let uring = Err("the io_uring mode is not built yet".to_string());
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
        mode: Mode::Copy,
        reasons: vec![
            format!("mapped: {}", why(&mapped)),
            format!("uring: {}", why(&uring)),
            "copy: always available".into(),
        ],
    })
}

/// Asks the kernel for a receive ring (`setsockopt(SOL_NETLINK,
/// NETLINK_RX_RING)`): Linux 4.6 and later answer ENOPROTOOPT.
fn probe_mapped(socket: &NetlinkSocket) -> Result<(), String> {
    let geometry = Geometry::for_messages(16 << 10, 16).map_err(|e| e.to_string())?;
    // SAFETY: a valid descriptor, a pointer to a live nl_mmap_req
    // (`Geometry` is byte-exact with it) and its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            ringlink_core::frame::SOL_NETLINK,
            ringlink_core::frame::NETLINK_RX_RING,
            (&geometry as *const Geometry).cast(),
            std::mem::size_of::<Geometry>() as libc::socklen_t,
        )
    };
    match rc {
        0 => Ok(()),
        _ => {
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENOPROTOOPT) => Err("NETLINK_RX_RING refused with ENOPROTOOPT (kernel-mapped rings were removed in Linux 4.6)".into()),
                _ => Err(format!("NETLINK_RX_RING refused: {err}")),
            }
        }
    }
}

impl FrameSender for NetlinkLink {
    type Memory = Arc<HeapMemory>;

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
    type Memory = Arc<HeapMemory>;

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
        self.wait_for(PollFlags::IN, timeout)
    }

    fn pollable_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.socket.as_fd())
    }

    fn consumer(&self) -> &Consumer<Self::Memory> {
        &self.rx
    }

    fn consumer_mut(&mut self) -> &mut Consumer<Self::Memory> {
        &mut self.rx
    }
}
