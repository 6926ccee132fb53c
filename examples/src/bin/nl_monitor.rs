//! Prints link, address and route changes as they happen, like `ip monitor
//! link address route`, received through a ringlink netlink link.
//!
//! ```text
//! cargo run -p ringlink-examples --bin nl_monitor [COUNT]
//! ```
//! (stops after COUNT events; runs until interrupted without it)

use ringlink_core::FrameReceiver;
use ringlink_netlink::address::{Address, RTM_DELADDR, RTM_NEWADDR};
use ringlink_netlink::interface::{Interface, RTM_DELLINK, RTM_NEWLINK};
use ringlink_netlink::message::{Messages, Msg};
use ringlink_netlink::route::{AF_INET, RTM_DELROUTE, RTM_NEWROUTE, Route};
use ringlink_netlink::{NetlinkLink, NetlinkOptions};

/// RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE,
/// RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV6_ROUTE.
const GROUPS: [u32; 5] = [1, 5, 7, 9, 11];
/// `RT_TABLE_MAIN`.
const RT_TABLE_MAIN: u32 = 254;
const USAGE: &str = "usage: nl_monitor [COUNT]";

/// One event as a line, like `ip monitor` (`None` for other messages).
fn describe(msg: &Msg<'_>) -> Result<Option<String>, String> {
    let deleted = match msg.kind {
        RTM_DELROUTE | RTM_DELADDR | RTM_DELLINK => "Deleted ",
        _ => "",
    };
    let error = |e: ringlink_netlink::message::ParseError| e.to_string();
    Ok(match msg.kind {
        RTM_NEWROUTE | RTM_DELROUTE => {
            let route = Route::parse(msg).map_err(error)?;
            // As `ip`: no prefix length on host routes, no table when main.
            let full = if route.family == AF_INET { 32 } else { 128 };
            let dst = match route.dst {
                None => "default".to_string(),
                Some(d) if route.dst_len == full => d.to_string(),
                Some(d) => format!("{d}/{}", route.dst_len),
            };
            let via = route
                .gateway
                .map(|g| format!(" via {g}"))
                .unwrap_or_default();
            let table = match route.table {
                RT_TABLE_MAIN => String::new(),
                t => format!(" table {t}"),
            };
            Some(format!("{deleted}{dst}{via}{table}"))
        }
        RTM_NEWADDR | RTM_DELADDR => {
            let addr = Address::parse(msg).map_err(error)?;
            let family = if addr.family == AF_INET {
                "inet"
            } else {
                "inet6"
            };
            let local = addr.local.map(|a| a.to_string()).unwrap_or_default();
            Some(format!(
                "{deleted}{}: {family} {local}/{}",
                addr.index, addr.prefix_len
            ))
        }
        RTM_NEWLINK | RTM_DELLINK => {
            let link = Interface::parse(msg).map_err(error)?;
            let state = if link.flags & 1 != 0 { "UP" } else { "DOWN" };
            Some(format!("{deleted}{}: {}: {state}", link.index, link.name))
        }
        _ => None,
    })
}

fn run() -> Result<(), String> {
    let limit = match std::env::args().nth(1) {
        Some(n) => Some(ringlink_examples::count(&n)?),
        None => None,
    };
    let options = NetlinkOptions {
        groups: GROUPS.to_vec(),
        // An event is a small datagram in a frame of its own: many in
        // flight.
        rx_frames: 64,
        ..NetlinkOptions::default()
    };
    let mut link = NetlinkLink::open(&options).map_err(|e| e.to_string())?;
    eprintln!("ringlink netlink: {}", link.mode());
    let mut printed = 0;
    while limit.is_none_or(|l| printed < l) {
        let datagram = link.recv(None).map_err(|e| e.to_string())?;
        for msg in Messages::new(&datagram) {
            // Like `ip monitor`, a message it cannot read does not end it.
            match msg.map_err(|e| e.to_string()).and_then(|m| describe(&m)) {
                Ok(Some(line)) => {
                    println!("{line}");
                    printed += 1;
                }
                Ok(None) => {}
                Err(e) => eprintln!("nl_monitor: skipped a malformed message: {e}"),
            }
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    if ringlink_examples::help_asked(USAGE) {
        return std::process::ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nl_monitor: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
