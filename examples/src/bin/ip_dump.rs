//! Dumps links, addresses or routes through a ringlink netlink link, as `ip` prints
//! them; with `--json`, with the field names of `ip -j` for the fields it
//! shows, so the two can be compared.
//!
//! ```text
//! cargo run -p ringlink-examples --bin ip_dump -- links [--json]
//! cargo run -p ringlink-examples --bin ip_dump -- addrs [-4|-6] [--json]
//! cargo run -p ringlink-examples --bin ip_dump -- routes [-4|-6] [--json]
//! ```

use ringlink_netlink::address::{self, Address, RTM_NEWADDR};
use ringlink_netlink::interface::{self, Interface, RTM_NEWLINK};
use ringlink_netlink::message::{Full, Msg};
use ringlink_netlink::request::{exchange, retry_interrupted};
use ringlink_netlink::route::{AF_INET, AF_INET6, NEXTHOP_FLAGS, Route, dump_request};
use ringlink_netlink::{NetlinkLink, NetlinkOptions};
use std::collections::BTreeMap;

const USAGE: &str = "usage: ip_dump links [--json] | ip_dump addrs [-4|-6] [--json] | ip_dump routes [-4|-6] [--json]";
const RT_TABLE_MAIN: u32 = 254;

/// Sends the dump request `build` writes (again if the dump was
/// interrupted by a change); returns the reply's payloads.
fn dump(
    link: &mut NetlinkLink,
    seq: u32,
    build: impl Fn(&mut [u8], u32) -> Result<usize, Full>,
) -> Result<Vec<Vec<u8>>, String> {
    retry_interrupted(3, || {
        let mut payloads = Vec::new();
        exchange(link, seq, &build, |msg| {
            payloads.push(msg.payload.to_vec());
            Ok(())
        })?;
        Ok(payloads)
    })
    .map_err(|e| e.to_string())
}

/// Index, name and MTU of every link.
fn links(link: &mut NetlinkLink) -> Result<Names, String> {
    let mut out = BTreeMap::new();
    for payload in dump(link, 1, interface::dump_request)? {
        let msg = Msg {
            kind: RTM_NEWLINK,
            flags: 0,
            seq: 1,
            pid: 0,
            payload: &payload,
        };
        let found = Interface::parse(&msg).map_err(|e| e.to_string())?;
        out.insert(found.index, (found.name, found.mtu));
    }
    Ok(out)
}

