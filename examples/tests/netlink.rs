//! The netlink examples against the kernel, each in a fresh network
//! namespace. `ip_dump routes --json` prints exactly what `ip -j route show` prints,
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
        run_batch(&ns.0, setup);
        ns
    }
}

/// Runs `ip -n name -batch -` with `commands`, one per line.
fn run_batch(name: &str, commands: &str) {
    let mut batch = Command::new("ip")
        .args(["-n", name, "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    batch
        .stdin
        .take()
        .unwrap()
        .write_all(commands.as_bytes())
        .unwrap();
    assert!(batch.wait().unwrap().success(), "ip -batch in {name}");
}

/// Starts `exe args` in namespace `ns`, its output piped, and waits for a
/// line of its standard error that contains `ready`.
fn spawn_in(ns: &str, exe: &str, args: &[&str], ready: &str) -> std::process::Child {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, exe])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains(ready) {
        line.clear();
        let n = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert_ne!(n, 0, "{exe} ended before saying {ready:?}");
    }
    child
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// The netlink modes this kernel runs (kernel-mapped rings were removed in
/// Linux 4.6), as `RINGLINK_NETLINK_MODE` names them: the examples are
/// checked in each.
const MODES: [&str; 2] = ["uring", "copy"];

#[test]
fn route_text_and_json_match_ip() {
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
    // A route type ip prints, a protocol it names, flags on a next hop.
    setup += "route add blackhole 10.250.0.0/16\n\
              route add 10.251.0.0/16 proto ra nexthop via 10.1.0.2 dev veth0 weight 2 nexthop via 10.1.0.3 dev veth0 onlink\n";
    setup += "addr add fd00:5::1/64 dev veth1 nodad\n";
    for i in 0..20u32 {
        setup += &format!(
            "route add fd00:4:{i:x}::/64 nexthop via fd00:1::2 dev veth0 weight 3 nexthop via fd00:5::2 dev veth1\n"
        );
    }
    let ns = Netns::with("ringlink-ipdump", &setup);
    // Text: what `ip route show` prints (IPv4 by default), trailing
    // spaces aside.
    let lines = |command: &mut Command| -> Vec<String> {
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect()
    };
    let exe = env!("CARGO_BIN_EXE_ip_dump");
    let ours = lines(Command::new("ip").args(["netns", "exec", &ns.0, exe, "routes"]));
    let theirs = lines(Command::new("ip").args(["-n", &ns.0, "route", "show"]));
    assert_eq!(
        ours.len(),
        theirs.len(),
        "ip_dump routes against ip route show"
    );
    if let Some(i) = (0..ours.len()).find(|&i| ours[i] != theirs[i]) {
        panic!("line {i}:\n ours: {}\n ip:   {}", ours[i], theirs[i]);
    }
    for (mode, family) in MODES.iter().flat_map(|m| [(m, "-4"), (m, "-6")]) {
        let ours = Command::new("ip")
            .env("RINGLINK_NETLINK_MODE", mode)
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
                "ip_dump routes {family} --json ({mode} mode) differs from ip -j at byte {at}:\n ours: {}\n ip:   {}",
                window(ours),
                window(theirs)
            );
        }
        assert_eq!(
            ours.len(),
            theirs.len(),
            "ip_dump routes {family} --json ({mode} mode): lengths differ"
        );
        assert!(ours.matches("\"dst\"").count() > 500);
    }
}

