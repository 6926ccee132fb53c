//! The netlink message layer, zero copy over frames: iterating `nlmsghdr`s
//! in a datagram (multipart, DONE, ERROR with extended-ack text and offset),
//! and building messages in place in a transmit frame.
//!
//! Everything read is bounds-checked: a malformed message is an error, never
//! a panic or an out-of-bounds read, and iteration stops at it.

use crate::attr::{Attrs, NLA_HDRLEN, align};
use thiserror::Error;

/// Size of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// `NLMSG_NOOP`.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`: an error, or with error 0 an acknowledgement.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a multipart dump.
pub const NLMSG_DONE: u16 = 3;
/// `NLMSG_OVERRUN`.
pub const NLMSG_OVERRUN: u16 = 4;

/// `NLM_F_REQUEST`.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_MULTI`: part of a multipart message, ended by `NLMSG_DONE`.
pub const NLM_F_MULTI: u16 = 0x2;
/// `NLM_F_ACK`: ask for an acknowledgement.
pub const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_DUMP_INTR`: the dump was interrupted by a change; retry it.
pub const NLM_F_DUMP_INTR: u16 = 0x10;
/// `NLM_F_DUMP`: `NLM_F_ROOT | NLM_F_MATCH`.
pub const NLM_F_DUMP: u16 = 0x300;
/// `NLM_F_CREATE`.
pub const NLM_F_CREATE: u16 = 0x400;
/// `NLM_F_EXCL`.
pub const NLM_F_EXCL: u16 = 0x200;
/// `NLM_F_REPLACE`.
pub const NLM_F_REPLACE: u16 = 0x100;
/// On `NLMSG_ERROR`: the request in the error was capped to its header.
pub const NLM_F_CAPPED: u16 = 0x100;
/// On `NLMSG_ERROR`: extended-ack attributes follow.
pub const NLM_F_ACK_TLVS: u16 = 0x200;

/// `NLMSGERR_ATTR_MSG`: the error text.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// `NLMSGERR_ATTR_OFFS`: offset of the offending attribute in the request.
const NLMSGERR_ATTR_OFFS: u16 = 2;

/// A malformed netlink message.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer bytes than a header, or than the header's length claims.
    #[error("truncated message at byte {offset}: {needed} bytes needed, {available} available")]
    Truncated {
        /// Where the message starts in the datagram.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// An `NLMSG_ERROR` too short for its error code and request header.
    #[error("NLMSG_ERROR message of {0} bytes is too short")]
    ShortError(usize),
    /// A malformed attribute inside a message.
    #[error("malformed attribute: {0}")]
    Attribute(String),
    /// A fixed-size payload header larger than the payload.
    #[error(
        "payload of {available} bytes is shorter than the {needed}-byte header it should start with"
    )]
    ShortPayload {
        /// Bytes the header needs.
        needed: usize,
        /// Bytes the payload has.
        available: usize,
    },
}

impl From<crate::attr::AttrError> for ParseError {
    fn from(e: crate::attr::AttrError) -> Self {
        ParseError::Attribute(e.to_string())
    }
}

/// One netlink message, borrowed from the buffer it was received in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Msg<'a> {
    /// `nlmsg_type`.
    pub kind: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid`: the sender's port (0: the kernel).
    pub pid: u32,
    /// The bytes after the header, `nlmsg_len - 16` of them.
    pub payload: &'a [u8],
}

/// An `NLMSG_ERROR`: an error, or (code 0) an acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorMsg<'a> {
    /// The negative errno, or 0 for an acknowledgement.
    pub code: i32,
    /// Sequence number of the request it answers.
    pub request_seq: u32,
    /// The extended-ack text (`NETLINK_EXT_ACK`), if the kernel gave one.
    pub text: Option<&'a str>,
    /// Offset in the request of the attribute the kernel refused, if given.
    pub offset: Option<u32>,
}

impl<'a> Msg<'a> {
    /// Whether this ends a dump.
    pub fn is_done(&self) -> bool {
        self.kind == NLMSG_DONE
    }

    /// Whether the dump this belongs to was interrupted (retry it).
    pub fn dump_interrupted(&self) -> bool {
        self.flags & NLM_F_DUMP_INTR != 0
    }

