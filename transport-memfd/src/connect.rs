//! Ways to establish a link: a listener and `connect` by name (filesystem
//! path or abstract socket), an in-process pair, and a pair across
//! fork/exec whose child end is an inherited descriptor.

use crate::error::SetupError;
use crate::link::{Link, LinkOptions};
use rustix::io::FdFlags;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;

/// Where a [`Listener`] listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// A socket file at this path (removed when the listener is dropped).
    Path(PathBuf),
    /// A Linux abstract socket name (no file; scoped to the network
    /// namespace).
    Abstract(Vec<u8>),
}

impl Address {
    fn socket_address(&self) -> Result<SocketAddrUnix, SetupError> {
        match self {
            Address::Path(path) => SocketAddrUnix::new(path.as_path())
                .map_err(|e| SetupError::io(format!("socket path {}", path.display()), e)),
            Address::Abstract(name) => SocketAddrUnix::new_abstract_name(name).map_err(|e| {
                SetupError::io(
                    format!("abstract socket name {:?}", String::from_utf8_lossy(name)),
                    e,
                )
            }),
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Path(path) => write!(f, "{}", path.display()),
            Address::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
        }
    }
}

fn seqpacket() -> Result<OwnedFd, SetupError> {
    rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| SetupError::io("creating a SOCK_SEQPACKET socket", e))
}

/// Accepts links from many clients at one address; each accepted link gets
/// a segment of its own, created and sealed here.
pub struct Listener {
    socket: OwnedFd,
    address: Address,
    options: LinkOptions,
}

impl Listener {
    /// Listens at `address`; links it accepts are created with `options`.
    /// A path that already exists is refused, not replaced.
    pub fn bind(address: Address, options: LinkOptions) -> Result<Listener, SetupError> {
        let socket = seqpacket()?;
        rustix::net::bind(&socket, &address.socket_address()?).map_err(|e| {
            SetupError::io(
                format!("binding {address} (remove a stale socket file first)"),
                e,
            )
        })?;
        rustix::net::listen(&socket, 128)
            .map_err(|e| SetupError::io(format!("listening on {address}"), e))?;
        Ok(Listener {
            socket,
            address,
            options,
        })
    }

    /// The address it listens at.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Waits for a client, then creates, seals and offers its segment.
    pub fn accept(&self) -> Result<Link, SetupError> {
        let socket = rustix::net::accept_with(&self.socket, SocketFlags::CLOEXEC)
            .map_err(|e| SetupError::io(format!("accepting on {}", self.address), e))?;
        Link::create_on(socket, &self.options)
    }
}

impl AsFd for Listener {
    /// The listening socket: readable when a client waits to be accepted.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Address::Path(path) = &self.address {
            // Best effort: a missing file is what we want anyway.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Connects to a [`Listener`] and accepts the segment it offers, after
/// checking its seals, size and layout.
pub fn connect(address: &Address, options: &LinkOptions) -> Result<Link, SetupError> {
    let socket = seqpacket()?;
    rustix::net::connect(&socket, &address.socket_address()?)
        .map_err(|e| SetupError::io(format!("connecting to {address}"), e))?;
    Link::accept_on(socket, options)
}

/// Two connected ends in this process (for threads, and for tests).
pub fn pair(options: &LinkOptions) -> Result<(Link, Link), SetupError> {
    let (a, b) = socket_pair()?;
    let a = Link::create_on(a, options)?;
    let b = Link::accept_on(b, options)?;
    Ok((a, b))
}

fn socket_pair() -> Result<(OwnedFd, OwnedFd), SetupError> {
    rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| SetupError::io("creating a SOCK_SEQPACKET socket pair", e))
}

/// The environment variable that tells a child which inherited descriptor
/// is its end of the link.
pub const INHERITED_FD_VAR: &str = "RINGLINK_MEMFD_LINK_FD";

/// Set once the inherited descriptor is owned by a link.
static INHERITED_TAKEN: AtomicBool = AtomicBool::new(false);

/// The child's end of a link made by [`pair_for_child`]: spawn the child
/// with it, and the child calls [`Link::from_inherited`].
pub struct ChildEnd {
    socket: OwnedFd,
}

/// A link to a child process yet to be spawned: this process keeps the
/// returned [`Link`]; [`ChildEnd::spawn`] starts the child with the other
/// end inherited.
pub fn pair_for_child(options: &LinkOptions) -> Result<(Link, ChildEnd), SetupError> {
    let (parent, child) = socket_pair()?;
    // The offer waits in the child's socket until the child reads it.
    let parent = Link::create_on(parent, options)?;
    Ok((parent, ChildEnd { socket: child }))
}

impl ChildEnd {
    /// Spawns `command` with this end inherited (and named in
    /// [`INHERITED_FD_VAR`]), then closes this process's copy, so that the
    /// child's death hangs up the parent's link.
    pub fn spawn(self, command: &mut Command) -> Result<Child, SetupError> {
        let raw: RawFd = self.socket.as_raw_fd();
        command.env(INHERITED_FD_VAR, raw.to_string());
        // SAFETY: the closure only calls fcntl, which is async-signal-safe,
        // on a descriptor that stays open in the parent until spawn returns.
        unsafe {
            command.pre_exec(move || {
                let fd = BorrowedFd::borrow_raw(raw);
                rustix::io::fcntl_setfd(fd, FdFlags::empty())?;
                Ok(())
            });
        }
        command
            .spawn()
            .map_err(|e| SetupError::io(format!("spawning {:?}", command.get_program()), e))
    }
}

impl Link {
    /// In a child spawned by [`ChildEnd::spawn`]: takes the inherited end
    /// named in [`INHERITED_FD_VAR`] and accepts the parent's segment.
    pub fn from_inherited(options: &LinkOptions) -> Result<Link, SetupError> {
        let missing = |problem: String| SetupError::NoInheritedLink {
            var: INHERITED_FD_VAR,
            problem,
        };
        let value = std::env::var(INHERITED_FD_VAR).map_err(|e| missing(e.to_string()))?;
        let raw: RawFd = value
            .parse()
            .map_err(|e| missing(format!("is {value:?}, not a descriptor number: {e}")))?;
        // Check it is an open SOCK_SEQPACKET socket before owning it.
        // SAFETY: borrowed only for the two checks, while it is open (fcntl
        // succeeded); it is not closed by anyone else in this process.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        rustix::io::fcntl_getfd(fd)
            .map_err(|e| missing(format!("names descriptor {raw}, which is not open: {e}")))?;
        match rustix::net::sockopt::socket_type(fd) {
            Ok(SocketType::SEQPACKET) => {}
            _ => {
                return Err(missing(format!(
                    "names descriptor {raw}, which is not a SOCK_SEQPACKET socket"
                )));
            }
        }
        if INHERITED_TAKEN.swap(true, SeqCst) {
            return Err(missing("was already taken by this process".into()));
        }
        // SAFETY: an open socket this process inherited for this purpose,
        // taken once (the flag above).
        let socket = unsafe { OwnedFd::from_raw_fd(raw) };
        rustix::io::fcntl_setfd(&socket, FdFlags::CLOEXEC)
            .map_err(|e| SetupError::io("marking the inherited link close-on-exec", e))?;
        Link::accept_on(socket, options)
    }
}
