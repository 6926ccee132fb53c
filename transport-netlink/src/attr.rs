//! Netlink attributes (`struct nlattr` / `struct rtattr`): iterated in place,
//! nested ones included, every length checked.

use thiserror::Error;

/// Size of an attribute header.
pub const NLA_HDRLEN: usize = 4;
/// `NLA_F_NESTED`.
pub const NLA_F_NESTED: u16 = 0x8000;
/// `NLA_F_NET_BYTEORDER`.
pub const NLA_F_NET_BYTEORDER: u16 = 0x4000;

/// Rounds `len` up to netlink's 4-byte alignment.
pub const fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// A malformed attribute.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AttrError {
    /// The attribute's length runs past its container, or is below 4.
    #[error("attribute at byte {offset} claims {len} bytes, {available} available")]
    BadLength {
        /// Where it starts in its container.
        offset: usize,
        /// The length it claims.
        len: usize,
        /// Bytes left in the container.
        available: usize,
    },
    /// A value of the wrong size for the type asked for.
    #[error("attribute {kind} holds {len} bytes, not {expected}")]
    BadValue {
        /// The attribute type.
        kind: u16,
        /// Its value's length.
        len: usize,
        /// The length the type needs.
        expected: usize,
    },
}

/// One attribute, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    /// The raw type word, flags included.
    pub raw_kind: u16,
    /// The value bytes.
    pub value: &'a [u8],
}

impl<'a> Attr<'a> {
    /// The type without the nested and byte-order flags.
    pub fn kind(&self) -> u16 {
        self.raw_kind & !(NLA_F_NESTED | NLA_F_NET_BYTEORDER)
    }

    /// The attributes nested in this one.
    pub fn nested(&self) -> Attrs<'a> {
        Attrs::new(self.value)
    }

    fn fixed<const N: usize>(&self) -> Result<[u8; N], AttrError> {
        self.value.try_into().map_err(|_| AttrError::BadValue {
            kind: self.kind(),
            len: self.value.len(),
            expected: N,
        })
    }

    /// The value as a native-endian u32.
    pub fn u32(&self) -> Result<u32, AttrError> {
        self.fixed::<4>().map(u32::from_ne_bytes)
    }

    /// The value as a native-endian u16.
    pub fn u16(&self) -> Result<u16, AttrError> {
        self.fixed::<2>().map(u16::from_ne_bytes)
    }

    /// The value as a u8.
    pub fn u8(&self) -> Result<u8, AttrError> {
        self.fixed::<1>().map(|[b]| b)
    }

    /// The value as a NUL-terminated string (lossy, up to the first NUL).
    pub fn string(&self) -> String {
        let bytes = self.value.split(|&b| b == 0).next().unwrap_or(&[]);
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// Iterates the attributes in a buffer; stops after the first error.
#[derive(Clone, Debug)]
pub struct Attrs<'a> {
    /// The whole buffer, for error offsets.
    buf: &'a [u8],
    /// What is left to iterate; emptied by an error.
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    /// The attributes in `buf`.
    pub fn new(buf: &'a [u8]) -> Attrs<'a> {
        Attrs { buf, rest: buf }
    }

    /// The error for the malformed attribute at the front of `rest`; ends
    /// the iteration.
    #[cold]
    fn fail(&mut self) -> AttrError {
        let rest = std::mem::take(&mut self.rest);
        AttrError::BadLength {
            offset: self.buf.len() - rest.len(),
            len: rest
                .get(..2)
                .map_or(0, |b| usize::from(u16::from_ne_bytes([b[0], b[1]]))),
            available: rest.len(),
        }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, AttrError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        let Some((header, tail)) = rest.split_first_chunk::<NLA_HDRLEN>() else {
            return (!rest.is_empty()).then(|| Err(self.fail()));
        };
        let len = usize::from(u16::from_ne_bytes([header[0], header[1]]));
        // Below the header's size, the subtraction wraps and `get` refuses.
        let Some(value) = tail.get(..len.wrapping_sub(NLA_HDRLEN)) else {
            return Some(Err(self.fail()));
        };
        self.rest = &rest[align(len).min(rest.len())..];
        Some(Ok(Attr {
            raw_kind: u16::from_ne_bytes([header[2], header[3]]),
            value,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_iterate() {
        // outer(1, nested) { inner(2) = 7u32 }, then name(3) = "lo"
        let mut buf = Vec::new();
        buf.extend(12u16.to_ne_bytes());
        buf.extend((1 | NLA_F_NESTED).to_ne_bytes());
        buf.extend(8u16.to_ne_bytes());
        buf.extend(2u16.to_ne_bytes());
        buf.extend(7u32.to_ne_bytes());
        buf.extend(7u16.to_ne_bytes());
        buf.extend(3u16.to_ne_bytes());
        buf.extend(b"lo\0\0");
        let attrs: Vec<_> = Attrs::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[0].kind(), 1);
        let inner: Vec<_> = attrs[0].nested().collect::<Result<_, _>>().unwrap();
        assert_eq!(inner[0].u32(), Ok(7));
        assert_eq!(attrs[1].string(), "lo");
        assert!(attrs[1].u32().is_err());
    }

    #[test]
    fn bad_lengths_stop_iteration() {
        let buf = [40u8, 0, 1, 0, 0, 0, 0, 0];
        let mut it = Attrs::new(&buf);
        assert!(matches!(
            it.next(),
            Some(Err(AttrError::BadLength { len: 40, .. }))
        ));
        assert!(it.next().is_none());
        assert!(Attrs::new(&[2, 0, 1, 0]).next().unwrap().is_err());
        assert!(Attrs::new(&[1]).next().unwrap().is_err());
    }

    #[test]
    fn errors_say_where_and_an_unpadded_last_attribute_ends_cleanly() {
        // 5-byte attribute (padded), then 3 stray bytes.
        let buf = [5u8, 0, 1, 0, 9, 0, 0, 0, 6, 0, 2];
        let mut it = Attrs::new(&buf);
        assert_eq!(it.next().unwrap().unwrap().value, [9]);
        assert_eq!(
            it.next(),
            Some(Err(AttrError::BadLength {
                offset: 8,
                len: 6,
                available: 3
            }))
        );
        assert!(it.next().is_none());
        // The last attribute without its padding.
        let values: Vec<_> = Attrs::new(&buf[..5]).map(|a| a.unwrap().value).collect();
        assert_eq!(values, [[9]]);
    }
}
