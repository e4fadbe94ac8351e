#!/usr/bin/env python3
"""Lists the CUDA code embedded in an executable or shared library, like
`cuobjdump --list-elf --list-ptx`, for machines without cuobjdump (scripts/bundle.sh writes it
into the bundle's MANIFEST; scripts/gpu-check.sh prefers cuobjdump where it exists).

    python3 scripts/cuda_archs.py build-cuda/useg
    sass: sm_80 sm_86 sm_89 sm_90
    ptx: compute_90

Reads the ELF section `.nv_fatbin` (where nvcc places the device code of every translation
unit) and walks its fat binaries: each is a header (magic 0xBA55ED50, version, header size,
payload size) followed by entries whose own header gives the kind (1 = PTX, 2 = ELF/SASS) and
the architecture (e.g. 90). Only those headers are read, so compressed entries need no
decompression. Exit status 1 (and a message) when the file has no CUDA code.
Standard library only.
"""
import struct
import sys

FATBIN_MAGIC = 0xBA55ED50
KIND_PTX, KIND_ELF = 1, 2


def fatbin_section(path):
    """The bytes of the ELF64 section `.nv_fatbin`, or None."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise SystemExit(f"{path}: not a 64-bit ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    sections = []
    for i in range(shnum):
        name, _type, _flags, _addr, off, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
        sections.append((name, off, size))
    names_off = sections[shstrndx][1]
    for name, off, size in sections:
        end = data.index(b"\0", names_off + name)
        if data[names_off + name:end] == b".nv_fatbin":
            return data[off:off + size]
    return None


def archs(blob):
    """(set of SASS archs, set of PTX archs) as integers, e.g. ({80, 90}, {90})."""
    sass, ptx = set(), set()
    pos = 0
    while pos + 16 <= len(blob):
        magic, _version, header_size, fat_size = struct.unpack_from("<IHHQ", blob, pos)
        if magic != FATBIN_MAGIC:
            pos += 8  # fat binaries are 8-byte aligned; skip padding between them
            continue
        entry, end = pos + header_size, pos + header_size + fat_size
        while entry + 32 <= end:
            kind, _unk, entry_header, payload = struct.unpack_from("<HHIQ", blob, entry)
            arch, = struct.unpack_from("<I", blob, entry + 28)
            if kind == KIND_ELF:
                sass.add(arch)
            elif kind == KIND_PTX:
                ptx.add(arch)
            if entry_header == 0:
                break
            entry += entry_header + payload
        pos = end
    return sass, ptx


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: cuda_archs.py BINARY")
    blob = fatbin_section(sys.argv[1])
    sass, ptx = archs(blob) if blob else (set(), set())
    if not sass and not ptx:
        print(f"{sys.argv[1]}: no CUDA code (no .nv_fatbin section or no entries)", file=sys.stderr)
        return 1
    print("sass: " + " ".join(f"sm_{a}" for a in sorted(sass)))
    print("ptx: " + " ".join(f"compute_{a}" for a in sorted(ptx)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
