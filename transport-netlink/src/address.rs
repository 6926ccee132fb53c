//! rtnetlink interface addresses: the `RTM_GETADDR` dump request and the
//! `RTM_NEWADDR` message parsed into an [`Address`].
//!
//! ```
//! use ringlink_netlink::address::{dump_request, Address};
//! use ringlink_netlink::message::Messages;
//! use ringlink_netlink::route::AF_INET;
//!
//! let mut buf = [0u8; 64];
//! let len = dump_request(&mut buf, AF_INET, 1).unwrap();
//! let request = Messages::new(&buf[..len]).next().unwrap().unwrap();
//! assert_eq!(request.payload.len(), 8); // a zeroed ifaddrmsg but the family
//! assert!(Address::parse(&request).is_ok());
//! ```

use crate::message::{Full, MessageBuilder, Msg, NLM_F_DUMP, NLM_F_REQUEST, ParseError};
use crate::route::address;
use std::net::IpAddr;

/// `RTM_NEWADDR`.
pub const RTM_NEWADDR: u16 = 20;
/// `RTM_DELADDR`.
pub const RTM_DELADDR: u16 = 21;
/// `RTM_GETADDR`.
pub const RTM_GETADDR: u16 = 22;
/// `sizeof(struct ifaddrmsg)`.
pub const IFADDRMSG_LEN: usize = 8;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;

/// One address of an interface, as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// Prefix length.
    pub prefix_len: u8,
    /// `IFA_F_*` flags (`IFA_FLAGS` when present, else `ifa_flags`).
    pub flags: u32,
    /// `ifa_scope` (0 global, 253 link, 254 host).
    pub scope: u8,
    /// Interface index.
    pub index: u32,
    /// The local address (`IFA_LOCAL`, else `IFA_ADDRESS`): what `ip`
    /// calls `local`.
    pub local: Option<IpAddr>,
    /// The peer of a point-to-point address (`IFA_ADDRESS` when it differs
    /// from `IFA_LOCAL`).
    pub peer: Option<IpAddr>,
    /// Broadcast address (IPv4).
    pub broadcast: Option<IpAddr>,
    /// Label (IPv4), e.g. `eth0:1`.
    pub label: Option<String>,
}

/// Writes an `RTM_GETADDR` dump request for `family` (0: all) into `buf`;
/// returns its length.
pub fn dump_request(buf: &mut [u8], family: u8, seq: u32) -> Result<usize, Full> {
    let mut b = MessageBuilder::new(buf, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq)?;
    b.push(&[family, 0, 0, 0, 0, 0, 0, 0])?;
    Ok(b.finish())
}

impl Address {
    /// Parses an `RTM_NEWADDR`/`RTM_DELADDR` message; attributes it does
    /// not know are skipped, malformed ones are an error.
    pub fn parse(msg: &Msg<'_>) -> Result<Address, ParseError> {
        let (ifa, attrs) = msg.split(IFADDRMSG_LEN)?;
        let family = ifa[0];
        let (mut local, mut address_attr) = (None, None);
        let mut parsed = Address {
            family,
            prefix_len: ifa[1],
            flags: u32::from(ifa[2]),
            scope: ifa[3],
            index: u32::from_ne_bytes([ifa[4], ifa[5], ifa[6], ifa[7]]),
            local: None,
            peer: None,
            broadcast: None,
            label: None,
        };
        for attr in attrs {
            let attr = attr?;
            match attr.kind() {
                IFA_ADDRESS => address_attr = address(family, attr.value),
                IFA_LOCAL => local = address(family, attr.value),
                IFA_BROADCAST => parsed.broadcast = address(family, attr.value),
                IFA_LABEL => parsed.label = Some(attr.string()),
                IFA_FLAGS => parsed.flags = attr.u32()?,
                _ => {}
            }
        }
        parsed.local = local.or(address_attr);
        parsed.peer = address_attr.filter(|_| local.is_some() && local != address_attr);
        Ok(parsed)
    }
}
