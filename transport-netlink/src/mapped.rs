//! The kernel's own memory-mapped rings, `NETLINK_RX_RING` and
//! `NETLINK_TX_RING`, as Linux 3.10–4.5 defined them (the v4.5 ABI; see
//! the kernel's `netlink_mmap.txt`).
//!
//! - [`map_rings`]: set both rings on a socket and map them, RX first, TX
//!   right after, in one mapping; a refusal says which step failed and what
//!   it means (Linux 4.6 removed the feature: `ENOPROTOOPT`).
//! - [`probe`]: whether the kernel offers the rings, leaving the socket as
//!   it was.
//! - [`kick_tx`]: make the kernel send every VALID frame of the TX ring.
//! - [`recv_copy`]: read the message of a COPY frame from the socket.
//!
//! The RX ring is read with a [`ringlink_core::Consumer`], the TX ring
//! filled with a [`ringlink_core::Producer`]; the kernel plays the other
//! side of each. The frame layout and status protocol are core's, which is
//! byte-exact with the kernel's. [`crate::NetlinkLink`] drives both rings in
//! its mapped mode.
//!
//! Two rules of the v4.5 kernel the link must follow: setting a ring purges
//! the socket's queued messages (set the rings up before sending requests),
//! and the kernel's TX walk stops at the first frame that is not VALID, so
//! a TX frame must never be published as COPY (send oversized messages
//! with a plain `sendmsg` after kicking the ring, to keep their order).

use crate::mapping::Mapping;
use crate::socket::NetlinkSocket;
use ringlink_core::frame::{NETLINK_RX_RING, NETLINK_TX_RING, SOL_NETLINK};
use ringlink_core::{Corruption, Geometry, GeometryError, LinkError, Ring, RingError, page_size};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;
use thiserror::Error;

/// The kernel's two rings of one socket, in one shared mapping.
pub struct KernelRings {
    /// The receive ring: the kernel fills it, read it with a
    /// [`ringlink_core::Consumer`]. At offset 0 of the mapping.
    pub rx: Ring<Arc<Mapping>>,
    /// The transmit ring: fill it with a [`ringlink_core::Producer`], then
    /// [`kick_tx`]. Right after the receive ring.
    pub tx: Ring<Arc<Mapping>>,
}

impl fmt::Debug for KernelRings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelRings")
            .field("mapping", self.rx.memory())
            .field("rx", self.rx.geometry())
            .field("tx", self.tx.geometry())
            .finish()
    }
}

/// Which of a socket's two rings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `NETLINK_RX_RING`, kernel to user space.
    Rx,
    /// `NETLINK_TX_RING`, user space to kernel.
    Tx,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Rx => "RX",
            Direction::Tx => "TX",
        })
    }
}

/// The system call a refusal came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `setsockopt(SOL_NETLINK, NETLINK_RX_RING)` or `NETLINK_TX_RING`.
    SetRing(Direction),
    /// Removing a ring again (`setsockopt` with zero blocks).
    UnsetRing(Direction),
    /// `mmap(MAP_SHARED, offset 0)` of both rings.
    Map,
    /// The `sendto` with a NULL buffer that makes the kernel send the TX
    /// ring's frames.
    Kick,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::SetRing(ring) => write!(f, "setsockopt(SOL_NETLINK, NETLINK_{ring}_RING)"),
            Step::UnsetRing(ring) => {
                write!(
                    f,
                    "removing the {ring} ring (NETLINK_{ring}_RING, 0 blocks)"
                )
            }
            Step::Map => f.write_str("mmap of the netlink rings (MAP_SHARED, offset 0)"),
            Step::Kick => f.write_str("sendto(NULL, 0) sending the TX ring's frames"),
        }
    }
}

