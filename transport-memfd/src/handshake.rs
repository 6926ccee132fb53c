//! The link handshake: the creator passes the segment memfd and the two
//! eventfds over the link socket (SCM_RIGHTS), after a short greeting.

use crate::error::SetupError;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::{Errno, fcntl_dupfd_cloexec};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Duration;

/// The greeting: protocol name and version.
const GREETING: [u8; 8] = *b"RLNKHS01";

/// What the creator passes: the segment, the acceptor's own eventfd, and
/// the creator's eventfd (which the acceptor writes to wake it).
pub(crate) struct Offer {
    /// The sealed segment memfd.
    pub(crate) segment: OwnedFd,
    /// The eventfd the acceptor sleeps on.
    pub(crate) acceptor_wake: OwnedFd,
    /// The eventfd the creator sleeps on.
    pub(crate) creator_wake: OwnedFd,
}

/// Sends the greeting with the three descriptors.
pub(crate) fn send(socket: BorrowedFd<'_>, fds: [BorrowedFd<'_>; 3]) -> Result<(), SetupError> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(SetupError::BadHandshake(
            "no room for three descriptors".into(),
        ));
    }
    let sent = sendmsg(
        socket,
        &[IoSlice::new(&GREETING)],
        &mut control,
        SendFlags::NOSIGNAL,
    )
    .map_err(|e| SetupError::io("sending the link handshake", e))?;
    if sent != GREETING.len() {
        return Err(SetupError::BadHandshake(format!(
            "sent {sent} of {} bytes",
            GREETING.len()
        )));
    }
    Ok(())
}

/// Receives the greeting and the three descriptors, waiting up to
/// `timeout` for them.
pub(crate) fn receive(socket: BorrowedFd<'_>, timeout: Duration) -> Result<Offer, SetupError> {
    let timespec = rustix::time::Timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    let mut fds = [PollFd::new(&socket, PollFlags::IN)];
    let ready = poll(&mut fds, Some(&timespec))
        .map_err(|e| SetupError::io("waiting for the link handshake", e))?;
    if ready == 0 {
        return Err(SetupError::BadHandshake(format!(
            "nothing arrived within {timeout:?}"
        )));
    }
    let mut buf = [0u8; GREETING.len() + 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
    )
    .map_err(|e| SetupError::io("receiving the link handshake", e))?;
    let mut received: Vec<OwnedFd> = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = message {
            received.extend(rights);
        }
    }
    if msg.flags.contains(ReturnFlags::CTRUNC) {
        // The kernel drops passed descriptors it cannot install, most
        // often because this process has none left: say so if that is why.
        if let Err(e @ (Errno::MFILE | Errno::NFILE)) = fcntl_dupfd_cloexec(socket, 0) {
            return Err(SetupError::io(
                "receiving the link's descriptors (the kernel dropped them)",
                e,
            ));
        }
        return Err(SetupError::BadHandshake(
            "the descriptors passed were cut off (more than 3, or none could be installed)".into(),
        ));
    }
    if msg.flags.contains(ReturnFlags::TRUNC) {
        return Err(SetupError::BadHandshake("greeting truncated".into()));
    }
    if msg.bytes == 0 {
        return Err(SetupError::BadHandshake(
            "the peer closed the socket before the handshake".into(),
        ));
    }
    if buf[..msg.bytes] != GREETING {
        return Err(SetupError::BadHandshake(format!(
            "greeting {:?} is not ringlink's {:?}",
            String::from_utf8_lossy(&buf[..msg.bytes]),
            String::from_utf8_lossy(&GREETING)
        )));
    }
    let count = received.len();
    let [segment, acceptor_wake, creator_wake]: [OwnedFd; 3] = received
        .try_into()
        .map_err(|_| SetupError::BadHandshake(format!("{count} descriptors instead of 3")))?;
    Ok(Offer {
        segment,
        acceptor_wake,
        creator_wake,
    })
}
