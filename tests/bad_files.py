"""Files written the way hostile inputs arrive, shared by the refusal suites. Imported by its own name
(pytest puts tests/ on sys.path), never as ``tests.<module>``, which an installed ``tests`` package would shadow."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header announces ``width`` x ``height`` 8-bit grey pixels with almost no data behind it (a
    decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def png_header_only(path: Path, width: int, height: int) -> Path:
    """``png_header`` written to ``path``."""
    path.write_bytes(png_header(width, height))
    return path
