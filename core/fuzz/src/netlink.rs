//! A netlink datagram through every parser of `ringlink_netlink`: the
//! message iterator ([`Messages`]), `NLMSG_ERROR` and extended-ack decoding,
//! [`Msg::split`], nested attribute iteration ([`Attrs`]) with every typed
//! accessor, and the route, address, interface and nfqueue packet parsers.
//!
//! Input: the datagram itself (as a socket or a frame would hand it over).
//! Every slice a parser returns must lie inside the datagram.

use ringlink_netlink::address::Address;
use ringlink_netlink::attr::{Attrs, NLA_HDRLEN};
use ringlink_netlink::interface::Interface;
use ringlink_netlink::message::{Messages, Msg, NLMSG_HDRLEN};
use ringlink_netlink::nfqueue::{NFQNL_MSG_PACKET, Packet};
use ringlink_netlink::route::Route;

/// Fixed payload headers the parsers split off: none, `nfgenmsg`/`genlmsghdr`,
/// `ifaddrmsg`, `rtmsg`, `ifinfomsg`.
const SPLITS: [usize; 5] = [0, 4, 8, 12, 16];

/// Deepest nesting followed.
const MAX_DEPTH: usize = 8;

/// Runs one input.
pub fn run(data: &[u8]) {
    let inside = |bytes: &[u8]| {
        let (start, end) = (data.as_ptr() as usize, data.as_ptr() as usize + data.len());
        let at = bytes.as_ptr() as usize;
        assert!(
            bytes.is_empty() || (at >= start && at + bytes.len() <= end),
            "a slice outside the datagram"
        );
    };
    let mut seen = 0usize;
    let mut failed = false;
    for msg in Messages::new(data) {
        assert!(!failed, "iteration went on after an error");
        let msg = match msg {
            Ok(msg) => msg,
            Err(e) => {
                failed = true;
                std::hint::black_box(e.to_string());
                continue;
            }
        };
        seen += 1;
        assert!(
            seen * NLMSG_HDRLEN <= data.len(),
            "more messages than headers"
        );
        inside(msg.payload);
        std::hint::black_box((msg.is_done(), msg.dump_interrupted()));
        if let Some(Ok(error)) = msg.error() {
            if let Some(text) = error.text {
                inside(text.as_bytes());
            }
            std::hint::black_box((error.code, error.request_seq, error.offset));
        }
        for size in SPLITS {
            match msg.split(size) {
                Ok((fixed, attrs)) => {
                    assert_eq!(fixed.len(), size);
                    inside(fixed);
                    walk(attrs, 0, &inside);
                }
                Err(e) => assert!(msg.payload.len() < size, "{e}"),
            }
        }
        parse_all(&msg, &inside);
        // The nfqueue parser only takes its own type: give it every
        // message as one too.
        parse_all(
            &Msg {
                kind: NFQNL_MSG_PACKET,
                ..msg
            },
            &inside,
        );
    }
}

/// The typed parsers, on any message.
fn parse_all(msg: &Msg<'_>, inside: &impl Fn(&[u8])) {
    if let Ok(route) = Route::parse(msg) {
        std::hint::black_box(format!("{route:?}"));
    }
    if let Ok(address) = Address::parse(msg) {
        std::hint::black_box(format!("{address:?}"));
    }
    if let Ok(interface) = Interface::parse(msg) {
        std::hint::black_box(format!("{interface:?}"));
    }
    match Packet::parse(msg) {
        Ok(packet) => inside(packet.payload),
        Err(e) => {
            std::hint::black_box(e.to_string());
        }
    }
}

/// Every attribute, nested ones too (up to [`MAX_DEPTH`]), with every
/// accessor.
fn walk(attrs: Attrs<'_>, depth: usize, inside: &impl Fn(&[u8])) {
    let mut failed = false;
    for attr in attrs {
        assert!(!failed, "attribute iteration went on after an error");
        let attr = match attr {
            Ok(attr) => attr,
            Err(e) => {
                failed = true;
                std::hint::black_box(e.to_string());
                continue;
            }
        };
        inside(attr.value);
        assert!(attr.value.len() <= usize::from(u16::MAX) - NLA_HDRLEN);
        let _ = std::hint::black_box((
            attr.kind(),
            attr.u8(),
            attr.u16(),
            attr.u32(),
            attr.string(),
        ));
        if depth < MAX_DEPTH {
            walk(attr.nested(), depth + 1, inside);
        }
    }
}