    /// Decodes an `NLMSG_ERROR` (`None` for other types). Inlined, so that
    /// the check costs a reply's other messages a comparison, not a call.
    #[inline]
    pub fn error(&self) -> Option<Result<ErrorMsg<'a>, ParseError>> {
        (self.kind == NLMSG_ERROR).then(|| parse_error(self))
    }

    /// The error an `NLMSG_DONE` carries (`None` for other types, and for
    /// a `DONE` without an errno, as some subsystems send): the dump's
    /// errno, 0 when it completed, negative when the kernel cut it short
    /// (e.g. `-EMSGSIZE`), with the extended-ack text if given. Its
    /// `request_seq` is the dump's sequence number.
    pub fn done_error(&self) -> Option<ErrorMsg<'a>> {
        if !self.is_done() {
            return None;
        }
        let (code, tlvs) = self.payload.split_first_chunk::<4>()?;
        let mut error = ErrorMsg {
            code: i32::from_ne_bytes(*code),
            request_seq: self.seq,
            text: None,
            offset: None,
        };
        if self.flags & NLM_F_ACK_TLVS != 0 {
            error.read_ack_tlvs(tlvs);
        }
        Some(error)
    }

    /// Splits the payload into a fixed header of `size` bytes (e.g.
    /// `ifinfomsg`) and the attributes after it (aligned).
    pub fn split(&self, size: usize) -> Result<(&'a [u8], Attrs<'a>), ParseError> {
        let payload = self.payload;
        let fixed = payload.get(..size).ok_or(ParseError::ShortPayload {
            needed: size,
            available: payload.len(),
        })?;
        let rest = payload.get(align(size)..).unwrap_or(&[]);
        Ok((fixed, Attrs::new(rest)))
    }
}

#[inline(never)]
fn parse_error<'a>(msg: &Msg<'a>) -> Result<ErrorMsg<'a>, ParseError> {
    let p = msg.payload;
    // errno (4 bytes) then the request's header (16 bytes) at least.
    if p.len() < 4 + NLMSG_HDRLEN {
        return Err(ParseError::ShortError(p.len()));
    }
    let code = i32::from_ne_bytes([p[0], p[1], p[2], p[3]]);
    let request = &p[4..];
    let request_seq = u32::from_ne_bytes([request[8], request[9], request[10], request[11]]);
    let request_len = u32::from_ne_bytes([request[0], request[1], request[2], request[3]]) as usize;
    let mut error = ErrorMsg {
        code,
        request_seq,
        text: None,
        offset: None,
    };
    if msg.flags & NLM_F_ACK_TLVS != 0 {
        // The request is echoed whole unless capped to its header.
        let echoed = if msg.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            request_len
        };
        error.read_ack_tlvs(request.get(align(echoed)..).unwrap_or(&[]));
    }
    Ok(error)
}

impl<'a> ErrorMsg<'a> {
    /// Takes the text and offset from the extended-ack attributes `tlvs`.
    fn read_ack_tlvs(&mut self, tlvs: &'a [u8]) {
        for attr in Attrs::new(tlvs).flatten() {
            match attr.kind() {
                NLMSGERR_ATTR_MSG => {
                    let bytes = attr.value.split(|&b| b == 0).next().unwrap_or(&[]);
                    self.text = std::str::from_utf8(bytes).ok();
                }
                NLMSGERR_ATTR_OFFS => self.offset = attr.u32().ok(),
                _ => {}
            }
        }
    }
}

/// Iterates the messages of one datagram; stops after the first error.
#[derive(Clone, Debug)]
pub struct Messages<'a> {
    buf: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> Messages<'a> {
    /// The messages in `buf` (one received datagram, or one frame).
    pub fn new(buf: &'a [u8]) -> Messages<'a> {
        Messages {
            buf,
            offset: 0,
            failed: false,
        }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Msg<'a>, ParseError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.offset..];
        let truncated = |needed| ParseError::Truncated {
            offset: self.offset,
            needed,
            available: rest.len(),
        };
        let Some(header) = rest.get(..NLMSG_HDRLEN) else {
            self.failed = true;
            return Some(Err(truncated(NLMSG_HDRLEN)));
        };
        let word =
            |i: usize| u32::from_ne_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let half = |i: usize| u16::from_ne_bytes([header[i], header[i + 1]]);
        let len = word(0) as usize;
        let Some(body) = rest.get(NLMSG_HDRLEN..len).filter(|_| len >= NLMSG_HDRLEN) else {
            self.failed = true;
            return Some(Err(truncated(len.max(NLMSG_HDRLEN))));
        };
        self.offset += align(len);
        Some(Ok(Msg {
            kind: half(4),
            flags: half(6),
            seq: word(8),
            pid: word(12),
            payload: body,
        }))
    }
}

