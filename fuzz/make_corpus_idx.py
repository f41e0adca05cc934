#!/usr/bin/env python3
"""Writes the IDX fuzzer's seed corpus (fuzz/corpus/idx/): a few small valid files of
every value type, plain and gzip, and typical invalid ones. Run from the repo root."""
import gzip
import os
import struct

OUT = "fuzz/corpus/idx"


def idx(type_, dims, body):
    return bytes([0, 0, type_, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + body


def main():
    os.makedirs(OUT, exist_ok=True)
    u8 = idx(0x08, [2, 3, 4], bytes(range(0, 240, 10)))
    files = {
        "valid_u8_2x3x4": u8,
        "valid_i8_5": idx(0x09, [5], bytes([0x80, 0xFF, 0, 1, 0x7F])),
        "valid_i16_2x2": idx(0x0B, [2, 2], struct.pack(">4h", -32768, -1, 0, 32767)),
        "valid_i32_3": idx(0x0C, [3], struct.pack(">3i", -2**31, 16777217, 2**31 - 1)),
        "valid_f32_2x3": idx(0x0D, [2, 3], struct.pack(">6f", 0.0, -0.0, 1.5, float("inf"),
                                                          float("nan"), 1e-45)),
        "valid_f64_1x1x2x2": idx(0x0E, [1, 1, 2, 2], struct.pack(">4d", 0.1, -2.0, 3e38, 1e-300)),
        "valid_labels_10": idx(0x08, [10], bytes(range(10))),
        "gzip_u8": gzip.compress(u8, mtime=0),
        "gzip_u8_two_members": gzip.compress(u8[:7], mtime=0) + gzip.compress(u8[7:], mtime=0),
        "bad_magic": b"\x01" + u8[1:],
        "bad_type": u8[:2] + b"\x0a" + u8[3:],
        "bad_rank0": u8[:3] + b"\x00" + u8[4:],
        "bad_rank5": idx(0x08, [1, 1, 1, 1, 1], b"z"),
        "bad_zero_dim": idx(0x08, [3, 0], b""),
        "bad_overflow_dims": idx(0x08, [0xFFFFFFFF] * 3, b""),
        "bad_truncated": u8[:-5],
        "bad_trailing": u8 + b"\x07",
        "bad_f64_range": idx(0x0E, [1], struct.pack(">d", 1e300)),
        "bad_gzip_crc": gzip.compress(u8, mtime=0)[:-6] + b"\x00" + gzip.compress(u8, mtime=0)[-5:],
        "bad_gzip_truncated": gzip.compress(u8, mtime=0)[:20],
    }
    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
