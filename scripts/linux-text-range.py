#!/usr/bin/env python3
"""Print the guest-physical range of a Linux bzImage's kernel text, as START-END (hex, page aligned), for
`protect=START-END:log` with `nokaslr`.

Debian ships no real System.map outside its -dbg package, so the range is read from the kernel itself: the bzImage's
payload (boot protocol 2.08+: payload_offset/payload_length) is the compressed vmlinux ELF, whose `.text` section
gives _text.._etext. Without KASLR the kernel runs where it is linked: physical = virtual - __START_KERNEL_map.
"""
import lzma
import struct
import sys

START_KERNEL_MAP = 0xffffffff80000000
PAGE = 4096


def vmlinux(bz):
    if bz[0x202:0x206] != b"HdrS" or struct.unpack_from("<H", bz, 0x206)[0] < 0x208:
        raise SystemExit("linux-text-range: not a bzImage with boot protocol 2.08 or later")
    setup_sects = bz[0x1f1] or 4
    off, length = struct.unpack_from("<II", bz, 0x248)
    payload = bz[(setup_sects + 1) * 512 + off:][:length]
    if payload[:6] != b"\xfd7zXZ\x00":
        raise SystemExit("linux-text-range: the payload is not xz-compressed (this script reads Debian's kernels)")
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)


def text_section(elf):
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        raise SystemExit("linux-text-range: the payload is not a 64-bit ELF")
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3a)
    sh = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    strtab = sh[shstrndx][4]
    for name, _type, _flags, addr, _off, size, *_ in sh:
        n = elf[strtab + name:elf.index(b"\0", strtab + name)]
        if n == b".text":
            return addr, addr + size
    raise SystemExit("linux-text-range: no .text section")


def main():
    start, end = text_section(vmlinux(open(sys.argv[1], "rb").read()))
    start, end = start - START_KERNEL_MAP, end - START_KERNEL_MAP
    print(f"0x{start & ~(PAGE - 1):x}-0x{(end + PAGE - 1) & ~(PAGE - 1):x}")


if __name__ == "__main__":
    main()
