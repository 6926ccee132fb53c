//! Waiting and waking: spin briefly, then park through the transport's
//! notifier. The producer can commit many frames and notify once.

use rustix::thread::futex;
use std::io;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicU32, fence};
use std::time::{Duration, Instant};

/// How a transport puts a waiter to sleep and wakes it.
///
/// `wait` must return once `notify` was called after the waiter announced
/// itself, or when `ready()` already holds, or at the timeout; spurious
/// returns are allowed. `notify` should cost no syscall when nobody sleeps.
pub trait Notifier {
    /// Sleeps until notified, `ready()` holds, or `timeout` passes.
    fn wait(&self, ready: &mut dyn FnMut() -> bool, timeout: Option<Duration>) -> io::Result<()>;
    /// Wakes the sleeper, if one announced itself.
    fn notify(&self) -> io::Result<()>;
}

/// Spin rounds between two yields of the CPU in long spins.
const YIELD_EVERY: u32 = 4096;
/// Spin rounds between two looks at the clock.
const CLOCK_EVERY: u32 = 64;

/// How long to spin before parking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpinPolicy {
    /// Polls of the condition before the waiter parks, each after one
    /// pause instruction (so the peer's message is noticed within one
    /// pause of its arrival); 0 parks at once.
    pub rounds: u32,
}

impl Default for SpinPolicy {
    /// 2,048 polls (a few microseconds to some tens, as pause
    /// instructions go): enough to keep a sub-microsecond round trip when
    /// the peer is busy, short enough not to burn a core for long.
    fn default() -> Self {
        SpinPolicy { rounds: 2048 }
    }
}

impl SpinPolicy {
    /// Never park: spin until ready or the timeout (yielding the CPU every
    /// 4096 rounds; a wait with no timeout parks after `u32::MAX` rounds,
    /// hours of spinning). Peers of a link can see that a side never parks
    /// and then skip waking it.
    pub const BUSY: SpinPolicy = SpinPolicy { rounds: u32::MAX };
}

/// The instant `timeout` from now; `None` for no timeout, and for one too
/// long to count to (e.g. `Duration::MAX`), which is as good as none.
fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// Waits until `ready()` holds: spins per `spin`, then parks on `notifier`.
/// Returns `Ok(false)` at the timeout.
pub fn wait_until<N: Notifier + ?Sized>(
    notifier: &N,
    spin: SpinPolicy,
    timeout: Option<Duration>,
    mut ready: impl FnMut() -> bool,
) -> io::Result<bool> {
    if ready() {
        return Ok(true);
    }
    // The clock is first read after CLOCK_EVERY rounds: most waits end
    // sooner, and a clock read costs as much as many polls. (The timeout
    // then counts from a few microseconds late.)
    let mut deadline = None;
    let passed = |deadline: &mut Option<Option<Instant>>| {
        let d = *deadline.get_or_insert_with(|| deadline_after(timeout));
        d.is_some_and(|d| Instant::now() >= d)
    };
    // Spin: pause instructions only (no sched_yield: that is a system call),
    // a yield now and then for waits that never park, and the clock read
    // only every few rounds.
    for round in 1..=spin.rounds {
        if round % YIELD_EVERY == 0 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
        if ready() {
            return Ok(true);
        }
        if round % CLOCK_EVERY == 0 && passed(&mut deadline) {
            return Ok(false);
        }
    }
    let deadline = deadline.unwrap_or_else(|| deadline_after(timeout));
    // Park until ready or the deadline.
    loop {
        let remaining = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(r) if !r.is_zero() => Some(r),
                _ => return Ok(false),
            },
            None => None,
        };
        notifier.wait(&mut ready, remaining)?;
        if ready() {
            return Ok(true);
        }
    }
}

/// Two 32-bit words, placeable in shared memory, that make a futex-based
/// [`Notifier`]: a wake sequence and a sleeper count.
///
/// The sleeper reads the sequence, announces itself, re-checks its
/// condition and sleeps only if the sequence did not move; the waker, after
/// publishing, fences and makes the futex call only if someone announced
/// itself. Under load nobody sleeps, so there is no syscall per message.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub struct DoorbellWords {
    seq: AtomicU32,
    sleepers: AtomicU32,
}

impl DoorbellWords {
    /// Fresh words: sequence 0, nobody asleep.
    pub const fn new() -> DoorbellWords {
        DoorbellWords {
            seq: AtomicU32::new(0),
            sleepers: AtomicU32::new(0),
        }
    }

    /// Number of announced sleepers (a peer's claim when shared).
    pub fn sleepers(&self) -> u32 {
        self.sleepers.load(Relaxed)
    }
}

/// A [`Notifier`] over [`DoorbellWords`]: process-private (threads) or
/// shared (words in memory mapped by several processes).
#[derive(Clone, Copy, Debug)]
pub struct Doorbell<'a> {
    words: &'a DoorbellWords,
    flags: futex::Flags,
}