/// What the builder cannot write: no room left in its buffer, or an
/// attribute longer than netlink's 16-bit attribute length carries.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The message does not fit the buffer.
    #[error("the message does not fit the {capacity}-byte buffer")]
    Buffer {
        /// The buffer's size.
        capacity: usize,
    },
    /// An attribute (or nest) longer than an attribute's length field
    /// holds; nothing of it is left in the message.
    #[error(
        "an attribute of {len} bytes is longer than netlink's 65,535-byte limit for one \
         attribute: split its value"
    )]
    Attribute {
        /// Its length, header included.
        len: usize,
    },
}

/// Netlink's largest attribute, header included (its length is 16 bits).
const ATTR_MAX: usize = u16::MAX as usize;

/// Builds one netlink message in place in a buffer (a transmit frame's
/// payload area): header, fixed payload, attributes, nested attributes.
///
/// ```
/// use ringlink_netlink::message::{MessageBuilder, Messages, NLM_F_REQUEST};
/// let mut frame = [0u8; 128];
/// let mut b = MessageBuilder::new(&mut frame, 18, NLM_F_REQUEST, 7).unwrap();
/// b.push(&[0u8; 16]).unwrap(); // e.g. struct ifinfomsg
/// b.attr(3, b"eth0\0").unwrap();
/// let len = b.finish();
/// let msg = Messages::new(&frame[..len]).next().unwrap().unwrap();
/// assert_eq!((msg.kind, msg.seq), (18, 7));
/// let (_, mut attrs) = msg.split(16).unwrap();
/// assert_eq!(attrs.next().unwrap().unwrap().value, b"eth0\0");
/// ```
pub struct MessageBuilder<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> MessageBuilder<'a> {
    /// Starts a message of type `kind` with `flags` and sequence `seq`.
    pub fn new(
        buf: &'a mut [u8],
        kind: u16,
        flags: u16,
        seq: u32,
    ) -> Result<MessageBuilder<'a>, Full> {
        let capacity = buf.len();
        let header = buf
            .get_mut(..NLMSG_HDRLEN)
            .ok_or(Full::Buffer { capacity })?;
        header.fill(0);
        header[4..6].copy_from_slice(&kind.to_ne_bytes());
        header[6..8].copy_from_slice(&flags.to_ne_bytes());
        header[8..12].copy_from_slice(&seq.to_ne_bytes());
        Ok(MessageBuilder {
            buf,
            len: NLMSG_HDRLEN,
        })
    }

    /// Appends raw bytes (a fixed payload header), padded to 4 bytes.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), Full> {
        let capacity = self.buf.len();
        let end = self.len + align(bytes.len());
        let room = self
            .buf
            .get_mut(self.len..end)
            .ok_or(Full::Buffer { capacity })?;
        room.fill(0);
        room[..bytes.len()].copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Appends an attribute of type `kind` holding `value`.
    pub fn attr(&mut self, kind: u16, value: &[u8]) -> Result<(), Full> {
        let len = NLA_HDRLEN + value.len();
        if len > ATTR_MAX {
            return Err(Full::Attribute { len });
        }
        let start = self.len;
        self.push(&[0; NLA_HDRLEN])?;
        self.push(value)?;
        self.write_attr_header(start, kind, NLA_HDRLEN + value.len());
        Ok(())
    }

    /// Opens a nested attribute of type `kind`; close it with
    /// [`MessageBuilder::end_nested`] and the returned token.
    pub fn begin_nested(&mut self, kind: u16) -> Result<Nested, Full> {
        let start = self.len;
        self.push(&[0; NLA_HDRLEN])?;
        Ok(Nested { start, kind })
    }

    /// Closes a nested attribute. A nest longer than an attribute holds is
    /// taken back out of the message, contents and all, and refused.
    pub fn end_nested(&mut self, nested: Nested) -> Result<(), Full> {
        let len = self.len - nested.start;
        if len > ATTR_MAX {
            self.len = nested.start;
            return Err(Full::Attribute { len });
        }
        self.write_attr_header(nested.start, nested.kind | crate::attr::NLA_F_NESTED, len);
        Ok(())
    }

    /// Writes an attribute header at `at`; `len` is at most [`ATTR_MAX`].
    fn write_attr_header(&mut self, at: usize, kind: u16, len: usize) {
        // In bounds: `at + 4 <= self.len <= buf.len()`, pushed above.
        let len = len as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self.buf[at + 2..at + 4].copy_from_slice(&kind.to_ne_bytes());
    }

    /// Writes the final length into the header; returns it.
    pub fn finish(self) -> usize {
        let len = u32::try_from(self.len).unwrap_or(u32::MAX);
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.len
    }
}

