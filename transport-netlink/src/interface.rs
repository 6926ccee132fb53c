//! rtnetlink network interfaces (links): the `RTM_GETLINK` dump request
//! and the `RTM_NEWLINK` message parsed into an [`Interface`].
//!
//! ```
//! use ringlink_netlink::interface::{dump_request, Interface};
//! use ringlink_netlink::message::Messages;
//!
//! let mut buf = [0u8; 64];
//! let len = dump_request(&mut buf, 1).unwrap();
//! let request = Messages::new(&buf[..len]).next().unwrap().unwrap();
//! assert_eq!(request.payload.len(), 16); // a zeroed ifinfomsg
//! assert_eq!(Interface::parse(&request).unwrap().name, "");
//! ```

use crate::message::{Full, MessageBuilder, Msg, NLM_F_DUMP, NLM_F_REQUEST, ParseError};

/// `RTM_NEWLINK`.
pub const RTM_NEWLINK: u16 = 16;
/// `RTM_DELLINK`.
pub const RTM_DELLINK: u16 = 17;
/// `RTM_GETLINK`.
pub const RTM_GETLINK: u16 = 18;
/// `sizeof(struct ifinfomsg)`.
pub const IFINFOMSG_LEN: usize = 16;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;

/// One network interface, as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Interface index.
    pub index: u32,
    /// Name (`IFLA_IFNAME`; empty if the message has none).
    pub name: String,
    /// MTU (`IFLA_MTU`).
    pub mtu: Option<u32>,
    /// `IFF_*` flags (`IFF_UP` = 1, ...).
    pub flags: u32,
}

/// Writes an `RTM_GETLINK` dump request into `buf`; returns its length.
pub fn dump_request(buf: &mut [u8], seq: u32) -> Result<usize, Full> {
    let mut b = MessageBuilder::new(buf, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq)?;
    b.push(&[0u8; IFINFOMSG_LEN])?;
    Ok(b.finish())
}

impl Interface {
    /// Parses an `RTM_NEWLINK`/`RTM_DELLINK` message; attributes it does
    /// not know are skipped, malformed ones are an error.
    pub fn parse(msg: &Msg<'_>) -> Result<Interface, ParseError> {
        let (ifi, attrs) = msg.split(IFINFOMSG_LEN)?;
        let mut parsed = Interface {
            index: u32::from_ne_bytes([ifi[4], ifi[5], ifi[6], ifi[7]]),
            name: String::new(),
            mtu: None,
            flags: u32::from_ne_bytes([ifi[8], ifi[9], ifi[10], ifi[11]]),
        };
        for attr in attrs {
            let attr = attr?;
            match attr.kind() {
                IFLA_IFNAME => parsed.name = attr.string(),
                IFLA_MTU => parsed.mtu = Some(attr.u32()?),
                _ => {}
            }
        }
        Ok(parsed)
    }
}
