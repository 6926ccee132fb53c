//! rtnetlink routes: dump requests built in place, `RTM_NEWROUTE` messages
//! parsed in place (IPv4 and IPv6, multipath included).

use crate::attr::{Attr, Attrs};
use crate::message::{Full, MessageBuilder, Msg, NLM_F_DUMP, NLM_F_REQUEST, ParseError};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `RTM_NEWROUTE`.
pub const RTM_NEWROUTE: u16 = 24;
/// `RTM_DELROUTE`.
pub const RTM_DELROUTE: u16 = 25;
/// `RTM_GETROUTE`.
pub const RTM_GETROUTE: u16 = 26;
/// `sizeof(struct rtmsg)`.
pub const RTMSG_LEN: usize = 12;
/// `AF_INET`.
pub const AF_INET: u8 = 2;
/// `AF_INET6`.
pub const AF_INET6: u8 = 10;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_PREF: u16 = 20;
/// `sizeof(struct rtnexthop)`.
const RTNH_LEN: usize = 8;

/// One next hop of a multipath route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextHop {
    /// Via this gateway, if any.
    pub gateway: Option<IpAddr>,
    /// Out of this interface index.
    pub oif: u32,
    /// Weight (`rtnh_hops + 1`).
    pub weight: u16,
    /// `rtnh_flags` (`RTNH_F_*`).
    pub flags: u8,
}

/// A route, as the kernel describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// Destination (`None`: the default route) and prefix length.
    pub dst: Option<IpAddr>,
    /// Prefix length.
    pub dst_len: u8,
    /// Routing table (`RTA_TABLE` when present, else `rtm_table`).
    pub table: u32,
    /// `rtm_protocol` (2 kernel, 3 boot, 4 static, ...).
    pub protocol: u8,
    /// `rtm_scope` (0 universe, 253 link, 254 host).
    pub scope: u8,
    /// `rtm_type` (1 unicast, ...).
    pub kind: u8,
    /// `rtm_flags` (`RTNH_F_*`, `RTM_F_*`).
    pub flags: u32,
    /// Gateway of a single-path route.
    pub gateway: Option<IpAddr>,
    /// Output interface index of a single-path route.
    pub oif: Option<u32>,
    /// Preferred source address.
    pub prefsrc: Option<IpAddr>,
    /// Metric.
    pub priority: Option<u32>,
    /// IPv6 router preference.
    pub pref: Option<u8>,
    /// Next hops of a multipath route.
    pub multipath: Vec<NextHop>,
}

/// Names of the next-hop flags `ip` prints (`RTNH_F_*`).
pub const NEXTHOP_FLAGS: [(u32, &str); 6] = [
    (1, "dead"),
    (2, "pervasive"),
    (4, "onlink"),
    (8, "offload"),
    (16, "linkdown"),
    (32, "unresolved"),
];

/// Builds an `RTM_NEWROUTE` request into `buf` (create, exclusive, with an
/// acknowledgement): a unicast route to `dst/dst_len` via `gateway` in the
/// main table; returns its length, or `Full` when `buf` has no room.
pub fn add_request(
    buf: &mut [u8],
    dst: IpAddr,
    dst_len: u8,
    gateway: IpAddr,
    seq: u32,
) -> Result<usize, Full> {
    use crate::message::{NLM_F_CREATE, NLM_F_EXCL};
    let change = Change {
        kind: RTM_NEWROUTE,
        flags: NLM_F_CREATE | NLM_F_EXCL,
        scope: RT_SCOPE_UNIVERSE,
        protocol: RTPROT_STATIC,
        route_type: RTN_UNICAST,
    };
    change_request(buf, change, dst, dst_len, Some(gateway), seq)
}

/// Builds an `RTM_DELROUTE` request into `buf` (with an acknowledgement)
/// for the main table's route to `dst/dst_len`, whoever added it (any
/// protocol, scope and type, as `ip route del` asks); returns its length,
/// or `Full` when `buf` has no room.
pub fn delete_request(buf: &mut [u8], dst: IpAddr, dst_len: u8, seq: u32) -> Result<usize, Full> {
    let change = Change {
        kind: RTM_DELROUTE,
        flags: 0,
        scope: RT_SCOPE_NOWHERE,
        protocol: RTPROT_UNSPEC,
        route_type: RTN_UNSPEC,
    };
    change_request(buf, change, dst, dst_len, None, seq)
}

/// `RT_SCOPE_UNIVERSE`, and `RT_SCOPE_NOWHERE` (a deletion matching any
/// scope).
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_NOWHERE: u8 = 255;
/// `RTPROT_UNSPEC` (a deletion matching any protocol) and `RTPROT_STATIC`.
const RTPROT_UNSPEC: u8 = 0;
const RTPROT_STATIC: u8 = 4;
/// `RTN_UNSPEC` (a deletion matching any type) and `RTN_UNICAST`.
const RTN_UNSPEC: u8 = 0;
const RTN_UNICAST: u8 = 1;

/// What a route change request asks: its message type, flags besides
/// request and ack, and the `rtmsg` scope, protocol and type.
struct Change {
    kind: u16,
    flags: u16,
    scope: u8,
    protocol: u8,
    route_type: u8,
}

