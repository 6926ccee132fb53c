#!/usr/bin/env bash
# Fuzzes every ringlink fuzz target for N seconds each, on the STABLE
# toolchain, with libFuzzer (docs/FUZZING.md says why this way).
#
#   core/fuzz/run.sh [SECONDS] [TARGET...]     # default: 60 s, every target
#   FUZZ_SECONDS=600 core/fuzz/run.sh          # the same, by environment
#   nice -n 19 core/fuzz/run.sh 10             # beside benchmarks
#
# How: no cargo-fuzz and no nightly. The script builds the targets with plain
# `cargo build` and the RUSTFLAGS cargo-fuzz itself passes with
# `--sanitizer none --debug-assertions` (SanitizerCoverage through LLVM
# arguments, all stable `-C` options), against libfuzzer-sys, which compiles
# libFuzzer (C++, g++) and provides main(). Then it runs each binary on a
# scratch corpus (core/fuzz/work/<target>, seeded from the committed
# core/fuzz/corpus/<target>) with -max_total_time. Without a sanitizer,
# out-of-bounds reads are caught by Rust's bounds checks, debug assertions
# and overflow checks, and by the guard pages around the rings' memory
# (core/fuzz/src/lib.rs, GuardedMemory).
#
# A crash leaves its input in core/fuzz/artifacts/<target>/ and makes the
# script exit 1 after the other targets ran; replay it with
#   core/fuzz/target/<host>/release/<target> core/fuzz/artifacts/<target>/crash-*
# `cargo fuzz run -s none -a <target>` (cargo install cargo-fuzz --locked)
# works on stable too, with the same flags, if you prefer it.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-60}"
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then
    seconds="$1"
    shift
fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(ring_consumer geometry memfd_control netlink)
fi

# libfuzzer-sys compiles libFuzzer, which is C++.
if ! command -v c++ >/dev/null && ! command -v g++ >/dev/null; then
    echo "== installing g++ (libFuzzer is C++)"
    apt-get install -y g++ >/dev/null || { apt-get update >/dev/null && apt-get install -y g++ >/dev/null; }
fi

host="$(rustc -vV | sed -n 's/^host: //p')"
# cargo-fuzz 0.13's flags for `build --release -s none -a` on Linux.
flags=(
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
    -Cllvm-args=-sanitizer-coverage-stack-depth
    -Cllvm-args=-simplifycfg-branch-fold-threshold=0
    --cfg fuzzing
    -Cdebug-assertions
    -Coverflow-checks=on
)

echo "== building the fuzz targets (stable, $host)"
start=$(date +%s)
# --target keeps the instrumentation off build scripts and proc macros.
RUSTFLAGS="${flags[*]}" cargo build --release --target "$host" --bins
echo "   built in $(($(date +%s) - start)) s"

mkdir -p work artifacts
failed=()
summary=()
for target in "${targets[@]}"; do
    echo "== fuzzing $target for $seconds s"
    mkdir -p "work/$target" "artifacts/$target"
    log="work/$target.log"
    status=0
    "target/$host/release/$target" "work/$target" "corpus/$target" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="artifacts/$target/" \
        >"$log" 2>&1 || status=$?
    done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)"
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    speed="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    cov="$(grep -oE 'cov: [0-9]+ ft: [0-9]+' <<<"$done_line" || true)"
    corpus="$(ls "work/$target" | wc -l)"
    if [[ $status -ne 0 ]]; then
        failed+=("$target")
        grep -E -A12 'panicked|ERROR: libFuzzer|SUMMARY' "$log" | head -40 || true
        line="$target: CRASH (exit $status), see $log and artifacts/$target/"
    else
        line="$target: ${runs:-?} runs, ${speed:-?} exec/s, ${cov:-cov ?}, corpus $corpus inputs, no crash"
    fi
    echo "   $line"
    summary+=("$line")
done

echo "== summary ($seconds s per target)"
printf '   %s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "crashed: ${failed[*]}"
    exit 1
fi
