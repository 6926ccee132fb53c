//! Error types of the ring and of links built on it.

use crate::geometry::GeometryError;
use thiserror::Error;

/// What a hostile or broken peer did to a frame.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Corruption {
    /// The status word holds no known status.
    #[error("unknown status value {0}")]
    UnknownStatus(u32),
    /// A VALID frame claims more bytes than the frame holds.
    #[error("length {len} exceeds the frame capacity of {capacity} bytes")]
    LenOutOfBounds {
        /// The length the peer wrote.
        len: u32,
        /// What the frame can hold.
        capacity: usize,
    },
    /// The status changed while this side owned the frame.
    #[error("status changed from {from} to {to} while this side held the frame")]
    ChangedUnderUs {
        /// Status when the frame was taken.
        from: u32,
        /// Status found at release.
        to: u32,
    },
    /// A frame this side deferred (SKIP) was changed by the peer.
    #[error("deferred frame was overwritten with status {0}")]
    DeferredOverwritten(u32),
    /// A SKIP status in a frame this side never deferred.
    #[error("SKIP in a frame this side never deferred")]
    ForeignSkip,
    /// A COPY frame announces an out-of-band message longer than the link
    /// carries (refused before anything is allocated for it).
    #[error("a COPY frame announces {len} bytes, over the link's {max}-byte limit")]
    CopyTooLong {
        /// The length the peer wrote.
        len: u32,
        /// The largest message the link carries.
        max: usize,
    },
    /// A COPY frame with no out-of-band message to go with it.
    #[error("a COPY frame has no out-of-band message to go with it")]
    CopyMissing,
    /// A COPY frame whose out-of-band message has another length than it
    /// announces (the two streams no longer match up).
    #[error("a COPY frame announces {announced} bytes but its out-of-band message has {received}")]
    CopyMismatch {
        /// The length the frame announces.
        announced: u32,
        /// The length of the message that came.
        received: usize,
    },
}

/// Errors of the ring itself.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RingError {
    /// The geometry breaks a kernel rule.
    #[error("invalid ring geometry: {0}")]
    Geometry(#[from] GeometryError),
    /// The geometry has no frames.
    #[error("the ring has no frames (block_nr is 0)")]
    NoFrames,
    /// The ring does not fit the memory region it was placed in.
    #[error(
        "a ring of {ring_size} bytes at offset {offset} does not fit a memory region of {region} bytes"
    )]
    OutOfRegion {
        /// Offset of the ring in the region.
        offset: usize,
        /// Bytes the ring needs.
        ring_size: usize,
        /// Bytes the region has.
        region: usize,
    },
    /// The ring start is not 16-byte aligned.
    #[error("ring start {0:#x} is not 16-byte aligned")]
    Misaligned(usize),
    /// The skip cursor does not fit, overlaps the frames, or is misaligned.
    #[error(
        "skip cursor at offset {offset} must be 8-byte aligned, inside the region and outside the frames"
    )]
    CursorPlacement {
        /// The offset asked for.
        offset: usize,
    },
    /// A peer corrupted a frame; the frame was stepped over.
    #[error("frame {frame}: {kind}")]
    Corrupt {
        /// Index of the frame.
        frame: u32,
        /// What was wrong with it.
        kind: Corruption,
    },
    /// A message does not fit the frame it was built in.
    #[error(
        "message of {len} bytes exceeds the frame capacity of {capacity} bytes: send it with \
         send or try_send, which take larger messages out of band where the link can, or use \
         larger frames"
    )]
    TooLong {
        /// Length asked for.
        len: usize,
        /// What the frame holds.
        capacity: usize,
    },
    /// A headroom that leaves no payload.
    #[error("a headroom of {headroom} bytes leaves no payload in a {area}-byte frame data area")]
    Headroom {
        /// Headroom asked for.
        headroom: usize,
        /// Bytes after each frame header.
        area: usize,
    },
    /// [`crate::Producer::publish_lent`] with no frame lent.
    #[error("no frame is lent out: lend one before publishing it")]
    NothingLent,
    /// A deferred handle was given to a consumer that does not own it.
    #[error("deferred frame {0} does not belong to this consumer or was already released")]
    ForeignHandle(u32),
}

/// Errors of a link (any transport) as seen through the shared API.
#[derive(Debug, Error)]
pub enum LinkError {
    /// A ring-level error: corruption, geometry, misuse.
    #[error(transparent)]
    Ring(#[from] RingError),
    /// The peer is gone and every frame it committed has been delivered.
    #[error("the peer disconnected; every message it committed has been delivered")]
    Disconnected,
    /// A message larger than the link can carry.
    #[error(
        "message of {len} bytes exceeds the largest message this link carries ({max} bytes): \
         split it, or set the link up for larger messages (its frame size and message limit)"
    )]
    TooLarge {
        /// Length of the message.
        len: usize,
        /// The link's limit.
        max: usize,
    },
    /// Nothing happened before the timeout.
    #[error("timed out after {waited:?}")]
    TimedOut {
        /// How long was waited.
        waited: std::time::Duration,
    },
    /// An operating-system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The transport's own protocol was violated (e.g. an out-of-band
    /// message missing or of the wrong length).
    #[error("protocol violation: {0}")]
    Protocol(String),
}

impl LinkError {
    /// An [`LinkError::Io`] with context.
    pub fn io(context: impl Into<String>, source: impl Into<std::io::Error>) -> LinkError {
        LinkError::Io {
            context: context.into(),
            source: source.into(),
        }
    }
}
