//! Errors of setting up a memfd link.

use thiserror::Error;

/// Why a memfd link could not be created, offered, or accepted.
#[derive(Debug, Error)]
pub enum SetupError {
    /// An operating-system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The descriptor offered is not a memfd.
    #[error("the descriptor offered as the link's memory is not a memfd")]
    NotAMemfd,
    /// The memfd lacks a seal that protects us from its creator.
    #[error(
        "the link's memfd is missing seal(s) {missing}; its creator could shrink or grow it under us"
    )]
    MissingSeals {
        /// The seals that are not set.
        missing: String,
    },
    /// The memfd's control page does not describe a ringlink segment.
    #[error("the link's memfd is not a ringlink segment: {0}")]
    BadSegment(String),
    /// The peer's handshake was malformed.
    #[error("bad handshake from the peer: {0}")]
    BadHandshake(String),
    /// A ring geometry was refused.
    #[error(transparent)]
    Ring(#[from] ringlink_core::RingError),
    /// A geometry request was refused.
    #[error(transparent)]
    Geometry(#[from] ringlink_core::GeometryError),
    /// The environment did not name an inherited link descriptor.
    #[error("no inherited link: environment variable {var} {problem}")]
    NoInheritedLink {
        /// The variable looked at.
        var: &'static str,
        /// What was wrong with it.
        problem: String,
    },
}

impl SetupError {
    /// A [`SetupError::Io`] with context.
    pub(crate) fn io(context: impl Into<String>, source: impl Into<std::io::Error>) -> SetupError {
        SetupError::Io {
            context: context.into(),
            source: source.into(),
        }
    }
}
