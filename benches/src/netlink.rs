//! Route dumps from the kernel, in a private network namespace the harness
//! creates and removes: through the ringlink netlink link (routes parsed),
//! against a plain 32 KiB recv loop (messages walked) and `ip -j route
//! show`. Needs root.

use crate::netns::Netns;
use crate::stats::median;
use ringlink_netlink::message::Messages;
use ringlink_netlink::request::exchange;
use ringlink_netlink::route::{AF_INET, Route, dump_request};
use ringlink_netlink::socket::{NETLINK_ROUTE, NetlinkSocket};
use ringlink_netlink::{NetlinkLink, NetlinkOptions};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Routes per second of each way of dumping, medians of the runs.
pub struct DumpFigures {
    /// Routes in the table.
    pub routes: usize,
    /// The ringlink link and the mode it ran in.
    pub ringlink: (f64, String),
    /// A plain recv loop with a 32 KiB buffer.
    pub plain: f64,
    /// `ip -j route show`.
    pub ip: f64,
    /// Median over runs of ringlink / plain within the run.
    pub vs_plain: f64,
    /// Median over runs of ringlink / `ip` within the run.
    pub vs_ip: f64,
}

/// Dumps through the ring, parsing every route; returns (routes, mode).
fn ringlink_dump() -> Result<(usize, String), String> {
    let mut link = NetlinkLink::open(&NetlinkOptions::default()).map_err(|e| e.to_string())?;
    let mut routes = 0;
    let build = |buf: &mut [u8], seq| dump_request(buf, AF_INET, seq);
    exchange(&mut link, 1, build, |msg| {
        std::hint::black_box(Route::parse(msg)?);
        routes += 1;
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    Ok((routes, link.mode().to_string()))
}

/// Dumps with a plain recv loop into one 32 KiB buffer, walking messages.
fn plain_dump() -> Result<usize, String> {
    let socket = NetlinkSocket::open(NETLINK_ROUTE).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 32 << 10];
    let len = dump_request(&mut buf, AF_INET, 1).map_err(|e| e.to_string())?;
    socket.send(&buf[..len]).map_err(|e| e.to_string())?;
    let mut routes = 0;
    loop {
        let n = socket.recv(&mut buf).map_err(|e| e.to_string())?;
        for m in Messages::new(&buf[..n]) {
            let m = m.map_err(|e| e.to_string())?;
            if m.is_done() {
                return Ok(routes);
            }
            routes += 1;
        }
    }
}

/// Sets up a namespace with `routes` IPv4 routes and measures each way of
/// dumping them `runs` times (alternating); `progress` gets a line per run.
pub fn route_dump(
    routes: usize,
    runs: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<DumpFigures, String> {
    let mut setup = String::from(
        "link add veth0 type veth peer name veth1\nlink set veth0 up\nlink set veth1 up\naddr add 10.1.0.1/24 dev veth0\n",
    );
    for i in 0..routes {
        setup += &format!(
            "route add 10.{}.{}.{}/32 via 10.1.0.2\n",
            100 + i / 62_500,
            (i / 250) % 250,
            i % 250 + 1
        );
    }
    let ns = Netns::create("ringlink-bench", &setup)?;
    let (mut ours, mut plain, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    let mut mode = String::new();
    let mut total = 0;
    for run in 1..=runs {
        progress(&format!(
            "netlink: run {run}/{runs}: dumping {routes} routes three ways"
        ));
        // Which of the two goes first alternates between runs.
        let mut ringlink = || -> Result<(), String> {
            let t = Instant::now();
            (total, mode) = ns.inside(ringlink_dump)?;
            ours.push(total as f64 / t.elapsed().as_secs_f64());
            Ok(())
        };
        if run % 2 == 1 {
            ringlink()?;
        }
        let t = Instant::now();
        let n = ns.inside(plain_dump)?;
        plain.push(n as f64 / t.elapsed().as_secs_f64());
        if run % 2 == 0 {
            ringlink()?;
        }
        let t = Instant::now();
        let out = Command::new("ip")
            .args(["-n", ns.name(), "-j", "-4", "route", "show"])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        if !out.success() {
            return Err("ip route show failed".into());
        }
        theirs.push(n as f64 / t.elapsed().as_secs_f64());
    }
    Ok(DumpFigures {
        routes: total,
        ringlink: (median(&ours), mode),
        plain: median(&plain),
        ip: median(&theirs),
        vs_plain: median(&paired(&ours, &plain)),
        vs_ip: median(&paired(&ours, &theirs)),
    })
}

/// `a[i] / b[i]` for each run.
pub(crate) fn paired(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(a, b)| a / b).collect()
}
