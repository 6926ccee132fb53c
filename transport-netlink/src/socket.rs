//! A plain AF_NETLINK socket with the defaults users expect: extended acks,
//! strict checking, capped acks, and a large receive buffer.

use crate::meta::CONTROL_LEN;
use ringlink_core::{FrameMeta, LinkError};
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// `SOL_NETLINK`.
const SOL_NETLINK: i32 = 270;
/// `NETLINK_ADD_MEMBERSHIP`: join a multicast group.
const NETLINK_ADD_MEMBERSHIP: i32 = 1;
/// `NETLINK_CAP_ACK`: acks carry only the request's header.
const NETLINK_CAP_ACK: i32 = 10;
/// `NETLINK_EXT_ACK`: errors carry text and the offending offset.
const NETLINK_EXT_ACK: i32 = 11;
/// `NETLINK_GET_STRICT_CHK`: the kernel checks (and filters) dump requests.
const NETLINK_GET_STRICT_CHK: i32 = 12;

/// `NETLINK_ROUTE`.
pub const NETLINK_ROUTE: i32 = 0;
/// `NETLINK_NETFILTER`.
pub const NETLINK_NETFILTER: i32 = 12;
/// `NETLINK_GENERIC`.
pub const NETLINK_GENERIC: i32 = 16;

/// Receive buffer asked for (needs CAP_NET_ADMIN to exceed rmem_max).
const RCVBUF: usize = 8 << 20;
/// Send buffer asked for (needs CAP_NET_ADMIN to exceed wmem_max).
const SNDBUF: usize = 4 << 20;

/// A bound netlink socket.
pub struct NetlinkSocket {
    fd: OwnedFd,
    port: u32,
    /// The receive buffer the kernel granted, and whether it was forced.
    rcvbuf: (usize, bool),
    /// The send buffer the kernel granted.
    sndbuf: usize,
}

