//! One request and its whole reply through a [`NetlinkLink`]: the request
//! built in a transmit frame, the reply's messages handed over in place,
//! the kernel's verdict (done, acknowledged, refused with its extended-ack
//! text, or an interrupted dump) turned into a result, and a retry helper
//! for interrupted dumps.
//!
//! ```no_run
//! use ringlink_netlink::request::{exchange, retry_interrupted};
//! use ringlink_netlink::route::{dump_request, Route, AF_INET};
//! use ringlink_netlink::{NetlinkLink, NetlinkOptions};
//!
//! let mut link = NetlinkLink::open(&NetlinkOptions::default())?;
//! let routes = retry_interrupted(3, || {
//!     let mut routes = Vec::new();
//!     exchange(&mut link, 1, |buf, seq| dump_request(buf, AF_INET, seq), |msg| {
//!         routes.push(Route::parse(msg)?);
//!         Ok(())
//!     })?;
//!     Ok(routes)
//! })?;
//! println!("{} IPv4 routes", routes.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::NetlinkLink;
use crate::message::{ErrorMsg, Full, Messages, Msg, ParseError};
use ringlink_core::{FrameReceiver, FrameSender, LinkError};
use std::time::Duration;
use thiserror::Error;

/// How long [`exchange`] waits for each datagram of a reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request did not complete.
#[derive(Debug, Error)]
pub enum RequestError {
    /// The request did not fit a transmit frame.
    #[error("building the request: {0}")]
    Build(#[from] Full),
    /// The link failed (socket error, overrun, timeout).
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The reply was malformed, or the caller's handler refused a message.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The kernel refused the request.
    #[error("the kernel refused request {seq}: {}{}", std::io::Error::from_raw_os_error(-code), text.as_deref().map(|t| format!(": {t}")).unwrap_or_default())]
    Kernel {
        /// Sequence number of the request.
        seq: u32,
        /// The negative errno.
        code: i32,
        /// The extended-ack text, if the kernel gave one.
        text: Option<String>,
        /// Offset in the request of the attribute refused, if given.
        offset: Option<u32>,
    },
    /// The dump changed while it was read (`NLM_F_DUMP_INTR`): what was
    /// handed over may be inconsistent; run it again
    /// ([`retry_interrupted`]).
    #[error("dump {seq} was interrupted by a change; run it again")]
    Interrupted {
        /// Sequence number of the dump.
        seq: u32,
    },
}

/// Sends the request `build` writes (given a frame's buffer and `seq`;
/// returns its length), then hands every message of the reply to `each`
/// until the dump is done or the kernel acknowledges or refuses. Asks for
/// nothing by itself: set `NLM_F_ACK` in requests that are not dumps, so
/// that their end is known. If `each` refuses a message, the rest of the
/// reply is still read (and not handed over), so the link is ready for the
/// next request; the refusal is the result. Messages of other sequence numbers that arrive
/// meanwhile (the notifications of a link that joined multicast groups,
/// e.g. a monitor resyncing after an overrun) are handed to `each` too, in
/// order, so none is lost: tell them apart by `msg.seq`. If the request
/// cannot be sent, the error is returned and the request stays committed
/// in the transmit ring, to go with the next flush.
pub fn exchange(
    link: &mut NetlinkLink,
    seq: u32,
    build: impl FnOnce(&mut [u8], u32) -> Result<usize, Full>,
    mut each: impl FnMut(&Msg<'_>) -> Result<(), ParseError>,
) -> Result<(), RequestError> {
    let mut frame = link.reserve()?.ok_or_else(|| {
        LinkError::Protocol("no free transmit frame: flush or release first".into())
    })?;
    let len = build(frame.buf(), seq)?;
    frame.commit(len).map_err(LinkError::from)?;
    link.flush()?;
    let mut interrupted = false;
    // The first message `each` refused: the rest of the reply is still
    // read (so the link is left clean for the next request), then this is
    // the result.
    let mut refused = None;
    let mut hand = |msg: &Msg<'_>| {
        if refused.is_none() {
            // Only a refusal is stored: moving `each`'s whole result into
            // `refused` would copy an error's bytes for every message.
            if let Err(e) = each(msg) {
                refused = Some(e);
            }
        }
    };
    loop {
        let datagram = link.recv(Some(REPLY_TIMEOUT))?;
        for msg in Messages::new(&datagram) {
            let msg = msg?;
            if msg.seq != seq {
                hand(&msg);
                continue;
            }
            interrupted |= msg.dump_interrupted();
            let verdict = match msg.error() {
                Some(error) => answer(seq, &error?),
                None if msg.is_done() => match msg.done_error() {
                    // A dump the kernel cut short says why in its DONE.
                    Some(error) if error.code < 0 => answer(seq, &error),
                    _ if interrupted => Err(RequestError::Interrupted { seq }),
                    _ => Ok(()),
                },
                None => {
                    hand(&msg);
                    continue;
                }
            };
            return match refused {
                Some(e) => Err(e.into()),
                None => verdict,
            };
        }
    }
}

/// The kernel's answer `error` to request `seq`: an acknowledgement (code
/// 0) or a refusal.
fn answer(seq: u32, error: &ErrorMsg<'_>) -> Result<(), RequestError> {
    match error.code {
        0 => Ok(()),
        code => Err(RequestError::Kernel {
            seq,
            code,
            text: error.text.map(str::to_string),
            offset: error.offset,
        }),
    }
}

/// Runs `attempt` until it does not end in [`RequestError::Interrupted`],
/// at most `tries` times; the last error otherwise.
pub fn retry_interrupted<T>(
    tries: usize,
    mut attempt: impl FnMut() -> Result<T, RequestError>,
) -> Result<T, RequestError> {
    let mut last = attempt();
    for _ in 1..tries {
        match last {
            Err(RequestError::Interrupted { .. }) => last = attempt(),
            _ => break,
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_dumps_are_retried_up_to_the_limit() {
        let mut calls = 0;
        let outcome = retry_interrupted(3, || {
            calls += 1;
            match calls {
                1 | 2 => Err(RequestError::Interrupted { seq: calls }),
                _ => Ok(calls),
            }
        });
        assert_eq!((outcome.unwrap(), calls), (3, 3));
        let mut calls = 0;
        let outcome: Result<(), _> = retry_interrupted(2, || {
            calls += 1;
            Err(RequestError::Interrupted { seq: calls })
        });
        assert!(matches!(outcome, Err(RequestError::Interrupted { seq: 2 })));
        assert_eq!(calls, 2, "gives up after the last try");
    }

    #[test]
    fn other_errors_are_not_retried() {
        let mut calls = 0;
        let outcome: Result<(), _> = retry_interrupted(5, || {
            calls += 1;
            Err(RequestError::Kernel {
                seq: 1,
                code: -1,
                text: None,
                offset: None,
            })
        });
        assert!(matches!(
            outcome,
            Err(RequestError::Kernel { code: -1, .. })
        ));
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_refusal_says_what_the_kernel_said() {
        let e = RequestError::Kernel {
            seq: 8,
            code: -22,
            text: Some("Invalid prefix for given prefix length".into()),
            offset: Some(20),
        };
        let shown = e.to_string();
        assert!(shown.contains("request 8"), "{shown}");
        assert!(shown.contains("Invalid argument"), "{shown}");
        assert!(
            shown.ends_with(": Invalid prefix for given prefix length"),
            "{shown}"
        );
    }
}
