//! `--json PATH`: every figure of a run as one serializable tree, with the
//! cache-line probes, the machine and the versions, written as JSON; the
//! picture of the results ([`crate::plot`]) is written next to it.
//!
//! The netlink part plugs in through [`Report::set_netlink`]: give it
//! anything serializable (its figures), and it lands under `"netlink"`.

use crate::ipc::Figures;
use crate::ipc::fixed_rate::FixedRateFigures;
use crate::ipc::table::Ratio;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Which harness and compiler made it.
    pub versions: Versions,
    /// Where it ran.
    pub machine: Machine,
    /// When it started, seconds since the Unix epoch.
    pub started_unix_s: u64,
    /// How it was asked to run.
    pub options: RunOptions,
    /// The in-process comparison, when it ran.
    pub inproc: Option<InprocFigures>,
    /// The between-processes comparison, when it ran.
    pub ipc: Option<IpcReport>,
    /// The netlink part's figures, as it serializes them (route dumps,
    /// nfqueue), when it ran: set with [`Report::set_netlink`].
    pub netlink: Option<serde_json::Value>,
}

/// Versions of what produced the figures.
#[derive(Debug, Serialize)]
pub struct Versions {
    /// The ringlink-benches crate's version.
    pub ringlink: &'static str,
    /// `rustc -V`, run when the report is made (the compiler on the PATH).
    pub rustc: String,
    /// iceoryx2's version, as this harness depends on it.
    pub iceoryx2: &'static str,
}

/// The machine the figures come from.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// Kernel version string (`uname -v`).
    pub kernel_version: String,
    /// Architecture (`uname -m`).
    pub arch: String,
    /// CPUs this process may run on.
    pub cpus: usize,
    /// The CPU model (`/proc/cpuinfo`).
    pub cpu_model: String,
}

/// How the run was asked for.
#[derive(Debug, Serialize)]
pub struct RunOptions {
    /// `--quick`.
    pub quick: bool,
    /// Runs per case.
    pub runs: usize,
    /// Messages per in-process run.
    pub messages: u64,
    /// `--only`, if given.
    pub only: Option<String>,
}

/// Two threads, 64-byte messages: the core ring against the minimal ring.
#[derive(Debug, Serialize)]
pub struct InprocFigures {
    /// Messages per run.
    pub messages: u64,
    /// Runs.
    pub runs: usize,
    /// The core ring, median messages per second.
    pub core_msgs_per_s: f64,
    /// The minimal ring (baseline), median messages per second.
    pub minimal_msgs_per_s: f64,
    /// core / minimal.
    pub core_vs_minimal: f64,
    /// The cache-line probe before the runs, ns.
    pub probe_ns: f64,
}

/// Between two processes.
#[derive(Debug, Serialize)]
pub struct IpcReport {
    /// Every mechanism at every size.
    pub cases: Vec<Figures>,
    /// ringlink's ratios to the baselines of the same run.
    pub ratios: Vec<Ratio>,
    /// The fixed-rate latency run.
    pub fixed_rate: Vec<FixedRateFigures>,
}

impl Report {
    /// An empty report for a run with `options`, machine and versions
    /// filled in.
    pub fn new(options: RunOptions) -> Report {
        Report {
            versions: Versions {
                ringlink: env!("CARGO_PKG_VERSION"),
                rustc: rustc_version(),
                iceoryx2: ICEORYX2_VERSION,
            },
            machine: Machine::here(),
            started_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            options,
            inproc: None,
            ipc: None,
            netlink: None,
        }
    }

    /// Puts the netlink part's figures (anything serializable, e.g. a
    /// struct holding `netlink::DumpFigures` and `nfqueue::NfqFigures`
    /// with `#[derive(Serialize)]`) under `"netlink"`.
    pub fn set_netlink(&mut self, figures: &impl Serialize) -> Result<(), String> {
        self.netlink =
            Some(serde_json::to_value(figures).map_err(|e| format!("netlink figures: {e}"))?);
        Ok(())
    }

    /// Writes the JSON to `path` and the picture next to it (same name,
    /// `.svg`); returns the picture's path.
    pub fn write(&self, path: &Path) -> Result<PathBuf, String> {
        let json = serde_json::to_string_pretty(self).map_err(|e| format!("serializing: {e}"))?;
        std::fs::write(path, json + "\n")
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        let svg = path.with_extension("svg");
        crate::plot::draw(self, &svg)?;
        Ok(svg)
    }
}

/// The iceoryx2 version in `Cargo.toml`.
const ICEORYX2_VERSION: &str = "0.10";

/// `rustc -V`, or why it could not be had.
fn rustc_version() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    match Command::new(&rustc).arg("-V").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Ok(out) => format!("unknown ({rustc} -V: {})", out.status),
        Err(e) => format!("unknown ({rustc} -V: {e})"),
    }
}

impl Machine {
    /// This machine.
    pub fn here() -> Machine {
        let uname = rustix::system::uname();
        let text = |s: &std::ffi::CStr| s.to_string_lossy().into_owned();
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, model)| model.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            kernel: text(uname.release()),
            kernel_version: text(uname.version()),
            arch: text(uname.machine()),
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
        }
    }
}