impl NetlinkSocket {
    /// Opens and binds a socket of `protocol` (e.g. [`NETLINK_ROUTE`]) with
    /// extended acks, strict checking and capped acks on where the kernel
    /// has them (since Linux 4.12, 4.20 and 4.3), and asks for an 8 MiB
    /// receive buffer (forced when allowed).
    pub fn open(protocol: i32) -> io::Result<NetlinkSocket> {
        // Protocol 0 (NETLINK_ROUTE) is "no protocol" to rustix.
        let protocol =
            std::num::NonZeroU32::new(protocol as u32).map(rustix::net::Protocol::from_raw);
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            protocol,
        )?;
        rustix::net::bind(&fd, &SocketAddrNetlink::new(0, 0))?;
        let port = SocketAddrNetlink::try_from(rustix::net::getsockname(&fd)?)
            .map(|a| a.pid())
            .map_err(|_| io::Error::other("getsockname did not return a netlink address"))?;
        for option in [NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK, NETLINK_CAP_ACK] {
            // Kernels older than the option (4.3, 4.12, 4.20: the mapped
            // rings' 3.10-4.5 among them) refuse it; the socket works
            // without it, with plainer errors and unfiltered dumps.
            match set_int(fd.as_fd(), SOL_NETLINK, option, 1) {
                Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => {}
                other => other?,
            }
        }
        // The group and the sender's credentials come with every datagram,
        // to fill the frame headers.
        set_int(fd.as_fd(), SOL_NETLINK, crate::meta::NETLINK_PKTINFO, 1)?;
        rustix::net::sockopt::set_socket_passcred(&fd, true)?;
        let forced = rustix::net::sockopt::set_socket_recv_buffer_size_force(&fd, RCVBUF).is_ok();
        if !forced {
            rustix::net::sockopt::set_socket_recv_buffer_size(&fd, RCVBUF)?;
        }
        let granted = rustix::net::sockopt::socket_recv_buffer_size(&fd)?;
        // A large send buffer lets one sendmsg carry thousands of requests.
        if rustix::net::sockopt::set_socket_send_buffer_size_force(&fd, SNDBUF).is_err() {
            rustix::net::sockopt::set_socket_send_buffer_size(&fd, SNDBUF)?;
        }
        let sndbuf = rustix::net::sockopt::socket_send_buffer_size(&fd)?;
        Ok(NetlinkSocket {
            fd,
            port,
            rcvbuf: (granted, forced),
            sndbuf,
        })
    }

    /// Sets the receive buffer to `size` bytes (forced when allowed).
    pub fn set_receive_buffer(&mut self, size: usize) -> io::Result<()> {
        let forced =
            rustix::net::sockopt::set_socket_recv_buffer_size_force(&self.fd, size).is_ok();
        if !forced {
            rustix::net::sockopt::set_socket_recv_buffer_size(&self.fd, size)?;
        }
        self.rcvbuf = (
            rustix::net::sockopt::socket_recv_buffer_size(&self.fd)?,
            forced,
        );
        Ok(())
    }

    /// Joins multicast group `group` (e.g. `RTNLGRP_IPV4_ROUTE`) to receive
    /// its notifications.
    pub fn join_group(&self, group: u32) -> io::Result<()> {
        set_int(
            self.fd.as_fd(),
            SOL_NETLINK,
            NETLINK_ADD_MEMBERSHIP,
            group as i32,
        )
    }

    /// The port id the kernel gave this socket.
    pub fn port(&self) -> u32 {
        self.port
    }

    /// The receive buffer granted, and whether it could be forced past the
    /// system limit (needs CAP_NET_ADMIN).
    pub fn receive_buffer(&self) -> (usize, bool) {
        self.rcvbuf
    }

    /// Sends one datagram to the kernel.
    pub fn send(&self, datagram: &[u8]) -> io::Result<()> {
        let kernel = SocketAddrNetlink::new(0, 0);
        let sent =
            rustix::net::sendto(&self.fd, datagram, rustix::net::SendFlags::empty(), &kernel)?;
        match sent == datagram.len() {
            true => Ok(()),
            false => Err(io::Error::other(format!(
                "sent {sent} of {} bytes",
                datagram.len()
            ))),
        }
    }

    /// Receives one datagram into `buf`; an error if it did not fit (it is
    /// then consumed: size buffers for the largest datagram, 32 KiB for
    /// dumps).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let (_, len) = rustix::net::recv(&self.fd, &mut *buf, rustix::net::RecvFlags::TRUNC)?;
        if len > buf.len() {
            return Err(io::Error::other(format!(
                "a {len}-byte datagram did not fit the {}-byte buffer",
                buf.len()
            )));
        }
        Ok(len)
    }
}

impl NetlinkSocket {
    /// The largest datagram one `sendmsg` may carry (the kernel refuses
    /// datagrams longer than the send buffer less 32 bytes).
    pub fn max_datagram(&self) -> usize {
        self.sndbuf.saturating_sub(32)
    }

