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
        text.contains("ENOPROTOOPT"),
        "the mapped probe's refusal is reported: {text}"
    );
    assert!(text.contains("uring: available"), "{text}");
}

#[test]
fn the_mapped_probe_leaves_the_socket_usable_in_copy_mode() {
    let mut link = open_in(Mode::Copy);
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
