//! nfnetlink_queue: packets an iptables `NFQUEUE` rule hands to user
//! space, and the verdicts that release them. Requests are built in place
//! (in transmit frames); packets are parsed in place (in receive frames).
//!
//! A queue is used on a [`NETLINK_NETFILTER`](crate::socket::NETLINK_NETFILTER)
//! link: send [`bind_request`] and [`params_request`] (and optionally
//! [`flags_request`]), then for each received [`Packet`] a
//! [`verdict_request`] for it, or one for every packet up to an id
//! ([`Target::UpTo`]).
//!
//! ```
//! use ringlink_netlink::message::Messages;
//! use ringlink_netlink::nfqueue::{verdict_request, Target, Verdict};
//!
//! let mut buf = [0u8; 64];
//! let len = verdict_request(&mut buf, 7, Target::UpTo(41), Verdict::Accept, 1).unwrap();
//! let msg = Messages::new(&buf[..len]).next().unwrap().unwrap();
//! assert_eq!(msg.kind, (3 << 8) | 3); // NFNL_SUBSYS_QUEUE, NFQNL_MSG_VERDICT_BATCH
//! ```

use crate::message::{Full, MessageBuilder, Msg, NLM_F_ACK, NLM_F_REQUEST, ParseError};

/// `NFNL_SUBSYS_QUEUE`: the high byte of every queue message type.
const SUBSYS_QUEUE: u16 = 3 << 8;
/// `NFQNL_MSG_PACKET`: a queued packet, kernel to user.
pub const NFQNL_MSG_PACKET: u16 = SUBSYS_QUEUE;
const NFQNL_MSG_VERDICT: u16 = SUBSYS_QUEUE | 1;
const NFQNL_MSG_CONFIG: u16 = SUBSYS_QUEUE | 2;
const NFQNL_MSG_VERDICT_BATCH: u16 = SUBSYS_QUEUE | 3;
/// `sizeof(struct nfgenmsg)`: family, version, resource id (big endian).
pub const NFGENMSG_LEN: usize = 4;
const NFNETLINK_V0: u8 = 0;
const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NFQA_PAYLOAD: u16 = 10;
const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQA_CFG_MASK: u16 = 4;
const NFQA_CFG_FLAGS: u16 = 5;
const NFQNL_CFG_CMD_BIND: u8 = 1;
const NFQNL_COPY_PACKET: u8 = 2;
/// `NFQA_CFG_F_FAIL_OPEN`: accept packets instead of dropping them when
/// the queue is full.
pub const FLAG_FAIL_OPEN: u32 = 1;
/// `NFQA_CFG_F_GSO`: hand over GSO packets whole, unsegmented.
pub const FLAG_GSO: u32 = 4;

/// What to do with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `NF_DROP`.
    Drop = 0,
    /// `NF_ACCEPT`.
    Accept = 1,
}

/// A queued packet, borrowed from the frame it arrived in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The queue it came from.
    pub queue: u16,
    /// Its id, for the verdict.
    pub id: u32,
    /// Link-layer protocol (`ETH_P_IP`, ...).
    pub hw_protocol: u16,
    /// The netfilter hook it was queued at.
    pub hook: u8,
    /// The packet bytes copied to user space (up to the copy range).
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Parses an `NFQNL_MSG_PACKET`; a message of another type, or one
    /// without its packet header, is an error.
    pub fn parse(msg: &Msg<'a>) -> Result<Packet<'a>, ParseError> {
        if msg.kind != NFQNL_MSG_PACKET {
            return Err(ParseError::Attribute(format!(
                "message type {:#x} is not a queued packet",
                msg.kind
            )));
        }
        let (nfgen, attrs) = msg.split(NFGENMSG_LEN)?;
        let mut packet = Packet {
            queue: u16::from_be_bytes([nfgen[2], nfgen[3]]),
            id: 0,
            hw_protocol: 0,
            hook: 0,
            payload: &[],
        };
        let mut header = false;
        for attr in attrs {
            let attr = attr?;
            match attr.kind() {
                NFQA_PACKET_HDR => {
                    let v: [u8; 7] = attr
                        .value
                        .get(..7)
                        .and_then(|v| v.try_into().ok())
                        .ok_or_else(|| {
                            ParseError::Attribute(format!(
                                "packet header of {} bytes",
                                attr.value.len()
                            ))
                        })?;
                    packet.id = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
                    packet.hw_protocol = u16::from_be_bytes([v[4], v[5]]);
                    packet.hook = v[6];
                    header = true;
                }
                NFQA_PAYLOAD => packet.payload = attr.value,
                _ => {}
            }
        }
        match header {
            true => Ok(packet),
            false => Err(ParseError::Attribute(
                "queued packet without NFQA_PACKET_HDR".into(),
            )),
        }
    }
}

