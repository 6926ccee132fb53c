//! Route dumps from the kernel, in a private network namespace the harness
//! creates and removes: through the ringlink netlink link (routes parsed),
//! against a plain 32 KiB recv loop (messages walked, and again with the
//! routes parsed as the link's are) and `ip -j route show`. Needs root.

use crate::netns::Netns;
use crate::stats::{median, round_order};
use ringlink_netlink::link::MODE_VAR;
use ringlink_netlink::message::Messages;
use ringlink_netlink::request::exchange;
use ringlink_netlink::route::{AF_INET, Route, dump_request};
use ringlink_netlink::socket::NETLINK_ROUTE;
use ringlink_netlink::socket::NetlinkSocket;
use ringlink_netlink::{Mode, ModeError, NetlinkLink, NetlinkOptions};
use serde::{Serialize, Serializer};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Dumps of each way per run asked for: one dump takes a tenth of a
/// second or so, and a single one's ratio to the plain loop's moves by
/// a tenth either way with the host, so the medians are taken over more.
const DUMPS_PER_RUN: usize = 3;

/// Routes per second of each way of dumping, medians of the runs.
#[derive(Serialize)]
pub struct DumpFigures {
    /// Routes in the table.
    pub routes: usize,
    /// Dumps of each way.
    pub dumps: usize,
    /// The probes before the case.
    #[serde(flatten)]
    pub host: crate::probe::Host,
    /// The ringlink link in each mode it runs in here, the default first.
    pub links: Vec<LinkDump>,
    /// The modes, as probed.
    pub modes: Modes,
    /// A plain recv loop with a 32 KiB buffer, messages walked.
    pub plain: f64,
    /// The same loop parsing every route, as the link's dumps do.
    pub plain_parsed: f64,
    /// `ip -j route show`.
    pub ip: f64,
}

/// The ringlink link's dumps in one mode.
#[derive(Serialize)]
pub struct LinkDump {
    /// The mode.
    #[serde(serialize_with = "mode_name")]
    pub mode: Mode,
    /// Routes per second, routes parsed.
    pub routes_per_s: f64,
    /// Median over runs of this / plain within the run.
    pub vs_plain: f64,
    /// Median over runs of this / plain with routes parsed: what the ring
    /// costs or saves, the parsing being the same on both sides.
    pub vs_plain_parsed: f64,
    /// Median over runs of this / `ip` within the run.
    pub vs_ip: f64,
}

/// The modes a link runs in here.
#[derive(Clone, Debug, Serialize)]
pub struct Modes {
    /// The modes to measure, the default (probed) first; with [`MODE_VAR`]
    /// set, only its mode.
    #[serde(serialize_with = "mode_names")]
    pub runs: Vec<Mode>,
    /// The default link's report: which mode, and what the probes found.
    pub probe: String,
    /// Why each other mode cannot run (or is not measured).
    pub unavailable: Vec<String>,
}

/// Serializes a mode by its name.
pub(crate) fn mode_name<S: Serializer>(mode: &Mode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{mode:?}"))
}

/// Serializes modes by their names.
fn mode_names<S: Serializer>(modes: &[Mode], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(modes.iter().map(|m| format!("{m:?}")))
}

/// Probes the modes a link of `protocol` runs in here.
pub fn modes(protocol: i32) -> Result<Modes, String> {
    let open = |mode| {
        NetlinkLink::open(&NetlinkOptions {
            protocol,
            mode,
            ..NetlinkOptions::default()
        })
    };
    let report = open(None).map_err(|e| e.to_string())?.mode().clone();
    let default = report.mode;
    let mut modes = Modes {
        runs: vec![default],
        probe: report.to_string(),
        unavailable: Vec::new(),
    };
    if std::env::var_os(MODE_VAR).is_some() {
        let why = format!("other modes: {MODE_VAR} is set, so only {default:?} runs");
        modes.unavailable.push(why);
        return Ok(modes);
    }
    for mode in [Mode::Mapped, Mode::Uring, Mode::Copy] {
        match open(Some(mode)) {
            _ if mode == default => {}
            Ok(_) => modes.runs.push(mode),
            // The probe's report already says why.
            Err(ModeError::Unavailable { mode, .. }) => modes
                .unavailable
                .push(format!("{mode:?} mode, unavailable here (see why above)")),
            Err(e) => modes.unavailable.push(e.to_string()),
        }
    }
    Ok(modes)
}

/// Dumps through the ring in `mode`, parsing every route; returns the
/// number of routes.
fn ringlink_dump(mode: Mode) -> Result<usize, String> {
    let options = NetlinkOptions {
        mode: Some(mode),
        ..NetlinkOptions::default()
    };
    let mut link = NetlinkLink::open(&options).map_err(|e| e.to_string())?;
    let mut routes = 0;
    let build = |buf: &mut [u8], seq| dump_request(buf, AF_INET, seq);
    exchange(&mut link, 1, build, |msg| {
        std::hint::black_box(Route::parse(msg)?);
        routes += 1;
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    Ok(routes)
}

/// Dumps with a plain recv loop into one 32 KiB buffer, walking messages
/// and, if `parse`, parsing every route; returns the number of routes.
fn plain_dump(parse: bool) -> Result<usize, String> {
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
            if parse {
                std::hint::black_box(Route::parse(&m).map_err(|e| e.to_string())?);
            }
            routes += 1;
        }
    }
}

/// Sets up a namespace with `routes` IPv4 routes and measures each way of
/// dumping them `DUMPS_PER_RUN` times per run asked for (alternating);
/// `progress` gets a line per dump of every way.
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
    let host = crate::probe::Host::probe();
    progress(&format!("netlink: route dump: {host}"));
    let modes = ns.inside(|| modes(NETLINK_ROUTE))?;
    let mut ours: Vec<Vec<f64>> = modes.runs.iter().map(|_| Vec::new()).collect();
    // The plain loop walking, then parsing.
    let mut plain = [Vec::new(), Vec::new()];
    let mut theirs = Vec::new();
    let mut total = 0;
    let ways = modes.runs.len() + plain.len();
    let dumps = runs * DUMPS_PER_RUN;
    for run in 1..=dumps {
        progress(&format!(
            "netlink: dump {run}/{dumps}: dumping {routes} routes {} ways",
            ways + 1
        ));
        // The ring's modes and the plain loop take turns in a changing order.
        for i in round_order(run, ways) {
            let t = Instant::now();
            match modes.runs.get(i) {
                Some(&mode) => {
                    total = ns.inside(|| ringlink_dump(mode))?;
                    ours[i].push(total as f64 / t.elapsed().as_secs_f64());
                }
                None => {
                    let parse = i > modes.runs.len();
                    let n = ns.inside(|| plain_dump(parse))?;
                    plain[usize::from(parse)].push(n as f64 / t.elapsed().as_secs_f64());
                }
            }
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
        theirs.push(total as f64 / t.elapsed().as_secs_f64());
    }
    let links = modes
        .runs
        .iter()
        .zip(ours)
        .map(|(&mode, rates)| LinkDump {
            mode,
            routes_per_s: median(&rates),
            vs_plain: median(&paired(&rates, &plain[0])),
            vs_plain_parsed: median(&paired(&rates, &plain[1])),
            vs_ip: median(&paired(&rates, &theirs)),
        })
        .collect();
    Ok(DumpFigures {
        routes: total,
        dumps,
        host,
        links,
        modes,
        plain: median(&plain[0]),
        plain_parsed: median(&plain[1]),
        ip: median(&theirs),
    })
}

/// `a[i] / b[i]` for each run.
pub(crate) fn paired(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(a, b)| a / b).collect()
}
