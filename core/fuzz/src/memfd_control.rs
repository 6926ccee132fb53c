//! The memfd acceptor's checks of a peer's offer: the control page it
//! declares (magic, version, ring offsets and geometries, total size)
//! against the segment's real size, and, through a real socket and memfd,
//! the greeting, the passed descriptors, the seals and the size.
//!
//! Input: a 21-byte header (see [`run`]), then the control page image.
//!
//! Checked: nothing panics; the kernel path agrees with the in-memory path
//! whenever the offer is otherwise honest; and a layout that passes
//! validation is usable: both rings and their skip cursors place in a
//! segment of exactly that size and carry messages.

use super::{GuardedMemory, Input};
use ringlink_core::{Consumer, Producer, Ring, page_size};
use ringlink_memfd::control::fuzzing::{
    accept_offer, check_control_page, control_page_len, cursor_offsets,
};
use ringlink_memfd::control::{Layout, PADDING};
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

/// The handshake greeting a creator sends.
pub const GREETING: &[u8; 8] = b"RLNKHS01";
/// Largest segment the target places rings in (bytes).
const MAX_PLACED: u64 = 2 << 20;
/// Largest memfd the kernel path creates (sparse; bytes).
const MAX_MEMFD: u64 = 1 << 30;

/// Runs one input.
///
/// Header: `mode` (bit 0: also offer it through a socket and a memfd),
/// `seals` (bits 0-2 leave out SHRINK, GROW, SEAL; bit 3 adds WRITE),
/// `fds` (bits 0-2 mod 5: how many descriptors, an index into 3, 0, 1, 2,
/// 4; bit 3: an eventfd instead of the memfd), `greeting` (0: the real one; else that many of the next 9 bytes,
/// mod 10), 9 greeting bytes, the segment size (u64; 0: the size the page
/// declares).
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8();
    let seals = input.u8();
    let fds = input.u8();
    let greeting_len = input.u8();
    let greeting_bytes = input.bytes(9);
    let size = input.u64();
    let page = input.rest();

    let declared = page
        .get(16..24)
        .map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap()));
    let size = if size == 0 { declared } else { size };

    let checked = check_control_page(page, size);
    if let Ok(layout) = &checked {
        assert_eq!(layout.total_size, size);
        if size <= MAX_PLACED {
            place_and_use(layout, page);
        }
    }

    if mode & 1 != 0 && size <= MAX_MEMFD {
        let greeting = match greeting_len {
            0 => &GREETING[..],
            n => &greeting_bytes[..(usize::from(n) % 10).min(greeting_bytes.len())],
        };
        let count = [3, 0, 1, 2, 4][usize::from(fds & 7) % 5];
        let offered = offer(page, size, seals, fds & 8 != 0, count, greeting);
        let honest = seals & 0xf == 0 && fds & 8 == 0 && count == 3 && greeting == GREETING;
        if honest {
            match (&checked, &offered) {
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                (Err(_), Err(_)) => {}
                _ => panic!("in-memory {checked:?} but through a memfd {offered:?}"),
            }
        } else if let Ok(layout) = &offered {
            // Only an offer with every seal and a memfd can pass.
            assert!(
                seals & 7 == 0,
                "accepted without seals {seals:#x}: {layout:?}"
            );
            assert!(fds & 8 == 0, "accepted an eventfd as the segment");
            assert_eq!(count, 3, "accepted {count} descriptors");
            assert_eq!(greeting, GREETING, "accepted another greeting");
        }
    }
}

/// Places both rings of a validated layout in a segment of exactly its
/// size, with the control page at its start, each skip cursor where a
/// link puts it and each payload after the link's `PADDING`, then sends a
/// few messages over each ring.
fn place_and_use(layout: &Layout, page: &[u8]) {
    let memory = Arc::new(GuardedMemory::new(layout.total_size as usize));
    memory.fill(0, &page[..page.len().min(control_page_len())]);
    for i in 0..2 {
        let ring = |memory: &Arc<GuardedMemory>| {
            Ring::new(
                memory.clone(),
                layout.offsets[i] as usize,
                layout.geometries[i],
            )
            .and_then(|r| r.with_skip_cursor(cursor_offsets()[i]))
            .and_then(|r| r.with_headroom(PADDING))
            .unwrap_or_else(|e| panic!("validated {layout:?} but ring {i}: {e}"))
        };
        let mut producer = Producer::new(ring(&memory));
        let mut consumer = Consumer::new(ring(&memory));
        let capacity = producer.ring().capacity();
        for n in 0..3u8 {
            // Not 0: an empty VALID frame is an aborted one, released unseen.
            let len = 1 + usize::from(n) * 7 % capacity;
            let guard = producer.reserve().expect("reserve").expect("room");
            guard.write(&vec![n; len]).expect("write");
            let got = consumer.next().expect("next").expect("a message");
            assert_eq!(got.payload(), &vec![n; len][..]);
        }
    }
}

/// Offers a segment holding `page` of `size` bytes over a fresh socket
/// pair, as a (possibly dishonest) creator, and runs the acceptor's checks.
fn offer(
    page: &[u8],
    size: u64,
    seals: u8,
    not_a_memfd: bool,
    count: usize,
    greeting: &[u8],
) -> Result<Layout, ringlink_memfd::SetupError> {
    use rustix::fs::{MemfdFlags, SealFlags};
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let (ours, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socketpair");
    let memfd = rustix::fs::memfd_create(
        "ringlink-fuzz",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )
    .expect("memfd_create");
    rustix::fs::ftruncate(&memfd, size).expect("ftruncate");
    let image = &page[..page.len().min(size as usize).min(page_size())];
    let written = rustix::io::pwrite(&memfd, image, 0).expect("pwrite");
    assert_eq!(written, image.len());
    let mut wanted = SealFlags::empty();
    for (bit, seal) in [SealFlags::SHRINK, SealFlags::GROW, SealFlags::SEAL]
        .into_iter()
        .enumerate()
    {
        if seals & (1 << bit) == 0 {
            wanted |= seal;
        }
    }
    if seals & 8 != 0 {
        wanted |= SealFlags::WRITE;
    }
    // SEAL last: it forbids adding the others after it.
    rustix::fs::fcntl_add_seals(&memfd, wanted - SealFlags::SEAL).expect("seals");
    if wanted.contains(SealFlags::SEAL) {
        rustix::fs::fcntl_add_seals(&memfd, SealFlags::SEAL).expect("seal seal");
    }
    let eventfd =
        || rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).expect("eventfd");
    let first: OwnedFd = if not_a_memfd { eventfd() } else { memfd };
    let (a, b, c) = (eventfd(), eventfd(), eventfd());
    let all: [BorrowedFd<'_>; 4] = [first.as_fd(), a.as_fd(), b.as_fd(), c.as_fd()];
    send(&ours, greeting, &all[..count]);
    accept_offer(theirs, Duration::ZERO)
}

/// Sends `bytes` with `fds` attached.
fn send(socket: &OwnedFd, bytes: &[u8], fds: &[BorrowedFd<'_>]) {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() {
        assert!(control.push(SendAncillaryMessage::ScmRights(fds)));
    }
    rustix::net::sendmsg(
        socket,
        &[IoSlice::new(bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )
    .expect("sendmsg");
}
