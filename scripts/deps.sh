#!/bin/sh
# Install the Debian packages the build, `make run`, `make test` and `make bench` need (libc6-dev: the libc.a of the
# static KVM peer VMM, bench/kvm/vmm.c, as well as the host unit tests' headers). As root it installs what is missing;
# otherwise it prints the one apt-get line to run and fails.
set -eu
pkgs="gcc libc6-dev make binutils python3 gdb clang libclang-rt-14-dev bison flex xz-utils qemu-system-x86 grub-pc-bin grub-efi-amd64-bin grub-common xorriso mtools \
bochs bochsbios vgabios ovmf e2fsprogs"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
	echo "deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing >/dev/null
else
	echo "deps: missing packages. Run:"
	echo "  sudo apt-get install -y$missing"
	exit 1
fi
