//! Against the kernel in a fresh network namespace this test creates (veth
//! pair, thousands of IPv4 and IPv6 routes, some multipath): the route
//! dump read through the ring equals what `ip -j route show` prints.
//! Needs root; skips with a message otherwise.

use ringlink_core::{FrameReceiver, FrameSender};
use ringlink_netlink::address;
use ringlink_netlink::message::{Full, MessageBuilder, Messages, Msg, NLM_F_DUMP, NLM_F_REQUEST};
use ringlink_netlink::nfqueue::{
    self, FLAG_FAIL_OPEN, FLAG_GSO, Packet, Target, Verdict, verdict_request,
};
use ringlink_netlink::request::{RequestError, exchange, retry_interrupted};
use ringlink_netlink::route::{
    AF_INET, AF_INET6, Route, add_request, delete_request, dump_request,
};
use ringlink_netlink::socket::NETLINK_NETFILTER;
use ringlink_netlink::{Mode, NetlinkLink, NetlinkOptions};
use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

const PATIENCE: Option<Duration> = Some(Duration::from_secs(10));
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const IFLA_IFNAME: u16 = 3;
const RT_TABLE_MAIN: u32 = 254;

/// The modes this kernel runs (kernel-mapped rings were removed in Linux
/// 4.6): every test that receives runs in each.
const MODES: [Mode; 2] = [Mode::Uring, Mode::Copy];

/// Options for a link in `mode`, checked to be the mode it then runs in.
fn open_in(mode: Mode, options: NetlinkOptions) -> NetlinkLink {
    let link = NetlinkLink::open(&NetlinkOptions {
        mode: Some(mode),
        ..options
    })
    .unwrap();
    assert_eq!(link.mode().mode, mode);
    link
}

/// A network namespace, deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn create(name: &str) -> Netns {
        // A stale namespace of the same name (from a killed run) goes first.
        let _ = Command::new("ip")
            .args(["netns", "del", name])
            .stderr(Stdio::null())
            .status();
        run(Command::new("ip").args(["netns", "add", name]));
        Netns { name: name.into() }
    }

    /// Runs `ip -batch -` in the namespace with `commands`, one per line.
    fn batch(&self, commands: &str) {
        let mut child = Command::new("ip")
            .args(["-n", &self.name, "-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("ip");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(commands.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "ip -batch failed");
    }

    /// What `ip -j args` prints in the namespace.
    fn ip_json(&self, args: &[&str]) -> serde_json::Value {
        let out = Command::new("ip")
            .args(["-n", &self.name, "-j"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Runs `f` on a thread that has entered the namespace.
    fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                let ns = std::fs::File::open(format!("/var/run/netns/{}", self.name)).unwrap();
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&ns),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .unwrap();
                f()
            })
            .join()
            .unwrap()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn run(command: &mut Command) {
    assert!(command.status().unwrap().success(), "{command:?} failed");
}

/// Sends one dump request built by `build` and collects every message's
/// payload with its type until DONE (notifications of joined groups are
/// left out).
fn dump(
    link: &mut NetlinkLink,
    seq: u32,
    build: impl FnOnce(&mut [u8]) -> usize,
) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    exchange(
        link,
        seq,
        |buf, _| Ok(build(buf)),
        |msg| {
            if msg.seq == seq {
                out.push((msg.kind, msg.payload.to_vec()));
            }
            Ok(())
        },
    )
    .expect("the dump completes, uninterrupted (nothing changes during the test)");
    out
}

/// Sends `count` requests (request `i` written by `build(buf, i)` with
/// sequence number `i + 1`) packed into as few frames as they fit, with
/// one flush; returns how many the kernel acknowledged (a refusal fails
/// the test).
fn in_one_flush(
    link: &mut NetlinkLink,
    count: u32,
    build: impl Fn(&mut [u8], u32) -> Result<usize, Full>,
) -> u32 {
    let mut next = 0u32;
    while next < count {
        let mut frame = link
            .reserve()
            .unwrap()
            .expect("enough transmit frames for all the requests");
        let buf = frame.buf();
        let mut used = 0;
        while next < count {
            match build(&mut buf[used..], next) {
                Ok(len) => {
                    used += len;
                    next += 1;
                }
                Err(_) => break,
            }
        }
        frame.commit(used).unwrap();
    }
    link.flush().unwrap();
    let mut acks = 0u32;
    while acks < count {
        let datagram = link.recv(PATIENCE).expect("acknowledgements").to_vec();
        for msg in Messages::new(&datagram) {
            let error = msg
                .unwrap()
                .error()
                .expect("only acknowledgements")
                .unwrap();
            assert_eq!(
                error.code, 0,
                "request {} refused: {:?}",
                error.request_seq, error.text
            );
            acks += 1;
        }
    }
    acks
}

fn as_msg(kind: u16, payload: &[u8]) -> Msg<'_> {
    Msg {
        kind,
        flags: 0,
        seq: 0,
        pid: 0,
        payload,
    }
}

