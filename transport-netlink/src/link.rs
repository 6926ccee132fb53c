//! A netlink socket behind the shared ring API ([`FrameSender`],
//! [`FrameReceiver`]): messages are read from a receive ring and built in a
//! transmit ring, one flush sending every committed frame.
//!
//! Three modes feed the rings, in order of preference:
//!
//! 1. **mapped**: the kernel's own rings (`NETLINK_RX_RING` and
//!    `NETLINK_TX_RING`, Linux 3.10–4.5, needs `CAP_NET_ADMIN`): the kernel
//!    builds messages straight into the receive ring and sends the transmit
//!    ring's frames when kicked; COPY frames are read from the socket in
//!    ring order, dumps go on from `poll` (see `mapped_feed`).
//! 2. **uring**: rings in this process; io_uring receives each datagram
//!    straight into a receive frame.
//! 3. **copy**: rings in this process; `recvmmsg` copies datagrams into the
//!    receive frames.
//!
//! In the uring and copy modes a flush sends the transmit ring with one
//! `sendmsg`, an iovec per frame. A message larger than a frame is sent
//! with its own `sendmsg` after the committed frames, in every mode.
//!
//! The mode is chosen by trying, never by kernel version (the mapped rings
//! are set up with the link's geometry; Linux 4.6 and later refuse them
//! with `ENOPROTOOPT`), can be forced by the caller or by
//! `RINGLINK_NETLINK_MODE=mapped|uring|copy`, and is reported with the
//! reasons the better modes were not taken ([`ModeReport`]). No mode
//! allocates a ring it does not use.

use crate::local_feed::LocalFeed;
use crate::mapped::KernelRings;
use crate::mapped_feed::{Kick, MappedFeed};
use crate::mapping::Mapping;
use crate::socket::NetlinkSocket;
use crate::uring::UringFeed;
use ringlink_core::{
    Consumer, FrameReceiver, FrameSender, Geometry, LinkError, Message, Producer, WriteGuard,
};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;
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
    /// The environment variable [`MODE_VAR`] names no mode (or is not
    /// UTF-8).
    #[error("{var}={0:?} is not a netlink mode: set it to mapped, uring or copy, or unset it", var = MODE_VAR)]
    BadVariable(String),
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
    /// Frames in the receive ring. Each datagram takes a frame, and the
    /// frames are filled in ring order, so a ring of large datagrams
    /// cycles through all of its memory: dumps, whose datagrams fill
    /// their 32 KiB frames, want few (the default, 8: 256 KiB, which stay
    /// in the CPU's cache between the kernel's copy and the reading);
    /// queued packets or events, a datagram each in a mostly empty frame,
    /// want many in flight (e.g. 64 for nfqueue).
    pub rx_frames: u32,
    /// Frames in the transmit ring.
    pub tx_frames: u32,
    /// Payload bytes per frame: at least the largest datagram, so none is
    /// ever truncated (dumps: 32 KiB; nfqueue: 64 KiB and metadata). In
    /// mapped mode a larger message still arrives, out of band (COPY).
    pub frame_message: usize,
    /// A mode to use instead of the best that can run (the environment
    /// variable wins).
    pub mode: Option<Mode>,
    /// Multicast groups to join (e.g. `RTNLGRP_IPV4_ROUTE` = 7), for
    /// monitors.
    pub groups: Vec<u32>,
    /// Socket receive buffer to ask for; `None` for the default (8 MiB,
    /// forced when allowed). Small buffers overrun under event floods.
    pub receive_buffer: Option<usize>,
    /// Copy mode: datagrams moved into the ring per `recvmmsg` (at most
    /// 32; unused by the other modes). Few keep large datagrams in cache until read (dumps: 2); more
    /// save system calls on small ones (queued packets: 16).
    pub receive_batch: usize,
}

impl Default for NetlinkOptions {
    fn default() -> Self {
        NetlinkOptions {
            protocol: crate::socket::NETLINK_ROUTE,
            rx_frames: 8,
            tx_frames: 64,
            frame_message: 32 << 10,
            mode: None,
            groups: Vec::new(),
            receive_buffer: None,
            receive_batch: 2,
        }
    }
}

