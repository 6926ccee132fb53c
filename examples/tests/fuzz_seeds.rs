//! The fuzz targets without a fuzzer: every file of the committed seed
//! corpus (`core/fuzz/corpus/<target>/`, crash reproducers included) goes
//! through its target's body, the very functions the libFuzzer binaries of
//! `core/fuzz` call, so `cargo test --workspace` keeps them building and
//! passing. `core/fuzz/run.sh` fuzzes them; docs/FUZZING.md.
//!
//! The seeds are made by the ignored test `write_seeds` (netlink datagrams
//! captured from the running kernel through ringlink itself; needs root):
//!
//! ```text
//! cargo test -p ringlink-examples --test fuzz_seeds -- --ignored write_seeds
//! ```

#[allow(dead_code, reason = "the fuzz crate's helpers, not all used here")]
#[path = "../../core/fuzz/src/lib.rs"]
mod fuzz;

use ringlink_core::{FrameReceiver, FrameSender, Geometry, HeapMemory, Memory, Producer, Ring};
use ringlink_memfd::control::{Layout, MAGIC, VERSION};
use ringlink_netlink::message::{MessageBuilder, Messages, NLM_F_MULTI, NLM_F_REQUEST};
use ringlink_netlink::{NetlinkLink, NetlinkOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A target's body.
type Body = fn(&[u8]);

/// Writes a request into a frame; returns its length.
type Build = dyn Fn(&mut [u8], u32) -> Result<usize, ringlink_netlink::message::Full>;

/// The targets, each with its body.
const TARGETS: [(&str, Body); 4] = [
    ("ring_consumer", fuzz::ring_consumer::run),
    ("geometry", fuzz::geometry::run),
    ("memfd_control", fuzz::memfd_control::run),
    ("netlink", fuzz::netlink::run),
];

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/fuzz/corpus")
        .join(target)
}

#[test]
fn every_seed_runs_through_its_target() {
    for (target, run) in TARGETS {
        let dir = corpus_dir(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        assert!(files.len() >= 3, "{target}: only {} seeds", files.len());
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            run(&bytes);
        }
    }
}

/// The seeds that claim to be valid still are: a changed layout or format
/// shows here, not as a silently useless corpus.
#[test]
fn honest_seeds_are_accepted() {
    let page = ring_seed_image();
    assert!(page.iter().any(|&b| b != 0));
    let control = honest_control_page();
    let declared = ringlink_memfd::control::fuzzing::check_control_page(
        &control,
        u64::from_ne_bytes(control[16..24].try_into().unwrap()),
    );
    assert!(declared.is_ok(), "{declared:?}");
    for name in ["route_dump_v4", "link_dump", "nfqueue_packet"] {
        let path = corpus_dir("netlink").join(name);
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            Messages::new(&bytes).all(|m| m.is_ok()),
            "{}",
            path.display()
        );
    }
}