/// A route as `ip route show` would name it, from the kernel's dump.
fn describe(route: &Route, names: &HashMap<u32, String>) -> String {
    let full = if route.family == AF_INET { 32 } else { 128 };
    let dst = match route.dst {
        None => "default".to_string(),
        Some(dst) if route.dst_len == full => dst.to_string(),
        Some(dst) => format!("{dst}/{}", route.dst_len),
    };
    let dev = |oif: u32| names.get(&oif).cloned().unwrap_or_default();
    let mut hops: Vec<String> = route
        .multipath
        .iter()
        .map(|h| {
            format!(
                "{}@{}",
                h.gateway.map(|g| g.to_string()).unwrap_or_default(),
                dev(h.oif)
            )
        })
        .collect();
    hops.sort();
    format!(
        "{dst} via {} dev {} hops {hops:?}",
        route.gateway.map(|g| g.to_string()).unwrap_or_default(),
        route.oif.map(dev).unwrap_or_default()
    )
}

/// The same description from one entry of `ip -j route show`.
fn describe_ip(entry: &serde_json::Value) -> String {
    let field = |v: &serde_json::Value, key: &str| {
        v.get(key)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let mut hops: Vec<String> = entry
        .get("nexthops")
        .and_then(|n| n.as_array())
        .map(|hops| {
            hops.iter()
                .map(|h| format!("{}@{}", field(h, "gateway"), field(h, "dev")))
                .collect()
        })
        .unwrap_or_default();
    hops.sort();
    // `ip` prints IPv6 addresses compressed, as Rust does; re-format to be sure.
    let gateway = field(entry, "gateway")
        .parse::<IpAddr>()
        .map(|g| g.to_string())
        .unwrap_or_default();
    format!(
        "{} via {gateway} dev {} hops {hops:?}",
        field(entry, "dst"),
        field(entry, "dev")
    )
}

#[test]
fn route_dumps_through_the_ring_equal_ip_route_show() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    let ns = Netns::create(&format!("ringlink-test-{}", std::process::id()));
    let mut setup = String::from(
        "link add veth0 type veth peer name veth1\n\
         link set veth0 up\nlink set veth1 up\nlink set lo up\n\
         addr add 10.1.0.1/24 dev veth0\naddr add 10.1.1.1/24 dev veth1\n\
         addr add fd00:1::1/64 dev veth0 nodad\n",
    );
    for i in 0..3000u32 {
        setup += &format!(
            "route add 10.100.{}.{}/32 via 10.1.0.2\n",
            i / 250,
            i % 250 + 1
        );
    }
    for i in 0..30u32 {
        setup += &format!(
            "route add 10.200.{i}.0/24 nexthop via 10.1.0.2 dev veth0 nexthop via 10.1.1.2 dev veth1\n"
        );
    }
    for i in 0..1000u32 {
        setup += &format!("route add fd00:2::{:x}/128 via fd00:1::2\n", i + 1);
    }
    setup += "addr add fd00:5::1/64 dev veth1 nodad\n";
    for i in 0..30u32 {
        setup += &format!(
            "route add fd00:4:{i:x}::/64 nexthop via fd00:1::2 dev veth0 nexthop via fd00:5::2 dev veth1\n"
        );
    }
    ns.batch(&setup);
    let expected_v4: Vec<String> = {
        let mut v: Vec<_> = ns
            .ip_json(&["-4", "route", "show"])
            .as_array()
            .unwrap()
            .iter()
            .map(describe_ip)
            .collect();
        v.sort();
        v
    };
    let expected_v6: Vec<String> = {
        let mut v: Vec<_> = ns
            .ip_json(&["-6", "route", "show"])
            .as_array()
            .unwrap()
            .iter()
            .map(describe_ip)
            .collect();
        v.sort();
        v
    };
    assert!(expected_v4.len() > 3000 && expected_v6.len() > 1000);

    for mode in MODES {
        let (got_v4, got_v6) = ns.enter(|| {
            let mut link = open_in(mode, NetlinkOptions::default());
            let mut names = HashMap::new();
            let links = dump(&mut link, 1, |buf| {
                let mut b =
                    MessageBuilder::new(buf, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1).unwrap();
                b.push(&[0u8; 16]).unwrap();
                b.finish()
            });
            for (kind, payload) in &links {
                assert_eq!(*kind, RTM_NEWLINK);
                let index = u32::from_ne_bytes(payload[4..8].try_into().unwrap());
                let (_, attrs) = as_msg(*kind, payload).split(16).unwrap();
                let name = attrs
                    .flatten()
                    .find(|a| a.kind() == IFLA_IFNAME)
                    .map(|a| a.string());
                names.insert(index, name.unwrap_or_default());
            }
            let mut routes = |family: u8, seq: u32| -> Vec<String> {
                let mut described: Vec<String> = dump(&mut link, seq, |buf| {
                    dump_request(buf, family, seq).unwrap()
                })
                .iter()
                .map(|(kind, payload)| Route::parse(&as_msg(*kind, payload)).unwrap())
                .filter(|r| r.table == RT_TABLE_MAIN)
                .map(|r| describe(&r, &names))
                .collect();
                described.sort();
                described
            };
            (routes(AF_INET, 2), routes(AF_INET6, 3))
        });
        assert_eq!(got_v4.len(), expected_v4.len());
        assert_eq!(got_v4, expected_v4, "{mode:?}");
        assert_eq!(got_v6, expected_v6, "{mode:?}");
        let multipath =
            |routes: &[String]| routes.iter().filter(|r| !r.ends_with("hops []")).count();
        assert_eq!(
            (multipath(&got_v4), multipath(&got_v6)),
            (30, 30),
            "multipath routes of both families are there, with their next hops ({mode:?})"
        );
    }
}

