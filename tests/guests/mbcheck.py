#!/usr/bin/env python3
"""Check that a guest image is a Multiboot 1 kernel both ways a loader may read it.

An ELF32 (EM_386) image whose PT_LOAD segments are below 4 GiB, and a multiboot header in the first 8 KiB whose
address fields (the a.out kludge, flag 16) describe exactly the same bytes: load_addr..load_end_addr copied from the
file, zeroed up to bss_end_addr, entry at entry_addr = e_entry. So a loader may take the ELF path (QEMU without the
kludge, GRUB) or the raw path (QEMU and GRUB with it) and get the same memory image.

  mbcheck.py IMAGE                       check; exit 1 with a reason on failure
  mbcheck.py IMAGE --strip-kludge OUT    also write a copy without flag 16 (ELF path only), to test that path
"""
import struct
import sys

MB_MAGIC = 0x1BADB002


def fail(path, why):
    print(f"mbcheck: {path}: {why}", file=sys.stderr)
    sys.exit(1)


def check(path):
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        fail(path, "not a little-endian ELF32 file")
    (e_type, e_machine, _, e_entry, e_phoff, _, _, _, e_phentsize, e_phnum) = struct.unpack_from(
        "<HHIIIIIHHH", data, 16)
    if e_type != 2 or e_machine != 3:
        fail(path, f"ELF type {e_type} machine {e_machine}, want ET_EXEC (2) EM_386 (3)")
    loads = []
    for i in range(e_phnum):
        p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, _, _ = struct.unpack_from(
            "<IIIIIIII", data, e_phoff + i * e_phentsize)
        if p_type == 1 and p_memsz:
            loads.append((p_offset, p_paddr, p_filesz, p_memsz))
    if len(loads) != 1:
        fail(path, f"{len(loads)} PT_LOAD segments, want exactly 1")
    off, paddr, filesz, memsz = loads[0]

    hdr = None
    for o in range(0, min(len(data), 8192) - 12 + 1, 4):
        magic, flags, csum = struct.unpack_from("<III", data, o)
        if magic == MB_MAGIC and (magic + flags + csum) & 0xFFFFFFFF == 0:
            hdr = o
            break
    if hdr is None:
        fail(path, "no multiboot 1 header with a valid checksum in the first 8192 bytes")
    flags = struct.unpack_from("<I", data, hdr + 4)[0]
    if flags & 3 != 3:
        fail(path, f"flags 0x{flags:x}: want page-aligned modules (0) and memory information (1)")
    if flags & (1 << 16):
        h_addr, l_addr, l_end, b_end, entry = struct.unpack_from("<IIIII", data, hdr + 12)
        l_off = hdr - (h_addr - l_addr)
        if l_addr != paddr or l_off != off:
            fail(path, f"kludge load_addr 0x{l_addr:x} at file offset 0x{l_off:x}, "
                       f"ELF segment 0x{paddr:x} at 0x{off:x}")
        if l_end - l_addr != filesz:
            fail(path, f"kludge loads 0x{l_end - l_addr:x} bytes, ELF segment has 0x{filesz:x}")
        if b_end - l_addr != memsz:
            fail(path, f"kludge bss_end 0x{b_end:x}, ELF segment ends at 0x{paddr + memsz:x}")
        if entry != e_entry:
            fail(path, f"kludge entry 0x{entry:x}, ELF entry 0x{e_entry:x}")
    if off + filesz > len(data):
        fail(path, "segment runs past the end of the file")
    return data, hdr, flags


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    data, hdr, flags = check(args[0])
    if len(args) == 3 and args[1] == "--strip-kludge":
        flags &= ~(1 << 16)
        out = bytearray(data)
        struct.pack_into("<II", out, hdr + 4, flags, (-(MB_MAGIC + flags)) & 0xFFFFFFFF)
        open(args[2], "wb").write(out)


if __name__ == "__main__":
    main()
