//! # ringlink-netlink
//!
//! The AF_NETLINK backend of ringlink: the shared ring API
//! ([`ringlink_core::FrameSender`], [`ringlink_core::FrameReceiver`]) over
//! real netlink sockets.
//!
//! - [`link`]: the ring link, with the mode probe and report. Receives are
//!   fed by io_uring (multishot `recvmsg` into the frames, the default where
//!   the kernel allows it) or by `recvmmsg` copies; one flush sends every
//!   committed transmit frame with one `sendmsg`. The kernel's own mapped
//!   rings of Linux 3.10–4.5 are in [`mapped`]: probed, and refused by
//!   Linux 4.6 and later, which the report says.
//! - the message layer, zero copy over frames: [`message`], [`attr`];
//!   whole requests with the kernel's verdict: [`request`].
//! - subsystems: routes ([`route`]), interfaces ([`interface`]), addresses
//!   ([`address`]), nfnetlink_queue packets and verdicts ([`nfqueue`]),
//!   generic netlink family lookup ([`genl`]).
//! - a plain socket with the expected defaults: [`socket`].
//!
//! ```no_run
//! use ringlink_core::{FrameReceiver, FrameSender};
//! use ringlink_netlink::message::Messages;
//! use ringlink_netlink::route::{AF_INET, Route, dump_request};
//! use ringlink_netlink::{NetlinkLink, NetlinkOptions};
//! use std::time::Duration;
//!
//! let mut link = NetlinkLink::open(&NetlinkOptions::default())?;
//! println!("{}", link.mode()); // e.g. "Uring mode (mapped: ... ENOPROTOOPT ...)"
//! let mut frame = link.reserve()?.expect("a free transmit frame");
//! let len = dump_request(frame.buf(), AF_INET, 1)?;
//! frame.commit(len)?;
//! link.flush()?;
//! 'dump: loop {
//!     let datagram = link.recv(Some(Duration::from_secs(5)))?;
//!     for msg in Messages::new(&datagram) {
//!         let msg = msg?;
//!         if msg.is_done() {
//!             break 'dump;
//!         }
//!         println!("{:?}", Route::parse(&msg)?.dst);
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod address;
pub mod attr;
pub mod genl;
pub mod interface;
pub mod link;
pub mod mapped;
pub mod mapping;
pub mod message;
mod meta;
pub mod nfqueue;
pub mod request;
pub mod route;
pub mod socket;
mod uring;

pub use link::{Mode, ModeError, ModeReport, NetlinkLink, NetlinkOptions};