impl<'a> Doorbell<'a> {
    /// A doorbell for threads of one process.
    pub fn private(words: &'a DoorbellWords) -> Doorbell<'a> {
        Doorbell {
            words,
            flags: futex::Flags::PRIVATE,
        }
    }

    /// A doorbell whose words live in memory shared between processes.
    pub fn shared(words: &'a DoorbellWords) -> Doorbell<'a> {
        Doorbell {
            words,
            flags: futex::Flags::empty(),
        }
    }

    /// Whether a sleeper announced itself; a cheap, unfenced hint for hot
    /// paths that then call [`Notifier::notify`].
    pub fn has_sleeper(&self) -> bool {
        self.words.sleepers.load(Relaxed) != 0
    }
}

impl Notifier for Doorbell<'_> {
    fn wait(&self, ready: &mut dyn FnMut() -> bool, timeout: Option<Duration>) -> io::Result<()> {
        let seq = self.words.seq.load(SeqCst);
        // SeqCst RMW: the announcement is ordered before the re-check, and
        // pairs with the fence in `notify` (no lost wake-up).
        self.words.sleepers.fetch_add(1, SeqCst);
        let result = if ready() {
            Ok(())
        } else {
            let timeout = timeout.map(|t| rustix::time::Timespec {
                tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
                tv_nsec: i64::from(t.subsec_nanos()),
            });
            match futex::wait(&self.words.seq, self.flags, seq, timeout.as_ref()) {
                Ok(()) => Ok(()),
                Err(e)
                    if [
                        rustix::io::Errno::AGAIN,
                        rustix::io::Errno::INTR,
                        rustix::io::Errno::TIMEDOUT,
                    ]
                    .contains(&e) =>
                {
                    Ok(())
                }
                Err(e) => Err(e.into()),
            }
        };
        self.words.sleepers.fetch_sub(1, SeqCst);
        result
    }

    fn notify(&self) -> io::Result<()> {
        // Orders the caller's publication before reading the sleeper count.
        fence(SeqCst);
        if self.words.sleepers.load(Relaxed) == 0 {
            return Ok(());
        }
        self.words.seq.fetch_add(1, SeqCst);
        futex::wake(&self.words.seq, self.flags, u32::MAX)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn notify_without_sleeper_makes_no_wake() {
        let words = DoorbellWords::new();
        let bell = Doorbell::private(&words);
        bell.notify().unwrap();
        assert_eq!(words.seq.load(Relaxed), 0, "no sleeper, no futex wake");
    }

    #[test]
    fn sleeper_is_woken_by_notify() {
        let words = Arc::new(DoorbellWords::new());
        let flag = Arc::new(AtomicBool::new(false));
        let (w, f) = (words.clone(), flag.clone());
        let sleeper = std::thread::spawn(move || {
            let bell = Doorbell::private(&w);
            let t0 = Instant::now();
            let ok = wait_until(
                &bell,
                SpinPolicy { rounds: 0 },
                Some(Duration::from_secs(20)),
                || f.load(SeqCst),
            )
            .unwrap();
            (ok, t0.elapsed())
        });
        while words.sleepers() == 0 {
            std::thread::yield_now();
        }
        flag.store(true, SeqCst);
        Doorbell::private(&words).notify().unwrap();
        let (ok, waited) = sleeper.join().unwrap();
        assert!(ok);
        assert!(waited < Duration::from_secs(20), "woken, not timed out");
        assert!(
            words.seq.load(Relaxed) >= 1,
            "the wake went through the futex"
        );
    }

    #[test]
    fn a_timeout_too_long_to_count_to_waits_like_none() {
        // Spinning: ready after a few clock reads.
        let words = DoorbellWords::new();
        let bell = Doorbell::private(&words);
        let mut polls = 0;
        let ready = || {
            polls += 1;
            polls > 5 * CLOCK_EVERY
        };
        assert!(wait_until(&bell, SpinPolicy::BUSY, Some(Duration::MAX), ready).unwrap());
        // Parking: woken by another thread.
        let words = Arc::new(DoorbellWords::new());
        let flag = Arc::new(AtomicBool::new(false));
        let (w, f) = (words.clone(), flag.clone());
        let waker = std::thread::spawn(move || {
            while w.sleepers() == 0 {
                std::thread::yield_now();
            }
            f.store(true, SeqCst);
            Doorbell::private(&w).notify().unwrap();
        });
        let bell = Doorbell::private(&words);
        let parked = SpinPolicy { rounds: 0 };
        assert!(wait_until(&bell, parked, Some(Duration::MAX), || flag.load(SeqCst)).unwrap());
        waker.join().unwrap();
    }

    #[test]
    fn wait_times_out() {
        let words = DoorbellWords::new();
        let bell = Doorbell::private(&words);
        let t0 = Instant::now();
        let ok = wait_until(
            &bell,
            SpinPolicy::default(),
            Some(Duration::from_millis(30)),
            || false,
        )
        .unwrap();
        assert!(!ok);
        assert!(t0.elapsed() >= Duration::from_millis(30));
        assert_eq!(words.sleepers(), 0);
    }
}
