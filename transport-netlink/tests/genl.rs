//! Generic netlink family lookup against the running kernel, checked
//! against the `genl` tool's answer.

use ringlink_netlink::genl::{GENL_ID_CTRL, resolve_family};
use ringlink_netlink::request::RequestError;
use ringlink_netlink::socket::NETLINK_GENERIC;
use ringlink_netlink::{NetlinkLink, NetlinkOptions};
use std::process::Command;

fn link() -> NetlinkLink {
    let options = NetlinkOptions {
        protocol: NETLINK_GENERIC,
        ..Default::default()
    };
    NetlinkLink::open(&options).expect("a generic netlink link")
}

/// `(name, id)` of every family `genl ctrl list` shows.
fn genl_families() -> Vec<(String, u16)> {
    let out = Command::new("genl")
        .args(["ctrl", "list"])
        .output()
        .expect("genl (iproute2) runs");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut families = Vec::new();
    let mut name = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("Name: ") {
            name = Some(n.trim().to_string());
        } else if let Some(rest) = line.trim().strip_prefix("ID: 0x") {
            let hex = rest.split_whitespace().next().unwrap();
            let id = u16::from_str_radix(hex, 16).unwrap();
            families.push((name.take().expect("a name before its id"), id));
        }
    }
    families
}

#[test]
fn every_family_resolves_to_the_id_genl_reports() {
    let families = genl_families();
    assert!(
        families.len() >= 2,
        "genl lists nlctrl and more: {families:?}"
    );
    let mut link = link();
    assert_eq!(
        resolve_family(&mut link, "nlctrl", 1).unwrap(),
        GENL_ID_CTRL
    );
    for (seq, (name, id)) in (2..).zip(&families) {
        assert_eq!(
            resolve_family(&mut link, name, seq).unwrap(),
            *id,
            "family {name}"
        );
    }
}

#[test]
fn an_unknown_family_is_enoent() {
    let mut link = link();
    match resolve_family(&mut link, "rl-no-such", 1) {
        Err(RequestError::Kernel { code, .. }) => assert_eq!(code, -libc::ENOENT),
        other => panic!("expected ENOENT, got {other:?}"),
    }
    // Longer than GENL_NAMSIZ (16 with the NUL): refused by the policy.
    match resolve_family(&mut link, "ringlink-no-such-family", 3) {
        Err(e @ RequestError::Kernel { code, .. }) => {
            assert_eq!(code, -libc::EINVAL);
            eprintln!("{e}");
        }
        other => panic!("expected EINVAL, got {other:?}"),
    }
    // The link stays usable after a refusal.
    assert_eq!(
        resolve_family(&mut link, "nlctrl", 2).unwrap(),
        GENL_ID_CTRL
    );
}