/// Who plays the kernel's side of the rings.
enum Feed {
    /// The kernel itself: its mapped rings.
    Mapped(MappedFeed),
    /// The link, over rings in this process (uring and copy modes); boxed,
    /// as its rings' ends are large.
    Local(Box<LocalFeed>),
}

/// A netlink socket with a receive ring and a transmit ring.
pub struct NetlinkLink {
    /// First, so it is dropped first: the kernel may write into the receive
    /// frames until it is gone (uring mode).
    feed: Feed,
    socket: NetlinkSocket,
    report: ModeReport,
    /// The receive ring, read by the user.
    rx: Consumer<Arc<Mapping>>,
    /// The transmit ring, filled by the user.
    tx: Producer<Arc<Mapping>>,
}

impl NetlinkLink {
    /// Opens a socket of `options.protocol` and picks a mode: the one in
    /// [`MODE_VAR`], else `options.mode`, else the best that can run.
    pub fn open(options: &NetlinkOptions) -> Result<NetlinkLink, ModeError> {
        let mut socket =
            NetlinkSocket::open(options.protocol).map_err(|e| ModeError::Setup(e.to_string()))?;
        if let Some(size) = options.receive_buffer {
            socket.set_receive_buffer(size).map_err(|e| {
                ModeError::Setup(format!("setting a {size}-byte receive buffer: {e}"))
            })?;
        }
        let requested = match std::env::var(MODE_VAR) {
            Ok(text) => match text.parse::<Mode>() {
                Ok(mode) => Some((mode, "environment")),
                Err(_) => return Err(ModeError::BadVariable(text)),
            },
            Err(std::env::VarError::NotUnicode(text)) => {
                return Err(ModeError::BadVariable(text.to_string_lossy().into_owned()));
            }
            Err(std::env::VarError::NotPresent) => options.mode.map(|m| (m, "caller")),
        };
        let wanted = |mode| requested.is_none_or(|(asked, _)| asked == mode);
        // Trying the kernel's rings is setting them up: on a refusal the
        // socket is left as it was.
        let mapped = match wanted(Mode::Mapped) {
            true => kernel_rings(&socket, options),
            false => Err("not tried: another mode was asked for".into()),
        };
        let uring = match (wanted(Mode::Uring), &mapped) {
            (false, _) => Err("not probed: another mode was asked for".into()),
            (true, Ok(_)) => Err("not probed: the kernel's mapped rings are preferred".into()),
            (true, Err(_)) => UringFeed::new(&socket, options.rx_frames)
                .map_err(|e| format!("io_uring refused: {e}")),
        };
        let report = choose(outcome(&mapped), outcome(&uring), requested)?;
        let mut link = match (report.mode, mapped) {
            (Mode::Mapped, Ok(rings)) => {
                NetlinkLink::mapped(socket, report, rings, Box::new(crate::mapped::kick_tx))
            }
            (mode, _) => {
                let uring = uring.ok().filter(|_| mode == Mode::Uring);
                let sizes = (options.rx_frames, options.tx_frames, options.frame_message);
                let (feed, (rx, tx)) = LocalFeed::new(uring, sizes, options.receive_batch)?;
                let feed = Feed::Local(Box::new(feed));
                NetlinkLink {
                    feed,
                    socket,
                    report,
                    rx,
                    tx,
                }
            }
        };
        // Lends the receive frames to the kernel in uring mode.
        if let Feed::Local(feed) = &mut link.feed {
            feed.fill(&link.socket)
                .map_err(|e| ModeError::Setup(e.to_string()))?;
        }
        // Last: setting up the rings purged the socket's queue.
        for &group in &options.groups {
            link.socket
                .join_group(group)
                .map_err(|e| ModeError::Setup(format!("joining multicast group {group}: {e}")))?;
        }
        Ok(link)
    }

