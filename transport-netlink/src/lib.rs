//! # ringlink-netlink
//!
//! The AF_NETLINK backend of ringlink: the shared ring API
//! ([`ringlink_core::FrameSender`], [`ringlink_core::FrameReceiver`]) over
//! real netlink sockets.
//!
//! - [`link`]: the ring link, with the mode choice and its report. Where
//!   the kernel has them (Linux 3.10–4.5, `CAP_NET_ADMIN`), the link drives
//!   the kernel's own mapped rings ([`mapped`]): the kernel builds messages
//!   in the receive ring and sends the transmit ring when kicked, COPY
//!   frames are read from the socket in ring order, dumps go on from
//!   `poll`. Linux 4.6 and later refuse the rings (`ENOPROTOOPT`, which the
//!   report says); the link then runs on rings of its own, fed by io_uring
//!   (multishot `recvmsg` into the frames) or by `recvmmsg` copies, one
//!   flush sending every committed transmit frame with one `sendmsg`.
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
mod local_feed;
pub mod mapped;
mod mapped_feed;
pub mod mapping;
pub mod message;
mod meta;
pub mod nfqueue;
pub mod request;
pub mod route;
pub mod socket;
mod uring;
#[cfg(test)]
mod v45_kernel;

pub use link::{Mode, ModeError, ModeReport, NetlinkLink, NetlinkOptions};