/// Writes the seed corpus (run by hand; see the file's documentation).
#[test]
#[ignore = "rewrites core/fuzz/corpus; needs a netlink socket to the kernel"]
fn write_seeds() {
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };

    // ring_consumer: mode, frame size (u16), placement, headroom, op count,
    // ops, ring image.
    let ops: Vec<u8> = vec![
        0, 0x10, 2, 3, 11, 5, 4, 0x30, 0, 0, 6, 8, 0, 0, 0, 0, 9, 9, 5, 0x29, 7, 0x0a, 0x1a, 0x10,
        0, 0x83, 0, 0, 0, 0, 0, 1, 3, 11,
    ];
    let mut seed = vec![0x00, 58, 0, 1, 0, ops.len() as u8];
    seed.extend(&ops);
    seed.extend(trim(&ring_seed_image()));
    write("ring_consumer", "one_page_ring_with_cursor", &seed);
    // Two blocks of 2 pages, 1360-byte frames (a gap at each block's end),
    // no cursor, 8 bytes of headroom.
    let frame = |size: u32| (((size - 24) / 4) as u16).to_le_bytes();
    let mut seed = vec![0x05];
    seed.extend(frame(1360));
    seed.extend([2, 8, 8, 0, 0x10, 2, 3, 0x20, 0x10, 11, 11]);
    write("ring_consumer", "two_blocks_gapped_headroom", &seed);
    // Raw words: 2 blocks of a page, 2048-byte frames, 4 frames.
    let mut seed = vec![0x80];
    for word in [4096u32, 2, 2048, 4] {
        seed.extend(word.to_le_bytes());
    }
    seed.extend([1, 0, 6, 0, 0, 0x10, 9, 0x29, 9, 0]);
    write("ring_consumer", "raw_geometry", &seed);

    // geometry: selector, (page byte), raw words, max message, frames.
    let geometry_seed = |selector: u8, page: &[u8], raw: [u32; 4], max: u16, frames: u32| {
        let mut seed = vec![selector];
        seed.extend(page);
        for word in raw {
            seed.extend(word.to_le_bytes());
        }
        seed.extend(max.to_le_bytes());
        seed.extend(frames.to_le_bytes());
        seed
    };
    // netlink_mmap.txt's example: 16-page blocks, 64 of them, 16 KiB frames.
    let doc = [16 * 4096, 64, 16384, 256];
    write(
        "geometry",
        "doc_example",
        &geometry_seed(1, &[], doc, 1000, 64),
    );
    write(
        "geometry",
        "gapped_frames",
        &geometry_seed(1, &[], [4096, 2, 1360, 6], 5000, 8),
    );
    write(
        "geometry",
        "disabled_ring",
        &geometry_seed(0x21, &[], [0, 0, 0, 0], 0, 1),
    );
    // The crash found in Geometry::exact (core/tests/fuzz_regressions.rs).
    let mut crash = vec![0x1a];
    crash.extend([0xa2; 14]);
    crash.extend([0x41, 0xa2, 0xa2, 0xa2, 0xa2, 0xa2]);
    write("geometry", "crash-cef1f824-exact-overflow", &crash);

    // memfd_control: header, then the control page.
    let control = honest_control_page();
    let header = |mode: u8, seals: u8, fds: u8, greeting: &[u8], size: u64| {
        let mut seed = vec![mode, seals, fds, greeting.len() as u8];
        let mut bytes = [0u8; 9];
        bytes[..greeting.len()].copy_from_slice(greeting);
        seed.extend(bytes);
        seed.extend(size.to_le_bytes());
        seed.extend(&control);
        seed
    };
    write("memfd_control", "honest_offer", &header(1, 0, 0, &[], 0));
    write("memfd_control", "unsealed", &header(1, 7, 0, &[], 0));
    write(
        "memfd_control",
        "wrong_greeting",
        &header(1, 0, 1, b"RLNKHS02", 0),
    );
    write(
        "memfd_control",
        "lying_size",
        &header(0, 0, 0, &[], 3 * 4096),
    );
    write("memfd_control", "not_a_memfd", &header(1, 0, 8, &[], 0));

    // netlink: datagrams the kernel sent ringlink, and two made here.
    let mut link = NetlinkLink::open(&NetlinkOptions::default()).expect("netlink link");
    use ringlink_netlink::{address, interface, route};
    let dumps: [(&str, Box<Build>); 4] = [
        (
            "route_dump_v4",
            Box::new(|b: &mut [u8], s| route::dump_request(b, route::AF_INET, s)),
        ),
        (
            "route_dump_v6",
            Box::new(|b: &mut [u8], s| route::dump_request(b, route::AF_INET6, s)),
        ),
        ("link_dump", Box::new(interface::dump_request)),
        (
            "address_dump",
            Box::new(|b: &mut [u8], s| address::dump_request(b, 0, s)),
        ),
    ];
    for (seq, (name, build)) in dumps.iter().enumerate() {
        let datagram = first_datagram(&mut link, seq as u32 + 1, build);
        write("netlink", name, &datagram);
    }
    // An error with extended-ack text: an IPv4 route with a 40-bit
    // prefix, which the kernel refuses whatever the host's routes.
    let bad_route = |b: &mut [u8], s| {
        let gateway = "192.0.2.1".parse().unwrap();
        route::add_request(b, "10.255.0.0".parse().unwrap(), 40, gateway, s)
    };
    let datagram = first_datagram(&mut link, 10, &bad_route);
    write("netlink", "error_ext_ack", &datagram);
    write("netlink", "nfqueue_packet", &nfqueue_packet());
    write("netlink", "multipath_route", &multipath_route());
}

/// The first reply datagram to the request `build` writes.
fn first_datagram(link: &mut NetlinkLink, seq: u32, build: &Build) -> Vec<u8> {
    let mut frame = link.reserve().unwrap().expect("a transmit frame");
    let len = build(frame.buf(), seq).unwrap();
    frame.commit(len).unwrap();
    link.flush().unwrap();
    let datagram = link.recv(Some(Duration::from_secs(5))).unwrap().to_vec();
    // Read the rest of a dump, so the link is clean for the next request.
    let mut last = datagram.clone();
    while !Messages::new(&last).any(|m| m.is_ok_and(|m| m.is_done() || m.error().is_some())) {
        last = link.recv(Some(Duration::from_secs(5))).unwrap().to_vec();
    }
    // At most 8 KiB: whole messages from the start.
    let mut keep = 0;
    for msg in Messages::new(&datagram) {
        let msg = msg.unwrap();
        let next = keep + (16 + msg.payload.len()).next_multiple_of(4);
        if next > 8192 && keep > 0 {
            break;
        }
        keep = next.min(datagram.len());
    }
    datagram[..keep].to_vec()
}

