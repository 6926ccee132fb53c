//! The picture of a run: an SVG (plotters' SVG backend, no fonts needed)
//! with one panel per message size for the IPC round-trip p50 and one-way
//! messages per second of every mechanism (log scale, ringlink in red),
//! a panel for the fixed-rate latencies, and, when the netlink part ran,
//! one for the route dumps and one for the nfqueue consumers. Written next
//! to the JSON.

use crate::ipc::Mechanism;
use crate::report::Report;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use std::path::Path;

/// Picture size, pixels.
const SIZE: (u32, u32) = (1800, 1300);
/// ringlink's bars.
const RINGLINK: RGBColor = RGBColor(200, 40, 40);
/// Everyone else's.
const BASELINE: RGBColor = RGBColor(70, 110, 180);

/// One horizontal bar: label, value, whether it is ringlink's.
type Bar = (String, f64, bool);

/// Draws the report's figures into `path`.
pub fn draw(report: &Report, path: &Path) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", path.display());
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let title = format!(
        "ringlink-benches {}: {} ({} CPUs, kernel {})",
        report.versions.ringlink,
        report.machine.cpu_model,
        report.machine.cpus,
        report.machine.kernel
    );
    let root = root
        .titled(&title, ("sans-serif", 22))
        .map_err(|e| fail(&e))?;
    let (root, netlink_row) = root.split_vertically(SIZE.1 as f64 * 0.74);
    if let Some(netlink) = &report.netlink {
        let (dump, nfqueue) = netlink_bars(netlink);
        let (left, right) = netlink_row.split_horizontally(SIZE.0 as f64 * 0.5);
        panel(
            &left,
            &format!(
                "netlink route dump, {} IPv4 routes, every route parsed",
                netlink["route_dump"]["routes"].as_u64().unwrap_or(0)
            ),
            "M routes/s (log)",
            &dump,
        )
        .map_err(|e| fail(&e))?;
        panel(
            &right,
            "nfqueue consumers, 1400-byte packets",
            "k packets/s (log)",
            &nfqueue,
        )
        .map_err(|e| fail(&e))?;
    }
    let Some(ipc) = &report.ipc else {
        root.present().map_err(|e| fail(&e))?;
        return Ok(());
    };
    let mut sizes: Vec<usize> = ipc.cases.iter().map(|f| f.size).collect();
    sizes.dedup();
    let columns = sizes.len().max(1);
    let (top, bottom) = root.split_vertically(SIZE.1 as f64 * 0.5);
    let rows = top.split_evenly((2, columns));
    for (i, size) in sizes.iter().enumerate() {
        let cases = ipc.cases.iter().filter(|f| f.size == *size);
        let bar = |f: &crate::ipc::Figures, v: f64| {
            (f.mechanism.name().to_string(), v, is_ringlink(f.mechanism))
        };
        let rtt: Vec<Bar> = cases.clone().map(|f| bar(f, f.rtt_ns[0] / 1e3)).collect();
        let rate: Vec<Bar> = cases.map(|f| bar(f, f.msgs_per_s / 1e6)).collect();
        panel(
            &rows[i],
            &format!("round trip p50, {size} B"),
            "µs (log)",
            &rtt,
        )
        .map_err(|e| fail(&e))?;
        panel(
            &rows[columns + i],
            &format!("one way, {size} B"),
            "M msgs/s (log)",
            &rate,
        )
        .map_err(|e| fail(&e))?;
    }
    let paced: Vec<Bar> = ipc
        .fixed_rate
        .iter()
        .flat_map(|f| {
            let name = f.mechanism.name();
            let ours = is_ringlink(f.mechanism);
            [
                ("p50", f.latency_ns[0]),
                ("p99", f.latency_ns[1]),
                ("p99.9", f.latency_ns[2]),
            ]
            .map(|(q, v)| (format!("{name} {q}"), v / 1e3, ours))
        })
        .collect();
    if let Some(first) = ipc.fixed_rate.first() {
        let caption = format!(
            "fixed rate {:.1} M msgs/s, {} B: latency from the intended send time",
            first.rate as f64 / 1e6,
            first.size
        );
        let (left, right) = bottom.split_horizontally(SIZE.0 as f64 * 0.5);
        panel(&left, &caption, "µs (log)", &paced).map_err(|e| fail(&e))?;
        notes(&right, report).map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))
}

