//! # ringlink-netlink
//!
//! The AF_NETLINK backend of ringlink: the shared ring API
//! ([`ringlink_core::FrameSender`], [`ringlink_core::FrameReceiver`]) over
//! real netlink sockets, in kernel-mapped, io_uring-fed or copy-fed mode.
//!
//! So far: the message layer ([`message`], [`attr`]), zero copy over
//! frames, and a plain socket with the expected defaults ([`socket`]). The
//! ring modes (mapped, io_uring, copy) are to come.

pub mod attr;
pub mod message;
pub mod socket;
