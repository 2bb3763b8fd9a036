#!/bin/sh
# The KVM peer's initramfs: the busybox initramfs of tests/linux (scripts/mkinitramfs.sh) with bench/kvm/init as
# /init, plus /peer/vmm, /peer/benchkvm.elf and KVM's modules, taken from the same Debian kernel package as
# build/linux/vmlinuz (get-linux.sh keeps it next to the kernel): kvm, kvm-intel, kvm-amd and what they depend on,
# irqbypass (kvm) and ccp (kvm-amd). They are not compressed in the package, so busybox's insmod loads them as they are.
#
#   bench/kvm/mkinitramfs.sh OUT.cpio.gz VMM GUEST.elf [LINUX_DIR]      (LINUX_DIR default build/linux)
set -eu

[ $# -ge 3 ] || { echo "usage: $0 OUT.cpio.gz VMM GUEST.elf [LINUX_DIR]" >&2; exit 2; }
out=$1 vmm=$2 guest=$3 linux=${4:-build/linux}
here=$(cd "$(dirname "$0")/../.." && pwd)

die() {
	echo "bench/kvm/mkinitramfs: $*" >&2
	exit 1
}

release=$(sed -n 's/^release=//p' "$linux/version" 2>/dev/null) || true
[ -n "$release" ] || die "$linux/version names no kernel release: run make linux-kernel"
package=$(sed -n 's/^package=//p' "$linux/version")
deb=""
for f in "$linux/${package}_"*.deb; do
	[ -f "$f" ] && deb=$f
done
[ -n "$deb" ] || die "no $package .deb in $linux (get-linux.sh keeps it there;" \
	"delete $linux/vmlinuz and run make linux-kernel)"

mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "$(dirname "$out")/.peer-initramfs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

kdir=lib/modules/$release/kernel
mods="arch/x86/kvm/kvm.ko arch/x86/kvm/kvm-intel.ko arch/x86/kvm/kvm-amd.ko virt/lib/irqbypass.ko"
mods="$mods drivers/crypto/ccp/ccp.ko"
paths=""
for m in $mods; do
	paths="$paths ./$kdir/$m"
done
# shellcheck disable=SC2086 # $paths is a list of archive members
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" $paths || die "cannot extract KVM's modules from $deb"
{
	echo "dir /peer 0755 0 0"
	echo "file /peer/vmm $vmm 0755 0 0"
	echo "file /peer/benchkvm.elf $guest 0644 0 0"
	for m in $mods; do
		echo "file /peer/$(basename "$m") $tmp/$kdir/$m 0644 0 0"
	done
} >"$tmp/extra"
"$here/scripts/mkinitramfs.sh" "$out" "$here/bench/kvm/init" "$tmp/extra"
