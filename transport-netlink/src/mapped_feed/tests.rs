//! The mapped mode run through the link's ring API against a simulated
//! v4.5 kernel ([`crate::v45_kernel`]): the rings live in an anonymous
//! mapping laid out as the kernel lays out its own, the test fills the RX
//! ring and sends the TX ring as the kernel would, and the socket is a
//! real `NETLINK_ROUTE` socket, so COPY messages, kicked requests and
//! their replies are real.

use crate::link::{Mode, ModeReport, NetlinkLink};
use crate::message::{MessageBuilder, Messages, NLM_F_ACK, NLM_F_REQUEST, NLMSG_NOOP};
use crate::socket::{NETLINK_ROUTE, NetlinkSocket};
use crate::v45_kernel::{KernelRing, lay_out, meta};
use ringlink_core::{FrameReceiver, FrameSender, Geometry, Status};
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{RecvFlags, SendFlags};
use std::cell::{Cell, RefCell};
use std::os::fd::BorrowedFd;
use std::rc::Rc;
use std::time::Duration;

/// Payload bytes per frame: small, so a link reply needs a COPY frame.
const PAYLOAD: usize = 256;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const IFLA_IFNAME: u16 = 3;
const IFINFOMSG_LEN: usize = 16;

/// What the simulated kernel's TX side did.
#[derive(Default)]
struct Sent {
    /// Kicks (`sendto` with a NULL buffer) the link made.
    kicks: Cell<usize>,
    /// Every message the kernel took from the TX ring, in order.
    messages: RefCell<Vec<Vec<u8>>>,
}

/// A mapped-mode link over rings of `frames` frames each, on a real
/// `NETLINK_ROUTE` socket; the kernel's view of the RX and TX rings; and
/// the record of what it sent. A kick sends the TX ring's VALID frames as
/// the v4.5 kernel does (`netlink_mmap_sendmsg`), each non-empty message
/// on to the running kernel, so its replies queue on the socket.
fn simulated(frames: u32) -> (NetlinkLink, KernelRing, Rc<RefCell<KernelRing>>, Rc<Sent>) {
    let socket = NetlinkSocket::open(NETLINK_ROUTE).unwrap();
    let geometry = Geometry::for_messages(PAYLOAD, frames).unwrap();
    let (rings, kernel_rx, kernel_tx) = lay_out(geometry, geometry);
    let kernel_tx = Rc::new(RefCell::new(kernel_tx));
    let sent = Rc::new(Sent::default());
    let (tx, record) = (kernel_tx.clone(), sent.clone());
    let kick = move |fd: BorrowedFd<'_>| {
        record.kicks.set(record.kicks.get() + 1);
        let messages = tx.borrow_mut().send_all();
        let to_kernel = SocketAddrNetlink::new(0, 0);
        for msg in messages.iter().filter(|m| !m.is_empty()) {
            rustix::net::sendto(fd, msg, SendFlags::empty(), &to_kernel).unwrap();
        }
        let bytes = messages.iter().map(Vec::len).sum();
        record.messages.borrow_mut().extend(messages);
        Ok(bytes)
    };
    let report = ModeReport {
        mode: Mode::Mapped,
        reasons: vec!["a test plays the v4.5 kernel".into()],
    };
    let link = NetlinkLink::mapped(socket, report, rings, Box::new(kick));
    (link, kernel_rx, kernel_tx, sent)
}

/// The link's socket (in mapped mode, its pollable descriptor).
fn fd(link: &NetlinkLink) -> BorrowedFd<'_> {
    link.pollable_fd().unwrap()
}

/// Sends `request` on the link's socket, bypassing the rings.
fn send_plain(link: &NetlinkLink, request: &[u8]) {
    let to_kernel = SocketAddrNetlink::new(0, 0);
    let sent = rustix::net::sendto(fd(link), request, SendFlags::empty(), &to_kernel).unwrap();
    assert_eq!(sent, request.len());
}

