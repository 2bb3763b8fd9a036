#!/bin/sh
# Build the libFuzzer targets (tests/fuzz/fuzz_*.c) into build/fuzz/ and run them side by side for a bounded time.
# Usage: tests/fuzz/run.sh [SECONDS] [TARGET...]   e.g. `tests/fuzz/run.sh 30` or `tests/fuzz/run.sh 60 fuzz_emulate`
# Defaults: 30 seconds, every target. Each target names the sources it links on its `fuzz-srcs:` line. The corpus
# is kept in build/fuzz/corpus/<target> between runs; a crash leaves build/fuzz/<target>-crash-* and the script
# exits non-zero. Needs clang with libFuzzer (Debian: clang and libclang-rt-<version>-dev).
set -eu

cd "$(dirname "$0")/../.."
SECS=${1:-30}
[ $# -gt 0 ] && shift
TARGETS=${*:-$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')}
set -f # from here on, lists are split on spaces but never globbed
CLANG=${CLANG:-clang}
OUT=build/fuzz
CFLAGS="-std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
	-Wall -Wextra -Werror -Wno-unused-parameter -Iinclude -I. -DHV_HOST_TEST"

case "$SECS" in
'' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac
mkdir -p "$OUT"

for t in $TARGETS; do
	src=tests/fuzz/$t.c
	[ -f "$src" ] || { echo "no such fuzz target: $src" >&2; exit 2; }
	srcs=$(sed -n 's/^ \* fuzz-srcs: \([^*]*\).*/\1/p' "$src")
	[ -n "$srcs" ] || { echo "$src has no fuzz-srcs line" >&2; exit 2; }
	echo "  FUZZCC  $OUT/$t"
	# shellcheck disable=SC2086 # the flag and source lists are meant to split
	$CLANG $CFLAGS -o "$OUT/$t" "$src" $srcs
	mkdir -p "$OUT/corpus/$t"
done

pids=""
for t in $TARGETS; do
	echo "  FUZZ    $t for ${SECS}s (log: $OUT/$t.log)"
	"$OUT/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$OUT/$t-" "$OUT/corpus/$t" >"$OUT/$t.log" 2>&1 &
	pids="$pids $!:$t"
done

status=0
for pt in $pids; do
	pid=${pt%%:*}
	t=${pt#*:}
	if wait "$pid"; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t.log")
		cov=$(grep -o 'cov: [0-9]*' "$OUT/$t.log" | tail -1)
		echo "  PASS    $t: ${runs:-?} runs, $cov"
	else
		echo "  FAIL    $t: see $OUT/$t.log and $OUT/$t-crash-*" >&2
		tail -n 40 "$OUT/$t.log" >&2
		status=1
	fi
done
exit $status
