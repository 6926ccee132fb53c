//! `ip_dump routes --json` prints exactly what `ip -j route show` prints,
//! in a fresh network namespace with a veth pair and thousands of IPv4 and
//! IPv6 routes, some multipath. Needs root; skips with a message otherwise.

use std::io::Write;
use std::process::{Command, Stdio};

/// Deletes the namespace on drop.
struct Netns(String);

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
    let ns = Netns(format!("ringlink-ipdump-{}", std::process::id()));
    assert!(
        Command::new("ip")
            .args(["netns", "add", &ns.0])
            .status()
            .unwrap()
            .success()
    );
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
    assert!(batch.wait().unwrap().success());
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
