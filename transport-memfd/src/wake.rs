//! Waking a sleeping peer without a syscall per message, and noticing a
//! dead one.
//!
//! Each side owns an eventfd. A side about to sleep announces itself in its
//! control-page word, re-checks its condition, then sleeps in `epoll_wait`
//! on its eventfd and on the link socket (for hang-up only). The other side,
//! after publishing frames, fences and reads that word: only if someone
//! announced itself does it write the eventfd. Under load nobody sleeps, so
//! messages flow with no system call at all. The epoll descriptor is the
//! link's pollable fd.

use crate::control::Side;
use crate::segment::Mapping;
use ringlink_core::Notifier;
use rustix::event::epoll::{self, Event, EventData, EventFlags};
use rustix::event::{EventfdFlags, eventfd};
use rustix::io::Errno;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU32, fence};
use std::time::Duration;

/// epoll key of the side's own eventfd.
const EVENTFD_KEY: u64 = 0;
/// epoll key of the link socket.
const SOCKET_KEY: u64 = 1;

/// A fresh, non-blocking, close-on-exec eventfd.
pub(crate) fn new_eventfd() -> io::Result<OwnedFd> {
    Ok(eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)?)
}

/// One side's wake-up machinery.
pub(crate) struct Wake {
    mapping: Arc<Mapping>,
    side: Side,
    /// This side's eventfd: the peer writes it to wake us.
    own: OwnedFd,
    /// The peer's eventfd.
    peer: OwnedFd,
    /// `own` (readable) and the socket (hang-up).
    epoll: OwnedFd,
    /// The socket reported hang-up: the peer is gone.
    peer_gone: AtomicBool,
}

impl Wake {
    /// Wake-up for `side`, sleeping on `own` and `socket`, waking `peer`.
    pub(crate) fn new(
        mapping: Arc<Mapping>,
        side: Side,
        own: OwnedFd,
        peer: OwnedFd,
        socket: BorrowedFd<'_>,
    ) -> io::Result<Wake> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        epoll::add(
            &epoll,
            &own,
            EventData::new_u64(EVENTFD_KEY),
            EventFlags::IN,
        )?;
        epoll::add(
            &epoll,
            socket,
            EventData::new_u64(SOCKET_KEY),
            EventFlags::RDHUP,
        )?;
        Ok(Wake {
            mapping,
            side,
            own,
            peer,
            epoll,
            peer_gone: AtomicBool::new(false),
        })
    }

    fn waiting(&self, side: Side) -> &AtomicU32 {
        &self.mapping.control().sides[side.index()].waiting
    }

    /// The pollable descriptor: readable when the peer woke us or hung up.
    pub(crate) fn pollable(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }

    /// Whether the socket reported hang-up.
    pub(crate) fn peer_gone(&self) -> bool {
        self.peer_gone.load(Relaxed)
    }

    /// Records that the peer is gone (seen by another check).
    pub(crate) fn mark_peer_gone(&self) {
        self.peer_gone.store(true, Relaxed);
    }

    /// Wakes the peer only if it announced itself, with no fence: a cheap
    /// hint for per-message paths; [`Notifier::notify`] is the sure one.
    pub(crate) fn nudge(&self) -> io::Result<()> {
        if self.waiting(self.side.peer()).load(Relaxed) != 0 {
            self.notify()?;
        }
        Ok(())
    }

    /// Announces a waiter that will wait on the pollable fd (an event loop)
    /// instead of in [`Notifier::wait`]; undone by [`Wake::disarm`].
    pub(crate) fn arm(&self) {
        self.waiting(self.side).fetch_add(1, SeqCst);
    }

    /// Withdraws an [`Wake::arm`] announcement and empties the eventfd.
    pub(crate) fn disarm(&self) {
        self.waiting(self.side).fetch_sub(1, SeqCst);
        self.drain();
    }

    /// Empties this side's eventfd after a wake-up.
    fn drain(&self) {
        let mut buf = [0u8; 8];
        // Non-blocking: EAGAIN when there was nothing to drain.
        let _ = rustix::io::read(&self.own, &mut buf);
    }
}

impl Notifier for Wake {
    fn wait(&self, ready: &mut dyn FnMut() -> bool, timeout: Option<Duration>) -> io::Result<()> {
        let waiting = self.waiting(self.side);
        // SeqCst RMW: the announcement is ordered before the re-check and
        // pairs with the fence in the peer's `notify` (no lost wake-up).
        waiting.fetch_add(1, SeqCst);
        let result = if ready() { Ok(()) } else { self.sleep(timeout) };
        waiting.fetch_sub(1, SeqCst);
        self.drain();
        result
    }

    fn notify(&self) -> io::Result<()> {
        // Orders our publication before reading the peer's announcement.
        fence(SeqCst);
        if self.waiting(self.side.peer()).load(Relaxed) == 0 {
            return Ok(());
        }
        match rustix::io::write(&self.peer, &1u64.to_ne_bytes()) {
            // EAGAIN: the counter is saturated, the peer is awake anyway.
            Ok(_) | Err(Errno::AGAIN) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Wake {
    /// One `epoll_wait`; notes a hang-up of the socket.
    fn sleep(&self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = timeout.map(|t| rustix::time::Timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        let mut events = [Event {
            flags: EventFlags::empty(),
            data: EventData::new_u64(0),
        }; 2];
        let n = match epoll::wait(&self.epoll, &mut events[..], timeout.as_ref()) {
            Ok(n) => n,
            Err(Errno::INTR) => 0,
            Err(e) => return Err(e.into()),
        };
        let hang_up = EventFlags::HUP | EventFlags::RDHUP | EventFlags::ERR;
        let socket_hung_up = |e: &Event| {
            // Copies: the kernel's epoll_event is packed.
            let (data, flags) = (e.data, e.flags);
            data.u64() == SOCKET_KEY && flags.intersects(hang_up)
        };
        if events[..n].iter().any(socket_hung_up) {
            self.mark_peer_gone();
        }
        Ok(())
    }
}
