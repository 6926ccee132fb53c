//! The message layer against the running kernel, over a plain socket:
//! a link dump parsed in place, and an extended-ack error.

use ringlink_netlink::message::{
    MessageBuilder, Messages, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REQUEST,
};
use ringlink_netlink::socket::{NETLINK_ROUTE, NetlinkSocket};

/// `RTM_NEWROUTE`, `RTM_GETLINK`, `IFLA_IFNAME`, and `sizeof(struct
/// ifinfomsg)` / `sizeof(struct rtmsg)` from <linux/rtnetlink.h>.
const RTM_NEWROUTE: u16 = 24;
const RTM_GETLINK: u16 = 18;
const IFLA_IFNAME: u16 = 3;
const IFINFOMSG_LEN: usize = 16;
const RTMSG_LEN: usize = 12;

/// A reply: every message's payload, and the error (code, text), if any.
struct Reply {
    payloads: Vec<Vec<u8>>,
    error: Option<(i32, Option<String>)>,
}

/// Receives datagrams until the reply to `seq` is complete (DONE or an
/// error).
fn collect(socket: &NetlinkSocket, seq: u32) -> Reply {
    let mut buf = vec![0u8; 64 << 10];
    let mut messages = Vec::new();
    loop {
        let len = socket.recv(&mut buf).expect("a reply");
        for msg in Messages::new(&buf[..len]) {
            let msg = msg.expect("the kernel sends well-formed messages");
            assert_eq!(msg.seq, seq, "replies carry the request's sequence number");
            if msg.is_done() {
                return Reply {
                    payloads: messages,
                    error: None,
                };
            }
            if let Some(error) = msg.error() {
                let error = error.expect("a well-formed error");
                return Reply {
                    payloads: messages,
                    error: Some((error.code, error.text.map(str::to_string))),
                };
            }
            messages.push(msg.payload.to_vec());
        }
    }
}

#[test]
fn a_link_dump_parses_in_place_and_has_lo() {
    let socket = NetlinkSocket::open(NETLINK_ROUTE).unwrap();
    assert_ne!(socket.port(), 0, "bound to a port");
    let mut request = [0u8; 64];
    let mut b =
        MessageBuilder::new(&mut request, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1).unwrap();
    b.push(&[0u8; IFINFOMSG_LEN]).unwrap();
    let len = b.finish();
    socket.send(&request[..len]).unwrap();
    let reply = collect(&socket, 1);
    assert!(reply.error.is_none(), "{:?}", reply.error);
    let names: Vec<String> = reply
        .payloads
        .iter()
        .map(|payload| {
            let msg = ringlink_netlink::message::Msg {
                kind: RTM_GETLINK,
                flags: 0,
                seq: 1,
                pid: 0,
                payload,
            };
            let (_, attrs) = msg.split(IFINFOMSG_LEN).unwrap();
            attrs
                .flatten()
                .find(|a| a.kind() == IFLA_IFNAME)
                .map(|a| a.string())
                .expect("every link has a name")
        })
        .collect();
    assert!(names.iter().any(|n| n == "lo"), "{names:?}");
}

#[test]
fn a_bad_request_gets_the_kernels_extended_ack_text() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: adding routes needs root (CAP_NET_ADMIN)");
        return;
    }
    let socket = NetlinkSocket::open(NETLINK_ROUTE).unwrap();
    // An IPv4 route with a 40-bit prefix: refused, nothing changes.
    let mut rtm = [0u8; RTMSG_LEN];
    rtm[0] = 2; // AF_INET
    rtm[1] = 40; // rtm_dst_len
    rtm[4] = 254; // RT_TABLE_MAIN
    rtm[5] = 3; // RTPROT_BOOT
    rtm[7] = 1; // RTN_UNICAST
    let mut request = [0u8; 64];
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE;
    let mut b = MessageBuilder::new(&mut request, RTM_NEWROUTE, flags, 9).unwrap();
    b.push(&rtm).unwrap();
    b.attr(1, &[10, 0, 0, 0]).unwrap(); // RTA_DST
    let len = b.finish();
    socket.send(&request[..len]).unwrap();
    let (code, text) = collect(&socket, 9).error.expect("an error reply");
    assert_eq!(code, -libc::EINVAL);
    let text = text.expect("extended ack text");
    assert!(text.to_lowercase().contains("prefix"), "{text}");
}

/// A handler that refuses the first message of a dump: the refusal is the
/// result, the rest of the reply is drained, and the next request on the
/// same link sees only its own reply.
#[test]
fn a_refused_reply_is_drained_and_the_link_stays_clean() {
    use ringlink_netlink::interface::{Interface, dump_request};
    use ringlink_netlink::message::ParseError;
    use ringlink_netlink::request::{RequestError, exchange};
    use ringlink_netlink::{NetlinkLink, NetlinkOptions};
    let mut link = NetlinkLink::open(&NetlinkOptions::default()).unwrap();
    let mut handed = 0;
    let refused = exchange(&mut link, 1, dump_request, |_| {
        handed += 1;
        Err(ParseError::Attribute("refused by the test".into()))
    });
    assert!(
        matches!(&refused, Err(RequestError::Parse(ParseError::Attribute(t))) if t == "refused by the test"),
        "{refused:?}"
    );
    assert_eq!(handed, 1, "nothing is handed over after a refusal");
    let mut names = Vec::new();
    exchange(&mut link, 2, dump_request, |msg| {
        assert_eq!(msg.seq, 2, "nothing of the first reply is left");
        names.push(Interface::parse(msg)?.name);
        Ok(())
    })
    .unwrap();
    assert!(names.iter().any(|n| n == "lo"), "{names:?}");
}
