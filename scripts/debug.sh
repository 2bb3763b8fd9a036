#!/bin/sh
# Start QEMU halted at reset with its gdb stub on :1234, and attach gdb with the hypervisor's symbols.
# The serial console goes to build/debug-serial.log. Quit gdb to end QEMU.
set -eu
iso=$1 elf=$2
log=$(dirname "$elf")/debug-serial.log
qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 2G -cdrom "$iso" -boot d -display none -no-reboot \
	-serial "file:$log" -monitor none -device isa-debug-exit,iobase=0xf4,iosize=4 -s -S &
qpid=$!
trap 'kill $qpid 2>/dev/null || true' EXIT
echo "hv: QEMU halted with its gdb stub on :1234; serial log in $log" >&2
gdb -q "$elf" -ex "target remote :1234" -ex "hbreak kmain" -ex "continue"
