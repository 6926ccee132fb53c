//! The netlink link through the shared ring API, against the running
//! kernel: the mode probe and report, a dump read from the receive ring,
//! and several requests sent by one flush.

use ringlink_core::{FrameReceiver, FrameSender};
use ringlink_netlink::message::{MessageBuilder, Messages, NLM_F_DUMP, NLM_F_REQUEST};
use ringlink_netlink::{Mode, ModeError, NetlinkLink, NetlinkOptions};
use std::time::Duration;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const IFLA_IFNAME: u16 = 3;
const IFINFOMSG_LEN: usize = 16;
const PATIENCE: Option<Duration> = Some(Duration::from_secs(5));

/// Builds an RTM_GETLINK request in a transmit frame: a dump, or a get of
/// interface `index`.
fn request_links(link: &mut NetlinkLink, seq: u32, index: Option<i32>) {
    let mut frame = link.reserve().unwrap().expect("a free transmit frame");
    let flags = NLM_F_REQUEST | if index.is_none() { NLM_F_DUMP } else { 0 };
    let mut b = MessageBuilder::new(frame.buf(), RTM_GETLINK, flags, seq).unwrap();
    let mut ifinfo = [0u8; IFINFOMSG_LEN];
    ifinfo[4..8].copy_from_slice(&index.unwrap_or(0).to_ne_bytes());
    b.push(&ifinfo).unwrap();
    let len = b.finish();
    frame.commit(len).unwrap();
}

/// The names of the links in the NEWLINK messages of one datagram, and
/// whether it ended the reply (DONE, or a single non-multipart answer).
fn names_in(datagram: &[u8], seq: u32) -> (Vec<String>, bool) {
    let mut names = Vec::new();
    let mut done = false;
    for msg in Messages::new(datagram) {
        let msg = msg.expect("well-formed");
        assert_eq!(msg.seq, seq);
        if let Some(error) = msg.error() {
            panic!("the kernel refused: {:?}", error);
        }
        done |= msg.is_done() || msg.flags & ringlink_netlink::message::NLM_F_MULTI == 0;
        if msg.kind == RTM_NEWLINK {
            let (_, attrs) = msg.split(IFINFOMSG_LEN).unwrap();
            names.extend(
                attrs
                    .flatten()
                    .filter(|a| a.kind() == IFLA_IFNAME)
                    .map(|a| a.string()),
            );
        }
    }
    (names, done)
}

#[test]
fn this_kernel_runs_uring_mode_and_says_why() {
    let link = NetlinkLink::open(&NetlinkOptions::default()).unwrap();
    let report = link.mode();
    assert_eq!(report.mode, Mode::Uring, "{report}");
    let text = report.to_string();
    assert!(
        text.contains("mapped: setsockopt(SOL_NETLINK, NETLINK_RX_RING) failed"),
        "the kernel's refusal of its rings is reported: {text}"
    );
    assert!(text.contains("ENOPROTOOPT"), "{text}");
    assert!(text.contains("uring: available"), "{text}");
}

#[test]
fn the_refused_mapped_rings_leave_the_socket_usable_by_the_fallback() {
    let mut link = NetlinkLink::open(&NetlinkOptions::default()).unwrap();
    assert_ne!(link.mode().mode, Mode::Mapped, "{}", link.mode());
    request_links(&mut link, 7, Some(1));
    link.flush().unwrap();
    let msg = link.recv(PATIENCE).unwrap();
    assert_eq!(names_in(&msg, 7).0, vec!["lo".to_string()]);
}

#[test]
fn asking_for_an_unavailable_mode_says_why() {
    let options = NetlinkOptions {
        mode: Some(Mode::Mapped),
        ..NetlinkOptions::default()
    };
    match NetlinkLink::open(&options) {
        Err(ModeError::Unavailable {
            mode: Mode::Mapped,
            why,
            ..
        }) => assert!(why.contains("ENOPROTOOPT"), "{why}"),
        other => panic!(
            "expected the mapped mode refused, got {:?}",
            other.map(|l| l.mode().clone())
        ),
    }
    assert!(matches!("fast".parse::<Mode>(), Err(ModeError::Unknown(_))));
    assert_eq!("copy".parse::<Mode>().unwrap(), Mode::Copy);
}

/// A link in `mode`, one of the modes this kernel runs.
fn open_in(mode: Mode) -> NetlinkLink {
    let options = NetlinkOptions {
        mode: Some(mode),
        ..NetlinkOptions::default()
    };
    let link = NetlinkLink::open(&options).unwrap();
    assert_eq!(link.mode().mode, mode);
    link
}