/// Route and address changes made by `ip` in the namespace arrive, in
/// order, on a link that joined the rtnetlink groups, each frame's header
/// naming the group the event was sent to.
#[test]
fn a_monitor_sees_route_and_address_changes() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    const RTM_NEWADDR: u16 = 20;
    const RTM_DELROUTE: u16 = 25;
    for mode in MODES {
        let ns = Netns::create(&format!("ringlink-mon-{mode:?}-{}", std::process::id()));
        ns.batch("link add veth0 type veth peer name veth1\nlink set veth0 up\nlink set veth1 up\naddr add 10.1.0.1/24 dev veth0\n");
        let events = ns.enter(|| {
        // RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE
        let options = NetlinkOptions {
            groups: vec![5, 7],
            ..NetlinkOptions::default()
        };
        let mut link = open_in(mode, options);
        let changes = "route add 10.50.0.0/24 via 10.1.0.2\naddr add 10.9.9.9/32 dev veth0\nroute del 10.50.0.0/24\n";
        // `ip` runs in the namespace by name; the monitor's thread is in it.
        let mut child = Command::new("ip").args(["-n", &ns.name, "-batch", "-"]).stdin(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(changes.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        let mut seen = Vec::new();
        while seen.len() < 3 {
            // The frame header carries the group the event was sent to.
            let (datagram, group) = match link.recv(PATIENCE) { Ok(m) => (m.to_vec(), m.frame().meta().group), Err(e) => panic!("{e}; seen so far {seen:?}") };
            for msg in Messages::new(&datagram) {
                let msg = msg.unwrap();
                match msg.kind {
                    RTM_NEWADDR => {
                        let (ifa, _) = msg.split(8).unwrap();
                        seen.push(format!("newaddr family {} /{} group {group}", ifa[0], ifa[1]));
                    }
                    kind @ (ringlink_netlink::route::RTM_NEWROUTE | RTM_DELROUTE) => {
                        let route = Route::parse(&msg).unwrap();
                        if route.table != RT_TABLE_MAIN || route.dst_len != 24 {
                            continue; // the /32 address brings local-table routes
                        }
                        let verb = if kind == RTM_DELROUTE { "delroute" } else { "newroute" };
                        seen.push(format!("{verb} {}/{} group {group}", route.dst.unwrap(), route.dst_len));
                    }
                    _ => {}
                }
            }
        }
        seen
    });
        assert_eq!(
            events,
            [
                "newroute 10.50.0.0/24 group 7",
                "newaddr family 2 /32 group 5",
                "delroute 10.50.0.0/24 group 7"
            ],
            "{mode:?}"
        );
    }
}

/// 10,000 routes added by one flush (many requests per frame, one sendmsg
/// per send buffer's worth), every one acknowledged; a dump then finds
/// them all; bad requests get the kernel's refusal and extended-ack text;
/// one more flush deletes all 10,000 and a dump finds none; a route `ip`
/// added (protocol boot) is deleted too.
#[test]
fn ten_thousand_routes_added_and_deleted_in_one_flush_each() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    let ns = Netns::create(&format!("ringlink-batch-{}", std::process::id()));
    ns.batch("link add veth0 type veth peer name veth1\nlink set veth0 up\nlink set veth1 up\naddr add 10.1.0.1/24 dev veth0\nroute add 10.99.0.1/32 via 10.1.0.3\n");
    let gateway: IpAddr = "10.1.0.2".parse().unwrap();
    let (acks, dumped, bad, deleted, left) = ns.enter(|| {
        let mut link = NetlinkLink::open(&NetlinkOptions::default()).unwrap();
        let count = 10_000u32;
        let dst = |i: u32| IpAddr::from([10, 100 + (i >> 16) as u8, (i >> 8) as u8, i as u8]);
        let ours = |link: &mut NetlinkLink, seq| {
            dump(link, seq, |buf| dump_request(buf, AF_INET, seq).unwrap())
                .iter()
                .map(|(kind, payload)| Route::parse(&as_msg(*kind, payload)).unwrap())
                .filter(|r| {
                    r.table == RT_TABLE_MAIN && r.dst_len == 32 && r.gateway == Some(gateway)
                })
                .count()
        };
        let acks = in_one_flush(&mut link, count, |buf, i| {
            add_request(buf, dst(i), 32, gateway, i + 1)
        });
        let dumped = ours(&mut link, 900_000);
        // Refusals: a route that exists (added exclusively), and a 40-bit
        // IPv4 prefix, which the kernel explains in its extended ack.
        let mut refusals = Vec::new();
        for (seq, dst_len) in [(900_001, 32), (900_002, 40)] {
            let build = |buf: &mut [u8], seq| add_request(buf, dst(0), dst_len, gateway, seq);
            match exchange(&mut link, seq, build, |msg| {
                panic!("no reply but the verdict: {msg:?}")
            }) {
                Err(RequestError::Kernel {
                    seq: refused,
                    code,
                    text,
                    ..
                }) => {
                    assert_eq!(refused, seq);
                    refusals.push((code, text));
                }
                other => panic!("route {seq} should be refused, got {other:?}"),
            }
        }
        let deleted = in_one_flush(&mut link, count, |buf, i| {
            delete_request(buf, dst(i), 32, i + 1)
        });
        let left = ours(&mut link, 900_003);
        let by_ip = IpAddr::from([10, 99, 0, 1]);
        let dumped_by_ip = |link: &mut NetlinkLink, seq| {
            dump(link, seq, |buf| dump_request(buf, AF_INET, seq).unwrap())
                .iter()
                .filter(|(kind, payload)| {
                    Route::parse(&as_msg(*kind, payload)).unwrap().dst == Some(by_ip)
                })
                .count()
        };
        assert_eq!(dumped_by_ip(&mut link, 900_004), 1, "ip added it");
        exchange(
            &mut link,
            900_005,
            |buf, seq| delete_request(buf, by_ip, 32, seq),
            |_| Ok(()),
        )
        .expect("the route ip added is deleted");
        assert_eq!(dumped_by_ip(&mut link, 900_006), 0, "and it is gone");
        (acks, dumped, refusals, deleted, left)
    });
    assert_eq!((deleted, left), (10_000, 0), "one flush deletes them all");
    assert_eq!(acks, 10_000);
    assert_eq!(dumped, 10_000);
    assert_eq!(bad[0].0, -17, "EEXIST for a route that exists");
    assert_eq!(bad[1].0, -22, "EINVAL for a 40-bit prefix");
    let text = bad[1].1.clone().expect("extended-ack text");
    assert!(text.to_lowercase().contains("prefix"), "{text}");
}