/// A route change request for `dst/dst_len` in the main table, with an
/// acknowledgement.
fn change_request(
    buf: &mut [u8],
    change: Change,
    dst: IpAddr,
    dst_len: u8,
    gateway: Option<IpAddr>,
    seq: u32,
) -> Result<usize, Full> {
    use crate::message::NLM_F_ACK;
    let flags = NLM_F_REQUEST | NLM_F_ACK | change.flags;
    let mut b = MessageBuilder::new(buf, change.kind, flags, seq)?;
    let family = if dst.is_ipv4() { AF_INET } else { AF_INET6 };
    // family, dst_len, src_len, tos, table main, protocol, scope, type,
    // flags
    let (protocol, scope, kind) = (change.protocol, change.scope, change.route_type);
    b.push(&[
        family, dst_len, 0, 0, 254, protocol, scope, kind, 0, 0, 0, 0,
    ])?;
    let octets = |a: IpAddr| match a {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    b.attr(RTA_DST, &octets(dst))?;
    if let Some(gateway) = gateway {
        b.attr(RTA_GATEWAY, &octets(gateway))?;
    }
    Ok(b.finish())
}

/// Builds an `RTM_GETROUTE` dump request for `family` into `buf`; returns
/// its length.
pub fn dump_request(buf: &mut [u8], family: u8, seq: u32) -> Result<usize, Full> {
    let mut b = MessageBuilder::new(buf, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq)?;
    let mut rtm = [0u8; RTMSG_LEN];
    rtm[0] = family;
    b.push(&rtm)?;
    Ok(b.finish())
}

/// An address attribute's value as an IP address of `family`, if it has
/// the right length.
pub(crate) fn address(family: u8, value: &[u8]) -> Option<IpAddr> {
    match (family, value.len()) {
        (AF_INET, 4) => Some(IpAddr::V4(Ipv4Addr::new(
            value[0], value[1], value[2], value[3],
        ))),
        (AF_INET6, 16) => <[u8; 16]>::try_from(value)
            .ok()
            .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}

impl Route {
    /// Parses an `RTM_NEWROUTE` message; attributes it does not know are
    /// skipped, malformed ones are an error.
    pub fn parse(msg: &Msg<'_>) -> Result<Route, ParseError> {
        let (rtm, attrs) = msg.split(RTMSG_LEN)?;
        match rtm[0] {
            AF_INET => Self::parse_as::<AF_INET>(rtm, attrs),
            AF_INET6 => Self::parse_as::<AF_INET6>(rtm, attrs),
            // `address` decodes no other family's addresses, nor family 0's.
            _ => Self::parse_as::<0>(rtm, attrs),
        }
    }

    /// [`Route::parse`] for the `rtmsg` header `rtm` and the attributes
    /// after it, with the addresses decoded as `FAMILY`'s.
    ///
    /// The family is a constant so that an IPv4 route's loop carries no
    /// 16-byte IPv6 values: fewer values spill to the stack before the
    /// fields are written once, into the result (about 30 instructions
    /// fewer per route than with a run-time family).
    fn parse_as<const FAMILY: u8>(rtm: &[u8], attrs: Attrs<'_>) -> Result<Route, ParseError> {
        let family = rtm[0];
        let mut table = u32::from(rtm[4]);
        let (mut dst, mut gateway, mut prefsrc) = (None, None, None);
        let (mut oif, mut priority, mut pref) = (None, None, None);
        let mut multipath = Vec::new();
        for attr in attrs {
            let attr = attr?;
            match attr.kind() {
                RTA_DST => dst = address(FAMILY, attr.value),
                RTA_GATEWAY => gateway = address(FAMILY, attr.value),
                RTA_PREFSRC => prefsrc = address(FAMILY, attr.value),
                RTA_OIF => oif = Some(attr.u32()?),
                RTA_PRIORITY => priority = Some(attr.u32()?),
                RTA_TABLE => table = attr.u32()?,
                RTA_PREF => pref = Some(attr.u8()?),
                RTA_MULTIPATH => multipath = next_hops(family, &attr)?,
                _ => {}
            }
        }
        Ok(Route {
            family,
            dst,
            dst_len: rtm[1],
            table,
            protocol: rtm[5],
            scope: rtm[6],
            kind: rtm[7],
            flags: u32::from_ne_bytes([rtm[8], rtm[9], rtm[10], rtm[11]]),
            gateway,
            oif,
            prefsrc,
            priority,
            pref,
            multipath,
        })
    }
}

/// The `struct rtnexthop` entries of an `RTA_MULTIPATH` attribute.
fn next_hops(family: u8, attr: &Attr<'_>) -> Result<Vec<NextHop>, ParseError> {
    let mut hops = Vec::new();
    let mut rest = attr.value;
    while !rest.is_empty() {
        let header = rest
            .get(..RTNH_LEN)
            .ok_or_else(|| ParseError::Attribute("truncated rtnexthop".into()))?;
        let len = u16::from_ne_bytes([header[0], header[1]]) as usize;
        let body = rest
            .get(RTNH_LEN..len)
            .filter(|_| len >= RTNH_LEN)
            .ok_or_else(|| {
                ParseError::Attribute(format!("rtnexthop claims {len} bytes, {} left", rest.len()))
            })?;
        let mut hop = NextHop {
            gateway: None,
            oif: u32::from_ne_bytes([header[4], header[5], header[6], header[7]]),
            weight: u16::from(header[3]) + 1,
            flags: header[2],
        };
        for inner in Attrs::new(body).flatten() {
            if inner.kind() == RTA_GATEWAY {
                hop.gateway = address(family, inner.value);
            }
        }
        hops.push(hop);
        rest = rest.get(crate::attr::align(len)..).unwrap_or(&[]);
    }
    Ok(hops)
}
