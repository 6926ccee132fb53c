//! Each mechanism as a two-way channel of fixed-size messages (the
//! [`Transport`] trait the shared measuring loops are written against), and
//! how the two processes of a case find each other.

use super::Mechanism;
use super::iceoryx::Iceoryx;
use super::kernel::{Pipes, Seqpacket};
use super::shm_ring::ShmRing;
use ringlink_core::{FrameReceiver, FrameSender, SpinPolicy};
use ringlink_memfd::{Link, LinkOptions, Trust, pair_for_child};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::process::{Child, Command, Stdio};

/// A two-way channel of messages, copying them in and out: all a mechanism
/// provides to the measuring loops.
pub(super) trait Transport {
    /// Sends `msg` (waits while full).
    fn send(&mut self, msg: &[u8]) -> Result<(), String>;
    /// Receives the next message into `buf`, whose length it has.
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), String>;
    /// Makes sent messages visible to a sleeping peer.
    fn flush(&mut self) -> Result<(), String> {
        Ok(())
    }
}

impl Transport for Link {
    fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        loop {
            if let Some(mut frame) = self.reserve().map_err(|e| e.to_string())? {
                frame.buf()[..msg.len()].copy_from_slice(msg);
                return frame.commit(msg.len()).map_err(|e| e.to_string());
            }
            self.wait_writable(None).map_err(|e| e.to_string())?;
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<(), String> {
        let msg = FrameReceiver::recv(self, None).map_err(|e| e.to_string())?;
        buf.copy_from_slice(&msg);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), String> {
        FrameSender::flush(self).map_err(|e| e.to_string())
    }
}

/// Two shared rings, one each way.
pub(super) struct ShmPipe {
    tx: ShmRing,
    rx: ShmRing,
}

impl Transport for ShmPipe {
    fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        self.tx.push(msg);
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<(), String> {
        self.rx.pop(buf);
        Ok(())
    }
}

/// Messages in flight each way for a message size (ring frames, queue
/// depths): about 1 MiB of messages, at least 32, a power of two.
pub(super) fn slots(size: usize) -> u32 {
    ((1 << 20) / size.max(64))
        .clamp(32, 1024)
        .next_power_of_two() as u32
}

fn link_options(mechanism: Mechanism, size: usize) -> LinkOptions {
    LinkOptions {
        frame_message: size,
        frames: slots(size),
        max_message: size,
        // Like the shm ring, read in place.
        trust: Trust::Peer,
        spin: match mechanism {
            Mechanism::RinglinkSpin => SpinPolicy::BUSY,
            _ => SpinPolicy::default(),
        },
        ..LinkOptions::default()
    }
}

/// Shared-memory, socket and service names unique to this harness run
/// and case.
fn name(kind: &str, size: usize) -> String {
    format!("ringlink-bench-{}-{kind}-{size}", std::process::id())
}

/// One end of a case's channel, one variant per kind.
#[allow(
    clippy::large_enum_variant,
    reason = "one endpoint per case, never moved in a loop"
)]
pub(super) enum Endpoint {
    Link(Link),
    Shm(ShmPipe),
    Iceoryx(Iceoryx),
    Unix(UnixStream),
    Seqpacket(Seqpacket),
    Pipes(Pipes),
}

/// Runs `$body` with `$t` bound to the endpoint's concrete transport, so
/// the per-message loops are compiled for each kind (no dynamic calls).
macro_rules! with_transport {
    ($endpoint:expr, $t:ident => $body:expr) => {
        match $endpoint {
            transport::Endpoint::Link($t) => $body,
            transport::Endpoint::Shm($t) => $body,
            transport::Endpoint::Iceoryx($t) => $body,
            transport::Endpoint::Unix($t) => $body,
            transport::Endpoint::Seqpacket($t) => $body,
            transport::Endpoint::Pipes($t) => $body,
        }
    };
}

