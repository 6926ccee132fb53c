//! # ringlink-netlink
//!
//! The AF_NETLINK backend of ringlink: the shared ring API
//! ([`ringlink_core::FrameSender`], [`ringlink_core::FrameReceiver`]) over
//! real netlink sockets, in kernel-mapped, io_uring-fed or copy-fed mode.
//! Under construction: this crate holds no API yet.
