#!/bin/sh
# Boot an ISO in Bochs; the serial console is copied to the terminal as it grows.
#   run-bochs.sh ISO [MODEL] [CPUS] [MEGS]      e.g. corei7_skylake_x (VMX) or zambezi (SVM)
set -eu
iso=$1 model=${2:-corei7_skylake_x} cpus=${3:-2} megs=${4:-512}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed -e "s|@ISO@|$iso|" -e "s|@MODEL@|$model|" -e "s|@SERIAL@|$dir/serial.log|" -e "s|@CPUS@|$cpus|" \
	-e "s|@MEGS@|$megs|" -e "s|@RFBPORT@|5900|" "$(dirname "$0")/bochsrc.in" > "$dir/bochsrc"
: > "$dir/serial.log"
tail -f "$dir/serial.log" &
tailpid=$!
echo "hv: Bochs $model, $cpus CPUs, $megs MiB; it exits when the hypervisor powers off" >&2
# Bochs stops at its debugger prompt unless told to continue.
echo c | bochs -q -f "$dir/bochsrc" >"$dir/bochs.out" 2>&1 || true
sleep 0.2
kill "$tailpid" 2>/dev/null || true
