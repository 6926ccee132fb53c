//! Waking a sleeping peer without a syscall per message, and noticing a
//! dead one.
//!
//! Links made over a socket use eventfds:
//! Each side owns an eventfd. A side about to sleep announces itself in its
//! control-page word, re-checks its condition, then sleeps in `epoll_wait`
//! on its eventfd and on the link socket (for hang-up only). The other side,
//! after publishing frames, fences and reads that word: only if someone
//! announced itself does it write the eventfd. Under load nobody sleeps, so
//! messages flow with no system call at all. The epoll descriptor is the
//! link's pollable fd.
//!
//! Named segments (no descriptors to pass) sleep on futexes in the control
//! page instead, in slices, looking between slices whether the peer's
//! process still exists.

use crate::control::{Side, SideWords};
use crate::segment::Mapping;
use ringlink_core::{Doorbell, Notifier};
use rustix::event::epoll::{self, Event, EventData, EventFlags};
use rustix::event::{EventfdFlags, eventfd};
use rustix::io::Errno;
use rustix::process::Pid;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, fence};
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
    /// The peer is known to be gone (hang-up, or its process exited).
    peer_gone: AtomicBool,
    kind: Kind,
}

/// How a side sleeps.
enum Kind {
    /// On its eventfd, via epoll (links made over a socket).
    Events {
        /// This side's eventfd: the peer writes it to wake us.
        own: OwnedFd,
        /// The peer's eventfd.
        peer: OwnedFd,
        /// `own` (readable) and the socket (hang-up).
        epoll: OwnedFd,
    },
    /// On a futex in the control page (named segments: no descriptors).
    Futex,
}

/// How long a futex sleeper sleeps before looking whether the peer's
/// process still exists.
const LIVENESS_SLICE: Duration = Duration::from_millis(50);

impl Wake {
    /// Eventfd wake-ups for `side`, sleeping on `own` and `socket`, waking
    /// `peer`.
    pub(crate) fn events(
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
            peer_gone: AtomicBool::new(false),
            kind: Kind::Events { own, peer, epoll },
        })
    }

    /// Futex wake-ups in the control page, for `side` of a named segment.
    pub(crate) fn futex(mapping: Arc<Mapping>, side: Side) -> Wake {
        Wake {
            mapping,
            side,
            peer_gone: AtomicBool::new(false),
            kind: Kind::Futex,
        }
    }

    fn words(&self, side: Side) -> &SideWords {
        &self.mapping.control().sides[side.index()]
    }

    /// The pollable descriptor: readable when the peer woke us or hung up;
    /// `None` for futex wake-ups.
    pub(crate) fn pollable(&self) -> Option<BorrowedFd<'_>> {
        match &self.kind {
            Kind::Events { epoll, .. } => Some(epoll.as_fd()),
            Kind::Futex => None,
        }
    }

    /// Whether the peer is known to be gone: it closed the link in order,
    /// or a check saw it die.
    #[inline]
    pub(crate) fn peer_gone(&self) -> bool {
        self.peer_gone.load(Relaxed) || self.words(self.side.peer()).closed.load(Acquire) != 0
    }

    /// Records that the peer is gone (seen by another check).
    pub(crate) fn mark_peer_gone(&self) {
        self.peer_gone.store(true, Relaxed);
    }

    /// Looks whether the peer's process (its pid in the control page) still
    /// exists. Pids are reused, so a peer that died long ago may look alive
    /// to a late check; the periodic checks keep that window short.
    pub(crate) fn check_peer_process(&self) {
        let pid = self.words(self.side.peer()).pid.load(Acquire);
        let gone = match Pid::from_raw(pid as i32) {
            // Not opened yet: nobody to have died.
            None => false,
            Some(pid) => {
                rustix::process::test_kill_process(pid) == Err(Errno::SRCH) || is_zombie(pid)
            }
        };
        if gone {
            self.mark_peer_gone();
        }
    }

    /// Wakes the peer only if it announced itself, with no fence: a cheap
    /// hint for per-message paths; [`Notifier::notify`] is the sure one.
    #[inline]
    pub(crate) fn nudge(&self) -> io::Result<()> {
        let peer = self.words(self.side.peer());
        if peer.never_parks.load(Relaxed) == 0
            && (peer.waiting.load(Relaxed) != 0 || peer.doorbell.sleepers() != 0)
        {
            self.notify()?;
        }
        Ok(())
    }

    /// Declares that this side never sleeps, so the peer never wakes it.
    pub(crate) fn never_park(&self) {
        self.words(self.side).never_parks.store(1, SeqCst);
    }

    /// Whether this side declared it never sleeps.
    pub(crate) fn parks(&self) -> bool {
        self.words(self.side).never_parks.load(Relaxed) == 0
    }

    /// Announces a waiter that will wait on the pollable fd (an event loop)
    /// instead of in [`Notifier::wait`]; undone by [`Wake::disarm`].
    pub(crate) fn arm(&self) {
        self.words(self.side).waiting.fetch_add(1, SeqCst);
    }

    /// Withdraws an [`Wake::arm`] announcement and empties the eventfd.
    pub(crate) fn disarm(&self) {
        self.words(self.side).waiting.fetch_sub(1, SeqCst);
        self.drain();
    }

    /// Empties this side's eventfd after a wake-up.
    fn drain(&self) {
        if let Kind::Events { own, .. } = &self.kind {
            let mut buf = [0u8; 8];
            // Non-blocking: EAGAIN when there was nothing to drain.
            let _ = rustix::io::read(own, &mut buf);
        }
    }

    /// One `epoll_wait`; notes a hang-up of the socket.
    fn sleep(&self, epoll: &OwnedFd, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = timeout.map(|t| rustix::time::Timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        let mut events = [Event {
            flags: EventFlags::empty(),
            data: EventData::new_u64(0),
        }; 2];
        let n = match epoll::wait(epoll, &mut events[..], timeout.as_ref()) {
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

/// Whether `pid` has exited but not been reaped (its parent may be us,
/// blocked on the link rather than in `wait`).
fn is_zombie(pid: Pid) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero()));
    // The state follows the parenthesised command name, which may hold spaces.
    stat.ok()
        .and_then(|s| {
            s.rsplit_once(") ")
                .map(|(_, rest)| rest.starts_with(['Z', 'X']))
        })
        .unwrap_or(false)
}