/// A JSON string literal.
fn quote(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `rtm_protocol` as `ip` names it (iproute2's `rt_protos` table); `None`
/// for boot, which `ip` does not print.
fn protocol_name(p: u8) -> Option<String> {
    let name = match p {
        3 => return None,
        0 => "unspec",
        1 => "redirect",
        2 => "kernel",
        4 => "static",
        8 => "gated",
        9 => "ra",
        10 => "mrt",
        11 => "zebra",
        12 => "bird",
        13 => "dnrouted",
        14 => "xorp",
        15 => "ntk",
        16 => "dhcp",
        17 => "mrouted",
        18 => "keepalived",
        42 => "babel",
        99 => "openr",
        186 => "bgp",
        187 => "isis",
        188 => "ospf",
        189 => "rip",
        192 => "eigrp",
        p => return Some(p.to_string()),
    };
    Some(name.into())
}

/// `rtm_type` as `ip` names it; `None` for unicast, which `ip` does not
/// print.
fn type_name(t: u8) -> Option<String> {
    const NAMES: [&str; 12] = [
        "none",
        "unicast",
        "local",
        "broadcast",
        "anycast",
        "multicast",
        "blackhole",
        "unreachable",
        "prohibit",
        "throw",
        "nat",
        "xresolve",
    ];
    match t {
        1 => None,
        t => Some(
            NAMES
                .get(usize::from(t))
                .map_or(t.to_string(), |n| n.to_string()),
        ),
    }
}

fn scope_name(s: u8) -> Option<String> {
    match s {
        0 => None, // universe
        253 => Some("link".into()),
        254 => Some("host".into()),
        s => Some(s.to_string()),
    }
}

/// A JSON list of the names of the next-hop `flags` set.
fn flag_list(flags: u32) -> String {
    let names: Vec<String> = NEXTHOP_FLAGS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| quote(name))
        .collect();
    format!("[{}]", names.join(","))
}

/// The fields `ip -j route show` prints for `route`, in its order.
fn route_fields(route: &Route, names: &Names) -> Vec<(&'static str, String)> {
    let full = if route.family == AF_INET { 32 } else { 128 };
    let dst = match route.dst {
        None => "default".to_string(),
        Some(d) if route.dst_len == full => d.to_string(),
        Some(d) => format!("{d}/{}", route.dst_len),
    };
    let dev = |oif: u32| device(names, oif);
    let mut fields = Vec::new();
    if let Some(kind) = type_name(route.kind) {
        fields.push(("type", quote(&kind)));
    }
    fields.push(("dst", quote(&dst)));
    if let Some(g) = route.gateway {
        fields.push(("gateway", quote(&g.to_string())));
    }
    if let Some(oif) = route.oif {
        fields.push(("dev", quote(&dev(oif))));
    }
    if let Some(p) = protocol_name(route.protocol) {
        fields.push(("protocol", quote(&p)));
    }
    if let Some(s) = scope_name(route.scope) {
        fields.push(("scope", quote(&s)));
    }
    if let Some(src) = route.prefsrc {
        fields.push(("prefsrc", quote(&src.to_string())));
    }
    if let Some(metric) = route.priority {
        fields.push(("metric", metric.to_string()));
    }
    fields.push(("flags", flag_list(route.flags)));
    // `ip` prints the preference before the next hops.
    if let Some(pref) = route.pref {
        let name = match pref {
            0 => "medium".to_string(),
            1 => "high".to_string(),
            3 => "low".to_string(),
            other => other.to_string(),
        };
        fields.push(("pref", quote(&name)));
    }
    if !route.multipath.is_empty() {
        let hops: Vec<String> = route
            .multipath
            .iter()
            .map(|h| {
                let gateway = h
                    .gateway
                    .map(|g| format!("\"gateway\":{},", quote(&g.to_string())))
                    .unwrap_or_default();
                format!(
                    "{{{gateway}\"dev\":{},\"weight\":{},\"flags\":{}}}",
                    quote(&dev(h.oif)),
                    h.weight,
                    flag_list(u32::from(h.flags))
                )
            })
            .collect();
        fields.push(("nexthops", format!("[{}]", hops.join(","))));
    }
    fields
}

/// A route as `ip route show` prints it: its fields on one line, then a
/// line per next hop.
fn route_text(route: &Route, fields: &[(&str, String)], names: &Names) -> String {
    let mut line: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| {
            let v = v.trim_matches('"');
            Some(match *k {
                "type" | "dst" => v.to_string(),
                "gateway" => format!("via {v}"),
                "prefsrc" => format!("src {v}"),
                "protocol" => format!("proto {v}"),
                "flags" => flag_words(route.flags)?,
                "nexthops" => return None,
                _ => format!("{k} {v}"),
            })
        })
        .collect();
    for hop in &route.multipath {
        let via = hop.gateway.map(|g| format!("via {g} ")).unwrap_or_default();
        let flags = flag_words(u32::from(hop.flags)).map(|f| format!(" {f}"));
        line.push(format!(
            "\n\tnexthop {via}dev {} weight {}{}",
            device(names, hop.oif),
            hop.weight,
            flags.unwrap_or_default()
        ));
    }
    line.join(" ").replace(" \n", "\n")
}

/// The names of the next-hop `flags` set, space separated; `None` if none.
fn flag_words(flags: u32) -> Option<String> {
    let names: Vec<&str> = NEXTHOP_FLAGS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    (!names.is_empty()).then(|| names.join(" "))
}

/// What the command line asks for.
struct Request {
    what: String,
    families: Vec<u8>,
    json: bool,
}

/// Parses the command line before anything touches netlink. Routes are
/// IPv4 unless `-6` (as `ip route show`), addresses both families.
fn request() -> Result<Request, String> {
    let (mut what, mut family, mut json) = (None, None, false);
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--json" => json = true,
            "-4" => family = Some(AF_INET),
            "-6" => family = Some(AF_INET6),
            "links" | "addrs" | "routes" if what.is_none() => what = Some(arg),
            other => return Err(format!("unexpected argument {other:?}; {USAGE}")),
        }
    }
    let what = what.ok_or(USAGE)?;
    let families = match (family, what.as_str()) {
        (Some(f), _) => vec![f],
        (None, "routes") => vec![AF_INET],
        (None, _) => vec![AF_INET, AF_INET6],
    };
    Ok(Request {
        what,
        families,
        json,
    })
}

