//! Prints route and address changes as they happen, like `ip monitor route
//! address`, received through a ringlink netlink link.
//!
//! ```text
//! cargo run -p ringlink-examples --bin nl_monitor [COUNT]
//! ```
//! (stops after COUNT events; runs until interrupted without it)

use ringlink_core::FrameReceiver;
use ringlink_netlink::message::Messages;
use ringlink_netlink::route::{RTM_NEWROUTE, Route};
use ringlink_netlink::{NetlinkLink, NetlinkOptions};

const RTM_DELROUTE: u16 = 25;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
/// RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV6_ROUTE.
const GROUPS: [u32; 4] = [5, 7, 9, 11];

fn describe(msg: &ringlink_netlink::message::Msg<'_>) -> Result<Option<String>, String> {
    Ok(match msg.kind {
        RTM_NEWROUTE | RTM_DELROUTE => {
            let route = Route::parse(msg).map_err(|e| e.to_string())?;
            let dst = match route.dst {
                None => "default".to_string(),
                Some(d) => format!("{d}/{}", route.dst_len),
            };
            let via = route
                .gateway
                .map(|g| format!(" via {g}"))
                .unwrap_or_default();
            let deleted = if msg.kind == RTM_DELROUTE {
                "Deleted "
            } else {
                ""
            };
            Some(format!("{deleted}{dst}{via} table {}", route.table))
        }
        RTM_NEWADDR | RTM_DELADDR => {
            let (ifa, attrs) = msg.split(8).map_err(|e| e.to_string())?;
            let index = u32::from_ne_bytes([ifa[4], ifa[5], ifa[6], ifa[7]]);
            let address = attrs
                .flatten()
                .find(|a| a.kind() == 2 || a.kind() == 1) // IFA_LOCAL, IFA_ADDRESS
                .map(|a| match a.value.len() {
                    4 => std::net::IpAddr::from(<[u8; 4]>::try_from(a.value).unwrap_or_default())
                        .to_string(),
                    16 => std::net::IpAddr::from(<[u8; 16]>::try_from(a.value).unwrap_or_default())
                        .to_string(),
                    _ => "?".into(),
                })
                .unwrap_or_default();
            let deleted = if msg.kind == RTM_DELADDR {
                "Deleted "
            } else {
                ""
            };
            Some(format!("{deleted}{index}: inet {address}/{}", ifa[1]))
        }
        _ => None,
    })
}

fn run() -> Result<(), String> {
    let limit: Option<usize> = match std::env::args().nth(1) {
        Some(n) => Some(n.parse().map_err(|e| format!("COUNT {n:?}: {e}"))?),
        None => None,
    };
    let options = NetlinkOptions {
        groups: GROUPS.to_vec(),
        ..NetlinkOptions::default()
    };
    let mut link = NetlinkLink::open(&options).map_err(|e| e.to_string())?;
    eprintln!("ringlink netlink: {}", link.mode());
    let mut printed = 0;
    while limit.is_none_or(|l| printed < l) {
        let datagram = link.recv(None).map_err(|e| e.to_string())?;
        for msg in Messages::new(&datagram) {
            if let Some(line) = describe(&msg.map_err(|e| e.to_string())?)? {
                println!("{line}");
                printed += 1;
            }
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nl_monitor: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