/// A queue configuration message with an acknowledgement, its attributes
/// written by `attrs`.
fn config(
    buf: &mut [u8],
    queue: u16,
    seq: u32,
    attrs: impl FnOnce(&mut MessageBuilder<'_>) -> Result<(), Full>,
) -> Result<usize, Full> {
    let mut b = MessageBuilder::new(buf, NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, seq)?;
    b.push(&nfgenmsg(queue))?;
    attrs(&mut b)?;
    Ok(b.finish())
}

/// The `struct nfgenmsg` of queue `queue`.
fn nfgenmsg(queue: u16) -> [u8; NFGENMSG_LEN] {
    let [hi, lo] = queue.to_be_bytes();
    [0, NFNETLINK_V0, hi, lo]
}

/// Binds this socket to queue `queue` (`NFQNL_CFG_CMD_BIND`), with an
/// acknowledgement.
pub fn bind_request(buf: &mut [u8], queue: u16, seq: u32) -> Result<usize, Full> {
    config(buf, queue, seq, |b| {
        b.attr(NFQA_CFG_CMD, &[NFQNL_CFG_CMD_BIND, 0, 0, 0])
    })
}

/// Asks for whole packets (copy mode `NFQNL_COPY_PACKET`) up to `range`
/// bytes each, with an acknowledgement.
pub fn params_request(buf: &mut [u8], queue: u16, range: u32, seq: u32) -> Result<usize, Full> {
    let [a, b0, c, d] = range.to_be_bytes();
    config(buf, queue, seq, |b| {
        b.attr(NFQA_CFG_PARAMS, &[a, b0, c, d, NFQNL_COPY_PACKET])
    })
}

/// Sets queue flags ([`FLAG_FAIL_OPEN`], [`FLAG_GSO`]): those in `mask` to
/// their value in `flags`, with an acknowledgement.
pub fn flags_request(
    buf: &mut [u8],
    queue: u16,
    flags: u32,
    mask: u32,
    seq: u32,
) -> Result<usize, Full> {
    config(buf, queue, seq, |b| {
        b.attr(NFQA_CFG_FLAGS, &flags.to_be_bytes())?;
        b.attr(NFQA_CFG_MASK, &mask.to_be_bytes())
    })
}

/// Which packets a verdict is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The packet of this id (`NFQNL_MSG_VERDICT`).
    Packet(u32),
    /// Every packet with an id up to this one (`NFQNL_MSG_VERDICT_BATCH`).
    UpTo(u32),
}

/// The verdict for `target` of queue `queue`. No acknowledgement is asked
/// for: verdicts are fire and forget (a refusal still comes back).
pub fn verdict_request(
    buf: &mut [u8],
    queue: u16,
    target: Target,
    verdict: Verdict,
    seq: u32,
) -> Result<usize, Full> {
    let (kind, id) = match target {
        Target::Packet(id) => (NFQNL_MSG_VERDICT, id),
        Target::UpTo(id) => (NFQNL_MSG_VERDICT_BATCH, id),
    };
    let mut b = MessageBuilder::new(buf, kind, NLM_F_REQUEST, seq)?;
    b.push(&nfgenmsg(queue))?;
    let mut hdr = [0u8; 8];
    hdr[..4].copy_from_slice(&(verdict as u32).to_be_bytes());
    hdr[4..].copy_from_slice(&id.to_be_bytes());
    b.attr(NFQA_VERDICT_HDR, &hdr)?;
    Ok(b.finish())
}