/// The legend and the probes, as lines of text.
fn notes<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    report: &Report,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mut lines = vec![
        "red: ringlink; blue: the baselines, measured in the same run".to_string(),
        format!("rustc: {}", report.versions.rustc),
    ];
    if let Some(ipc) = &report.ipc {
        let probes: Vec<f64> = ipc
            .cases
            .iter()
            .flat_map(|f| f.probe_ns.iter().copied())
            .collect();
        let lo = probes.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = probes.iter().copied().fold(0.0, f64::max);
        lines.push(format!(
            "cache-line probe before each case: median {:.0} ns (from {lo:.0} to {hi:.0} ns)",
            crate::stats::median(&probes)
        ));
        for f in &ipc.fixed_rate {
            lines.push(format!(
                "fixed rate, {}: {} of {} sends behind schedule, max {:.0} µs",
                f.mechanism.name(),
                f.behind,
                f.sent,
                f.max_ns / 1e3
            ));
        }
    }
    for (i, line) in lines.iter().enumerate() {
        area.draw(&Text::new(
            line.clone(),
            (20, 40 + 26 * i as i32),
            ("sans-serif", 16),
        ))?;
    }
    Ok(())
}

/// The route dump's and the nfqueue comparison's bars, read from the
/// netlink part's JSON (`netlink_report::NetlinkFigures`); what is missing
/// is left out.
fn netlink_bars(netlink: &serde_json::Value) -> (Vec<Bar>, Vec<Bar>) {
    let number = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
    let dump = &netlink["route_dump"];
    let links = dump["links"].as_array().into_iter().flatten();
    let mut routes: Vec<Bar> = links
        .map(|l| {
            let mode = l["mode"].as_str().unwrap_or("?");
            (
                format!("ringlink, {mode} mode"),
                number(&l["routes_per_s"]) / 1e6,
                true,
            )
        })
        .collect();
    routes.push((
        "plain 32 KiB recv loop".into(),
        number(&dump["plain"]) / 1e6,
        false,
    ));
    routes.push(("ip -j route show".into(), number(&dump["ip"]) / 1e6, false));
    let ways = netlink["nfqueue"]["Ok"]["ways"]
        .as_array()
        .into_iter()
        .flatten();
    let packets = ways
        .map(|w| {
            let name = w["way"].as_str().unwrap_or("?").to_string();
            let ours = name.starts_with("ringlink");
            (name, number(&w["packets_per_s"]) / 1e3, ours)
        })
        .collect();
    (routes, packets)
}

fn is_ringlink(m: Mechanism) -> bool {
    matches!(m, Mechanism::RinglinkSpin | Mechanism::RinglinkBlocking)
}

/// One panel of horizontal bars on a log scale.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    unit: &str,
    bars: &[Bar],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let values = bars
        .iter()
        .map(|b| b.1)
        .filter(|v| v.is_finite() && *v > 0.0);
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(0.0, f64::max);
    if !(lo.is_finite() && hi > 0.0) {
        return Ok(());
    }
    // Whole decades, so the log axis labels only powers of ten and their
    // multiples, never a crowd of digits.
    let lo = 10f64.powf((lo / 2.0).log10().floor());
    let hi = 10f64.powf((hi * 2.0).log10().ceil());
    let labels: Vec<&str> = bars.iter().map(|b| b.0.as_str()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(32)
        .y_label_area_size(300)
        .build_cartesian_2d((lo..hi).log_scale(), (0..bars.len()).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len())
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                labels.get(*i).copied().unwrap_or("").to_string()
            }
            SegmentValue::Last => String::new(),
        })
        .x_label_formatter(&|v| tick(*v))
        .x_desc(unit)
        .draw()?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, v, ours))| {
        let color = if *ours { RINGLINK } else { BASELINE };
        let mut bar = Rectangle::new(
            [
                (lo, SegmentValue::Exact(i)),
                (v.max(lo), SegmentValue::Exact(i + 1)),
            ],
            color.filled(),
        );
        bar.set_margin(3, 3, 0, 0);
        bar
    }))?;
    Ok(())
}

/// A log-axis tick: as many decimals as its decade needs, no more.
fn tick(v: f64) -> String {
    let decimals = (-v.log10().floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}
