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
    /// The process, or the whole system, has no file descriptor left.
    #[error("{context}: {}", out_of_descriptors(*.system_wide, *.limit))]
    OutOfDescriptors {
        /// What was being done.
        context: String,
        /// `true` for the system's file table (ENFILE), `false` for this
        /// process's limit (EMFILE).
        system_wide: bool,
        /// This process's soft limit on descriptors (RLIMIT_NOFILE), if known.
        limit: Option<u64>,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The environment did not name an inherited link descriptor.
    #[error("no inherited link: environment variable {var} {problem}")]
    NoInheritedLink {
        /// The variable looked at.
        var: &'static str,
        /// What was wrong with it.
        problem: String,
    },
}

/// Descriptors each end of a link made over a socket holds: the socket,
/// the memfd, two eventfds and an epoll instance.
pub const DESCRIPTORS_PER_END: usize = 5;

/// What running out of descriptors means, and what to do about it.
fn out_of_descriptors(system_wide: bool, limit: Option<u64>) -> String {
    if system_wide {
        return "the system's file table is full (ENFILE): close files no longer needed, or \
                raise the system limit (sysctl fs.file-max)"
            .into();
    }
    let limit = limit.map_or(String::new(), |l| format!(", now {l}"));
    format!(
        "this process has no file descriptor left (EMFILE); each end of a link holds \
         {DESCRIPTORS_PER_END} (its socket, memfd, two eventfds and an epoll): close links (or \
         other files) no longer needed, or raise the limit (RLIMIT_NOFILE: `ulimit -n`{limit})"
    )
}

impl SetupError {
    /// A [`SetupError::Io`] with context; a [`SetupError::OutOfDescriptors`]
    /// when the error is EMFILE or ENFILE.
    pub(crate) fn io(context: impl Into<String>, source: impl Into<std::io::Error>) -> SetupError {
        let (context, source) = (context.into(), source.into());
        let errno = source
            .raw_os_error()
            .map(rustix::io::Errno::from_raw_os_error);
        match errno {
            Some(e @ (rustix::io::Errno::MFILE | rustix::io::Errno::NFILE)) => {
                let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
                SetupError::OutOfDescriptors {
                    context,
                    system_wide: e == rustix::io::Errno::NFILE,
                    limit,
                    source,
                }
            }
            _ => SetupError::Io { context, source },
        }
    }
}

/// The operating-system error inside a `memfd` crate error (which would
/// otherwise hide its errno, e.g. EMFILE, behind its own type).
pub(crate) fn memfd_io(error: memfd::Error) -> std::io::Error {
    match error {
        memfd::Error::Create(e) | memfd::Error::AddSeals(e) | memfd::Error::GetSeals(e) => e,
    }
}
