//! # ringlink-netlink
//!
//! The AF_NETLINK backend of ringlink: the shared ring API
//! ([`ringlink_core::FrameSender`], [`ringlink_core::FrameReceiver`]) over
//! real netlink sockets, in kernel-mapped, io_uring-fed or copy-fed mode.
//!
//! So far: the message layer ([`message`], [`attr`]), zero copy over
//! frames, a plain socket with the expected defaults ([`socket`]), and the
//! ring link in copy mode with the mode probe and report ([`link`]), whole
//! requests and replies with the kernel's verdict ([`request`]), routes
//! ([`route`]), interfaces ([`interface`]), addresses ([`address`]), nfnetlink_queue packets and verdicts
//! ([`nfqueue`]) and generic netlink family lookup ([`genl`]). The
//! mapped and io_uring modes are to come.

pub mod address;
pub mod attr;
pub mod genl;
pub mod interface;
pub mod link;
pub mod mapped;
pub mod mapping;
pub mod message;
pub mod nfqueue;
pub mod request;
pub mod route;
pub mod socket;

pub use link::{Mode, ModeError, ModeReport, NetlinkLink, NetlinkOptions};