/// A monitor with a tiny receive buffer under a flood of route events: the
/// overrun is reported (the kernel dropped events), and a fresh dump
/// resynchronises the full state.
#[test]
fn an_overrun_is_reported_and_a_dump_resyncs() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    for mode in MODES {
        let ns = Netns::create(&format!("ringlink-overrun-{mode:?}-{}", std::process::id()));
        ns.batch("link add veth0 type veth peer name veth1\nlink set veth0 up\nlink set veth1 up\naddr add 10.1.0.1/24 dev veth0\n");
        let (overrun, resynced) = ns.enter(|| {
            let options = NetlinkOptions {
                groups: vec![7], // RTNLGRP_IPV4_ROUTE
                receive_buffer: Some(4096),
                ..NetlinkOptions::default()
            };
            let mut link = open_in(mode, options);
            let mut flood = String::new();
            for i in 0..3000u32 {
                flood += &format!(
                    "route add 10.60.{}.{}/32 via 10.1.0.2\n",
                    i / 250,
                    i % 250 + 1
                );
            }
            let mut child = Command::new("ip")
                .args(["-n", &ns.name, "-batch", "-"])
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(flood.as_bytes())
                .unwrap();
            assert!(child.wait().unwrap().success());
            // Read events until the overrun shows.
            let overrun = loop {
                match link.recv(PATIENCE) {
                    Ok(_) => continue,
                    Err(e) => break e.to_string(),
                }
            };
            // Resync: with room to receive it, a dump sees every route,
            // whatever events were lost.
            link.set_receive_buffer(8 << 20).unwrap();
            let routes = dump(&mut link, 5, |buf| dump_request(buf, AF_INET, 5).unwrap())
                .iter()
                .filter_map(|(kind, payload)| Route::parse(&as_msg(*kind, payload)).ok())
                .filter(|r| r.table == RT_TABLE_MAIN && r.dst_len == 32)
                .count();
            (overrun, routes)
        });
        assert!(overrun.contains("overrun"), "{mode:?}: {overrun}");
        assert_eq!(resynced, 3000, "{mode:?}");
    }
}