#[test]
fn a_link_dump_arrives_through_the_receive_ring() {
    for mode in [Mode::Uring, Mode::Copy] {
        link_dump_arrives(open_in(mode));
    }
}

fn link_dump_arrives(mut link: NetlinkLink) {
    request_links(&mut link, 1, None);
    link.flush().unwrap();
    let mut names = Vec::new();
    loop {
        let msg = link.recv(PATIENCE).expect("the dump arrives");
        let (more, done) = names_in(&msg, 1);
        names.extend(more);
        if done {
            break;
        }
    }
    assert!(names.iter().any(|n| n == "lo"), "{names:?}");
}

#[test]
fn one_flush_sends_every_committed_request() {
    for mode in [Mode::Uring, Mode::Copy] {
        one_flush_sends_all(open_in(mode));
    }
}

fn one_flush_sends_all(mut link: NetlinkLink) {
    for seq in 1..=5 {
        request_links(&mut link, seq, Some(1)); // ifindex 1 is lo
    }
    link.flush().unwrap();
    for seq in 1..=5 {
        let msg = link.recv(PATIENCE).expect("a reply per request");
        let (names, done) = names_in(&msg, seq);
        assert_eq!(names, ["lo"]);
        assert!(done);
    }
    assert!(!link.poll().unwrap(), "nothing more");
}

/// A NOOP request asking for an ack, with `pad` bytes of payload.
fn noop(seq: u32, pad: usize) -> Vec<u8> {
    let mut buf = vec![0u8; 16 + pad];
    let flags = NLM_F_REQUEST | ringlink_netlink::message::NLM_F_ACK;
    let noop = ringlink_netlink::message::NLMSG_NOOP;
    let mut b = MessageBuilder::new(&mut buf, noop, flags, seq).unwrap();
    b.push(&vec![0u8; pad]).unwrap();
    let len = b.finish();
    buf.truncate(len);
    buf
}

/// The sequence numbers the next `count` acks acknowledge, in order.
fn acks(link: &mut NetlinkLink, count: usize) -> Vec<u32> {
    (0..count)
        .map(|_| {
            let msg = link.recv(PATIENCE).expect("an ack");
            let msg = Messages::new(&msg).next().unwrap().unwrap();
            let ack = msg.error().expect("an NLMSG_ERROR").unwrap();
            assert_eq!(ack.code, 0, "{ack:?}");
            ack.request_seq
        })
        .collect()
}

#[test]
fn a_message_larger_than_a_frame_goes_after_the_committed_ones() {
    for mode in [Mode::Uring, Mode::Copy] {
        let mut link = open_in(mode);
        for seq in 1..=3 {
            assert!(link.try_send(&noop(seq, 0)).unwrap());
        }
        let big = noop(4, link.frame_capacity() + 1000);
        assert!(big.len() <= link.max_message());
        link.send(&big, PATIENCE).unwrap();
        assert_eq!(acks(&mut link, 4), [1, 2, 3, 4], "{mode:?}");
        assert!(!link.poll().unwrap(), "{mode:?}: nothing more");
    }
}

#[test]
fn a_frame_committed_as_copy_is_refused_and_the_others_are_sent() {
    for mode in [Mode::Uring, Mode::Copy] {
        let mut link = open_in(mode);
        assert!(link.try_send(&noop(1, 0)).unwrap());
        link.reserve().unwrap().unwrap().commit_copy(100);
        assert!(link.try_send(&noop(2, 0)).unwrap());
        let err = link.flush().unwrap_err().to_string();
        assert!(err.contains("committed as COPY"), "{mode:?}: {err}");
        assert_eq!(acks(&mut link, 2), [1, 2], "{mode:?}");
        // Nothing stuck in the ring.
        link.send(&noop(3, 0), PATIENCE).unwrap();
        assert_eq!(acks(&mut link, 1), [3], "{mode:?}");
    }
}

