//! The message layer on garbage: errors, never panics, never reads past
//! the buffer, and always terminates.

use proptest::prelude::*;
use ringlink_netlink::address::{Address, RTM_NEWADDR};
use ringlink_netlink::attr::Attrs;
use ringlink_netlink::message::Messages;
use ringlink_netlink::nfqueue::{NFQNL_MSG_PACKET, Packet};
use ringlink_netlink::route::Route;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn any_bytes_parse_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut seen = 0usize;
        for msg in Messages::new(&bytes) {
            seen += 1;
            prop_assert!(seen <= bytes.len() / 16 + 1, "iteration must advance");
            let Ok(msg) = msg else { continue };
            let _ = msg.error();
            if let Ok(route) = Route::parse(&msg) {
                prop_assert!(route.multipath.len() <= msg.payload.len() / 8);
            }
            for size in [0, 4, 16, 64] {
                if let Ok((fixed, attrs)) = msg.split(size) {
                    prop_assert_eq!(fixed.len(), size);
                    for attr in attrs.flatten() {
                        let _ = (attr.u32(), attr.u16(), attr.u8(), attr.string());
                        let nested = attr.nested().count();
                        prop_assert!(nested <= attr.value.len() / 4 + 1);
                    }
                }
            }
        }
        prop_assert!(Attrs::new(&bytes).count() <= bytes.len() / 4 + 1);
    }

    #[test]
    fn plausible_headers_with_random_lengths(len in 0u32..600, kind in 0u16..40, flags in any::<u16>(), tail in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut bytes = len.to_ne_bytes().to_vec();
        bytes.extend(kind.to_ne_bytes());
        bytes.extend(flags.to_ne_bytes());
        bytes.extend([0u8; 8]);
        bytes.extend(tail);
        match Messages::new(&bytes).next() {
            Some(Ok(msg)) => prop_assert_eq!(msg.payload.len() + 16, len as usize),
            Some(Err(_)) => prop_assert!((len as usize) < 16 || len as usize > bytes.len()),
            None => prop_assert!(bytes.is_empty()),
        }
    }

    #[test]
    fn route_attributes_with_garbage_values(family in prop_oneof![Just(2u8), Just(10u8), any::<u8>()], kind in 0u16..24, value in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut buf = vec![0u8; 512];
        let mut b = ringlink_netlink::message::MessageBuilder::new(&mut buf, 24, 0, 1).unwrap();
        let mut rtm = [0u8; 12];
        rtm[0] = family;
        b.push(&rtm).unwrap();
        b.attr(kind, &value).unwrap();
        let len = b.finish();
        let msg = Messages::new(&buf[..len]).next().unwrap().unwrap();
        // Parses or refuses; never panics, never reads past the value.
        if let Ok(route) = Route::parse(&msg) {
            prop_assert!(route.multipath.len() <= value.len() / 8);
        }
    }

    #[test]
    fn queued_packets_and_addresses_with_garbage_values(kind in 0u16..16, value in proptest::collection::vec(any::<u8>(), 0..200), fixed in proptest::collection::vec(any::<u8>(), 0..12)) {
        for msg_type in [NFQNL_MSG_PACKET, RTM_NEWADDR] {
            let mut buf = vec![0u8; 512];
            let mut b = ringlink_netlink::message::MessageBuilder::new(&mut buf, msg_type, 0, 1).unwrap();
            b.push(&fixed).unwrap();
            b.attr(kind, &value).unwrap();
            let len = b.finish();
            let msg = Messages::new(&buf[..len]).next().unwrap().unwrap();
            // Parses or refuses; never panics, never reads past the message.
            if let Ok(packet) = Packet::parse(&msg) {
                prop_assert!(packet.payload.len() <= msg.payload.len());
            }
            if let Ok(addr) = Address::parse(&msg) {
                prop_assert!(addr.label.map_or(0, |l| l.len()) <= value.len() * 3);
            }
        }
    }
}
