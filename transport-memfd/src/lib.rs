//! # ringlink-memfd
//!
//! The memfd backend of ringlink: process-to-process zero-copy links over a
//! sealed memfd, behind the shared ring API ([`ringlink_core::FrameSender`],
//! [`ringlink_core::FrameReceiver`]). Under construction: this crate holds
//! no API yet.