/// Runs `ip_dump args --json` in netlink `mode` inside namespace `ns`; its
/// JSON output.
fn ip_dump_json(ns: &str, mode: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let exe = env!("CARGO_BIN_EXE_ip_dump");
    json_array(
        Command::new("ip")
            .env("RINGLINK_NETLINK_MODE", mode)
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

    for mode in MODES {
        check_links_and_addresses(&ns.0, mode);
    }
}

/// `ip_dump links` and `ip_dump addrs` in `mode` against `ip -j`.
fn check_links_and_addresses(ns: &str, mode: &str) {
    let fields = ["ifindex", "ifname", "mtu"];
    let ours = reduce(ip_dump_json(ns, mode, &["links"]), &fields);
    assert_eq!(
        ours,
        reduce(ip_json(ns, &["link", "show"]), &fields),
        "{mode} mode"
    );
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
    let theirs: Vec<serde_json::Value> = ip_json(ns, &["addr", "show"])
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
    let ours = reduce(ip_dump_json(ns, mode, &["addrs"]), &fields);
    assert_eq!(ours, reduce(theirs, &fields), "{mode} mode");
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

/// `nfq_accept` on a queue fed by an `iptables-legacy` NFQUEUE rule:
/// UDP to one port is accepted (batch verdicts), to the port it is told
/// to drop is dropped; it stops after `--count` packets and reports rates
/// and system calls per packet.
#[test]
fn nfq_accept_accepts_and_drops_by_port() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: network namespaces and iptables need root");
        return;
    }
    let ns = Netns::with("ringlink-nfqaccept", "link set lo up\n");
    let rule = "iptables-legacy -A OUTPUT -o lo -p udp --dport 9000:9001 -j NFQUEUE --queue-num 5";
    let status = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .args(rule.split(' '))
        .status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "{rule} failed: iptables-legacy is needed (Debian: apt-get install -y iptables)"
    );
    let child = spawn_in(
        &ns.0,
        env!("CARGO_BIN_EXE_nfq_accept"),
        &["--queue", "5", "--drop-port", "9001", "--count", "40"],
        "bound",
    );
    let (kept, dropped) = std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(format!("/var/run/netns/{}", ns.0)).unwrap();
            rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&file),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .unwrap();
            let open = |port| {
                let socket = std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
                socket
                    .set_read_timeout(Some(std::time::Duration::from_millis(500)))
                    .unwrap();
                socket
            };
            let (keep, drop) = (open(9000), open(9001));
            let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            for i in 0..20 {
                sender
                    .send_to(format!("k{i}").as_bytes(), "127.0.0.1:9000")
                    .unwrap();
                sender
                    .send_to(format!("d{i}").as_bytes(), "127.0.0.1:9001")
                    .unwrap();
            }
            let count = |socket: &std::net::UdpSocket| {
                let mut buf = [0u8; 64];
                std::iter::from_fn(|| socket.recv(&mut buf).ok()).count()
            };
            (count(&keep), count(&drop))
        })
        .join()
        .unwrap()
    });
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "nfq_accept failed");
    assert_eq!((kept, dropped), (20, 0), "port 9000 accepted, 9001 dropped");
    let report = String::from_utf8(out.stdout).unwrap();
    let last = report.lines().last().unwrap_or_default();
    assert!(
        last.contains("packets/s") && last.ends_with("(40 packets so far)"),
        "{report}"
    );
    // Counted as root; every packet took at least one receive.
    let calls = last
        .split(" system calls per packet")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok());
    assert!(calls.is_some_and(|c| c >= 0.5), "{report}");
}

/// `nl_monitor` prints the link, address and route changes `ip` makes in
/// its namespace, in order.
#[test]
fn nl_monitor_prints_link_address_and_route_changes() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    let ns = Netns::with("ringlink-nlmon", "link set lo up\n");
    // It reports its mode once it has joined the groups.
    let mut child = spawn_in(
        &ns.0,
        env!("CARGO_BIN_EXE_nl_monitor"),
        &[],
        "ringlink netlink",
    );
    let changes = "link add veth0 type veth peer name veth1\nlink set veth0 up\n\
                   addr add 10.9.0.1/24 dev veth0\nroute add 10.77.0.0/16 via 10.9.0.2\n\
                   route del 10.77.0.0/16\n";
    run_batch(&ns.0, changes);
    std::thread::sleep(std::time::Duration::from_millis(500));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let printed = String::from_utf8(out.stdout).unwrap();
    let expected = [
        ": veth0: DOWN",
        ": veth0: UP",
        ": inet 10.9.0.1/24",
        "10.77.0.0/16 via 10.9.0.2",
        "Deleted 10.77.0.0/16 via 10.9.0.2",
    ];
    let mut rest = printed.as_str();
    for want in expected {
        let at = rest
            .find(want)
            .unwrap_or_else(|| panic!("{want:?} missing or out of order in:\n{printed}"));
        rest = &rest[at + want.len()..];
    }
}

#[test]
fn a_bad_mode_variable_says_which_variable_and_what_to_set() {
    let out = Command::new(env!("CARGO_BIN_EXE_ip_dump"))
        .env("RINGLINK_NETLINK_MODE", "fast")
        .arg("links")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("RINGLINK_NETLINK_MODE=\"fast\" is not a netlink mode"),
        "{stderr}"
    );
    assert!(stderr.contains("mapped, uring or copy"), "{stderr}");
}