/// A `sendmsg` the kernel refuses loses nothing: `NETLINK_USERSOCK` has
/// no kernel socket, so a send to the kernel fails (`ECONNREFUSED`); the
/// committed frames stay committed (the ring stays full) and every flush
/// tries them again.
#[test]
fn a_refused_flush_keeps_every_frame_committed() {
    const NETLINK_USERSOCK: i32 = 2;
    for mode in [Mode::Uring, Mode::Copy] {
        let options = NetlinkOptions {
            protocol: NETLINK_USERSOCK,
            mode: Some(mode),
            tx_frames: 4,
            ..NetlinkOptions::default()
        };
        let mut link = NetlinkLink::open(&options).unwrap();
        for seq in 0..link.frame_count() {
            assert!(
                link.try_send(&noop(seq, 0)).unwrap(),
                "{mode:?}: frame {seq}"
            );
        }
        for attempt in 1..=2 {
            let err = link.flush().unwrap_err();
            let text = err.to_string();
            assert!(text.contains("stay committed"), "{mode:?}: {text}");
            let source = std::error::Error::source(&err).map(|s| s.to_string());
            let refused = std::io::Error::from_raw_os_error(libc::ECONNREFUSED).to_string();
            assert_eq!(source, Some(refused), "{mode:?}");
            assert!(
                link.reserve().unwrap().is_none(),
                "{mode:?}, attempt {attempt}: every frame is still committed"
            );
        }
    }
}

#[test]
fn the_pollable_fd_wakes_a_sleeper_when_a_datagram_arrives() {
    if !may_send_to_ports() {
        return;
    }
    for mode in [Mode::Uring, Mode::Copy] {
        pollable_fd_wakes(open_in(mode));
    }
}

/// Sleeps in poll(2) on the link's descriptor while another thread sends
/// a datagram to the link's port: the poll must end readable, and the
/// datagram must then be in the receive ring.
fn pollable_fd_wakes(mut link: NetlinkLink) {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use rustix::net::{SendFlags, netlink::SocketAddrNetlink, sendto};
    let port = link.port();
    assert!(!link.poll().unwrap(), "nothing yet");
    let sender = std::thread::spawn(move || {
        let socket = ringlink_netlink::socket::NetlinkSocket::open(0).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let datagram = noop(77, 0);
        let to = SocketAddrNetlink::new(port, 0);
        sendto(&socket, &datagram, SendFlags::empty(), &to).unwrap();
    });
    let fd = link.pollable_fd().expect("a pollable descriptor");
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let patience = Timespec {
        tv_sec: 5,
        tv_nsec: 0,
    };
    let ready = poll(&mut fds, Some(&patience)).unwrap();
    sender.join().unwrap();
    assert_eq!(ready, 1, "{:?} mode: the poll timed out", link.mode().mode);
    let msg = link
        .next()
        .unwrap()
        .expect("the datagram that woke the poll");
    let msg = Messages::new(&msg).next().unwrap().unwrap();
    assert_eq!(
        (msg.kind, msg.seq),
        (ringlink_netlink::message::NLMSG_NOOP, 77)
    );
}

/// Whether this process may send to another socket's port (root,
/// `CAP_NET_ADMIN`); prints why the test is skipped when not.
fn may_send_to_ports() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        eprintln!("skipped: sending to another socket's port needs root (CAP_NET_ADMIN)");
    }
    root
}

/// A link in `mode` with receive frames of `frame_message` bytes, `rx_frames`
/// of them asked for, and a plain socket sending to its port.
fn link_and_sender(
    mode: Mode,
    frame_message: usize,
    rx_frames: u32,
) -> (NetlinkLink, impl Fn(&[u8])) {
    use rustix::net::{SendFlags, netlink::SocketAddrNetlink, sendto};
    let options = NetlinkOptions {
        mode: Some(mode),
        frame_message,
        rx_frames,
        ..NetlinkOptions::default()
    };
    let link = NetlinkLink::open(&options).unwrap();
    assert_eq!(link.mode().mode, mode);
    let to = SocketAddrNetlink::new(link.port(), 0);
    let socket = ringlink_netlink::socket::NetlinkSocket::open(0).unwrap();
    let send = move |datagram: &[u8]| {
        sendto(&socket, datagram, SendFlags::empty(), &to).unwrap();
    };
    (link, send)
}

/// The sequence number of the single message in a received datagram.
fn seq_of(datagram: &[u8]) -> u32 {
    Messages::new(datagram).next().unwrap().unwrap().seq
}

#[test]
fn a_ring_with_more_frames_than_asked_for_keeps_every_datagram_in_order() {
    if !may_send_to_ports() {
        return;
    }
    for mode in [Mode::Uring, Mode::Copy] {
        // 4 KiB frames: the geometry rounds 8 frames up to whole blocks.
        let (mut link, send) = link_and_sender(mode, 4096, 8);
        let frames = link.consumer().ring().frame_nr();
        assert!(
            frames > 8,
            "{mode:?}: the case needs a rounded-up ring, got {frames}"
        );
        let count = 5 * frames;
        for seq in 0..count {
            send(&noop(seq, 100));
        }
        let got: Vec<u32> = (0..count)
            .map(|_| seq_of(&link.recv(PATIENCE).expect("a datagram")))
            .collect();
        assert_eq!(got, (0..count).collect::<Vec<_>>(), "{mode:?}");
    }
}

