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
# The hypervisor's console multiplexer takes Ctrl-A (three in a row switch the input between the VMs and its monitor),
# so QEMU's own escape key moves from Ctrl-A to Ctrl-] (-echr 0x1d) and every Ctrl-A reaches the hypervisor.
echo "hv: Ctrl-A Ctrl-A Ctrl-A switches the console input between the VMs and the monitor; Ctrl-] x leaves QEMU" >&2
echo "hv: QEMU $accel, $smp CPUs, $mem" >&2
# The hypervisor powers off through isa-debug-exit, so QEMU's exit status is (status << 1) | 1: 1 is a clean end.
rc=0
# shellcheck disable=SC2086
qemu-system-x86_64 $cpu -smp "$smp" -m "$mem" -machine q35 $fw -cdrom "$iso" -boot d \
	-display none -serial mon:stdio -echr 0x1d -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4 || rc=$?
[ "$rc" -eq 1 ] && rc=0
exit "$rc"
