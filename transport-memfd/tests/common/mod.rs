//! Helpers shared by the memfd integration tests that cross processes.
//!
//! Each test binary re-runs itself as the child process (its ignored
//! `child_entry` test, the role picked by [`ROLE`]), the child's end of the
//! link inherited ([`spawn`]). Messages carry a sequence number, their
//! length and a checksum ([`message`], [`fill_message`], [`check`]), so the
//! receiver tells a lost, duplicated, reordered or damaged message apart.
//! A small file mapped by both processes ([`SharedWords`]) carries what the
//! child did (e.g. how many messages it committed) past its death.

#![allow(dead_code, reason = "each test binary uses its own part of this")]

use ringlink_core::{FrameReceiver, LinkError};
use ringlink_memfd::{Link, LinkOptions, pair_for_child};
use std::ops::Deref;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// Which role the child plays.
pub const ROLE: &str = "RINGLINK_TEST_ROLE";

/// How long a test waits for anything that should happen.
pub const PATIENCE: Option<Duration> = Some(Duration::from_secs(30));

/// Bytes before a message's pattern: sequence number, length, checksum.
pub const HEADER: usize = 16;

/// The link the cross-process tests use: 1 KiB frames (larger messages go
/// out of band), 64 of them, messages up to 64 KiB.
pub fn options() -> LinkOptions {
    LinkOptions {
        frame_message: 1024,
        frames: 64,
        max_message: 64 << 10,
        ..LinkOptions::default()
    }
}

/// The message with sequence number `seq`: sequence number, length, a
/// checksum, then a pattern. Sizes mix: mostly under a frame, every 61st
/// well over it (sent out of band).
pub fn message(seq: u64) -> Vec<u8> {
    let len = if seq % 61 == 60 {
        2000 + (seq as usize * 7919) % 30000
    } else {
        16 + (seq as usize * 131) % 1000
    };
    message_of_len(seq, len)
}

/// The message with sequence number `seq`, `len` (at least [`HEADER`])
/// bytes long.
pub fn message_of_len(seq: u64, len: usize) -> Vec<u8> {
    let mut msg = vec![0u8; len];
    fill_message(&mut msg, seq);
    msg
}

/// Writes the message with sequence number `seq` into all of `buf` (at
/// least [`HEADER`] bytes): built in place, e.g. in a reserved frame.
pub fn fill_message(buf: &mut [u8], seq: u64) {
    for (i, b) in buf[HEADER..].iter_mut().enumerate() {
        *b = (seq as usize).wrapping_mul(31).wrapping_add(i * 7) as u8;
    }
    let sum = checksum(&buf[HEADER..]);
    let len = buf.len() as u32;
    buf[..8].copy_from_slice(&seq.to_le_bytes());
    buf[8..12].copy_from_slice(&len.to_le_bytes());
    buf[12..16].copy_from_slice(&sum.to_le_bytes());
}

/// FNV-1a over `bytes`.
pub fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The sequence number of an intact message; what is wrong with a damaged
/// one (too short, length or checksum not matching).
pub fn check(msg: &[u8]) -> Result<u64, String> {
    if msg.len() < HEADER {
        return Err(format!(
            "{} bytes, shorter than a message header",
            msg.len()
        ));
    }
    let seq = u64::from_le_bytes(msg[..8].try_into().unwrap());
    let len = u32::from_le_bytes(msg[8..12].try_into().unwrap()) as usize;
    if len != msg.len() {
        return Err(format!("message {seq}: {} bytes, it says {len}", msg.len()));
    }
    let sum = u32::from_le_bytes(msg[12..16].try_into().unwrap());
    if sum != checksum(&msg[HEADER..]) {
        return Err(format!("message {seq}: checksum mismatch"));
    }
    Ok(seq)
}

/// Checks a received message: intact, and sequence number `expected`.
pub fn verify(msg: &[u8], expected: u64) {
    match check(msg) {
        Ok(seq) => assert_eq!(seq, expected, "lost, duplicated or reordered"),
        Err(why) => panic!("expecting message {expected}: {why}"),
    }
}

/// Receives messages in order from sequence number `next` on, verifying
/// each, until the peer is gone; returns the next sequence number.
pub fn drain_until_disconnected(link: &mut Link, mut next: u64) -> u64 {
    loop {
        match link.recv(PATIENCE) {
            Ok(msg) => {
                verify(&msg, next);
                next += 1;
            }
            Err(LinkError::Disconnected) => return next,
            Err(e) => panic!("after message {next}: {e}"),
        }
    }
}