    /// A link in mapped mode over `rings`, the kernel's rings of `socket`
    /// (or rings a test plays the kernel on), sent with `kick`.
    pub(crate) fn mapped(
        socket: NetlinkSocket,
        report: ModeReport,
        rings: KernelRings,
        kick: Kick,
    ) -> NetlinkLink {
        NetlinkLink {
            feed: Feed::Mapped(MappedFeed::new(kick)),
            socket,
            report,
            rx: Consumer::new(rings.rx),
            tx: Producer::new(rings.tx),
        }
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
}

/// The kernel's rings on `socket`, of the link's geometry, or why not.
fn kernel_rings(socket: &NetlinkSocket, options: &NetlinkOptions) -> Result<KernelRings, String> {
    let geometry = |frames| {
        Geometry::for_messages(options.frame_message, frames).map_err(|e| {
            format!(
                "no ring of {frames} frames of {} bytes: {e}",
                options.frame_message
            )
        })
    };
    let (rx, tx) = (geometry(options.rx_frames)?, geometry(options.tx_frames)?);
    crate::mapped::map_rings(socket.as_fd(), rx, tx).map_err(|e| e.to_string())
}

/// Whether a mode's setup succeeded, or why not.
fn outcome<T>(setup: &Result<T, String>) -> Result<(), String> {
    setup.as_ref().map(drop).map_err(Clone::clone)
}

/// Picks the mode: the requested one if it can run, else the best.
fn choose(
    mapped: Result<(), String>,
    uring: Result<(), String>,
    requested: Option<(Mode, &'static str)>,
) -> Result<ModeReport, ModeError> {
    if let Some((mode, by)) = requested {
        let verdict = match mode {
            Mode::Mapped => mapped,
            Mode::Uring => uring,
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
    let mode = match (&mapped, &uring) {
        (Ok(()), _) => Mode::Mapped,
        (_, Ok(())) => Mode::Uring,
        _ => Mode::Copy,
    };
    let why = |r: Result<(), String>| r.err().unwrap_or_else(|| "available".into());
    Ok(ModeReport {
        mode,
        reasons: vec![
            format!("mapped: {}", why(mapped)),
            format!("uring: {}", why(uring)),
            "copy: always available".into(),
        ],
    })
}

/// Polls `socket` for `events` up to `timeout` (`None`: forever); the
/// events that came, empty on timeout or interruption.
pub(crate) fn poll_socket(
    socket: &NetlinkSocket,
    events: PollFlags,
    timeout: Option<Duration>,
) -> Result<PollFlags, LinkError> {
    let timeout = timeout.map(|t| rustix::time::Timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(t.subsec_nanos()),
    });
    let mut fds = [PollFd::new(socket, events)];
    match poll(&mut fds, timeout.as_ref()) {
        Ok(_) => Ok(fds[0].revents()),
        Err(Errno::INTR) => Ok(PollFlags::empty()),
        Err(e) => Err(LinkError::io("polling the netlink socket", e)),
    }
}

impl FrameSender for NetlinkLink {
    type Memory = Arc<Mapping>;

    fn reserve(&mut self) -> Result<Option<WriteGuard<'_, Self::Memory>>, LinkError> {
        Ok(self.tx.reserve()?)
    }

    /// Sends every committed frame, in order: in mapped mode the kernel
    /// sends its transmit ring when kicked (one `sendto`); else one
    /// `sendmsg` with an iovec per frame, split only where the socket's
    /// send buffer would be exceeded. On an error nothing is lost: the
    /// frames not sent stay committed, and the next flush sends them.
    fn flush(&mut self) -> Result<(), LinkError> {
        match &mut self.feed {
            Feed::Mapped(feed) => feed.flush(&self.socket, &self.tx),
            Feed::Local(feed) => feed.flush(&self.socket),
        }
    }

    fn wait_writable(&mut self, timeout: Option<Duration>) -> Result<bool, LinkError> {
        // Frames free up when flushed: flushing is the wait.
        self.flush()?;
        match self.tx.has_room() {
            true => Ok(true),
            false => Ok(!poll_socket(&self.socket, PollFlags::OUT, timeout)?.is_empty()),
        }
    }

    fn frame_capacity(&self) -> usize {
        self.tx.ring().capacity()
    }

    fn frame_count(&self) -> u32 {
        self.tx.ring().frame_nr()
    }

    /// The largest datagram the socket's send buffer takes.
    fn max_message(&self) -> usize {
        self.socket.max_datagram().max(self.frame_capacity())
    }

    /// Flushes the committed frames, then sends `msg` with its own
    /// `sendmsg`, so the kernel gets everything in order. No frame is
    /// marked COPY (the kernel's transmit ring has no out-of-band path).
    fn send_out_of_band(&mut self, msg: &[u8]) -> Result<bool, LinkError> {
        if msg.len() > self.max_message() {
            let max = self.max_message();
            return Err(LinkError::TooLarge {
                len: msg.len(),
                max,
            });
        }
        self.flush()?;
        self.socket
            .send(msg)
            .map_err(|e| LinkError::io("sending a message larger than a frame", e))?;
        Ok(true)
    }
}

impl FrameReceiver for NetlinkLink {
    type Memory = Arc<Mapping>;

    fn next(&mut self) -> Result<Option<Message<'_, Self::Memory>>, LinkError> {
        match &mut self.feed {
            Feed::Mapped(feed) => feed.next(&self.socket, &mut self.rx),
            Feed::Local(feed) => {
                if !self.rx.poll()? {
                    feed.fill(&self.socket)?;
                }
                Ok(self.rx.next()?.map(Message::in_frame))
            }
        }
    }

    fn poll(&mut self) -> Result<bool, LinkError> {
        match &mut self.feed {
            Feed::Mapped(feed) => feed.poll(&self.socket, &mut self.rx),
            Feed::Local(feed) => {
                if self.rx.poll()? {
                    return Ok(true);
                }
                feed.fill(&self.socket)?;
                Ok(self.rx.poll()?)
            }
        }
    }

    fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<bool, LinkError> {
        match &mut self.feed {
            Feed::Mapped(feed) => feed.wait(&self.socket, &self.rx, timeout),
            Feed::Local(_) if self.rx.has_pending() => Ok(true),
            Feed::Local(feed) => feed.wait(&self.socket, timeout),
        }
    }

    /// The socket in mapped and copy modes (in mapped mode it polls
    /// readable once the kernel filled a frame); the io_uring instance in
    /// uring mode (it polls readable when received datagrams are waiting).
    fn pollable_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.feed {
            Feed::Mapped(_) => Some(self.socket.as_fd()),
            Feed::Local(feed) => Some(feed.fd(&self.socket)),
        }
    }

