#!/bin/sh
# Build the project's Linux disk image: an ext4 file system made by Debian's mke2fs -d from a directory holding
# Debian's busybox-static (the .deb that scripts/mkinitramfs.sh keeps next to OUT), its applet links, the disk's
# /sbin/init (tests/linux/disk/rootinit) and /data/image.bin, 256 KiB of fixed pseudo-random bytes with their md5 in
# /data/image.md5, for the guest to check what it reads.
#
#   mkdiskimg.sh [OUT.img] [INIT] [SIZE]     (defaults build/linux/disk.img tests/linux/disk/rootinit 8M)
#
# OUT-vdb.img (OUT without .img) gets a copy of /data/image.bin: a second, read-only disk for the guest to check
# (role=disk ro), whose md5 the root file system holds.
#
# The image is a raw disk, whole 512-byte sectors, with the file system from sector 0 (no partition table: the
# kernel mounts /dev/vda). It is what `module2 /boot/disk.img vm=NAME role=disk` hands to a VM as its vda, and what
# QEMU's -drive file=OUT,if=virtio,format=raw takes. The UUID and hash seed are fixed and the files' time stamps are
# SOURCE_DATE_EPOCH (default 0); the bytes still differ from run to run where this mke2fs (1.47.0) writes the time it
# ran (superblock, inode creation times), which no option of it fixes.
set -eu

out=${1:-build/linux/disk.img}
init=${2:-tests/linux/disk/rootinit}
size=${3:-8M}
dir=$(dirname "$out")
python=${PYTHON:-python3}

die() {
	echo "mkdiskimg: $*" >&2
	exit 1
}

command -v mke2fs >/dev/null || PATH=$PATH:/sbin:/usr/sbin
command -v mke2fs >/dev/null || die "mke2fs not found (package e2fsprogs: scripts/deps.sh installs it)"
[ -f "$init" ] || die "$init: no such file"
deb=""
for f in "$dir"/busybox-static_*.deb; do
	[ -f "$f" ] && deb=$f
done
[ -n "$deb" ] || die "no busybox-static .deb in $dir: build the initramfs first (make linux-initramfs)"
tmp=$(mktemp -d "$dir/.mkdiskimg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

dpkg-deb -x "$deb" "$tmp/pkg"
root=$tmp/root
for d in bin sbin usr/bin usr/sbin dev proc sys tmp run root etc mnt data; do
	mkdir -p "$root/$d"
done
cp "$tmp/pkg/bin/busybox" "$root/bin/busybox"
"$root/bin/busybox" --list-full | while read -r a; do
	[ "$a" = bin/busybox ] || [ "$a" = sbin/init ] || ln -sf /bin/busybox "$root/$a"
done
cp "$init" "$root/sbin/init"
chmod 0755 "$root/sbin/init" "$root/bin/busybox"
chmod 1777 "$root/tmp"
"$python" -c '
import hashlib, random, sys
data = random.Random(16).randbytes(256 * 1024)
open(sys.argv[1], "wb").write(data)
open(sys.argv[2], "w").write(hashlib.md5(data).hexdigest() + "\n")' "$root/data/image.bin" "$root/data/image.md5"

# The files' time stamps, which mke2fs -d copies.
find "$root" -exec touch -h -d "@${SOURCE_DATE_EPOCH:-0}" {} +
rm -f "$out.tmp"
truncate -s "$size" "$out.tmp"
mke2fs -q -F -t ext4 -L hvroot -U 6f1d0e6a-1b5e-4c1a-9d2b-68766462736b -E root_owner=0:0,hash_seed=6f1d0e6a-1b5e-4c1a-9d2b-68766462736b \
	-d "$root" "$out.tmp" || die "mke2fs failed"
mv "$out.tmp" "$out"
cp "$root/data/image.bin" "${out%.img}-vdb.img"
echo "mkdiskimg: $out: ext4, $(wc -c <"$out") bytes, busybox $(dpkg-deb -f "$deb" Version), /sbin/init from $init"