/// A command that re-runs this test binary as a child playing `role`.
pub fn child_command(role: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("test binary path"));
    command
        .args([
            "--exact",
            "child_entry",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        // The child's own test-harness chatter; its panics go to stderr.
        .stdout(Stdio::null());
    command
}

/// The role this process plays as a child (run by the parent tests only).
pub fn role() -> String {
    std::env::var(ROLE).expect("run by the parent tests only")
}

/// Spawns this test binary as the child playing `role`, with `env`, and a
/// link (made with `options`) whose other end the child inherits.
pub fn spawn(options: &LinkOptions, role: &str, env: &[(&str, String)]) -> (Link, Child) {
    let (link, end) = pair_for_child(options).expect("a link for the child");
    let mut command = child_command(role);
    for (key, value) in env {
        command.env(key, value);
    }
    let child = end.spawn(&mut command).expect("spawning the child");
    (link, child)
}

/// The `REPORT key=value` lines a child printed.
pub fn parse_report(output: &str) -> std::collections::BTreeMap<String, String> {
    output
        .lines()
        // The harness's "test child_entry ... " may start the first line.
        .filter_map(|l| l.find("REPORT ").map(|at| &l[at + 7..]))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An environment variable's number, or `default` when it is not set.
pub fn env_number(var: &str, default: u64) -> u64 {
    match std::env::var(var) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|e| panic!("{var}={text:?} is not a number: {e}")),
        Err(_) => default,
    }
}

/// 64-bit words in a small file mapped shared by a parent and its child:
/// what the child writes there survives its death.
pub struct SharedWords {
    ptr: *mut AtomicU64,
    count: usize,
    path: String,
    owner: bool,
}

impl SharedWords {
    /// A fresh file of `count` zeroed words in the temporary directory.
    pub fn create(name: &str, count: usize) -> SharedWords {
        let path = std::env::temp_dir().join(format!("ringlink-{}-{name}", std::process::id()));
        std::fs::write(&path, vec![0u8; count * 8]).unwrap();
        let mut words = SharedWords::open(&path.to_string_lossy(), count);
        words.owner = true;
        words
    }

    /// Maps the words of the file at `path` (made by [`SharedWords::create`]).
    pub fn open(path: &str, count: usize) -> SharedWords {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("opening {path}: {e}"));
        let len = file.metadata().unwrap().len();
        assert_eq!(len, count as u64 * 8, "{path} holds {len} bytes");
        // SAFETY: a fresh shared mapping of a file that stays this size,
        // accessed only as atomics, unmapped on drop.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                count * 8,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                file.as_fd(),
                0,
            )
            .unwrap()
        };
        SharedWords {
            ptr: ptr.cast(),
            count,
            path: path.to_string(),
            owner: false,
        }
    }

    /// The file's path, for the child.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl Deref for SharedWords {
    type Target = [AtomicU64];
    fn deref(&self) -> &[AtomicU64] {
        // SAFETY: page-aligned, `count` words, mapped while `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr, self.count) }
    }
}

impl Drop for SharedWords {
    fn drop(&mut self) {
        // SAFETY: mapped by `open` with this length; no reference outlives
        // `self` (they borrow it).
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.count * 8) };
        if self.owner {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What a process holds, from `/proc/<pid>/`: resident memory now and at
/// its peak, open descriptors, mappings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// VmRSS, KiB.
    pub rss_kib: u64,
    /// VmHWM (peak resident memory), KiB.
    pub peak_kib: u64,
    /// Entries in `fd/`.
    pub fds: usize,
    /// Lines of `maps`.
    pub maps: usize,
}

impl Usage {
    /// The usage of process `pid` (`"self"` for this one).
    pub fn of(pid: &str) -> Usage {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
        };
        Usage {
            rss_kib: kib("VmRSS:"),
            peak_kib: kib("VmHWM:"),
            fds: std::fs::read_dir(format!("/proc/{pid}/fd"))
                .unwrap()
                .count(),
            maps: std::fs::read_to_string(format!("/proc/{pid}/maps"))
                .unwrap()
                .lines()
                .count(),
        }
    }

    /// The usage of this process.
    pub fn own() -> Usage {
        Usage::of("self")
    }
}

/// A small, seedable pseudo-random generator (SplitMix64): the tests need
/// reproducible randomness, not a dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A seed from `RINGLINK_SEED` if set, else from the clock; print it so
    /// that a failure can be replayed.
    pub fn seed() -> u64 {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        env_number("RINGLINK_SEED", clock ^ u64::from(std::process::id()))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `range` (which must not be empty).
    pub fn range(&mut self, range: std::ops::Range<u64>) -> u64 {
        range.start + self.next_u64() % (range.end - range.start)
    }

    /// An index below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.range(0..n as u64) as usize
    }

    /// `true` with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next_u64() % n == 0
    }
}

/// The descriptor of the memfd behind a link held by process `pid`,
/// reopened through `/proc/<pid>/fd/N`: how a third process gets at a live
/// link's memory. Waits up to 10 s for the process to map it.
pub fn segment_of_process(pid: u32) -> OwnedFd {
    let fd_dir = format!("/proc/{pid}/fd");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = std::fs::read_dir(&fd_dir).ok().and_then(|entries| {
            entries.flatten().map(|e| e.path()).find(|p| {
                std::fs::read_link(p)
                    .is_ok_and(|target| target.to_string_lossy().contains("memfd:ringlink-link"))
            })
        });
        if let Some(path) = found {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
            return OwnedFd::from(file);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "process {pid} never mapped a link segment"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
