//! Typed messages with rkyv 0.8: serialized straight into a reserved frame,
//! read in place with validation.
//!
//! A typed payload is `[pad][pad - 1 filler bytes][archive]`: the first byte
//! says how many bytes precede the archive, chosen so the archive starts
//! 16-byte aligned. In a ring, payloads sit at frame + 24 (plus the ring's
//! headroom, the same on both sides) from a 16-aligned base, so writer and
//! reader see the same alignment and read in place.
//!
//! ```
//! use ringlink_core::{typed, Consumer, Geometry, HeapMemory, Producer, Ring};
//! use std::sync::Arc;
//!
//! #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, PartialEq)]
//! struct Order { id: u64, item: String }
//!
//! let g = Geometry::for_messages(256, 4).unwrap();
//! let mem = Arc::new(HeapMemory::new(g.ring_size()));
//! let mut tx = Producer::new(Ring::new(mem.clone(), 0, g).unwrap());
//! let mut rx = Consumer::new(Ring::new(mem, 0, g).unwrap());
//!
//! let order = Order { id: 7, item: "lamp".into() };
//! typed::write(tx.reserve().unwrap().unwrap(), &order).unwrap();
//!
//! let frame = rx.next().unwrap().unwrap();
//! let archived = typed::access::<Order>(frame.payload()).unwrap();
//! assert_eq!(archived.id, 7);
//! assert_eq!(archived.item, "lamp");
//! assert_eq!(typed::deserialize::<Order>(frame.payload()).unwrap(), order);
//! ```

use crate::error::RingError;
use crate::memory::Memory;
use crate::producer::WriteGuard;
use rkyv::api::high::{HighDeserializer, HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::ser::writer::Buffer;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Portable, Serialize};
use thiserror::Error;

/// Alignment of the archive inside a typed payload.
pub const ALIGN: usize = 16;

/// Errors of typed messages.
#[derive(Debug, Error)]
pub enum TypedError {
    /// The value does not fit the frame, or rkyv refused it.
    #[error("serializing the message into the frame failed: {0}")]
    Serialize(rancor::Error),
    /// The frame cannot even hold the typed header.
    #[error("a frame of {0} bytes cannot hold a typed message header")]
    FrameTooSmall(usize),
    /// The archive failed validation (a corrupt or foreign message).
    #[error("the archived message is invalid: {0}")]
    Invalid(rancor::Error),
    /// The payload is empty or its pad byte is not in 1..=16.
    #[error("typed payload header is invalid (pad byte {0:?}); not a typed ringlink message")]
    BadHeader(Option<u8>),
    /// The archive is not 16-byte aligned here (bytes copied to an arbitrary
    /// buffer); use [`deserialize`], which copies into an aligned buffer.
    #[error("the archive at {0:#x} is not {ALIGN}-byte aligned; use typed::deserialize")]
    Misaligned(usize),
    /// Committing the frame failed.
    #[error(transparent)]
    Ring(#[from] RingError),
}

/// Serializes `value` into `buf` as a typed payload; returns its length.
pub fn serialize_into<'b, T>(buf: &'b mut [u8], value: &T) -> Result<usize, TypedError>
where
    T: for<'a> Serialize<HighSerializer<Buffer<'b>, ArenaHandle<'a>, rancor::Error>>,
{
    let pad = ALIGN - (buf.as_ptr() as usize % ALIGN);
    if buf.len() <= pad {
        return Err(TypedError::FrameTooSmall(buf.len()));
    }
    buf[0] = pad as u8;
    let body = Buffer::from(&mut buf[pad..]);
    let written = rkyv::api::high::to_bytes_in::<_, rancor::Error>(value, body)
        .map_err(TypedError::Serialize)?
        .len();
    Ok(pad + written)
}

/// Serializes `value` straight into a reserved frame and commits it. On
/// failure (e.g. too large) the frame is aborted.
pub fn write<'b, T, M: Memory>(mut frame: WriteGuard<'b, M>, value: &T) -> Result<(), TypedError>
where
    T: for<'a, 'c> Serialize<HighSerializer<Buffer<'c>, ArenaHandle<'a>, rancor::Error>>,
{
    let len = serialize_into(frame.buf(), value)?;
    frame.commit(len)?;
    Ok(())
}