/// An open nested attribute (see [`MessageBuilder::begin_nested`]).
#[must_use = "close it with end_nested"]
pub struct Nested {
    start: usize,
    kind: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        let mut b = MessageBuilder::new(&mut buf, kind, flags, seq).unwrap();
        b.push(payload).unwrap();
        let len = b.finish();
        buf.truncate(len);
        buf
    }

    #[test]
    fn multipart_datagram_iterates_to_done() {
        let mut datagram = message(16, NLM_F_MULTI, 1, &[1, 2, 3]);
        datagram.extend(message(16, NLM_F_MULTI | NLM_F_DUMP_INTR, 1, &[4; 8]));
        datagram.extend(message(NLMSG_DONE, NLM_F_MULTI, 1, &[0; 4]));
        let msgs: Vec<_> = Messages::new(&datagram).collect::<Result<_, _>>().unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(&msgs[0].payload[..3], &[1, 2, 3]);
        assert!(!msgs[0].dump_interrupted() && msgs[1].dump_interrupted());
        assert!(msgs[2].is_done());
    }

    #[test]
    fn extended_ack_text_and_offset_are_decoded() {
        // errno -22, capped request header, then NLMSGERR attributes.
        let mut payload = (-22i32).to_ne_bytes().to_vec();
        let mut request = [0u8; 16];
        request[..4].copy_from_slice(&100u32.to_ne_bytes());
        request[8..12].copy_from_slice(&42u32.to_ne_bytes());
        payload.extend(request);
        let mut tlvs = vec![0u8; 64];
        let mut b = MessageBuilder::new(&mut tlvs, 0, 0, 0).unwrap();
        b.attr(NLMSGERR_ATTR_MSG, b"Invalid prefix\0").unwrap();
        b.attr(NLMSGERR_ATTR_OFFS, &36u32.to_ne_bytes()).unwrap();
        let len = b.finish();
        payload.extend(&tlvs[NLMSG_HDRLEN..len]);
        let datagram = message(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 42, &payload);
        let msg = Messages::new(&datagram).next().unwrap().unwrap();
        let error = msg.error().unwrap().unwrap();
        assert_eq!(error.code, -22);
        assert_eq!(error.request_seq, 42);
        assert_eq!(error.text, Some("Invalid prefix"));
        assert_eq!(error.offset, Some(36));
    }

    #[test]
    fn truncated_and_lying_lengths_are_errors() {
        let mut datagram = message(16, 0, 1, &[1, 2, 3, 4]);
        assert!(matches!(
            Messages::new(&datagram[..10]).next(),
            Some(Err(ParseError::Truncated { needed: 16, .. }))
        ));
        datagram[..4].copy_from_slice(&1000u32.to_ne_bytes());
        let mut it = Messages::new(&datagram);
        assert!(matches!(
            it.next(),
            Some(Err(ParseError::Truncated { needed: 1000, .. }))
        ));
        assert!(it.next().is_none(), "iteration stops after an error");
        datagram[..4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(
            Messages::new(&datagram).next().unwrap().is_err(),
            "length below the header"
        );
    }

    #[test]
    fn builder_refuses_what_does_not_fit() {
        let mut small = [0u8; 24];
        let mut b = MessageBuilder::new(&mut small, 1, 0, 0).unwrap();
        assert_eq!(b.attr(1, &[0; 8]), Err(Full::Buffer { capacity: 24 }));
        assert!(MessageBuilder::new(&mut [0u8; 8], 1, 0, 0).is_err());
    }

    #[test]
    fn attributes_and_nests_longer_than_netlink_allows_are_refused_and_left_out() {
        let mut buf = vec![0u8; 200 << 10];
        let mut b = MessageBuilder::new(&mut buf, 1, 0, 0).unwrap();
        let big = vec![7u8; 70_000];
        assert_eq!(b.attr(1, &big), Err(Full::Attribute { len: 70_004 }));
        b.attr(2, b"kept").unwrap();
        let nest = b.begin_nested(3).unwrap();
        b.attr(4, &big[..40_000]).unwrap();
        b.attr(5, &big[..40_000]).unwrap();
        assert!(matches!(b.end_nested(nest), Err(Full::Attribute { .. })));
        let nest = b.begin_nested(6).unwrap();
        b.attr(7, b"in").unwrap();
        b.end_nested(nest).unwrap();
        let len = b.finish();
        let msg = Messages::new(&buf[..len]).next().unwrap().unwrap();
        let attrs: Vec<_> = Attrs::new(msg.payload).map(Result::unwrap).collect();
        let kinds: Vec<u16> = attrs.iter().map(|a| a.kind()).collect();
        assert_eq!(kinds, [2, 6], "only what fits is in the message");
        let inner: Vec<_> = attrs[1].nested().map(Result::unwrap).collect();
        assert_eq!((inner[0].kind(), inner[0].value), (7, &b"in"[..]));
    }
}