    fn consumer(&self) -> &Consumer<Self::Memory> {
        &self.rx
    }

    fn consumer_mut(&mut self) -> &mut Consumer<Self::Memory> {
        &mut self.rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(why: &str) -> Result<(), String> {
        Err(why.into())
    }

    #[test]
    fn the_best_mode_that_can_run_is_taken_and_the_others_say_why() {
        let cases = [
            (Ok(()), Ok(()), Mode::Mapped),
            (refused("ENOPROTOOPT"), Ok(()), Mode::Uring),
            (refused("ENOPROTOOPT"), refused("EPERM"), Mode::Copy),
        ];
        for (mapped, uring, mode) in cases {
            let report = choose(mapped.clone(), uring.clone(), None).unwrap();
            assert_eq!(report.mode, mode, "{report}");
            let mapped = mapped.err().unwrap_or_else(|| "available".into());
            let uring = uring.err().unwrap_or_else(|| "available".into());
            assert_eq!(
                report.reasons,
                [
                    format!("mapped: {mapped}"),
                    format!("uring: {uring}"),
                    "copy: always available".into()
                ]
            );
        }
    }

    #[test]
    fn a_mode_asked_for_runs_or_is_refused_with_the_reason() {
        let asked = |mode| Some((mode, "caller"));
        let report = choose(Ok(()), Ok(()), asked(Mode::Copy)).unwrap();
        assert_eq!(report.mode, Mode::Copy);
        assert_eq!(report.reasons, ["asked for by the caller"]);
        let report = choose(refused("x"), Ok(()), asked(Mode::Uring)).unwrap();
        assert_eq!(report.mode, Mode::Uring);
        match choose(refused("ENOPROTOOPT"), Ok(()), asked(Mode::Mapped)) {
            Err(ModeError::Unavailable { mode, by, why }) => {
                assert_eq!(
                    (mode, by, why.as_str()),
                    (Mode::Mapped, "caller", "ENOPROTOOPT")
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
