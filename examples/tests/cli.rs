//! The examples' command lines: `--help` prints the usage and succeeds,
//! before any set-up; bad numbers are refused with what was wrong.

use std::process::{Command, Output};

fn run(exe: &str, args: &[&str]) -> Output {
    Command::new(exe).args(args).output().unwrap()
}

const EXAMPLES: [&str; 6] = [
    env!("CARGO_BIN_EXE_ip_dump"),
    env!("CARGO_BIN_EXE_nl_monitor"),
    env!("CARGO_BIN_EXE_nfq_accept"),
    env!("CARGO_BIN_EXE_memfd_echo"),
    env!("CARGO_BIN_EXE_memfd_typed"),
    env!("CARGO_BIN_EXE_channel_typed"),
];

#[test]
fn help_prints_the_usage_and_succeeds() {
    for exe in EXAMPLES {
        let out = run(exe, &["--help"]);
        assert!(out.status.success(), "{exe}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.starts_with("usage: "), "{exe}: {stdout}");
    }
}

#[test]
fn bad_numbers_and_arguments_are_refused_with_the_reason() {
    let cases: [(&str, &[&str], &str); 7] = [
        (EXAMPLES[1], &["0"], "COUNT must be at least 1"),
        (EXAMPLES[4], &["0"], "COUNT must be at least 1"),
        (EXAMPLES[5], &["zero"], "COUNT \"zero\": invalid digit"),
        (
            EXAMPLES[3],
            &["client", "@nobody", "0"],
            "COUNT must be at least 1",
        ),
        (
            EXAMPLES[2],
            &["--queue", "65536"],
            "--queue \"65536\": number too large",
        ),
        (EXAMPLES[0], &["lnks"], "unexpected argument \"lnks\""),
        (EXAMPLES[0], &[], "usage: ip_dump"),
    ];
    for (exe, args, reason) in cases {
        let out = run(exe, args);
        assert!(!out.status.success(), "{exe} {args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(reason), "{exe} {args:?}: {stderr}");
    }
}