#[test]
fn a_datagram_larger_than_a_frame_is_reported_and_the_others_arrive() {
    if !may_send_to_ports() {
        return;
    }
    for mode in [Mode::Uring, Mode::Copy] {
        let (mut link, send) = link_and_sender(mode, 4096, 8);
        send(&noop(1, 0));
        send(&noop(2, 6000));
        send(&noop(3, 0));
        let (mut seqs, mut errors) = (Vec::new(), Vec::new());
        while seqs.last() != Some(&3) && errors.len() < 3 {
            match link.recv(PATIENCE) {
                Ok(datagram) => seqs.push(seq_of(&datagram)),
                Err(e) => errors.push(e.to_string()),
            }
        }
        assert_eq!(seqs, [1, 3], "{mode:?}: {errors:?}");
        assert_eq!(errors.len(), 1, "{mode:?}: {errors:?}");
        assert!(errors[0].contains("did not fit"), "{mode:?}: {}", errors[0]);
        assert!(!link.poll().unwrap(), "{mode:?}: nothing more");
    }
}

/// An `NLMSG_DONE` ending dump `seq`: no payload, or `errno` and, if
/// given, extended-ack text.
fn done(seq: u32, errno: Option<i32>, text: Option<&str>) -> Vec<u8> {
    use ringlink_netlink::message::{NLM_F_ACK_TLVS, NLM_F_MULTI, NLMSG_DONE};
    let mut buf = vec![0u8; 256];
    let flags = NLM_F_MULTI | if text.is_some() { NLM_F_ACK_TLVS } else { 0 };
    let mut b = MessageBuilder::new(&mut buf, NLMSG_DONE, flags, seq).unwrap();
    if let Some(errno) = errno {
        b.push(&errno.to_ne_bytes()).unwrap();
    }
    if let Some(text) = text {
        b.attr(1, format!("{text}\0").as_bytes()).unwrap();
    }
    let len = b.finish();
    buf.truncate(len);
    buf
}

#[test]
fn a_dump_the_kernel_cut_short_is_an_error_with_its_text() {
    use ringlink_netlink::request::{RequestError, exchange};
    if !may_send_to_ports() {
        return;
    }
    for mode in [Mode::Uring, Mode::Copy] {
        let (mut link, send) = link_and_sender(mode, 32 << 10, 8);
        let cases = [
            (None, None),
            (Some(0), None),
            (Some(-90), Some("dump message too long")),
        ];
        for (seq, (errno, text)) in (1..).zip(cases) {
            // The reply, queued first; the request is a NOOP without
            // NLM_F_ACK, which the kernel does not answer.
            send(&done(seq, errno, text));
            let noop = |buf: &mut [u8], seq| {
                let b = MessageBuilder::new(
                    buf,
                    ringlink_netlink::message::NLMSG_NOOP,
                    NLM_F_REQUEST,
                    seq,
                )?;
                Ok(b.finish())
            };
            let outcome = exchange(&mut link, seq, noop, |_| Ok(()));
            match errno {
                Some(code) if code < 0 => match outcome {
                    Err(RequestError::Kernel { code, text, .. }) => {
                        assert_eq!(code, -90, "{mode:?}");
                        assert_eq!(text.as_deref(), Some("dump message too long"), "{mode:?}");
                    }
                    other => panic!("{mode:?}: {other:?}"),
                },
                _ => assert!(outcome.is_ok(), "{mode:?} {errno:?}: {outcome:?}"),
            }
        }
    }
}

#[test]
fn a_frame_of_unaligned_length_is_padded_before_the_next() {
    for mode in [Mode::Uring, Mode::Copy] {
        let mut link = open_in(mode);
        // A NOOP asking for an ack, 3 bytes past its header: 19 bytes.
        let mut odd = noop(1, 4);
        odd.truncate(19);
        odd[..4].copy_from_slice(&19u32.to_ne_bytes());
        for msg in [odd, noop(2, 0)] {
            let mut frame = link.reserve().unwrap().expect("a free transmit frame");
            frame.buf()[..msg.len()].copy_from_slice(&msg);
            frame.commit(msg.len()).unwrap();
        }
        link.flush().unwrap();
        assert_eq!(acks(&mut link, 2), [1, 2], "{mode:?}");
    }
}
