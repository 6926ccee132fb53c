//! Generic netlink: resolving a family's id from its name through the
//! controller (`nlctrl`).
//!
//! ```no_run
//! use ringlink_netlink::genl::resolve_family;
//! use ringlink_netlink::socket::NETLINK_GENERIC;
//! use ringlink_netlink::{NetlinkLink, NetlinkOptions};
//!
//! let options = NetlinkOptions { protocol: NETLINK_GENERIC, ..Default::default() };
//! let mut link = NetlinkLink::open(&options)?;
//! println!("nlctrl is family {}", resolve_family(&mut link, "nlctrl", 1)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::NetlinkLink;
use crate::message::{Full, MessageBuilder, NLM_F_ACK, NLM_F_REQUEST, ParseError};
use crate::request::{RequestError, exchange};

/// `GENL_ID_CTRL`: the controller's own family id.
pub const GENL_ID_CTRL: u16 = 0x10;
/// `CTRL_CMD_GETFAMILY`.
const CTRL_CMD_GETFAMILY: u8 = 3;
/// `CTRL_ATTR_FAMILY_ID` (u16).
const CTRL_ATTR_FAMILY_ID: u16 = 1;
/// `CTRL_ATTR_FAMILY_NAME` (NUL-terminated string).
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
/// `sizeof(struct genlmsghdr)`: command, version, two reserved bytes.
pub const GENLMSGHDR_LEN: usize = 4;

/// Writes a `CTRL_CMD_GETFAMILY` request for `name` into `buf`; returns
/// its length.
pub fn get_family_request(buf: &mut [u8], name: &str, seq: u32) -> Result<usize, Full> {
    let mut b = MessageBuilder::new(buf, GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, seq)?;
    b.push(&[CTRL_CMD_GETFAMILY, 2, 0, 0])?;
    let mut value = Vec::with_capacity(name.len() + 1);
    value.extend_from_slice(name.as_bytes());
    value.push(0);
    b.attr(CTRL_ATTR_FAMILY_NAME, &value)?;
    Ok(b.finish())
}

/// The id of generic netlink family `name` (e.g. `"nl80211"`), asked of
/// the controller over `link` (a `NETLINK_GENERIC` link) with sequence
/// number `seq`. An unknown family is [`RequestError::Kernel`] with
/// `ENOENT`: its module may not be loaded.
pub fn resolve_family(link: &mut NetlinkLink, name: &str, seq: u32) -> Result<u16, RequestError> {
    let mut id = None;
    exchange(
        link,
        seq,
        |buf, seq| get_family_request(buf, name, seq),
        |msg| {
            let (_, attrs) = msg.split(GENLMSGHDR_LEN)?;
            for attr in attrs {
                let attr = attr?;
                if attr.kind() == CTRL_ATTR_FAMILY_ID {
                    id = Some(attr.u16()?);
                }
            }
            Ok(())
        },
    )?;
    id.ok_or_else(|| {
        ParseError::Attribute(format!(
            "the controller's reply for {name:?} has no family id"
        ))
        .into()
    })
}
