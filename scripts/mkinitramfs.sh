#!/bin/sh
# Build the Linux guest's initramfs: Debian's busybox-static (the package is downloaded with apt-get download and
# unpacked here, not installed), the applet links, and tests/linux/init as /init, in a gzip-compressed newc cpio.
#
#   mkinitramfs.sh [OUT.cpio.gz] [INIT] [EXTRA]   (defaults build/linux/initramfs.cpio.gz tests/linux/init, none)
#
# EXTRA is a file of more entries in mkcpio.py's format, appended to the list (bench/kvm/mkinitramfs.sh adds the
# KVM peer's VMM, guest and modules this way).
#
# The archive is written by tests/linux/mkcpio.py: sorted entries, fixed mtimes (SOURCE_DATE_EPOCH, default 0) and a
# gzip header without name or time, so the same inputs give the same bytes. /dev/console is a device node in the
# archive (the kernel opens it for /init before anything is mounted), which cpio(1) could only copy from a node that
# root made with mknod.
#
# KMODS="NAME..." adds kernel modules, with everything they depend on (scripts/kmods.py reads each module's
# depends= and softdep= pre:), from the Debian kernel package next to the kernel (LINUX_DIR, default the directory of
# OUT, where get-linux.sh keeps it): /lib/modules/NAME.ko for each, and /lib/modules/load with their names in load
# order, for /init to insmod one by one (busybox insmod: no modules.dep, no depmod). Debian builds virtio, ext4 and
# friends as modules (=m in its config-*), so an initramfs that mounts a virtio disk needs them.
#
# The busybox-static .deb is kept next to OUT; it is downloaded again only when the package lists name another
# version. BUSYBOX_DEB=/path/to/busybox-static_*.deb uses that file instead (offline builds).
set -eu

out=${1:-build/linux/initramfs.cpio.gz}
init=${2:-tests/linux/init}
extra=${3:-}
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$(dirname "$out")
python=${PYTHON:-python3}

die() {
	echo "mkinitramfs: $*" >&2
	exit 1
}

[ -f "$init" ] || die "$init: no such file"
[ -z "$extra" ] || [ -f "$extra" ] || die "$extra: no such file"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found (package dpkg)"
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.mkinitramfs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# ---- the busybox-static package ----
deb=${BUSYBOX_DEB:-}
if [ -z "$deb" ]; then
	command -v apt-cache >/dev/null || die "apt-cache not found: this needs Debian's apt (or set BUSYBOX_DEB)"
	ver=$(apt-cache show --no-all-versions busybox-static 2>/dev/null | sed -n 's/^Version: *//p' | head -n 1)
	if [ -z "$ver" ]; then
		[ "$(id -u)" -eq 0 ] || die "busybox-static is not in the package lists. Run: sudo apt-get update"
		apt-get -q update >/dev/null || die "apt-get update failed"
		ver=$(apt-cache show --no-all-versions busybox-static | sed -n 's/^Version: *//p' | head -n 1)
		[ -n "$ver" ] || die "busybox-static not found in the package lists"
	fi
	for f in "$dir"/busybox-static_*.deb; do
		[ -f "$f" ] && [ "$(dpkg-deb -f "$f" Version)" = "$ver" ] && deb=$f && break
	done
	if [ -z "$deb" ]; then
		echo "mkinitramfs: downloading busybox-static $ver"
		sandbox=""
		[ "$(id -u)" -ne 0 ] || sandbox="-o APT::Sandbox::User=root"
		# shellcheck disable=SC2086 # $sandbox is empty or two words
		(cd "$tmp" && apt-get -q $sandbox download "busybox-static=$ver") >"$tmp/apt.log" 2>&1 || {
			cat "$tmp/apt.log" >&2
			die "apt-get download busybox-static failed (stale package lists? run: sudo apt-get update)"
		}
		rm -f "$dir"/busybox-static_*.deb
		for f in "$tmp"/busybox-static_*.deb; do
			mv "$f" "$dir/"
			deb=$dir/$(basename "$f")
		done
	fi
fi
[ -f "$deb" ] || die "no busybox-static package ($deb)"

# ---- kernel modules (KMODS) ----
kmods=${KMODS:-}
if [ -n "$kmods" ]; then
	linux=${LINUX_DIR:-$dir}
	release=$(sed -n 's/^release=//p' "$linux/version" 2>/dev/null) || true
	package=$(sed -n 's/^package=//p' "$linux/version" 2>/dev/null) || true
	[ -n "$release" ] || die "$linux/version names no kernel release: run make linux-kernel"
	kdeb=""
	for f in "$linux/${package}_"*.deb; do
		[ -f "$f" ] && kdeb=$f
	done
	[ -n "$kdeb" ] || die "no $package .deb in $linux (get-linux.sh keeps it there)"
	dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$tmp" "./lib/modules/$release/kernel" ||
		die "cannot extract the modules of $kdeb"
	# shellcheck disable=SC2086 # a list of names
	"$python" "$here/scripts/kmods.py" "$tmp/lib/modules/$release" $kmods >"$tmp/kmods" || die "kmods.py failed"
	: >"$tmp/kmods.load"
	while read -r m; do
		basename "$m" .ko >>"$tmp/kmods.load"
	done <"$tmp/kmods"
fi
dpkg-deb -x "$deb" "$tmp/pkg"
bb=$tmp/pkg/bin/busybox
[ -x "$bb" ] || die "$deb holds no bin/busybox"

# ---- the file list ----
# The applet links are what this busybox says it provides (it is a static x86-64 binary, so it runs here). A host
# that cannot run it gets only /bin/sh; /init then asks busybox to install the links at boot.
applets=$("$bb" --list-full 2>/dev/null) || applets="bin/sh"
{
	for d in bin sbin usr usr/bin usr/sbin dev proc sys tmp run root etc mnt; do
		echo "dir /$d 0755 0 0"
	done
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "nod /dev/null 0666 0 0 c 1 3"
	echo "file /bin/busybox $bb 0755 0 0"
	echo "file /init $init 0755 0 0"
	printf '%s\n' "$applets" | while read -r a; do
		[ -n "$a" ] && [ "$a" != bin/busybox ] && echo "slink /$a /bin/busybox 0777 0 0"
	done
	if [ -n "$kmods" ]; then
		echo "dir /lib 0755 0 0"
		echo "dir /lib/modules 0755 0 0"
		while read -r m; do
			echo "file /lib/modules/$(basename "$m") $tmp/lib/modules/$release/$m 0644 0 0"
		done <"$tmp/kmods"
		echo "file /lib/modules/load $tmp/kmods.load 0644 0 0"
	fi
	[ -z "$extra" ] || cat "$extra"
} >"$tmp/list"
"$python" "$here/tests/linux/mkcpio.py" "$out" <"$tmp/list"
echo "mkinitramfs: $out: busybox $(dpkg-deb -f "$deb" Version), $(grep -c '^slink' "$tmp/list") applet links," \
	"${kmods:+$(wc -l <"$tmp/kmods.load") kernel modules ($(tr '\n' ' ' <"$tmp/kmods.load")), }$(wc -c <"$out") bytes"