/// Length of the datagram queued first on the link's socket, if any.
fn queued(link: &NetlinkLink) -> Option<usize> {
    let flags = RecvFlags::PEEK | RecvFlags::TRUNC | RecvFlags::DONTWAIT;
    rustix::net::recv(fd(link), &mut [0u8; 0][..], flags)
        .ok()
        .map(|(_, len)| len)
}

/// A NOOP asking for an ack, with `pad` bytes of payload.
fn noop(seq: u32, pad: usize) -> Vec<u8> {
    let mut buf = vec![0u8; 16 + pad];
    let mut b = MessageBuilder::new(&mut buf, NLMSG_NOOP, NLM_F_REQUEST | NLM_F_ACK, seq).unwrap();
    b.push(&vec![0u8; pad]).unwrap();
    let len = b.finish();
    buf.truncate(len);
    buf
}

/// The length of the kernel's ack of [`noop`] on a socket like the link's
/// (acks are capped: as long whatever they ack), measured on another one.
fn ack_len() -> u32 {
    let socket = NetlinkSocket::open(NETLINK_ROUTE).unwrap();
    socket.send(&noop(1, 0)).unwrap();
    let mut buf = [0u8; 1024];
    let len = socket.recv(&mut buf).unwrap();
    assert_eq!(acked(&buf[..len]), 1);
    len as u32
}

/// The sequence number of the successful ack in `datagram`.
fn acked(datagram: &[u8]) -> u32 {
    let msg = Messages::new(datagram).next().unwrap().unwrap();
    let ack = msg.error().expect("an NLMSG_ERROR").unwrap();
    assert_eq!(ack.code, 0, "{ack:?}");
    ack.request_seq
}

/// The interface names in the NEWLINK messages of `datagram`.
fn names(datagram: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    for msg in Messages::new(datagram) {
        let msg = msg.unwrap();
        assert_eq!(msg.kind, RTM_NEWLINK);
        let (_, attrs) = msg.split(IFINFOMSG_LEN).unwrap();
        let name = attrs.flatten().filter(|a| a.kind() == IFLA_IFNAME);
        names.extend(name.map(|a| a.string()));
    }
    names
}

