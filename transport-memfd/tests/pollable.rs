//! The pollable fd: an event loop arms it, waits on it with poll(2), and
//! finds messages when it fires.

use ringlink_core::{FrameReceiver, FrameSender};
use ringlink_memfd::{LinkOptions, pair};
use rustix::event::{PollFd, PollFlags, poll};
use std::time::Duration;

fn wait_readable(fd: std::os::fd::BorrowedFd<'_>, ms: i64) -> bool {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let timeout = rustix::time::Timespec {
        tv_sec: ms / 1000,
        tv_nsec: (ms % 1000) * 1_000_000,
    };
    poll(&mut fds, Some(&timeout)).unwrap() == 1
}

#[test]
fn an_armed_fd_fires_when_the_peer_flushes() {
    let (mut a, mut b) = pair(&LinkOptions::default()).unwrap();
    assert!(b.arm(), "nothing pending: armed");
    let fd = b.pollable_fd().expect("memfd links have a pollable fd");
    assert!(!wait_readable(fd, 50), "quiet until the peer sends");
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        a.send(b"wake up", None).unwrap();
        a
    });
    assert!(wait_readable(b.pollable_fd().unwrap(), 10_000), "fired");
    b.disarm();
    assert_eq!(&b.next().unwrap().expect("a message")[..], b"wake up");
    let mut a = sender.join().unwrap();
    // With a message already pending, arm says so instead of arming.
    a.send(b"second", None).unwrap();
    assert!(!b.arm());
    assert_eq!(&b.next().unwrap().unwrap()[..], b"second");
}

#[test]
fn the_fd_fires_when_the_peer_dies() {
    let (a, b) = pair(&LinkOptions::default()).unwrap();
    assert!(b.arm());
    drop(a);
    assert!(
        wait_readable(b.pollable_fd().unwrap(), 10_000),
        "a hang-up wakes the loop"
    );
    b.disarm();
}
