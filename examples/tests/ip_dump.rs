//! `ip_dump routes --json` prints exactly what `ip -j route show` prints,
//! and `links`/`addrs --json` the same fields as `ip -j link/addr show`,
//! in a fresh network namespace with a veth pair and thousands of IPv4 and
//! IPv6 routes, some multipath. Needs root; skips with a message otherwise.

use std::io::Write;
use std::process::{Command, Stdio};

/// Deletes the namespace on drop.
struct Netns(String);

impl Netns {
    /// Creates namespace `prefix-<pid>` and runs the `ip -batch` `setup`
    /// in it.
    fn with(prefix: &str, setup: &str) -> Netns {
        let ns = Netns(format!("{prefix}-{}", std::process::id()));
        assert!(
            Command::new("ip")
                .args(["netns", "add", &ns.0])
                .status()
                .unwrap()
                .success()
        );
        let mut batch = Command::new("ip")
            .args(["-n", &ns.0, "-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        batch
            .stdin
            .take()
            .unwrap()
            .write_all(setup.as_bytes())
            .unwrap();
        assert!(batch.wait().unwrap().success(), "setting up {}", ns.0);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn route_json_matches_ip_byte_for_byte() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    let mut setup = String::from(
        "link add veth0 type veth peer name veth1\nlink set veth0 up\nlink set veth1 up\n\
         addr add 10.1.0.1/24 dev veth0\naddr add 10.1.1.1/24 dev veth1\naddr add fd00:1::1/64 dev veth0 nodad\n",
    );
    for i in 0..2000u32 {
        setup += &format!(
            "route add 10.100.{}.{}/32 via 10.1.0.2 metric {}\n",
            i / 250,
            i % 250 + 1,
            i % 3
        );
    }
    for i in 0..20u32 {
        setup += &format!(
            "route add 10.200.{i}.0/24 nexthop via 10.1.0.2 dev veth0 weight 2 nexthop via 10.1.1.2 dev veth1\n"
        );
    }
    for i in 0..500u32 {
        setup += &format!("route add fd00:2::{:x}/128 via fd00:1::2\n", i + 1);
    }
    setup += "addr add fd00:5::1/64 dev veth1 nodad\n";
    for i in 0..20u32 {
        setup += &format!(
            "route add fd00:4:{i:x}::/64 nexthop via fd00:1::2 dev veth0 weight 3 nexthop via fd00:5::2 dev veth1\n"
        );
    }
    let ns = Netns::with("ringlink-ipdump", &setup);
    for family in ["-4", "-6"] {
        let ours = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.0,
                env!("CARGO_BIN_EXE_ip_dump"),
                "routes",
                family,
                "--json",
            ])
            .output()
            .unwrap();
        assert!(
            ours.status.success(),
            "{}",
            String::from_utf8_lossy(&ours.stderr)
        );
        let theirs = Command::new("ip")
            .args(["-n", &ns.0, "-j", family, "route", "show"])
            .output()
            .unwrap();
        let (ours, theirs) = (
            String::from_utf8(ours.stdout).unwrap(),
            String::from_utf8(theirs.stdout).unwrap(),
        );
        let (ours, theirs) = (ours.trim(), theirs.trim());
        if let Some(at) = ours.bytes().zip(theirs.bytes()).position(|(a, b)| a != b) {
            let window = |s: &str| s[at.saturating_sub(80)..(at + 80).min(s.len())].to_string();
            panic!(
                "ip_dump routes {family} --json differs from ip -j at byte {at}:\n ours: {}\n ip:   {}",
                window(ours),
                window(theirs)
            );
        }
        assert_eq!(
            ours.len(),
            theirs.len(),
            "ip_dump routes {family} --json: lengths differ"
        );
        assert!(ours.matches("\"dst\"").count() > 500);
    }
}

/// Runs `ip_dump args --json` inside namespace `ns`; its JSON output.
fn ip_dump_json(ns: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let exe = env!("CARGO_BIN_EXE_ip_dump");
    json_array(
        Command::new("ip")
            .args(["netns", "exec", ns, exe])
            .args(args)
            .arg("--json"),
    )
}

/// `ip -n ns -j args` parsed.
fn ip_json(ns: &str, args: &[&str]) -> Vec<serde_json::Value> {
    json_array(Command::new("ip").args(["-n", ns, "-j"]).args(args))
}

/// Runs `command`; the JSON array it prints.
fn json_array(command: &mut Command) -> Vec<serde_json::Value> {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout).unwrap() {
        serde_json::Value::Array(rows) => rows,
        other => panic!("{command:?} printed {other}, not an array"),
    }
}

/// Each object reduced to the `fields` it has among them, as sorted text.
fn reduce(rows: impl IntoIterator<Item = serde_json::Value>, fields: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .into_iter()
        .map(|row| {
            let kept: serde_json::Map<_, _> = fields
                .iter()
                .filter_map(|f| row.get(*f).map(|v| (f.to_string(), v.clone())))
                .collect();
            serde_json::Value::Object(kept).to_string()
        })
        .collect();
    out.sort();
    out
}

#[test]
fn link_and_address_json_match_ip() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    let mut setup = String::from(
        "link set lo up\nlink add veth0 type veth peer name veth1\nlink set veth0 up\nlink set veth1 up mtu 9000\n\
         addr add 10.1.0.1/24 brd + dev veth0\naddr add 10.1.1.1/16 dev veth1 label veth1:web\n",
    );
    for i in 0..200u32 {
        setup += &format!(
            "addr add 10.2.{}.{}/32 dev veth0 scope link\n",
            i / 250,
            i % 250 + 1
        );
        setup += &format!("addr add fd00:3::{:x}/64 dev veth1 nodad\n", i + 1);
    }
    let ns = Netns::with("ringlink-ipaddr", &setup);

    let fields = ["ifindex", "ifname", "mtu"];
    let ours = reduce(ip_dump_json(&ns.0, &["links"]), &fields);
    assert_eq!(ours, reduce(ip_json(&ns.0, &["link", "show"]), &fields));
    assert_eq!(ours.len(), 3, "lo, veth0, veth1: {ours:?}");

    let fields = [
        "ifindex",
        "ifname",
        "family",
        "local",
        "prefixlen",
        "scope",
        "broadcast",
        "label",
    ];
    let theirs: Vec<serde_json::Value> = ip_json(&ns.0, &["addr", "show"])
        .into_iter()
        .flat_map(|link| {
            let infos = link["addr_info"].as_array().cloned().unwrap_or_default();
            infos.into_iter().map(move |mut info| {
                info["ifindex"] = link["ifindex"].clone();
                info["ifname"] = link["ifname"].clone();
                info
            })
        })
        .collect();
    let ours = reduce(ip_dump_json(&ns.0, &["addrs"]), &fields);
    assert_eq!(ours, reduce(theirs, &fields));
    assert!(ours.len() > 400, "every address dumped: {}", ours.len());
    assert!(
        ours.iter().any(|a| a.contains("\"label\":\"veth1:web\"")),
        "labels kept"
    );
    assert!(
        ours.iter()
            .any(|a| a.contains("\"broadcast\":\"10.1.0.255\"")),
        "broadcast kept"
    );
}