    /// Sends one datagram made of `parts` (one message or more each) to the
    /// kernel with a single `sendmsg`.
    pub fn send_vectored(&self, parts: &[std::io::IoSlice<'_>]) -> io::Result<()> {
        let kernel = SocketAddrNetlink::new(0, 0);
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut control = Default::default();
        let sent = rustix::net::sendmsg_addr(
            &self.fd,
            &kernel,
            parts,
            &mut control,
            rustix::net::SendFlags::empty(),
        )?;
        match sent == total {
            true => Ok(()),
            false => Err(io::Error::other(format!("sent {sent} of {total} bytes"))),
        }
    }

    /// Receives one datagram into `buf` without blocking: `Ok(None)` when
    /// none is queued. An overrun is an error that says how to recover; a
    /// datagram longer than `buf` is an error too.
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<Option<usize>, LinkError> {
        let len = buf.len();
        let mut got = [Received::default()];
        match self.try_recv_batch(&mut [IoSliceMut::new(buf)], &mut got)? {
            0 => Ok(None),
            _ if got[0].truncated => Err(cut(len)),
            _ => Ok(Some(got[0].len)),
        }
    }

    /// Receives up to `bufs.len()` (at most [`RECV_BATCH_MAX`]) queued
    /// datagrams with one `recvmmsg`, without blocking: datagram `i` into
    /// `bufs[i]`, its length and metadata into `got[i]`. Returns how many
    /// arrived, 0 when none is queued. An overrun (the kernel dropped
    /// messages because the receive buffer was full) is an error that says
    /// how to recover; a datagram longer than its buffer is cut, and marked
    /// [`Received::truncated`], so the datagrams after it in the batch are
    /// still handed over.
    pub fn try_recv_batch(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        got: &mut [Received],
    ) -> Result<usize, LinkError> {
        let n = bufs.len().min(got.len()).min(RECV_BATCH_MAX);
        let mut control = [[0u8; crate::meta::CONTROL_LEN]; RECV_BATCH_MAX];
        // SAFETY: an all-zero mmsghdr is a valid (empty) value.
        let mut msgs: [libc::mmsghdr; RECV_BATCH_MAX] = unsafe { std::mem::zeroed() };
        for ((msg, buf), control) in msgs.iter_mut().zip(bufs.iter_mut()).zip(&mut control) {
            // IoSliceMut is ABI-compatible with iovec (std guarantees it).
            msg.msg_hdr.msg_iov = (buf as *mut IoSliceMut<'_>).cast();
            msg.msg_hdr.msg_iovlen = 1;
            msg.msg_hdr.msg_control = control.as_mut_ptr().cast();
            msg.msg_hdr.msg_controllen = control.len() as _;
        }
        // SAFETY: a valid descriptor; `n` headers, each pointing at one live
        // iovec (a buffer borrowed mutably for this call) and a live control
        // buffer of the length given; no address is asked for.
        let rc = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            return match io::Error::last_os_error().raw_os_error() {
                Some(libc::EAGAIN) => Ok(0),
                code => Err(receive_error(code.unwrap_or(0))),
            };
        }
        for (i, msg) in msgs.iter().take(rc as usize).enumerate() {
            let control = &control[i][..msg.msg_hdr.msg_controllen.min(CONTROL_LEN)];
            got[i] = Received {
                len: msg.msg_len as usize,
                meta: crate::meta::from_control(control),
                truncated: msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            };
        }
        Ok(rc as usize)
    }
}

/// Most datagrams one [`NetlinkSocket::try_recv_batch`] receives.
pub const RECV_BATCH_MAX: usize = 32;

/// What one datagram of a batch receive brought.
#[derive(Clone, Copy, Debug, Default)]
pub struct Received {
    /// Its length.
    pub len: usize,
    /// Its group and sender credentials.
    pub meta: FrameMeta,
    /// It did not fit its buffer and was cut: not a whole datagram.
    pub truncated: bool,
}

/// The error for a datagram that did not fit a `len`-byte buffer.
pub(crate) fn cut(len: usize) -> LinkError {
    LinkError::Protocol(format!(
        "a datagram did not fit a {len}-byte frame and was cut (dropped); \
         open the link with a larger NetlinkOptions::frame_message"
    ))
}

/// A failed receive as a link error; an overrun says how to recover.
pub(crate) fn receive_error(code: i32) -> LinkError {
    match code {
        libc::ENOBUFS => LinkError::io(
            "receive buffer overrun: the kernel dropped messages; resync with a fresh dump",
            io::Error::from_raw_os_error(code),
        ),
        _ => LinkError::io(
            "receiving from the netlink socket",
            io::Error::from_raw_os_error(code),
        ),
    }
}

impl AsFd for NetlinkSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `setsockopt(fd, level, option, &value, 4)`.
fn set_int(fd: BorrowedFd<'_>, level: i32, option: i32, value: i32) -> io::Result<()> {
    // SAFETY: a valid descriptor, a pointer to a live i32 and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            option,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}