#[test]
fn the_mapped_link_reads_the_kernel_rx_ring_in_ring_order() {
    let (mut link, mut kernel, _, _) = simulated(8);
    let from_kernel = meta(0, 0, 0, 0);
    let multicast = meta(7, 0, 0, 0);

    // Frame 0: a message built in place.
    let pos = kernel.reserve().unwrap();
    kernel.deliver(pos, b"in place", from_kernel);
    // Frame 1: the reply to a real request, too large for a frame: queued
    // on the socket, its frame COPY.
    let mut request = vec![0u8; 64];
    let mut b = MessageBuilder::new(&mut request, RTM_GETLINK, NLM_F_REQUEST, 5).unwrap();
    let mut ifinfo = [0u8; IFINFOMSG_LEN];
    ifinfo[4..8].copy_from_slice(&1i32.to_ne_bytes()); // lo
    b.push(&ifinfo).unwrap();
    let len = b.finish();
    send_plain(&link, &request[..len]);
    let reply_len = queued(&link).expect("the kernel's reply");
    assert!(
        reply_len > link.frame_capacity(),
        "{reply_len} bytes fit a frame"
    );
    assert_eq!(kernel.set_copied(reply_len as u32, from_kernel), Some(1));
    // Frame 2: reserved, then the message dropped undelivered (empty VALID).
    let pos = kernel.reserve().unwrap();
    kernel.drop_undelivered(pos);
    // Frame 3: a multicast message.
    let pos = kernel.reserve().unwrap();
    kernel.deliver(pos, b"multicast", multicast);
    // Frame 4: a second COPY message, the ack of a NOOP.
    send_plain(&link, &noop(9, 0));
    assert_eq!(kernel.set_copied(ack_len(), from_kernel), Some(4));
    // Frame 5: still being built.
    let building_at = kernel.reserve().unwrap();

    let msg = link.next().unwrap().expect("frame 0");
    assert_eq!((msg.frame().index(), &msg[..]), (0, &b"in place"[..]));
    assert!(!msg.is_copy());
    assert_eq!(msg.frame().meta(), from_kernel);
    drop(msg);

    let msg = link.next().unwrap().expect("frame 1, from the socket");
    assert!(msg.is_copy());
    assert_eq!(msg.frame().index(), 1);
    assert_eq!(msg.len(), reply_len);
    assert_eq!(names(&msg), ["lo"]);
    let reply = msg.to_vec();
    // Deferred: SKIP in the ring, its bytes kept with the handle.
    let deferred = msg.defer().ok().expect("room to defer");
    assert_eq!(kernel.status(1), Status::Skip.raw());

    let msg = link.next().unwrap().expect("frame 3: frame 2 is empty");
    assert_eq!((msg.frame().index(), &msg[..]), (3, &b"multicast"[..]));
    assert_eq!(msg.frame().meta(), multicast);
    drop(msg);
    let msg = link.next().unwrap().expect("frame 4, from the socket");
    assert_eq!((msg.frame().index(), acked(&msg)), (4, 9));
    drop(msg);
    assert!(link.next().unwrap().is_none(), "frame 5 is RESERVED");
    assert!(!link.poll().unwrap());
    assert_eq!(queued(&link), None, "every COPY message was read");
    for pos in [0, 2, 3, 4] {
        assert_eq!(kernel.status(pos), Status::Unused.raw(), "frame {pos}");
    }
    // The deferred COPY message kept its own bytes.
    assert_eq!(link.deferred_payload(&deferred).unwrap(), &reply[..]);

    // Waiting is polling the socket: nothing comes.
    let short = Some(Duration::from_millis(20));
    assert!(!link.wait_readable(short).unwrap());
    kernel.deliver(building_at, b"late", from_kernel);
    assert!(link.wait_readable(short).unwrap());
    assert_eq!(&link.recv(short).unwrap()[..], b"late");

    // A lap: the kernel fills every frame it can, stepping over the
    // deferred one; the link reads them in the kernel's order.
    let mut lap = Vec::new();
    while let Some(pos) = kernel.reserve() {
        kernel.deliver(pos, &[lap.len() as u8; 3], from_kernel);
        lap.push(pos);
    }
    assert!(!lap.contains(&1), "the SKIP frame is stepped over: {lap:?}");
    assert_eq!(lap.len() as u32, link.consumer().ring().frame_nr() - 1);
    for (i, &pos) in lap.iter().enumerate() {
        let msg = link.next().unwrap().expect("the lap, in order");
        assert_eq!((msg.frame().index(), &msg[..]), (pos, &[i as u8; 3][..]));
    }
    // Released: the frame is the kernel's again once the link reads on.
    link.release(deferred).unwrap();
    let pos = kernel.reserve().unwrap();
    kernel.deliver(pos, b"after", from_kernel);
    assert_eq!(&link.next().unwrap().expect("after")[..], b"after");
    assert_eq!(kernel.status(1), Status::Unused.raw());
}

