#!/bin/sh
# shellcheck disable=SC2046 # $(resolve) is split into PACKAGE VERSION on purpose
# Fetch the guest kernel: Debian's linux-image-amd64 for this Debian release, used exactly as packaged. The package is
# downloaded (apt-get download), never installed: its boot/vmlinuz-* is copied out to OUTDIR/vmlinuz.
#
#   get-linux.sh [OUTDIR]          (default build/linux)
#
# linux-image-amd64 is a metapackage; the kernel is the versioned package it depends on (linux-image-6.1.0-N-amd64 on
# Debian 12), resolved with apt-cache from the local package lists. OUTDIR/version records what was fetched:
#     package=linux-image-6.1.0-N-amd64
#     version=6.1.NNN-N          (Debian package version)
#     release=6.1.0-N-amd64      (what `uname -r` prints in the guest)
# A second run with the same package and version does nothing. The .deb stays in OUTDIR so that a deleted vmlinuz can
# be extracted again without the network.
#
# The package lists must be present and current (a mirror drops superseded kernels). When they are not: as root this
# runs `apt-get update` once and tries again; otherwise it prints the command to run and fails.
# LINUX_DEB=/path/to/linux-image-*.deb uses that file instead of resolving and downloading anything (offline builds).
set -eu

out=${1:-build/linux}
meta=linux-image-amd64

die() {
	echo "get-linux: $*" >&2
	exit 1
}

# The versioned kernel package linux-image-amd64 depends on, as "PACKAGE VERSION", from the candidate version.
resolve() {
	apt-cache show --no-all-versions "$meta" 2>/dev/null |
		sed -n 's/^Depends: *\(linux-image-[^ ,|]*\) *(= *\([^ )]*\)).*/\1 \2/p' | head -n 1
}

# Download PACKAGE=VERSION into the current directory.
download() {
	set -- "$1=$2"
	# As root apt drops to the _apt user for downloads, who cannot write here.
	if [ "$(id -u)" -eq 0 ]; then
		apt-get -q -o APT::Sandbox::User=root download "$1"
	else
		apt-get -q download "$1"
	fi
}

# Print the kernel's own version string from the bzImage header (the kernel_version field at 0x20e).
banner() {
	command -v python3 >/dev/null || return 0
	python3 - "$1" <<'EOF' || true
import struct, sys
d = open(sys.argv[1], "rb").read(64 * 1024)
if d[0x202:0x206] == b"HdrS":
    off = struct.unpack_from("<H", d, 0x20e)[0] + 0x200
    print("get-linux: kernel " + d[off:d.index(b"\0", off)].decode(errors="replace"))
EOF
}

field() {
	sed -n "s/^$1=//p" "$out/version" 2>/dev/null || true
}

command -v dpkg-deb >/dev/null || die "dpkg-deb not found (package dpkg)"
mkdir -p "$out"

if [ -n "${LINUX_DEB:-}" ]; then
	[ -f "$LINUX_DEB" ] || die "LINUX_DEB=$LINUX_DEB: no such file"
	deb=$LINUX_DEB
	pkg=$(dpkg-deb -f "$deb" Package) ver=$(dpkg-deb -f "$deb" Version)
else
	command -v apt-cache >/dev/null || die "apt-cache not found: this needs Debian's apt (or set LINUX_DEB)"
	set -- $(resolve)
	if [ $# -ne 2 ]; then
		[ "$(id -u)" -eq 0 ] || die "$meta is not in the package lists. Run: sudo apt-get update"
		echo "get-linux: $meta is not in the package lists: apt-get update"
		apt-get -q update >/dev/null || die "apt-get update failed"
		set -- $(resolve)
		[ $# -eq 2 ] || die "cannot resolve the kernel package $meta depends on"
	fi
	pkg=$1 ver=$2
	deb=""
fi

if [ -f "$out/vmlinuz" ] && [ "$(field package)" = "$pkg" ] && [ "$(field version)" = "$ver" ]; then
	echo "get-linux: $pkg $ver (kernel $(field release)) is up to date in $out/vmlinuz"
	banner "$out/vmlinuz"
	exit 0
fi

tmp=$(mktemp -d "$out/.get-linux.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [ -z "$deb" ]; then
	# A .deb left by an earlier run is reused; apt-get download names it PACKAGE_VERSION_amd64.deb with the
	# epoch colon written as %3a.
	for f in "$out/${pkg}_"*.deb; do
		[ -f "$f" ] && [ "$(dpkg-deb -f "$f" Version)" = "$ver" ] && deb=$f && break
	done
fi
if [ -z "$deb" ]; then
	echo "get-linux: downloading $pkg $ver (from $meta)"
	if ! (cd "$tmp" && download "$pkg" "$ver") >"$tmp/apt.log" 2>&1; then
		# The lists name a version the mirror no longer has: refresh them once.
		[ "$(id -u)" -eq 0 ] || { cat "$tmp/apt.log" >&2; die "download failed. Run: sudo apt-get update"; }
		echo "get-linux: download failed: apt-get update and resolve again"
		apt-get -q update >/dev/null || die "apt-get update failed"
		set -- $(resolve)
		[ $# -eq 2 ] || die "cannot resolve the kernel package $meta depends on"
		pkg=$1 ver=$2
		(cd "$tmp" && download "$pkg" "$ver") >"$tmp/apt.log" 2>&1 || { cat "$tmp/apt.log" >&2; die "download failed"; }
	fi
	for f in "$tmp/${pkg}_"*.deb; do
		[ -f "$f" ] || die "apt-get download left no ${pkg}_*.deb"
		rm -f "$out"/linux-image-*.deb
		mv "$f" "$out/"
		deb=$out/$(basename "$f")
	done
fi

dpkg-deb -x "$deb" "$tmp/x"
set -- "$tmp"/x/boot/vmlinuz-*
if [ $# -ne 1 ] || [ ! -f "$1" ]; then die "$deb holds no single boot/vmlinuz-*"; fi
release=${1##*/vmlinuz-}
cp "$1" "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
printf 'package=%s\nversion=%s\nrelease=%s\n' "$pkg" "$ver" "$release" >"$out/version"
echo "get-linux: $pkg $ver: kernel $release -> $out/vmlinuz"
banner "$out/vmlinuz"
