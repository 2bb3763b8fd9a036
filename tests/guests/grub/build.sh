#!/bin/sh
# Builds a guest this project did not write: a GRUB 2 core image for the i386-multiboot platform, a Multiboot (v1) ELF
# kernel, with tests/guests/grub/embedded.cfg built in. That config puts GRUB's terminal on COM1, prints
# "GRUB says hello from a guest", lists the memory map GRUB took from the multiboot information (lsmmap), and ends the
# run with `outb 0xf4 0` (isa-debug-exit: VM end status 0x1), falling back to `halt`.
#
#   build.sh OUT.elf WORKDIR
#
# grub-mkimage (Debian grub-common) needs the i386-multiboot platform's kernel.img and modules, which Debian does not
# package (grub-pc-bin is i386-pc; grub-coreboot-bin is i386-coreboot, whose kernel looks for coreboot tables and
# finds no memory without them). They are taken from, in order:
#   1. $GRUB_MULTIBOOT_DIR, if set;
#   2. /usr/lib/grub/i386-multiboot, where a distribution that packages the platform installs it;
#   3. WORKDIR/i386-multiboot, built here once and reused: upstream GRUB (the .orig tarball of Debian's grub2 source
#      package, the version of the installed grub-common) configured --target=i386 --with-platform=multiboot, and only
#      grub-core built (about a minute). Needs gcc, make, bison and flex. The tarball is $GRUB_SRC_TARBALL if set,
#      else one left in WORKDIR by an earlier run, else `apt-get source --download-only grub2` through a private
#      deb-src list under WORKDIR (the system's apt configuration is not touched; needs network access). Debian's
#      patches are not applied: they edit the build system and would need autoconf, automake and autopoint.
set -eu

out=${1:?usage: build.sh OUT.elf WORKDIR}
work=${2:?usage: build.sh OUT.elf WORKDIR}
here=$(cd "$(dirname "$0")" && pwd)
cfg=$here/embedded.cfg
modules="serial terminfo terminal echo iorw lsmmap halt"
mirror=${GRUB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${GRUB_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

die() {
	echo "grub: $*" >&2
	exit 1
}

is_platform_dir() {
	[ -f "$1/kernel.img" ] && [ -f "$1/moddep.lst" ] && [ -f "$1/serial.mod" ]
}

fetch_source() {
	apt=$work/apt
	# shellcheck disable=SC1091
	codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
	[ -n "$codename" ] || die "cannot tell the Debian release from /etc/os-release; set GRUB_SRC_TARBALL"
	[ -f "$keyring" ] || die "$keyring missing (package debian-archive-keyring); set GRUB_SRC_TARBALL"
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts"
	{
		echo "deb-src [signed-by=$keyring] $mirror $codename main"
		echo "deb-src [signed-by=$keyring] $security $codename-security main"
	} > "$apt/sources.list"
	set -- -q -o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts" \
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
	# As root apt drops to the _apt user for downloads, which cannot write into WORKDIR.
	[ "$(id -u)" -ne 0 ] || set -- "$@" -o APT::Sandbox::User=root
	echo "  GRUB    fetching the grub2 source package (apt-get source, private deb-src list in $apt)"
	apt-get "$@" update > "$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; die "apt-get update failed"; }
	ver=$(dpkg-query -W -f='${source:Version}' grub-common 2>/dev/null || true)
	(cd "$work" && { { [ -n "$ver" ] && apt-get "$@" source --download-only "grub2=$ver"; } ||
		apt-get "$@" source --download-only grub2; }) >> "$work/apt.log" 2>&1 ||
		{ cat "$work/apt.log" >&2; die "apt-get source grub2 failed"; }
	rm -rf "$apt" "$work"/grub2_*.dsc "$work"/grub2_*.debian.tar.*
}

# The upstream tarball that `apt-get source` left in WORKDIR (not its .asc signature), or nothing.
find_tarball() {
	for f in "$work"/grub2_*.orig.tar.*; do
		case $f in
		*.asc) ;;
		*) [ -f "$f" ] && echo "$f" && return 0 ;;
		esac
	done
	return 0
}

build_platform() {
	dest=$1
	for t in gcc make bison flex tar xz; do
		command -v "$t" > /dev/null || die "'$t' is needed to build GRUB's i386-multiboot platform"
	done
	tarball=${GRUB_SRC_TARBALL:-}
	if [ -z "$tarball" ]; then
		tarball=$(find_tarball)
		if [ -z "$tarball" ]; then
			fetch_source
			tarball=$(find_tarball)
		fi
	fi
	[ -f "$tarball" ] || die "no GRUB source tarball (looked for $work/grub2_*.orig.tar.*)"
	src=$work/src obj=$work/obj
	rm -rf "$src" "$obj" "$dest.tmp"
	mkdir -p "$src" "$obj" "$dest.tmp"
	echo "  GRUB    building the i386-multiboot platform from $(basename "$tarball") (log: $work/build.log)"
	tar -xf "$tarball" -C "$src" --strip-components=1
	# Run as a separate build: no jobserver, variables or flags from an enclosing make.
	unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES GNUMAKEFLAGS
	jobs=$(nproc 2> /dev/null || echo 2)
	{
		(cd "$obj" && "$src/configure" --target=i386 --with-platform=multiboot --disable-werror --disable-nls \
			--disable-grub-mkfont --disable-grub-themes --disable-device-mapper --disable-libzfs \
			--disable-grub-mount) &&
			make -C "$obj/grub-core" -j"$jobs"
	} > "$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; die "building GRUB failed"; }
	cp "$obj"/grub-core/kernel.img "$obj"/grub-core/*.mod "$obj"/grub-core/*.lst "$dest.tmp/"
	rm -rf "$dest" && mv "$dest.tmp" "$dest"
	rm -rf "$src" "$obj"
}

command -v grub-mkimage > /dev/null || die "grub-mkimage not found (package grub-common)"
[ -f "$cfg" ] || die "$cfg missing"
mkdir -p "$work" "$(dirname "$out")"
work=$(cd "$work" && pwd)

if [ -n "${GRUB_MULTIBOOT_DIR:-}" ]; then
	dir=$GRUB_MULTIBOOT_DIR
	is_platform_dir "$dir" || die "GRUB_MULTIBOOT_DIR=$dir holds no i386-multiboot kernel.img, moddep.lst and modules"
elif is_platform_dir /usr/lib/grub/i386-multiboot; then
	dir=/usr/lib/grub/i386-multiboot
else
	dir=$work/i386-multiboot
	is_platform_dir "$dir" || build_platform "$dir"
fi

# shellcheck disable=SC2086 # $modules is a list of words
grub-mkimage -O i386-multiboot -d "$dir" -c "$cfg" -p /boot/grub -o "$out.tmp" $modules ||
	die "grub-mkimage failed (modules from $dir)"
if command -v grub-file > /dev/null && ! grub-file --is-x86-multiboot "$out.tmp"; then
	rm -f "$out.tmp"
	die "$out is not a multiboot (v1) image"
fi
mv "$out.tmp" "$out"
