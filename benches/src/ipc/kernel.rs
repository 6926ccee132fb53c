//! The kernel's ways between two processes, each a system call per send
//! and per receive: a Unix stream socket, a Unix `SOCK_SEQPACKET` socket
//! and a pair of pipes. The child gets its end of the last two as its
//! standard input and output.

use super::transport::Transport;
use rustix::net::{RecvFlags, SendFlags};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// Bytes of kernel buffer asked for each way (pipes; sockets keep their
/// defaults, which hold more than one 64 KiB message).
const PIPE_BUFFER: usize = 1 << 20;

impl Transport for UnixStream {
    fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        self.write_all(msg)
            .map_err(|e| format!("socket write: {e}"))
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<(), String> {
        self.read_exact(buf)
            .map_err(|e| format!("socket read: {e}"))
    }
}

/// A Unix `SOCK_SEQPACKET` socket: one message per call, boundaries kept.
pub(super) struct Seqpacket(pub(super) OwnedFd);

impl Seqpacket {
    /// A connected pair: ours, and the one the child gets as its standard
    /// input.
    pub(super) fn pair() -> Result<(Seqpacket, OwnedFd), String> {
        use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
        let (ours, theirs) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| format!("socketpair(SOCK_SEQPACKET): {e}"))?;
        Ok((Seqpacket(ours), theirs))
    }

    /// The child's end: its standard input.
    pub(super) fn from_stdin() -> Result<Seqpacket, String> {
        let fd = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| format!("taking the socket from standard input: {e}"))?;
        Ok(Seqpacket(fd))
    }
}

impl Transport for Seqpacket {
    fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        let sent = rustix::net::send(&self.0, msg, SendFlags::empty())
            .map_err(|e| format!("seqpacket send: {e}"))?;
        if sent != msg.len() {
            return Err(format!("seqpacket send took {sent} of {} bytes", msg.len()));
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<(), String> {
        let (got, whole) = rustix::net::recv(&self.0, &mut *buf, RecvFlags::TRUNC)
            .map_err(|e| format!("seqpacket recv: {e}"))?;
        if got != buf.len() || whole != buf.len() {
            return Err(format!(
                "seqpacket recv: a {whole}-byte message, {} expected",
                buf.len()
            ));
        }
        Ok(())
    }
}

/// Two pipes, one each way.
pub(super) struct Pipes {
    rx: File,
    tx: File,
}

impl Pipes {
    /// Our ends, and the child's (its standard input, then its standard
    /// output). Each pipe is enlarged to [`PIPE_BUFFER`] where allowed.
    pub(super) fn pair() -> Result<(Pipes, [OwnedFd; 2]), String> {
        let pipe = || -> Result<(OwnedFd, OwnedFd), String> {
            let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                .map_err(|e| format!("pipe: {e}"))?;
            // Best effort: the default (64 KiB) holds one large message.
            let _ = rustix::pipe::fcntl_setpipe_size(&write, PIPE_BUFFER);
            Ok((read, write))
        };
        let (child_reads, we_write) = pipe()?;
        let (we_read, child_writes) = pipe()?;
        let ours = Pipes {
            rx: File::from(we_read),
            tx: File::from(we_write),
        };
        Ok((ours, [child_reads, child_writes]))
    }

    /// The child's ends: its standard input and output.
    pub(super) fn from_stdio() -> Result<Pipes, String> {
        let taken = |fd: std::os::fd::BorrowedFd<'_>| {
            fd.try_clone_to_owned()
                .map(File::from)
                .map_err(|e| format!("taking a pipe from standard input/output: {e}"))
        };
        Ok(Pipes {
            rx: taken(std::io::stdin().as_fd())?,
            tx: taken(std::io::stdout().as_fd())?,
        })
    }
}

impl Transport for Pipes {
    fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        self.tx
            .write_all(msg)
            .map_err(|e| format!("pipe write: {e}"))
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<(), String> {
        self.rx
            .read_exact(buf)
            .map_err(|e| format!("pipe read: {e}"))
    }
}
