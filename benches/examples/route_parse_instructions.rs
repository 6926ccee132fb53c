//! Instructions per route of `Route::parse`, for `valgrind --tool=callgrind`
//! (which counts instructions exactly, where timings on a shared host do
//! not): `N` messages shaped like the kernel's answer to the route dump of
//! the benchmark (`10.a.b.c/32 via 10.1.0.2`: `RTA_TABLE`, `RTA_DST`,
//! `RTA_GATEWAY`, `RTA_OIF`) are built into one buffer, then walked and
//! parsed in `parse_all`.
//!
//! Run it under callgrind and read the inclusive counts of `parse_all`
//! (the walk and the parse) and of `Route::parse`, divided by `N`:
//!
//! ```sh
//! cargo build --release -p ringlink-benches --example route_parse_instructions
//! valgrind --tool=callgrind --callgrind-out-file=parse.cg \
//!   target/release/examples/route_parse_instructions 10000
//! callgrind_annotate --inclusive=yes parse.cg | grep -E 'parse_all|Route::parse'
//! ```

use ringlink_netlink::message::{MessageBuilder, Messages, NLM_F_MULTI};
use ringlink_netlink::route::{AF_INET, RTM_NEWROUTE, Route};

/// `RTA_DST`, `RTA_OIF`, `RTA_GATEWAY`, `RTA_TABLE`.
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_TABLE: u16 = 15;

/// Bytes of one message: header, `rtmsg`, four 8-byte attributes.
const MESSAGE: usize = 16 + 12 + 4 * 8;

/// Parses every route in `buf`; how many there were.
#[inline(never)]
fn parse_all(buf: &[u8]) -> Result<usize, String> {
    let mut routes = 0;
    for msg in Messages::new(buf) {
        let msg = msg.map_err(|e| e.to_string())?;
        std::hint::black_box(Route::parse(&msg).map_err(|e| e.to_string())?);
        routes += 1;
    }
    Ok(routes)
}

fn main() -> Result<(), String> {
    let n: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().map_err(|e| format!("the count {n:?}: {e}"))?,
        None => 10_000,
    };
    let mut buf = vec![0u8; n * MESSAGE];
    let mut len = 0;
    for i in 0..n {
        let full = |_| format!("route {i} does not fit");
        let mut b =
            MessageBuilder::new(&mut buf[len..], RTM_NEWROUTE, NLM_F_MULTI, 1).map_err(full)?;
        // family, dst_len 32, src_len, tos, table main, protocol boot,
        // scope universe, type unicast, flags
        b.push(&[AF_INET, 32, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0])
            .map_err(full)?;
        b.attr(RTA_TABLE, &254u32.to_ne_bytes()).map_err(full)?;
        let dst = [
            10,
            100 + (i / 62_500) as u8,
            (i / 250 % 250) as u8,
            (i % 250 + 1) as u8,
        ];
        b.attr(RTA_DST, &dst).map_err(full)?;
        b.attr(RTA_GATEWAY, &[10, 1, 0, 2]).map_err(full)?;
        b.attr(RTA_OIF, &2u32.to_ne_bytes()).map_err(full)?;
        len += b.finish();
    }
    let routes = parse_all(&buf[..len])?;
    if routes != n {
        return Err(format!("parsed {routes} routes of {n}"));
    }
    println!("{routes} routes parsed");
    Ok(())
}