/// Interface names and MTUs by index.
type Names = BTreeMap<u32, (String, Option<u32>)>;

/// The name of interface `index` (its number if it has none).
fn device(names: &Names, index: u32) -> String {
    names
        .get(&index)
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| index.to_string())
}

fn run() -> Result<(), String> {
    let Request {
        what,
        families,
        json,
    } = request()?;
    let mut link = NetlinkLink::open(&NetlinkOptions::default()).map_err(|e| e.to_string())?;
    eprintln!("ringlink netlink: {}", link.mode());
    let names = links(&mut link)?;
    match what.as_str() {
        "links" => {
            let rows: Vec<String> = names
                .iter()
                .map(|(index, (name, mtu))| match json {
                    true => format!(
                        "{{\"ifindex\":{index},\"ifname\":{},\"mtu\":{}}}",
                        quote(name),
                        mtu.unwrap_or(0)
                    ),
                    false => format!("{index}: {name}: mtu {}", mtu.unwrap_or(0)),
                })
                .collect();
            print_rows(&rows, json);
        }
        "addrs" => {
            let mut rows = Vec::new();
            for (seq, &family) in (2..).zip(&families) {
                let build = |buf: &mut [u8], seq| address::dump_request(buf, family, seq);
                for payload in dump(&mut link, seq, build)? {
                    let addr = Address::parse(&Msg {
                        kind: RTM_NEWADDR,
                        flags: 0,
                        seq,
                        pid: 0,
                        payload: &payload,
                    })
                    .map_err(|e| e.to_string())?;
                    rows.push(address_row(&addr, &names, json));
                }
            }
            print_rows(&rows, json);
        }
        "routes" => {
            let mut rows = Vec::new();
            for (seq, &family) in (2..).zip(&families) {
                for payload in dump(&mut link, seq, |buf, seq| dump_request(buf, family, seq))? {
                    let msg = Msg {
                        kind: 24,
                        flags: 0,
                        seq,
                        pid: 0,
                        payload: &payload,
                    };
                    let route = Route::parse(&msg).map_err(|e| e.to_string())?;
                    if route.table != RT_TABLE_MAIN {
                        continue;
                    }
                    let fields = route_fields(&route, &names);
                    rows.push(match json {
                        true => format!(
                            "{{{}}}",
                            fields
                                .iter()
                                .map(|(k, v)| format!("\"{k}\":{v}"))
                                .collect::<Vec<_>>()
                                .join(",")
                        ),
                        false => route_text(&route, &fields, &names),
                    });
                }
            }
            print_rows(&rows, json);
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

/// One address as `ip addr` shows it, or (`json`) an object with the
/// field names of `ip -j addr show`'s `addr_info` entries plus its link's
/// `ifindex` and `ifname`.
fn address_row(addr: &Address, names: &Names, json: bool) -> String {
    let ifname = names
        .get(&addr.index)
        .map_or("?", |(name, _)| name.as_str());
    let family = if addr.family == AF_INET {
        "inet"
    } else {
        "inet6"
    };
    let scope = match addr.scope {
        0 => "global".to_string(),
        200 => "site".into(),
        253 => "link".into(),
        254 => "host".into(),
        255 => "nowhere".into(),
        s => s.to_string(),
    };
    let local = addr.local.map(|a| a.to_string()).unwrap_or_default();
    match json {
        true => {
            let mut row = format!(
                "{{\"ifindex\":{},\"ifname\":{},\"family\":\"{family}\",\"local\":\"{local}\",\"prefixlen\":{},\"scope\":\"{scope}\"",
                addr.index,
                quote(ifname),
                addr.prefix_len
            );
            if let Some(brd) = addr.broadcast {
                row += &format!(",\"broadcast\":\"{brd}\"");
            }
            if let Some(label) = &addr.label {
                row += &format!(",\"label\":{}", quote(label));
            }
            row + "}"
        }
        false => format!(
            "{}: {ifname}    {family} {local}/{} scope {scope}{}",
            addr.index,
            addr.prefix_len,
            addr.label
                .as_deref()
                .map(|l| format!(" {l}"))
                .unwrap_or_default()
        ),
    }
}

fn print_rows(rows: &[String], json: bool) {
    match json {
        true => println!("[{}]", rows.join(",")),
        false => rows.iter().for_each(|r| println!("{r}")),
    }
}

fn main() -> std::process::ExitCode {
    if ringlink_examples::help_asked(USAGE) {
        return std::process::ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ip_dump: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