#[test]
fn the_mapped_link_builds_in_the_kernel_tx_ring_and_flush_kicks_it() {
    let (mut link, mut kernel_rx, kernel_tx, sent) = simulated(8);
    let requests: Vec<Vec<u8>> = (1..=3).map(|seq| noop(seq, 0)).collect();
    for request in &requests {
        assert!(link.try_send(request).unwrap());
    }
    // Published VALID in the kernel's TX ring, nothing sent yet.
    for (pos, request) in requests.iter().enumerate() {
        let kernel = kernel_tx.borrow();
        assert_eq!(
            kernel.status(pos as u32),
            Status::Valid.raw(),
            "frame {pos}"
        );
        assert_eq!(kernel.len(pos as u32) as usize, request.len());
    }
    assert_eq!(sent.kicks.get(), 0);
    assert_eq!(queued(&link), None);

    // Larger than a frame: the committed frames are kicked first, then it
    // goes with its own send; the kernel gets all four in order.
    let big = noop(4, link.frame_capacity() + 100);
    assert!(big.len() > link.frame_capacity());
    assert!(link.try_send(&big).unwrap());
    assert_eq!(sent.kicks.get(), 1);
    assert_eq!(*sent.messages.borrow(), requests);
    for pos in 0..3 {
        assert_eq!(kernel_tx.borrow().status(pos), Status::Unused.raw());
    }
    // The four acks, queued in the order the kernel got the requests, come
    // through COPY frames.
    assert!(queued(&link).is_some(), "the acks");
    for _ in 1..=4 {
        kernel_rx.set_copied(ack_len(), meta(0, 0, 0, 0)).unwrap();
    }
    for seq in 1..=4 {
        let msg = link.next().unwrap().expect("an ack");
        assert_eq!(acked(&msg), seq);
    }

    // Nothing committed: no kick; one frame: a kick.
    link.flush().unwrap();
    assert_eq!(sent.kicks.get(), 1);
    assert!(link.try_send(b"alone").unwrap());
    link.flush().unwrap();
    assert_eq!(sent.kicks.get(), 2);
    assert_eq!(sent.messages.borrow().last().unwrap(), b"alone");
    let before = sent.messages.borrow().len();

    // A whole lap, the producer back where it started: all of it is sent.
    let frames = link.frame_count() as usize;
    let lap: Vec<Vec<u8>> = (0..frames).map(|i| vec![i as u8; 20]).collect();
    for msg in &lap {
        assert!(link.try_send(msg).unwrap());
    }
    assert!(!link.try_send(b"no room").unwrap(), "the ring is full");
    assert!(link.wait_writable(Some(Duration::from_secs(1))).unwrap());
    assert_eq!(sent.kicks.get(), 3);
    assert_eq!(sent.messages.borrow()[before..], lap[..]);

    // A frame committed as COPY would stop the kernel for good: it goes
    // out empty, the frames around it go too, and the flush says so.
    let before = sent.messages.borrow().len();
    assert!(link.try_send(b"one").unwrap());
    link.reserve().unwrap().unwrap().commit_copy(5000);
    assert!(link.try_send(b"three").unwrap());
    let err = link.flush().unwrap_err().to_string();
    assert!(err.contains("committed as COPY"), "{err}");
    let expected: [&[u8]; 3] = [b"one", b"", b"three"];
    assert_eq!(sent.messages.borrow()[before..], expected);
    link.flush().unwrap();
    assert_eq!(sent.kicks.get(), 4, "nothing left to send");
}

#[test]
fn the_mapped_link_reports_an_overrun_from_poll() {
    let (mut link, _, _, _) = simulated(8);
    // The smallest receive buffer, flooded with acks: the kernel drops
    // some and flags the socket (ENOBUFS), as the v4.5 kernel does when
    // the RX ring is full. An empty ring is answered by a poll that sees
    // it, in `next` and in `poll`.
    link.set_receive_buffer(0).unwrap();
    type Check = fn(&mut NetlinkLink) -> Result<bool, ringlink_core::LinkError>;
    let checks: [(&str, Check); 2] = [
        ("next", |link| link.next().map(|m| m.is_some())),
        ("poll", |link| link.poll()),
    ];
    for (name, check) in checks {
        for seq in 0..200 {
            send_plain(&link, &noop(seq, 0));
        }
        let err = check(&mut link).unwrap_err().to_string();
        assert!(err.contains("overrun"), "{name}: {err}");
        // Reported once: the link goes on.
        assert!(!check(&mut link).unwrap(), "{name}: no frame was filled");
        // Read the queue empty, so the kernel reports the next overrun.
        let mut buf = [0u8; 1024];
        while rustix::net::recv(fd(&link), &mut buf[..], RecvFlags::DONTWAIT).is_ok() {}
    }
}