/// The archive part of a typed payload.
fn body(payload: &[u8]) -> Result<&[u8], TypedError> {
    let pad = payload.first().copied();
    match pad {
        Some(p) if (1..=ALIGN as u8).contains(&p) => {
            payload.get(p as usize..).ok_or(TypedError::BadHeader(pad))
        }
        _ => Err(TypedError::BadHeader(pad)),
    }
}

/// Validates and reads a typed payload in place (zero copy).
pub fn access<T>(payload: &[u8]) -> Result<&T::Archived, TypedError>
where
    T: Archive,
    T::Archived: Portable + for<'a> CheckBytes<HighValidator<'a, rancor::Error>>,
{
    let body = body(payload)?;
    if body.as_ptr() as usize % ALIGN != 0 {
        return Err(TypedError::Misaligned(body.as_ptr() as usize));
    }
    rkyv::access::<T::Archived, rancor::Error>(body).map_err(TypedError::Invalid)
}

/// Validates a typed payload and deserializes an owned value; works at any
/// alignment (copies into an aligned buffer when needed).
pub fn deserialize<T>(payload: &[u8]) -> Result<T, TypedError>
where
    T: Archive,
    T::Archived: Portable
        + for<'a> CheckBytes<HighValidator<'a, rancor::Error>>
        + Deserialize<T, HighDeserializer<rancor::Error>>,
{
    let body = body(payload)?;
    let mut aligned = AlignedVec::<ALIGN>::with_capacity(body.len());
    aligned.extend_from_slice(body);
    rkyv::from_bytes::<T, rancor::Error>(&aligned).map_err(TypedError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Archive, Serialize, Deserialize, Debug, PartialEq)]
    struct Sample {
        seq: u64,
        name: String,
        values: Vec<u32>,
    }

    fn aligned_buffer(len: usize, offset: usize) -> AlignedVec<ALIGN> {
        let mut v = AlignedVec::<ALIGN>::with_capacity(len + offset);
        v.resize(len + offset, 0);
        v
    }

    #[test]
    fn round_trip_at_every_start_alignment() {
        let value = Sample {
            seq: 42,
            name: "frame".into(),
            values: vec![1, 2, 3],
        };
        for offset in [0, 4, 8, 12] {
            let mut buf = aligned_buffer(512, offset);
            let payload = &mut buf[offset..];
            let len = serialize_into(payload, &value).unwrap();
            let archived = access::<Sample>(&payload[..len]).unwrap();
            assert_eq!(archived.seq, 42);
            assert_eq!(archived.name, "frame");
            assert_eq!(deserialize::<Sample>(&payload[..len]).unwrap(), value);
        }
    }

    #[test]
    fn too_small_frame_is_an_error() {
        let value = Sample {
            seq: 1,
            name: "x".repeat(100),
            values: vec![],
        };
        let mut buf = aligned_buffer(64, 8);
        assert!(matches!(
            serialize_into(&mut buf[8..], &value),
            Err(TypedError::Serialize(_))
        ));
    }

    #[test]
    fn garbage_is_rejected_not_trusted() {
        let mut buf = aligned_buffer(128, 8);
        let payload = &mut buf[8..];
        assert!(matches!(
            access::<Sample>(&[]),
            Err(TypedError::BadHeader(None))
        ));
        payload[0] = 0;
        assert!(matches!(
            access::<Sample>(payload),
            Err(TypedError::BadHeader(Some(0)))
        ));
        payload[0] = 8;
        for (i, b) in payload[8..].iter_mut().enumerate() {
            *b = (i * 37 + 11) as u8;
        }
        assert!(matches!(
            access::<Sample>(payload),
            Err(TypedError::Invalid(_))
        ));
        assert!(deserialize::<Sample>(payload).is_err());
    }

    #[test]
    fn misaligned_copy_is_detected_and_deserialize_still_works() {
        let value = Sample {
            seq: 9,
            name: "n".into(),
            values: vec![7],
        };
        let mut buf = aligned_buffer(256, 8);
        let len = serialize_into(&mut buf[8..], &value).unwrap();
        let mut shifted = aligned_buffer(256, 4);
        shifted[4..4 + len].copy_from_slice(&buf[8..8 + len]);
        let moved = &shifted[4..4 + len];
        assert!(matches!(
            access::<Sample>(moved),
            Err(TypedError::Misaligned(_))
        ));
        assert_eq!(deserialize::<Sample>(moved).unwrap(), value);
    }
}
