//! # ringlink-core
//!
//! The transport-agnostic frame ring of ringlink: the Linux netlink
//! memory-mapped ring protocol (Linux 3.10–4.5) generalized. A ring is a
//! run of blocks holding fixed-size frames; each frame starts with a 24-byte
//! header byte-exact with `struct nl_mmap_hdr` whose status word (UNUSED,
//! RESERVED, VALID, COPY, SKIP) hands it between a producer and a consumer.
//!
//! - [`Geometry`]: the `nl_mmap_req` layout and the kernel's rules for it.
//! - [`Producer`] / [`WriteGuard`]: reserve, build in place, commit.
//! - [`Consumer`] / [`ReadGuard`] / [`Deferred`]: take in order, release or
//!   defer and release later, out of order.
//! - [`Memory`]: where a ring lives ([`HeapMemory`] here; mmap-backed
//!   regions in the transports).
//! - [`Notifier`], [`Doorbell`], [`wait_until`]: spin, then park.
//! - [`typed`]: rkyv messages serialized into and read in place from frames.
//! - [`FrameSender`] / [`FrameReceiver`]: the API every transport
//!   implements; [`channel`] implements it for threads of one process.
//!
//! Memory shared with a peer is hostile: every header word is read once,
//! bounds-checked, and unknown values are typed errors, never panics.
//!
//! ```
//! use ringlink_core::{channel, FrameReceiver, FrameSender, Geometry, SpinPolicy};
//! use std::time::Duration;
//!
//! let geometry = Geometry::for_messages(64, 256).unwrap();
//! let (mut tx, mut rx) = channel::channel(geometry, SpinPolicy::default()).unwrap();
//! let producer = std::thread::spawn(move || {
//!     for i in 0u32..1000 {
//!         tx.send(&i.to_le_bytes(), None).unwrap();
//!     }
//! });
//! for i in 0u32..1000 {
//!     let msg = rx.recv(Some(Duration::from_secs(10))).unwrap();
//!     assert_eq!(&msg[..], &i.to_le_bytes());
//! }
//! producer.join().unwrap();
//! ```

pub mod api;
pub mod channel;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod consumer;
pub mod error;
pub mod frame;
pub mod geometry;
pub mod memory;
pub mod producer;
#[cfg(test)]
mod protocol_check;
pub mod ring;
mod sync;
pub mod typed;
pub mod wait;

pub use api::{Deadline, FrameReceiver, FrameSender, Message, vanished, wait_and_take};
pub use consumer::{AtHand, BATCH_MAX, Batch, Consumer, Deferred, ReadGuard};
pub use error::{Corruption, LinkError, RingError};
pub use frame::{FrameHeader, FrameMeta, HDRLEN, Status};
pub use geometry::{Geometry, GeometryError, MAX_FRAMES, page_size};
pub use memory::{HeapMemory, Memory};
pub use producer::{LentFrame, Producer, WriteGuard};
pub use ring::{Ring, ring_ends};
pub use wait::{Doorbell, DoorbellWords, Notifier, SpinPolicy, wait_until};