/// Spawns the child of a case (with whatever it needs to find us) and
/// returns our end of the channel.
pub(super) fn spawn(
    mechanism: Mechanism,
    size: usize,
    command: &mut Command,
) -> Result<(Endpoint, Child), String> {
    let spawn_failed = |e: std::io::Error| format!("spawning the child: {e}");
    match mechanism {
        Mechanism::RinglinkSpin | Mechanism::RinglinkBlocking => {
            let (link, end) =
                pair_for_child(&link_options(mechanism, size)).map_err(|e| e.to_string())?;
            let child = end.spawn(command).map_err(|e| e.to_string())?;
            Ok((Endpoint::Link(link), child))
        }
        Mechanism::ShmRing => {
            let (to_child, to_parent) = (name("down", size), name("up", size));
            let tx = ShmRing::create(&to_child, size, slots(size))?;
            let rx = ShmRing::create(&to_parent, size, slots(size))?;
            let child = command
                .args([&to_child, &to_parent])
                .spawn()
                .map_err(spawn_failed)?;
            Ok((Endpoint::Shm(ShmPipe { tx, rx }), child))
        }
        Mechanism::Iceoryx2 => {
            let prefix = name("iceoryx2", size);
            let ours = Iceoryx::open(&prefix, size, slots(size) as usize, true)?;
            let child = command.arg(&prefix).spawn().map_err(spawn_failed)?;
            Ok((Endpoint::Iceoryx(ours), child))
        }
        Mechanism::UnixStream => {
            let name = name("unix", size);
            let address = SocketAddr::from_abstract_name(&name).map_err(|e| e.to_string())?;
            let listener =
                UnixListener::bind_addr(&address).map_err(|e| format!("binding @{name}: {e}"))?;
            let child = command.arg(&name).spawn().map_err(spawn_failed)?;
            let (stream, _) = listener
                .accept()
                .map_err(|e| format!("accepting the child: {e}"))?;
            Ok((Endpoint::Unix(stream), child))
        }
        Mechanism::UnixSeqpacket => {
            let (ours, theirs) = Seqpacket::pair()?;
            let child = command
                .stdin(Stdio::from(theirs))
                .spawn()
                .map_err(spawn_failed)?;
            Ok((Endpoint::Seqpacket(ours), child))
        }
        Mechanism::Pipe => {
            let (ours, [stdin, stdout]) = Pipes::pair()?;
            let child = command
                .stdin(Stdio::from(stdin))
                .stdout(Stdio::from(stdout))
                .spawn()
                .map_err(spawn_failed)?;
            Ok((Endpoint::Pipes(ours), child))
        }
    }
}

/// The child's end of the channel, from the rest of its command line.
pub(super) fn child_endpoint(
    mechanism: Mechanism,
    size: usize,
    rest: &[String],
) -> Result<Endpoint, String> {
    match (mechanism, rest) {
        (Mechanism::RinglinkSpin | Mechanism::RinglinkBlocking, []) => {
            let link =
                Link::from_inherited(&link_options(mechanism, size)).map_err(|e| e.to_string())?;
            Ok(Endpoint::Link(link))
        }
        (Mechanism::ShmRing, [from_parent, to_parent]) => {
            let rx = ShmRing::open(from_parent, size, slots(size))?;
            let tx = ShmRing::open(to_parent, size, slots(size))?;
            Ok(Endpoint::Shm(ShmPipe { tx, rx }))
        }
        (Mechanism::Iceoryx2, [prefix]) => Ok(Endpoint::Iceoryx(Iceoryx::open(
            prefix,
            size,
            slots(size) as usize,
            false,
        )?)),
        (Mechanism::UnixStream, [name]) => {
            let address = SocketAddr::from_abstract_name(name).map_err(|e| e.to_string())?;
            let stream = UnixStream::connect_addr(&address)
                .map_err(|e| format!("connecting to @{name}: {e}"))?;
            Ok(Endpoint::Unix(stream))
        }
        (Mechanism::UnixSeqpacket, []) => Ok(Endpoint::Seqpacket(Seqpacket::from_stdin()?)),
        (Mechanism::Pipe, []) => Ok(Endpoint::Pipes(Pipes::from_stdio()?)),
        _ => Err(format!(
            "bad child arguments for {}: {rest:?}",
            mechanism.name()
        )),
    }
}
