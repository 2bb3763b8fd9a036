#!/bin/sh
# Build a GRUB rescue ISO (BIOS and UEFI) that boots the hypervisor by multiboot2.
#   mkiso.sh OUT.iso HV.elf "HV COMMAND LINE" [MODULE "MODULE COMMAND LINE"]...
# Each module is passed through with module2; its command line is what the hypervisor sees for it.
set -eu
out=$1 elf=$2 cmdline=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/iso
mkdir -p "$stage/boot/grub"
cp "$elf" "$stage/boot/hv.elf"
{
	echo "set timeout=0"
	echo "set default=0"
	echo "serial --unit=0 --speed=115200"
	echo "terminal_input serial console"
	echo "terminal_output serial console"
	echo "menuentry \"hv\" {"
	echo "	multiboot2 /boot/hv.elf $cmdline"
	i=0
	while [ $# -ge 2 ]; do
		cp "$1" "$stage/boot/mod$i"
		echo "	module2 /boot/mod$i $2"
		i=$((i + 1))
		shift 2
	done
	echo "	boot"
	echo "}"
} > "$stage/boot/grub/grub.cfg"
grub-mkrescue -o "$out" "$stage" >/dev/null 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