/// Receives queued packets from `link` until `count` have arrived; their
/// (id, UDP payload) in order.
fn queued(link: &mut NetlinkLink, count: usize) -> Vec<(u32, Vec<u8>)> {
    let mut packets = Vec::new();
    while packets.len() < count {
        let datagram = link.recv(PATIENCE).expect("queued packets").to_vec();
        for msg in Messages::new(&datagram) {
            let packet = Packet::parse(&msg.unwrap()).unwrap();
            assert_eq!(packet.queue, 3);
            // IPv4 header (20 bytes, no options) and UDP header (8).
            packets.push((packet.id, packet.payload[28..].to_vec()));
        }
    }
    packets
}

/// Datagrams the socket receives within a short wait after the last one.
fn delivered(socket: &std::net::UdpSocket) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok(n) = socket.recv(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

/// Sends one verdict message built by `build` (no reply expected).
fn verdict(link: &mut NetlinkLink, build: impl FnOnce(&mut [u8]) -> usize) {
    let mut frame = link.reserve().unwrap().expect("a transmit frame");
    let len = build(frame.buf());
    frame.commit(len).unwrap();
    link.flush().unwrap();
}

/// UDP through an `iptables-legacy ... -j NFQUEUE` rule in a fresh
/// namespace: packets are queued to the link, delivered when accepted (by
/// a batch verdict or one by one) and not when dropped.
#[test]
fn nfqueue_verdicts_decide_delivery() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: network namespaces and iptables need root");
        return;
    }
    assert!(
        Command::new("iptables-legacy")
            .arg("--version")
            .output()
            .is_ok(),
        "iptables-legacy is needed: install it (Debian: apt-get install -y iptables)"
    );
    let ns = Netns::create(&format!("ringlink-nfq-{}", std::process::id()));
    ns.batch("link set lo up\n");
    run(Command::new("ip").args(["netns", "exec", &ns.name]).args([
        "iptables-legacy",
        "-A",
        "OUTPUT",
        "-o",
        "lo",
        "-p",
        "udp",
        "--dport",
        "9999",
        "-j",
        "NFQUEUE",
        "--queue-num",
        "3",
    ]));
    for mode in MODES {
        let (first, second, third) = ns.enter(|| {
            let options = NetlinkOptions {
                protocol: NETLINK_NETFILTER,
                ..Default::default()
            };
            let mut link = open_in(mode, options);
            for (seq, build) in [
                (
                    1,
                    &(|buf: &mut [u8], seq| nfqueue::bind_request(buf, 3, seq))
                        as &dyn Fn(&mut [u8], u32) -> Result<usize, Full>,
                ),
                (2, &|buf: &mut [u8], seq| {
                    nfqueue::params_request(buf, 3, 0xffff, seq)
                }),
                (3, &|buf: &mut [u8], seq| {
                    nfqueue::flags_request(
                        buf,
                        3,
                        FLAG_FAIL_OPEN | FLAG_GSO,
                        FLAG_FAIL_OPEN | FLAG_GSO,
                        seq,
                    )
                }),
            ] {
                exchange(&mut link, seq, build, |msg| {
                    panic!("only an acknowledgement: {msg:?}")
                })
                .unwrap_or_else(|e| panic!("queue configuration {seq}: {e}"));
            }
            let receiver = std::net::UdpSocket::bind("127.0.0.1:9999").unwrap();
            receiver
                .set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let send = |tag: &str, n: usize| {
                for i in 0..n {
                    sender
                        .send_to(format!("{tag}{i}").as_bytes(), "127.0.0.1:9999")
                        .unwrap();
                }
            };
            // 1: fifty packets, queued until one batch verdict accepts them all.
            send("a", 50);
            let packets = queued(&mut link, 50);
            assert!(
                delivered(&receiver).is_empty(),
                "nothing passes before the verdict"
            );
            let last = packets.last().unwrap().0;
            verdict(&mut link, |buf| {
                verdict_request(buf, 3, Target::UpTo(last), Verdict::Accept, 10).unwrap()
            });
            let first = (packets, delivered(&receiver));
            // 2: ten packets, one verdict each: odd ones accepted.
            send("b", 10);
            let packets = queued(&mut link, 10);
            for (i, (id, _)) in packets.iter().enumerate() {
                let v = if i % 2 == 1 {
                    Verdict::Accept
                } else {
                    Verdict::Drop
                };
                verdict(&mut link, |buf| {
                    verdict_request(buf, 3, Target::Packet(*id), v, 11).unwrap()
                });
            }
            let second = delivered(&receiver);
            // 3: ten packets dropped by one batch verdict.
            send("c", 10);
            let packets = queued(&mut link, 10);
            let last = packets.last().unwrap().0;
            verdict(&mut link, |buf| {
                verdict_request(buf, 3, Target::UpTo(last), Verdict::Drop, 12).unwrap()
            });
            (first, second, delivered(&receiver))
        });
        let (packets, got) = first;
        let sent: Vec<Vec<u8>> = (0..50).map(|i| format!("a{i}").into_bytes()).collect();
        assert_eq!(
            packets.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>(),
            sent,
            "queued in order, whole"
        );
        assert_eq!(
            got, sent,
            "{mode:?}: a batch accept delivers them all, in order"
        );
        let odd: Vec<Vec<u8>> = (0..10)
            .filter(|i| i % 2 == 1)
            .map(|i| format!("b{i}").into_bytes())
            .collect();
        assert_eq!(
            second, odd,
            "per-packet verdicts: only the accepted ones arrive"
        );
        assert!(
            third.is_empty(),
            "{mode:?}: a batch drop delivers none: {third:?}"
        );
    }
}