/// Why the kernel-mapped rings cannot be had or used.
#[derive(Debug, Error)]
pub enum MappedError {
    /// A geometry the kernel would refuse, caught before asking it.
    #[error("the {ring} ring cannot be set up: {source}")]
    Geometry {
        /// The ring with the bad geometry.
        ring: Direction,
        /// Which rule it breaks.
        #[source]
        source: RingError,
    },
    /// The kernel refused a step; the socket is left as it was before
    /// [`map_rings`] (rings set by earlier steps were removed again).
    #[error("{step} failed ({source}): {meaning}")]
    Refused {
        /// The step refused.
        step: Step,
        /// What the refusal means here.
        meaning: &'static str,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// The kernel refused a step, and removing the rings set by earlier
    /// steps failed too: the socket is unusable.
    #[error(
        "{step} failed ({source}), and {undo_step} failed too ({undo}): the socket keeps a ring it cannot use; close it and open a new one"
    )]
    Stuck {
        /// The step refused.
        step: Step,
        /// The kernel's answer to it.
        source: io::Error,
        /// The removal that failed.
        undo_step: Step,
        /// The kernel's answer to the removal.
        undo: io::Error,
    },
    /// The mapping could not hold the rings (a bug: the sizes were checked).
    #[error("placing the rings in the kernel's mapping: {0}")]
    Layout(#[source] RingError),
}

impl From<MappedError> for LinkError {
    fn from(e: MappedError) -> LinkError {
        match e {
            MappedError::Refused {
                step,
                meaning,
                source,
            } => LinkError::io(format!("{step}: {meaning}"), source),
            MappedError::Geometry { source, .. } | MappedError::Layout(source) => {
                LinkError::Ring(source)
            }
            stuck @ MappedError::Stuck { .. } => LinkError::Protocol(stuck.to_string()),
        }
    }
}

/// What the kernel means by refusing `step` with `errno`.
fn meaning(step: Step, errno: Option<i32>) -> &'static str {
    match (step, errno) {
        (Step::SetRing(_), Some(libc::ENOPROTOOPT)) => {
            "ENOPROTOOPT: kernel-mapped rings were removed in Linux 4.6 (and are absent from kernels built without CONFIG_NETLINK_MMAP); use the uring or copy mode"
        }
        (Step::SetRing(_), Some(libc::EPERM)) => {
            "kernel-mapped rings need CAP_NET_ADMIN; grant it or use the uring or copy mode"
        }
        (Step::SetRing(_), Some(libc::EINVAL)) => {
            "the kernel refused the ring geometry although it follows the rules it documents; its page size may differ from this process's"
        }
        (Step::SetRing(_), Some(libc::EBUSY)) => {
            "the socket already has this ring, or its rings are mapped or have messages in flight; set the rings once, on a fresh socket, before mapping them"
        }
        (Step::UnsetRing(_), _) => {
            "the ring could not be removed (messages in flight?): the socket keeps a ring it cannot use; close it and open a new one"
        }
        (Step::SetRing(_), Some(libc::ENOMEM)) => {
            "the kernel could not allocate the ring's blocks; use smaller blocks or fewer of them"
        }
        (Step::Map, Some(libc::ENODEV)) => {
            "this kernel cannot map netlink sockets: kernel-mapped rings were removed in Linux 4.6; use the uring or copy mode"
        }
        (Step::Map, Some(libc::EINVAL)) => {
            "the kernel maps the rings only in one piece, exactly the RX plus the TX ring size, at offset 0"
        }
        (Step::Map, Some(libc::ENOMEM | libc::EAGAIN)) => {
            "no address space or lockable memory left for the rings"
        }
        (Step::Kick, Some(libc::EINVAL)) => {
            "a VALID TX frame claims more bytes than its frame holds (frame size - 24)"
        }
        (Step::Kick, Some(libc::ENOBUFS | libc::ENOMEM)) => {
            "the kernel could not allocate a buffer for a TX frame; the frames from there on are still VALID: kick again"
        }
        (Step::Kick, Some(libc::EAGAIN)) => {
            "the receiving socket is full; the frames from there on are still VALID: kick again"
        }
        (Step::Kick, Some(libc::ENODATA)) => {
            "the socket has no TX ring (kernel-mapped rings were removed in Linux 4.6), so this was an empty message, which this kernel refuses"
        }
        _ => "an error the netlink ring protocol does not document",
    }
}