/// A ring image as an honest producer leaves it: 256-byte frames in one
/// page, two messages, an aborted frame, a COPY, more messages.
fn ring_seed_image() -> Vec<u8> {
    let geometry = Geometry {
        block_size: 4096,
        block_nr: 1,
        frame_size: 256,
        frame_nr: 16,
    };
    let memory = Arc::new(HeapMemory::new(geometry.ring_size()));
    let ring = Ring::new(memory.clone(), 0, geometry);
    let mut producer = Producer::new(ring.unwrap());
    producer
        .reserve()
        .unwrap()
        .unwrap()
        .write(b"hello")
        .unwrap();
    producer
        .reserve()
        .unwrap()
        .unwrap()
        .write(&[7; 232])
        .unwrap();
    producer.reserve().unwrap().unwrap().abort();
    producer.reserve().unwrap().unwrap().commit_copy(70000);
    producer
        .reserve()
        .unwrap()
        .unwrap()
        .write(b"after the copy")
        .unwrap();
    drop(producer);
    // SAFETY: the producer is gone; nothing else touches the memory.
    unsafe { std::slice::from_raw_parts(memory.as_ptr(), memory.len()) }.to_vec()
}

/// The control page a creator writes for two rings of 16 frames of 1000
/// bytes: the layout encoded field by field as in `control.rs`.
fn honest_control_page() -> Vec<u8> {
    let g = Geometry::for_messages(1000, 16).unwrap();
    let layout = Layout::new(g, g).unwrap();
    let mut page = Vec::new();
    page.extend(MAGIC.to_ne_bytes());
    page.extend(VERSION.to_ne_bytes());
    page.extend(0u32.to_ne_bytes());
    page.extend(layout.total_size.to_ne_bytes());
    for (offset, g) in layout.offsets.iter().zip(&layout.geometries) {
        page.extend(offset.to_ne_bytes());
        for word in [g.block_size, g.block_nr, g.frame_size, g.frame_nr] {
            page.extend(word.to_ne_bytes());
        }
    }
    page
}

/// An `NFQNL_MSG_PACKET` with a packet header and a 20-byte IPv4 payload.
fn nfqueue_packet() -> Vec<u8> {
    use ringlink_netlink::nfqueue::NFQNL_MSG_PACKET;
    let mut buf = vec![0u8; 256];
    let mut b = MessageBuilder::new(&mut buf, NFQNL_MSG_PACKET, 0, 0).unwrap();
    b.push(&[2, 0, 0, 3]).unwrap(); // nfgenmsg: AF_INET, v0, queue 3
    let mut header = 42u32.to_be_bytes().to_vec();
    header.extend(0x0800u16.to_be_bytes());
    header.push(1);
    b.attr(1, &header).unwrap(); // NFQA_PACKET_HDR
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    b.attr(10, &ip).unwrap(); // NFQA_PAYLOAD
    let len = b.finish();
    buf.truncate(len);
    buf
}

/// An `RTM_NEWROUTE` with two next hops (`RTA_MULTIPATH`), in a dump.
fn multipath_route() -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let mut b = MessageBuilder::new(&mut buf, 24, NLM_F_MULTI | NLM_F_REQUEST, 1).unwrap();
    b.push(&[2, 24, 0, 0, 254, 4, 0, 1, 0, 0, 0, 0]).unwrap(); // rtmsg
    b.attr(1, &[10, 1, 2, 0]).unwrap(); // RTA_DST
    b.attr(15, &254u32.to_ne_bytes()).unwrap(); // RTA_TABLE
    let mut hops = Vec::new();
    for (oif, gateway) in [(2u32, [10, 0, 0, 1]), (3, [10, 0, 1, 1])] {
        hops.extend(16u16.to_ne_bytes()); // rtnh_len
        hops.extend([0, 0]); // flags, hops
        hops.extend(oif.to_ne_bytes());
        hops.extend(8u16.to_ne_bytes()); // RTA_GATEWAY
        hops.extend(5u16.to_ne_bytes());
        hops.extend(gateway);
    }
    b.attr(9, &hops).unwrap(); // RTA_MULTIPATH
    let len = b.finish();
    buf.truncate(len);
    let mut done = vec![0u8; 32];
    let mut d = MessageBuilder::new(&mut done, 3, NLM_F_MULTI, 1).unwrap();
    d.push(&0u32.to_ne_bytes()).unwrap();
    let done_len = d.finish();
    buf.extend(&done[..done_len]);
    buf
}

/// `bytes` without its trailing zeros (the target zero-fills the rest).
fn trim(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &bytes[..end]
}
