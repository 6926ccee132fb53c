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
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

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

/// Waits up to `timeout` for `socket` to be readable; a signal does not
/// end the wait.
fn wait_readable(socket: BorrowedFd<'_>, timeout: Duration) -> Result<(), SetupError> {
    // A timeout too long to count to is waited out in full slices.
    let deadline = Instant::now().checked_add(timeout);
    loop {
        let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
        let timespec = rustix::time::Timespec {
            tv_sec: left.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&socket, PollFlags::IN)];
        match poll(&mut fds, Some(&timespec)) {
            Ok(0) => {
                return Err(SetupError::BadHandshake(format!(
                    "nothing arrived within {timeout:?}: is the creator running and offering \
                     a link on this socket? (LinkOptions::handshake_timeout sets the wait)"
                )));
            }
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(SetupError::io("waiting for the link handshake", e)),
        }
    }
}

/// Refuses a passed wake-up descriptor that is not an eventfd, and makes
/// it non-blocking: the link reads and writes it on every sleep and wake,
/// which must never block (a peer passing a pipe would hang them).
fn check_eventfd(fd: &OwnedFd, what: &str) -> Result<(), SetupError> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    // Without /proc the type cannot be told; non-blocking still holds.
    if let Ok(target) = rustix::fs::readlink(path.as_str(), Vec::new())
        && target.as_bytes() != b"anon_inode:[eventfd]"
    {
        return Err(SetupError::BadHandshake(format!(
            "{what} is {}, not an eventfd",
            target.to_string_lossy()
        )));
    }
    let flags = rustix::fs::fcntl_getfl(fd).map_err(|e| SetupError::io(what, e))?;
    rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK)
        .map_err(|e| SetupError::io(what, e))
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
    wait_readable(socket, timeout)?;
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
    check_eventfd(&acceptor_wake, "the acceptor's wake-up descriptor")?;
    check_eventfd(&creator_wake, "the creator's wake-up descriptor")?;
    Ok(Offer {
        segment,
        acceptor_wake,
        creator_wake,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wake::new_eventfd;
    use rustix::event::{EventfdFlags, eventfd};
    use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
    use std::os::fd::AsFd;

    /// Sends the greeting with `fds` over a fresh socket pair and receives
    /// it at the other end.
    fn offered(fds: [BorrowedFd<'_>; 3]) -> Result<Offer, SetupError> {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        send(a.as_fd(), fds).unwrap();
        receive(b.as_fd(), Duration::from_secs(1))
    }

    #[test]
    fn a_wake_up_descriptor_that_is_not_an_eventfd_is_refused() {
        let segment = new_eventfd().unwrap();
        let good = new_eventfd().unwrap();
        let (pipe, _writer) = std::io::pipe().unwrap();
        let refused = offered([segment.as_fd(), pipe.as_fd(), good.as_fd()]).err();
        let shown = refused.expect("a pipe is refused").to_string();
        assert!(
            shown.contains("the acceptor's wake-up descriptor is pipe:"),
            "{shown}"
        );
        assert!(shown.contains("not an eventfd"), "{shown}");
        let refused = offered([segment.as_fd(), good.as_fd(), pipe.as_fd()]).err();
        let shown = refused.expect("a pipe is refused").to_string();
        assert!(
            shown.contains("the creator's wake-up descriptor"),
            "{shown}"
        );
    }

    #[test]
    fn passed_eventfds_are_made_non_blocking() {
        let segment = new_eventfd().unwrap();
        let blocking = [(); 2].map(|()| eventfd(0, EventfdFlags::CLOEXEC).unwrap());
        let offer = offered([segment.as_fd(), blocking[0].as_fd(), blocking[1].as_fd()]).unwrap();
        for fd in [&offer.acceptor_wake, &offer.creator_wake] {
            let flags = rustix::fs::fcntl_getfl(fd).unwrap();
            assert!(flags.contains(rustix::fs::OFlags::NONBLOCK));
            // Empty: a read says so at once instead of blocking.
            assert_eq!(rustix::io::read(fd, &mut [0u8; 8]), Err(Errno::AGAIN));
        }
    }

    #[test]
    fn nothing_offered_is_a_timeout_that_says_what_to_check() {
        let (_a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let shown = receive(b.as_fd(), Duration::from_millis(50))
            .err()
            .expect("a timeout")
            .to_string();
        assert!(shown.contains("is the creator running"), "{shown}");
    }
}