/// A refusal of `step` from the last system call's error.
fn refused(step: Step, source: io::Error) -> MappedError {
    MappedError::Refused {
        step,
        meaning: meaning(step, source.raw_os_error()),
        source,
    }
}

/// `setsockopt(SOL_NETLINK, NETLINK_{RX,TX}_RING, geometry)`.
fn set_ring(socket: BorrowedFd<'_>, ring: Direction, geometry: &Geometry) -> io::Result<()> {
    let option = match ring {
        Direction::Rx => NETLINK_RX_RING,
        Direction::Tx => NETLINK_TX_RING,
    };
    // SAFETY: a valid descriptor, and a pointer to a live `Geometry`, which
    // is byte-exact with `struct nl_mmap_req`, with its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            SOL_NETLINK,
            option,
            (geometry as *const Geometry).cast(),
            std::mem::size_of::<Geometry>() as libc::socklen_t,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Removes the rings in `set` again after `step` failed with `source`: a
/// [`MappedError::Refused`] when that leaves the socket as it was, else a
/// [`MappedError::Stuck`].
fn undo(socket: BorrowedFd<'_>, set: &[Direction], step: Step, source: io::Error) -> MappedError {
    for &ring in set {
        if let Err(undo) = set_ring(socket, ring, &Geometry::NONE) {
            return MappedError::Stuck {
                step,
                source,
                undo_step: Step::UnsetRing(ring),
                undo,
            };
        }
    }
    refused(step, source)
}

/// Checks `geometry` against every rule of the kernel's `netlink_set_ring`
/// (core's [`Geometry::validate`]), and that it has frames.
fn check(ring: Direction, geometry: &Geometry) -> Result<(), MappedError> {
    let bad = |source| MappedError::Geometry { ring, source };
    geometry.validate().map_err(|e| bad(e.into()))?;
    match geometry.frame_nr {
        0 => Err(bad(RingError::NoFrames)),
        _ => Ok(()),
    }
}

/// Places the RX ring at offset 0 of `mem` and the TX ring right after it,
/// as the kernel's `netlink_mmap` lays them out.
pub(crate) fn place(
    mem: Arc<Mapping>,
    rx: Geometry,
    tx: Geometry,
) -> Result<KernelRings, RingError> {
    Ok(KernelRings {
        rx: Ring::new(mem.clone(), 0, rx)?,
        tx: Ring::new(mem, rx.ring_size(), tx)?,
    })
}

/// Sets up the kernel's receive and transmit rings on `socket` and maps
/// them: `setsockopt(NETLINK_RX_RING)`, `setsockopt(NETLINK_TX_RING)`, then
/// one `mmap` of both rings' bytes, the RX ring at offset 0 and the TX ring
/// right after it.
///
/// Both geometries are checked against the kernel's rules first (block
/// size a multiple of the page size, frames of at least 24 bytes in
/// multiples of 4 that fit a block, frame count = frames per block x
/// blocks, at least one frame): a bad one is refused without asking the
/// kernel. A refusal from the kernel names its step and what it means
/// (`ENOPROTOOPT` on Linux >= 4.6: the feature is gone); rings set by
/// earlier steps are removed again, so the socket stays usable for the
/// other modes. Needs `CAP_NET_ADMIN`.
///
/// Setting a ring drops any message already queued on the socket.
pub fn map_rings(
    socket: BorrowedFd<'_>,
    rx: Geometry,
    tx: Geometry,
) -> Result<KernelRings, MappedError> {
    check(Direction::Rx, &rx)?;
    check(Direction::Tx, &tx)?;
    let len = rx
        .ring_size()
        .checked_add(tx.ring_size())
        .ok_or_else(|| MappedError::Geometry {
            ring: Direction::Tx,
            source: GeometryError::TooLarge {
                block_size: tx.block_size,
                block_nr: tx.block_nr,
            }
            .into(),
        })?;
    set_ring(socket, Direction::Rx, &rx).map_err(|e| refused(Step::SetRing(Direction::Rx), e))?;
    if let Err(e) = set_ring(socket, Direction::Tx, &tx) {
        return Err(undo(
            socket,
            &[Direction::Rx],
            Step::SetRing(Direction::Tx),
            e,
        ));
    }
    let mem = match Mapping::of_socket(socket, len) {
        Ok(mem) => Arc::new(mem),
        Err(e) => return Err(undo(socket, &[Direction::Rx, Direction::Tx], Step::Map, e)),
    };
    place(mem, rx, tx).map_err(MappedError::Layout)
}

/// Whether the kernel offers mapped rings to `socket`: asks for the
/// smallest receive ring (one page, one frame) and removes it again, so
/// the socket is left as it was. `Ok` on Linux 3.10–4.5 with
/// `CAP_NET_ADMIN`; on later kernels a [`MappedError::Refused`] with
/// `ENOPROTOOPT` and the explanation.
pub fn probe(socket: BorrowedFd<'_>) -> Result<(), MappedError> {
    let page = u32::try_from(page_size()).unwrap_or(u32::MAX);
    let smallest = Geometry {
        block_size: page,
        block_nr: 1,
        frame_size: page,
        frame_nr: 1,
    };
    check(Direction::Rx, &smallest)?;
    let step = Step::SetRing(Direction::Rx);
    set_ring(socket, Direction::Rx, &smallest).map_err(|e| refused(step, e))?;
    let unset = Step::UnsetRing(Direction::Rx);
    set_ring(socket, Direction::Rx, &Geometry::NONE).map_err(|e| refused(unset, e))
}

/// Makes the kernel send every VALID frame of the socket's TX ring, in
/// ring order from where it stopped last, and mark each UNUSED again: the
/// v4.5 kernel does so for a `sendto` to the kernel (port 0) whose buffer
/// is NULL (one iovec with a NULL base). Returns the bytes sent.
///
/// Without a TX ring (Linux >= 4.6, or a socket not set up) this is an
/// empty datagram: kernels up to 6.x ignore it (`Ok(0)`), recent ones
/// refuse it (`ENODATA`, measured on 6.18). The kernel stops at the first
/// error; the frames from there on stay VALID for the next kick.
pub fn kick_tx(socket: BorrowedFd<'_>) -> Result<usize, MappedError> {
    // SAFETY: all-zero bytes are a valid `sockaddr_nl` (integers only).
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: a valid descriptor; a NULL buffer of length 0 is what the
    // kernel expects here (it reads nothing through it); the address is a
    // live `sockaddr_nl` with its size.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            std::ptr::null(),
            0,
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    usize::try_from(sent).map_err(|_| refused(Step::Kick, io::Error::last_os_error()))
}

/// Receives the message of a COPY frame of the RX ring into `buf`.
///
/// The kernel marks a frame COPY when the message did not fit the ring
/// (larger than a frame, or from a subsystem that cannot build in place)
/// and queues it on the socket, in ring order: read it with a plain
/// receive when the COPY frame comes up, then release the frame.
/// `frame` is the COPY frame's index and `announced` its length word
/// ([`ringlink_core::ReadGuard::copy_len`]); size `buf` for it.
///
/// Whatever goes wrong, the queued message is consumed, so the ring and
/// the socket's queue stay in step. None queued is
/// [`Corruption::CopyMissing`], a length other than the one announced
/// [`Corruption::CopyMismatch`] (both as [`RingError::Corrupt`] of
/// `frame`); a message longer than `buf` is cut and refused, and an
/// overrun reported, as by [`NetlinkSocket::try_recv`].
pub fn recv_copy(
    socket: &NetlinkSocket,
    frame: u32,
    announced: u32,
    buf: &mut [u8],
) -> Result<usize, LinkError> {
    let corrupt = |kind| LinkError::Ring(RingError::Corrupt { frame, kind });
    match socket.try_recv(buf)? {
        Some(len) if len == announced as usize => Ok(len),
        Some(received) => Err(corrupt(Corruption::CopyMismatch {
            announced,
            received,
        })),
        None => Err(corrupt(Corruption::CopyMissing)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{MessageBuilder, Messages, NLM_F_ACK, NLM_F_REQUEST, NLMSG_NOOP};
    use crate::socket::{NETLINK_ROUTE, NetlinkSocket};
    use crate::v45_kernel::{KernelRing, lay_out, meta};
    use ringlink_core::{Consumer, Producer, Status};
    use std::os::fd::{AsFd, OwnedFd};

    /// `NETLINK_USERSOCK`: user sockets may send to each other unprivileged.
    const NETLINK_USERSOCK: i32 = 2;

    /// `block_nr` one-page blocks of `per_block` frames of `frame_size` bytes.
    fn geometry(frame_size: u32, per_block: u32, block_nr: u32) -> Geometry {
        Geometry {
            block_size: page_size() as u32,
            block_nr,
            frame_size,
            frame_nr: per_block * block_nr,
        }
    }

    /// Sends a NOOP asking for an ack and checks the kernel acks it: the
    /// socket still works.
    fn ack_round_trip(socket: &NetlinkSocket, seq: u32) {
        let mut request = [0u8; 16];
        let builder =
            MessageBuilder::new(&mut request, NLMSG_NOOP, NLM_F_REQUEST | NLM_F_ACK, seq).unwrap();
        let len = builder.finish();
        socket.send(&request[..len]).unwrap();
        let mut fds = [rustix::event::PollFd::new(
            socket,
            rustix::event::PollFlags::IN,
        )];
        let timeout = rustix::time::Timespec {
            tv_sec: 10,
            tv_nsec: 0,
        };
        assert_eq!(
            rustix::event::poll(&mut fds, Some(&timeout)).unwrap(),
            1,
            "no ack"
        );
        let mut reply = [0u8; 4096];
        let len = socket.try_recv(&mut reply).unwrap().expect("the ack");
        let msg = Messages::new(&reply[..len]).next().unwrap().unwrap();
        let ack = msg.error().expect("an NLMSG_ERROR").unwrap();
        assert_eq!((ack.code, ack.request_seq), (0, seq), "{ack:?}");
        assert_eq!(
            socket.try_recv(&mut reply).unwrap(),
            None,
            "one ack, nothing else"
        );
    }

    #[test]
    fn map_rings_here_is_refused_with_enoprotoopt_and_leaves_the_socket_usable() {
        let socket = NetlinkSocket::open(NETLINK_ROUTE).unwrap();
        let g = Geometry::for_messages(16 << 10, 16).unwrap();
        let err = map_rings(socket.as_fd(), g, g).unwrap_err();
        let text = err.to_string();
        match &err {
            MappedError::Refused { step, source, .. } => {
                assert_eq!(*step, Step::SetRing(Direction::Rx));
                assert_eq!(
                    source.raw_os_error(),
                    Some(libc::ENOPROTOOPT),
                    "this test expects a kernel without netlink mmap (Linux >= 4.6): {text}"
                );
            }
            other => panic!("expected the kernel's refusal, got {other:?}"),
        }
        assert!(text.contains("NETLINK_RX_RING"), "{text}");
        assert!(text.contains("removed in Linux 4.6"), "{text}");
        assert!(text.contains("use the uring or copy mode"), "{text}");
        // As a link error, the step and meaning stay, with the errno.
        let link = LinkError::from(err);
        assert!(link.to_string().contains("removed in Linux 4.6"), "{link}");
        ack_round_trip(&socket, 41);
    }

    #[test]
    fn probe_here_says_why_and_leaves_the_socket_usable() {
        let socket = NetlinkSocket::open(NETLINK_ROUTE).unwrap();
        let err = probe(socket.as_fd()).unwrap_err();
        assert!(
            matches!(&err, MappedError::Refused { step: Step::SetRing(Direction::Rx), source, .. }
                if source.raw_os_error() == Some(libc::ENOPROTOOPT)),
            "{err:?}"
        );
        assert!(err.to_string().contains("removed in Linux 4.6"), "{err}");
        ack_round_trip(&socket, 42);
    }

    #[test]
    fn bad_geometries_are_refused_before_the_kernel_is_asked() {
        // Not even a socket: asking the kernel would give ENOTSOCK.
        let null = std::fs::File::open("/dev/null").unwrap();
        let fd = null.as_fd();
        let page = page_size() as u32;
        let good = geometry(256, page / 256, 2);
        let bad = [
            // Block size not a multiple of the page size.
            Geometry {
                block_size: page + 256,
                ..good
            },
            // Frame smaller than the 24-byte header.
            geometry(20, page / 20, 1),
            // Frame size not a multiple of NL_MMAP_MSG_ALIGNMENT.
            geometry(26, page / 26, 1),
            // Frame count other than frames per block x blocks.
            Geometry {
                frame_nr: good.frame_nr - 1,
                ..good
            },
            // Frame larger than a block.
            geometry(2 * page, 0, 1),
            // No ring at all: the mapped mode needs both.
            Geometry::NONE,
        ];
        for g in bad {
            for (rx, tx, ring) in [(g, good, Direction::Rx), (good, g, Direction::Tx)] {
                let err = map_rings(fd, rx, tx).unwrap_err();
                assert!(
                    matches!(err, MappedError::Geometry { ring: r, .. } if r == ring),
                    "{g:?} as {ring}: expected a geometry error, got {err:?}"
                );
                let text = err.to_string();
                assert!(
                    text.starts_with(&format!("the {ring} ring cannot be set up")),
                    "{text}"
                );
            }
        }
        // The good geometry gets as far as the kernel, which refuses the fd.
        match map_rings(fd, good, good) {
            Err(MappedError::Refused { step, source, .. }) => {
                assert_eq!(step, Step::SetRing(Direction::Rx));
                assert_eq!(source.raw_os_error(), Some(libc::ENOTSOCK));
            }
            other => panic!("expected ENOTSOCK, got {other:?}"),
        }
    }

    #[test]
    fn kick_tx_without_a_tx_ring_is_an_empty_send_that_changes_nothing() {
        let socket = NetlinkSocket::open(NETLINK_ROUTE).unwrap();
        // The kernel took the NULL buffer as an empty message: ignored
        // (Linux 4.6 to 6.x) or refused with ENODATA (6.18 here).
        match kick_tx(socket.as_fd()) {
            Ok(sent) => assert_eq!(sent, 0),
            Err(MappedError::Refused {
                step: Step::Kick,
                meaning,
                source,
            }) => {
                assert_eq!(source.raw_os_error(), Some(libc::ENODATA), "{source}");
                assert!(meaning.contains("no TX ring"), "{meaning}");
            }
            Err(other) => panic!("{other:?}"),
        }
        // No reply to it is queued, and requests still work.
        assert_eq!(socket.try_recv(&mut [0u8; 64]).unwrap(), None);
        ack_round_trip(&socket, 43);
    }

    /// A second user socket that sends datagrams to `to`'s port: it plays
    /// the kernel queueing a COPY frame's message.
    fn peer() -> OwnedFd {
        let protocol =
            std::num::NonZeroU32::new(NETLINK_USERSOCK as u32).map(rustix::net::Protocol::from_raw);
        rustix::net::socket_with(
            rustix::net::AddressFamily::NETLINK,
            rustix::net::SocketType::RAW,
            rustix::net::SocketFlags::CLOEXEC,
            protocol,
        )
        .unwrap()
    }

    fn send_to(peer: &OwnedFd, to: &NetlinkSocket, datagram: &[u8]) {
        let addr = rustix::net::netlink::SocketAddrNetlink::new(to.port(), 0);
        let flags = rustix::net::SendFlags::empty();
        let sent = rustix::net::sendto(peer, datagram, flags, &addr).unwrap();
        assert_eq!(sent, datagram.len());
    }

    #[test]
    fn recv_copy_reads_the_queued_message_and_keeps_ring_and_queue_in_step() {
        let socket = NetlinkSocket::open(NETLINK_USERSOCK).unwrap();
        let peer = peer();
        let big: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        let mut buf = vec![0u8; 64 << 10];

        // The announced length: the message, exactly.
        send_to(&peer, &socket, &big);
        let len = recv_copy(&socket, 0, big.len() as u32, &mut buf).unwrap();
        assert_eq!(&buf[..len], &big[..]);

        // Nothing queued: the COPY frame lied (or the queue was drained).
        let err = recv_copy(&socket, 1, 100, &mut buf).unwrap_err();
        assert!(
            matches!(
                err,
                LinkError::Ring(RingError::Corrupt {
                    frame: 1,
                    kind: Corruption::CopyMissing
                })
            ),
            "{err}"
        );

        // Another length than announced: refused, and consumed.
        send_to(&peer, &socket, &big[..300]);
        let err = recv_copy(&socket, 2, 301, &mut buf).unwrap_err();
        assert!(
            matches!(
                err,
                LinkError::Ring(RingError::Corrupt {
                    frame: 2,
                    kind: Corruption::CopyMismatch {
                        announced: 301,
                        received: 300
                    }
                })
            ),
            "{err}"
        );

        // Longer than the buffer: refused, and consumed.
        send_to(&peer, &socket, &big);
        assert!(recv_copy(&socket, 3, big.len() as u32, &mut buf[..1000]).is_err());

        // Consumed: the next COPY frame gets the next message.
        send_to(&peer, &socket, b"next");
        assert_eq!(recv_copy(&socket, 4, 4, &mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"next");
    }

    /// An RX ring whose frames do not fill their blocks (3 per page, a
    /// tail gap each block) and a TX ring of 4 frames, laid out in one
    /// anonymous mapping exactly as `map_rings` lays out the kernel's.
    fn rings_as_the_kernel_maps_them() -> (KernelRings, KernelRing, KernelRing) {
        let page = page_size() as u32;
        let rx = geometry((page / 3) & !3, 3, 2);
        let tx = geometry(page / 4, 4, 1);
        assert_ne!(rx.frame_size * rx.frames_per_block(), rx.block_size);
        lay_out(rx, tx)
    }

    #[test]
    fn the_consumer_reads_an_rx_ring_as_the_v4_5_kernel_fills_it() {
        let (rings, mut kernel, _) = rings_as_the_kernel_maps_them();
        let mut rx = Consumer::new(rings.rx);
        let from_kernel = meta(0, 0, 0, 0);
        let from_peer = meta(0, 4242, 1000, 100);
        let multicast = meta(7, 0, 0, 0);

        // Frame 0: a message built in place.
        let pos = kernel.reserve().unwrap();
        kernel.deliver(pos, b"first message", from_kernel);
        // Frame 1: 70,000 bytes that went to the socket queue instead.
        assert_eq!(kernel.set_copied(70_000, from_peer), Some(1));
        // Frame 2: reserved, then the skb freed undelivered (empty VALID).
        let pos = kernel.reserve().unwrap();
        kernel.drop_undelivered(pos);
        // Frame 3 (the second block, after the first block's tail gap).
        let pos = kernel.reserve().unwrap();
        assert_eq!(pos, 3);
        kernel.deliver(pos, b"multicast", multicast);
        // Frame 4: still being built.
        let building = kernel.reserve().unwrap();

        let frame = rx.next().unwrap().expect("frame 0");
        assert_eq!((frame.index(), frame.payload()), (0, &b"first message"[..]));
        assert!(!frame.is_copy());
        assert_eq!(frame.meta(), from_kernel);
        drop(frame);
        let frame = rx.next().unwrap().expect("frame 1");
        assert!(frame.is_copy());
        assert_eq!((frame.index(), frame.copy_len()), (1, 70_000));
        assert_eq!(
            frame.payload(),
            b"",
            "a COPY frame's bytes are on the socket"
        );
        assert_eq!(frame.meta(), from_peer);
        drop(frame);
        let frame = rx.next().unwrap().expect("frame 3: frame 2 is empty");
        assert_eq!((frame.index(), frame.payload()), (3, &b"multicast"[..]));
        assert_eq!(frame.meta(), multicast);
        drop(frame);
        assert!(
            rx.next().unwrap().is_none(),
            "frame 4 is RESERVED: nothing yet"
        );
        // Every frame taken, and the empty one, is the kernel's again.
        for pos in 0..4 {
            assert_eq!(kernel.status(pos), Status::Unused.raw(), "frame {pos}");
        }

        kernel.deliver(building, b"late", from_kernel);
        let frame = rx.next().unwrap().expect("frame 4");
        assert_eq!((frame.index(), frame.payload()), (4, &b"late"[..]));
        // Deferred: SKIP where the kernel looks, so it steps over it.
        let deferred = frame.defer().ok().expect("room to defer");
        assert_eq!(kernel.status(4), Status::Skip.raw());

        // The next lap: frames 5, 0, 1, 2, 3, then the kernel forwards past
        // the SKIP frame 4 to frame 5 again, which the consumer still has.
        let mut lap = Vec::new();
        for i in 0..5u8 {
            let pos = kernel.reserve().expect("a free frame");
            kernel.deliver(pos, &[i; 10], from_kernel);
            lap.push(pos);
        }
        assert_eq!(lap, [5, 0, 1, 2, 3]);
        assert_eq!(kernel.head, 4);
        for (i, &pos) in lap.iter().enumerate() {
            let frame = rx.next().unwrap().expect("the lap's frames in order");
            assert_eq!((frame.index(), frame.payload()), (pos, &[i as u8; 10][..]));
            if i == 0 {
                // The kernel meanwhile steps over the deferred frame and
                // finds the next one busy: the ring is full.
                assert_eq!(kernel.reserve(), None);
                assert_eq!(kernel.head, 5);
            }
        }
        assert!(rx.next().unwrap().is_none());
        assert_eq!(kernel.reserve(), Some(5), "frame 5 released");
        kernel.deliver(5, b"after", from_kernel);
        rx.release_deferred(deferred).unwrap();
        let frame = rx.next().unwrap().expect("frame 5");
        assert_eq!(frame.payload(), b"after");
        drop(frame);
        assert!(rx.next().unwrap().is_none());
        assert_eq!(
            kernel.status(4),
            Status::Unused.raw(),
            "deferred frame released"
        );
        assert_eq!(kernel.reserve(), Some(0));
    }

    #[test]
    fn the_v4_5_kernel_sends_a_tx_ring_as_the_producer_fills_it() {
        let (rings, _, mut kernel) = rings_as_the_kernel_maps_them();
        let mut tx = Producer::new(rings.tx);
        let long = vec![0xab; tx.ring().capacity()];

        tx.reserve().unwrap().unwrap().write(b"a").unwrap();
        tx.reserve().unwrap().unwrap().write(b"bb").unwrap();
        // Dropped unbuilt: published VALID with length 0, which the kernel
        // sends as an empty datagram (ignored by every netlink family).
        drop(tx.reserve().unwrap().unwrap());
        tx.reserve().unwrap().unwrap().write(&long).unwrap();
        assert!(tx.reserve().unwrap().is_none(), "4 frames, all VALID");
        for pos in 0..4 {
            assert_eq!(kernel.status(pos), Status::Valid.raw());
        }

        let sent = kernel.send_all();
        assert_eq!(
            sent,
            [b"a".to_vec(), b"bb".to_vec(), Vec::new(), long.clone()]
        );
        assert_eq!(kernel.head, 0);

        // The frames are the producer's again; the next lap wraps.
        for i in 0..6u8 {
            match tx.reserve().unwrap().map(|frame| frame.write(&[i; 3])) {
                Some(written) => written.unwrap(),
                None => {
                    assert_eq!(i, 4, "full after a lap");
                    let lap: Vec<_> = (0..4u8).map(|j| vec![j; 3]).collect();
                    assert_eq!(kernel.send_all(), lap);
                    tx.reserve().unwrap().unwrap().write(&[i; 3]).unwrap();
                }
            }
        }
        assert_eq!(kernel.send_all(), [vec![4u8; 3], vec![5u8; 3]]);
        assert_eq!(
            kernel.send_all(),
            Vec::<Vec<u8>>::new(),
            "nothing VALID left"
        );
    }
}
