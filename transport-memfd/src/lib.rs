//! # ringlink-memfd
//!
//! Zero-copy links between processes over a sealed memfd, behind the shared
//! ring API ([`ringlink_core::FrameSender`], [`ringlink_core::FrameReceiver`]).
//!
//! A link is one memfd holding a control page and two rings (A to B and
//! B to A, like netlink's RX and TX rings), and a Unix `SOCK_SEQPACKET`
//! socket beside it that passes the memfd (SCM_RIGHTS), carries messages
//! larger than a frame (their frames marked COPY, so ring order holds), and
//! hangs up when the peer dies.
//!
//! ```
//! use ringlink_core::{FrameReceiver, FrameSender};
//! use ringlink_memfd::{LinkOptions, pair};
//! use std::time::Duration;
//!
//! let (mut a, mut b) = pair(&LinkOptions::default())?;
//! a.send(b"ping", None)?;
//! assert_eq!(&b.recv(Some(Duration::from_secs(5)))?[..], b"ping");
//! b.send(b"pong", None)?;
//! assert_eq!(&a.recv(Some(Duration::from_secs(5)))?[..], b"pong");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod connect;
pub mod control;
mod error;
mod handshake;
mod link;
mod named;
mod segment;
mod wake;

pub use connect::{Address, ChildEnd, INHERITED_FD_VAR, Listener, connect, pair, pair_for_child};
pub use control::Side;
pub use error::SetupError;
pub use link::{Link, LinkOptions, Trust};
pub use segment::Mapping;

/// The README's examples (core and memfd), compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
