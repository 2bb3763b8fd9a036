#!/bin/sh
# Boot an ISO in QEMU with the serial console on the terminal.
#   run-qemu.sh ISO [tcg|kvm] [SMP] [MEM]     EFI=1 boots through OVMF instead of the BIOS.
set -eu
iso=$1 accel=${2:-tcg} smp=${3:-2} mem=${4:-2G}
if [ "$accel" = kvm ]; then
	cpu="-enable-kvm -cpu host"
else
	cpu="-accel tcg -cpu max"
fi
fw=""
if [ "${EFI:-0}" = 1 ]; then
	code=/usr/share/OVMF/OVMF_CODE_4M.fd vars=/usr/share/OVMF/OVMF_VARS_4M.fd
	[ -f "$code" ] || { code=/usr/share/OVMF/OVMF_CODE.fd; vars=/usr/share/OVMF/OVMF_VARS.fd; }
	tmpvars=$(mktemp)
	cp "$vars" "$tmpvars"
	fw="-drive if=pflash,format=raw,unit=0,readonly=on,file=$code -drive if=pflash,format=raw,unit=1,file=$tmpvars"
fi
echo "hv: QEMU $accel, $smp CPUs, $mem; leave with Ctrl-A X" >&2
# The hypervisor powers off through isa-debug-exit, so QEMU's exit status is (status << 1) | 1: 1 is a clean end.
rc=0
# shellcheck disable=SC2086
qemu-system-x86_64 $cpu -smp "$smp" -m "$mem" -machine q35 $fw -cdrom "$iso" -boot d \
	-display none -serial mon:stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4 || rc=$?
[ "$rc" -eq 1 ] && rc=0
exit "$rc"