impl Notifier for Wake {
    fn wait(&self, ready: &mut dyn FnMut() -> bool, timeout: Option<Duration>) -> io::Result<()> {
        match &self.kind {
            Kind::Events { epoll, .. } => {
                // Before sleeping, wake a peer that sleeps waiting for us
                // (for room we made or messages we committed): both asleep
                // would never wake.
                self.notify()?;
                let waiting = &self.words(self.side).waiting;
                // SeqCst RMW: the announcement is ordered before the re-check
                // and pairs with the fence in the peer's `notify`.
                waiting.fetch_add(1, SeqCst);
                let result = if ready() {
                    Ok(())
                } else {
                    self.sleep(epoll, timeout)
                };
                waiting.fetch_sub(1, SeqCst);
                self.drain();
                result
            }
            Kind::Futex => {
                self.notify()?;
                let slice = timeout.map_or(LIVENESS_SLICE, |t| t.min(LIVENESS_SLICE));
                Doorbell::shared(&self.words(self.side).doorbell).wait(ready, Some(slice))?;
                self.check_peer_process();
                Ok(())
            }
        }
    }

    fn notify(&self) -> io::Result<()> {
        if self.words(self.side.peer()).never_parks.load(Relaxed) != 0 {
            // A peer that never sleeps needs no wake-up (and no fence).
            return Ok(());
        }
        match &self.kind {
            Kind::Events { peer, .. } => {
                // Orders our publication before reading the announcement.
                fence(SeqCst);
                if self.words(self.side.peer()).waiting.load(Relaxed) == 0 {
                    return Ok(());
                }
                match rustix::io::write(peer, &1u64.to_ne_bytes()) {
                    // EAGAIN: the counter is saturated, the peer is awake anyway.
                    Ok(_) | Err(Errno::AGAIN) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Kind::Futex => Doorbell::shared(&self.words(self.side.peer()).doorbell).notify(),
        }
    }
}
