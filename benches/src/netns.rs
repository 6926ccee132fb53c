//! Private network namespaces for the netlink benches: created with
//! `ip netns add`, set up with `ip -batch`, entered by one thread at a time,
//! and deleted when dropped (so also when a bench fails). Needs root.

use std::io::Write;
use std::process::{Command, Stdio};

/// A network namespace of this process, deleted on drop.
pub(crate) struct Netns(String);

impl Netns {
    /// Creates namespace `prefix-<pid>` (deleting a stale one of that name
    /// first) and runs the `ip -batch` commands `setup` in it.
    pub(crate) fn create(prefix: &str, setup: &str) -> Result<Netns, String> {
        let name = format!("{prefix}-{}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Netns(name);
        let mut batch = Command::new("ip")
            .args(["-n", &ns.0, "-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| format!("running ip -batch: {e}"))?;
        batch
            .stdin
            .take()
            .ok_or("ip -batch has no stdin")?
            .write_all(setup.as_bytes())
            .map_err(|e| format!("writing to ip -batch: {e}"))?;
        match batch.wait().map_err(|e| e.to_string())?.success() {
            true => Ok(ns),
            false => Err(format!("setting up namespace {} failed", ns.0)),
        }
    }

    /// The namespace's name, for `ip -n`.
    pub(crate) fn name(&self) -> &str {
        &self.0
    }

    /// Runs the command `args` inside the namespace (`ip netns exec`).
    pub(crate) fn exec(&self, args: &[&str]) -> Result<(), String> {
        run(Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args))
    }

    /// Runs `f` on a thread that entered the namespace (threads it spawns
    /// are in the namespace too).
    pub(crate) fn inside<T: Send>(
        &self,
        f: impl FnOnce() -> Result<T, String> + Send,
    ) -> Result<T, String> {
        std::thread::scope(|s| {
            s.spawn(|| {
                let ns = std::fs::File::open(format!("/var/run/netns/{}", self.0))
                    .map_err(|e| format!("opening namespace {}: {e}", self.0))?;
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&ns),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .map_err(|e| format!("entering namespace {}: {e}", self.0))?;
                f()
            })
            .join()
            .map_err(|_| format!("a thread in namespace {} panicked", self.0))?
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs `command`; its standard error in the error if it fails.
fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}").replace('"', "");
    let out = command
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("running {shown}: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{shown} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}
