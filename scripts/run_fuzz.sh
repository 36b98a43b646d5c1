#!/usr/bin/env bash
# run_fuzz.sh - build the data-plane fuzzers with libFuzzer and run them.
#
#   scripts/run_fuzz.sh [rtp|rtcp|stun|demux|ring|loadtest|header_ext_rewrite|keyframe|tcc|tcc_feedback|tcc_seq_stamp|rtcp_build|rtx|red|nack_generator|rtp_padding|tcp_framing|all] [seconds-per-target]
#
# Builds csrc/fuzz/fuzz_<target>.c with clang -fsanitize=fuzzer,address,undefined
# into csrc/fuzz/out/ (gitignored) and runs each target for the given time
# (default 60 s) with -max_len=1500.  The committed corpus csrc/fuzz/corpus/<target>/
# is the seed set; inputs libFuzzer finds interesting go to the working corpus
# csrc/fuzz/out/corpus/<target>/, so the repository only grows by reproducers.
# On a crash, leak, timeout or OOM the reproducer is copied into the
# committed corpus as crash-<sha1> and the script exits non-zero.
#
# Environment: FUZZ_JOBS=N runs N targets at a time (default 1);
# FUZZ_ARGS adds libFuzzer flags; CLANG overrides the compiler.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/csrc/fuzz"
OUT="$FUZZ/out"
ALL_TARGETS=(rtp rtcp stun demux ring loadtest header_ext_rewrite keyframe tcc tcc_feedback tcc_seq_stamp rtcp_build rtx red nack_generator rtp_padding tcp_framing)

target="${1:-all}"
seconds="${2:-60}"
case "$seconds" in ''|*[!0-9]*) echo "run_fuzz: seconds must be a positive integer" >&2; exit 2 ;; esac

if [[ "$target" == all ]]; then
    targets=("${ALL_TARGETS[@]}")
else
    [[ -f "$FUZZ/fuzz_$target.c" ]] || { echo "run_fuzz: unknown target '$target' (one of: ${ALL_TARGETS[*]} all)" >&2; exit 2; }
    targets=("$target")
fi

# ---- toolchain: Debian's clang with the libFuzzer runtime ----------------
CLANG="${CLANG:-clang}"
have_libfuzzer() {
    command -v "$CLANG" >/dev/null 2>&1 || return 1
    local probe
    probe="$(mktemp -d)"
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n' >"$probe/p.c"
    "$CLANG" -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" >/dev/null 2>&1
    local rc=$?
    rm -rf "$probe"
    return $rc
}
if ! have_libfuzzer; then
    echo "run_fuzz: installing clang and libFuzzer (clang, libclang-rt-14-dev)" >&2
    if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
    "${SUDO[@]}" apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q clang libclang-rt-14-dev >/dev/null
    have_libfuzzer || { echo "run_fuzz: clang -fsanitize=fuzzer still does not link" >&2; exit 2; }
fi

CFLAGS=(-std=gnu11 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE -I"$ROOT/csrc/include" -I"$ROOT/csrc"
        -Wall -Wextra -Wno-unused-parameter
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)

build() {
    local t="$1"
    mkdir -p "$OUT"
    "$CLANG" "${CFLAGS[@]}" "$FUZZ/fuzz_$t.c" -o "$OUT/fuzz_$t"
}

# Run one target; prints a summary line; returns non-zero when it found a bug.
run_one() {
    local t="$1" work="$OUT/corpus/$t" art="$OUT/artifacts/$t" log="$OUT/fuzz_$t.log"
    mkdir -p "$work" "$art"
    rm -f "$art"/*
    local rc=0
    ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:symbolize=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$OUT/fuzz_$t" -max_len=1500 -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art/" ${FUZZ_ARGS:-} \
        "$work" "$FUZZ/corpus/$t" >"$log" 2>&1 || rc=$?
    local execs
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    local found=0 f sha
    for f in "$art"/*; do
        [[ -f "$f" ]] || continue
        sha="$(sha1sum "$f" | cut -d' ' -f1)"
        cp "$f" "$FUZZ/corpus/$t/crash-$sha"
        echo "run_fuzz: $t: reproducer $(basename "$f") -> csrc/fuzz/corpus/$t/crash-$sha" >&2
        found=1
    done
    if [[ $rc -ne 0 || $found -ne 0 ]]; then
        echo "run_fuzz: $t FAILED (exit $rc, ${execs:-?} execs); log: $log" >&2
        grep -E "ERROR: |runtime error|check failed|invariant failed|SUMMARY" "$log" | head -20 >&2 || true
        return 1
    fi
    echo "run_fuzz: $t ok: ${seconds}s, ${execs:-?} execs, corpus $(ls "$work" | wc -l) inputs"
}

for t in "${targets[@]}"; do
    build "$t"
done

jobs_max="${FUZZ_JOBS:-1}"
status="$(mktemp -d)"
trap 'rm -rf "$status"' EXIT
for t in "${targets[@]}"; do
    ( if run_one "$t"; then echo ok >"$status/$t"; else echo failed >"$status/$t"; fi ) &
    while (( $(jobs -rp | wc -l) >= jobs_max )); do
        wait -n || true
    done
done
wait
failed=0
for t in "${targets[@]}"; do
    if [[ "$(cat "$status/$t" 2>/dev/null)" != ok ]]; then
        echo "run_fuzz: $t found a bug" >&2
        failed=1
    fi
done
exit $failed