/// An address dump during which `ip` adds addresses is reported as
/// interrupted (`NLM_F_DUMP_INTR`), and the retry helper converges on a
/// full, consistent dump once the changes stop: here two attempts are
/// disturbed, the third is not.
#[test]
fn an_interrupted_dump_is_reported_and_retried() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    for mode in MODES {
        let ns = Netns::create(&format!("ringlink-intr-{mode:?}-{}", std::process::id()));
        let mut setup =
            String::from("link add veth0 type veth peer name veth1\nlink set veth0 up\n");
        for i in 0..3000u32 {
            setup += &format!("addr add 10.2.{}.{}/32 dev veth0\n", i / 250, i % 250 + 1);
        }
        ns.batch(&setup);
        let (outcomes, dumped) = ns.enter(|| {
            // Two frames: the kernel can run at most a few datagrams ahead of
            // the reader, so a change after the first message lands mid-dump.
            let mut link = open_in(
                mode,
                NetlinkOptions {
                    rx_frames: 2,
                    ..NetlinkOptions::default()
                },
            );
            let mut outcomes = Vec::new();
            let mut attempt = 0u32;
            let dumped = retry_interrupted(5, || {
                attempt += 1;
                let seq = attempt;
                let mut disturb = attempt <= 2;
                let mut count = 0usize;
                let build = |buf: &mut [u8], seq| address::dump_request(buf, AF_INET, seq);
                let outcome = exchange(&mut link, seq, build, |_| {
                    if std::mem::take(&mut disturb) {
                        let add = format!("10.9.{attempt}.1/32");
                        run(Command::new("ip")
                            .args(["-n", &ns.name, "addr", "add", &add, "dev", "veth0"]));
                    }
                    count += 1;
                    Ok(())
                });
                outcomes.push(format!("{outcome:?}"));
                outcome.map(|()| count)
            });
            (outcomes, dumped.unwrap())
        });
        assert_eq!(outcomes.len(), 3, "{mode:?}: {outcomes:?}");
        for outcome in &outcomes[..2] {
            assert!(outcome.contains("Interrupted"), "{mode:?}: {outcomes:?}");
        }
        let expected = ns
            .ip_json(&["-4", "addr", "show"])
            .as_array()
            .unwrap()
            .iter()
            .map(|link| link["addr_info"].as_array().map_or(0, Vec::len))
            .sum::<usize>();
        assert_eq!(dumped, expected, "{mode:?}: the retried dump is complete");
        assert_eq!(expected, 3002, "3000 addresses and the two added mid-dump");
    }
}
