#!/usr/bin/env python3
"""Write a gzip-compressed cpio archive in the "newc" format Linux unpacks as its initramfs, from a file list in the
format of the kernel's own usr/gen_init_cpio:

    dir   NAME MODE UID GID
    file  NAME SOURCE MODE UID GID
    slink NAME TARGET MODE UID GID
    nod   NAME MODE UID GID c|b MAJOR MINOR

  mkcpio.py OUT.cpio.gz < LIST

Written here rather than with cpio(1) so that no root is needed for the /dev/console node and the output is the same
bytes on every run: entries sorted by name (a parent always sorts before what it holds), inode numbers in that order,
every mtime SOURCE_DATE_EPOCH (default 0), and a gzip header with no name and no time.
"""
import gzip
import os
import stat
import sys

TYPES = {"dir": stat.S_IFDIR, "file": stat.S_IFREG, "slink": stat.S_IFLNK, "nod": None}


def header(ino, mode, uid, gid, nlink, mtime, size, rmajor, rminor, name):
    fields = (ino, mode, uid, gid, nlink, mtime, size, 0, 0, rmajor, rminor, len(name) + 1, 0)
    return b"070701" + b"".join(b"%08X" % f for f in fields) + name + b"\0"


def pad4(buf):
    buf += b"\0" * (-len(buf) % 4)
    return buf


def parse(lines):
    entries = {}
    for n, line in enumerate(lines, 1):
        w = line.split()
        if not w or w[0].startswith("#"):
            continue
        kind = w[0]
        want = {"dir": 5, "file": 6, "slink": 6, "nod": 8}.get(kind)
        if want is None or len(w) != want:
            sys.exit(f"mkcpio: line {n}: cannot parse {line.strip()!r}")
        name = w[1].lstrip("/")
        if not name or name in entries:
            sys.exit(f"mkcpio: line {n}: bad or repeated name {w[1]!r}")
        if kind == "dir":
            e = dict(type=stat.S_IFDIR, perm=w[2], ids=w[3:5], data=b"")
        elif kind == "file":
            with open(w[2], "rb") as f:
                e = dict(type=stat.S_IFREG, perm=w[3], ids=w[4:6], data=f.read())
        elif kind == "slink":
            e = dict(type=stat.S_IFLNK, perm=w[3], ids=w[4:6], data=w[2].encode())
        else:
            dev = {"c": stat.S_IFCHR, "b": stat.S_IFBLK}.get(w[5])
            if dev is None:
                sys.exit(f"mkcpio: line {n}: device type must be c or b")
            e = dict(type=dev, perm=w[2], ids=w[3:5], data=b"", rdev=(int(w[6]), int(w[7])))
        entries[name] = e
    return entries


def archive(entries, mtime):
    out = bytearray()
    for ino, name in enumerate(sorted(entries, key=lambda s: s.encode()), 1):
        e = entries[name]
        parent = os.path.dirname(name)
        if parent and entries.get(parent, {}).get("type") != stat.S_IFDIR:
            sys.exit(f"mkcpio: {name}: parent {parent} is not listed as a dir")
        rmaj, rmin = e.get("rdev", (0, 0))
        mode = e["type"] | int(e["perm"], 8)
        nlink = 2 if e["type"] == stat.S_IFDIR else 1
        out += header(ino, mode, int(e["ids"][0]), int(e["ids"][1]), nlink, mtime, len(e["data"]), rmaj, rmin,
                      name.encode())
        out = pad4(out)
        out += e["data"]
        out = pad4(out)
    out += header(0, 0, 0, 0, 1, 0, 0, 0, 0, b"TRAILER!!!")
    out = pad4(out)
    return bytes(out)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: mkcpio.py OUT.cpio.gz < LIST")
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    data = archive(parse(sys.stdin), mtime)
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "wb") as f:
        f.write(gzip.compress(data, compresslevel=9, mtime=0))
    os.replace(tmp, sys.argv[1])


if __name__ == "__main__":
    main()
