#!/usr/bin/env python3
"""Draws Vigil's icon set: a deep-blue shield holding a watchful eye.

Standard library only (zlib and struct write the PNGs), so it runs on any
machine with Python 3 and no image tools. Run it from anywhere:

    python3 icons/generate.py

It rewrites, next to this script:
    32x32.png, 128x128.png, 128x128@2x.png (256 px), icon.png (512 px),
    icon.ico (PNG-compressed 16, 24, 32, 48, 64 and 256 px entries) and
    icon.icns (PNG-compressed 32, 64, 128, 256, 512 and 1024 px entries).

Every PNG is 8-bit RGBA, non-interlaced, which is what tauri-codegen accepts
for the window icon. Shapes are described as horizontal spans per scanline
and anti-aliased with vertical supersampling plus exact horizontal coverage,
so each size is drawn directly rather than scaled down from a big one.
"""

import math
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

# Colours as (r, g, b): a deep blue for the shield and pupil, white for the eye.
DEEP_BLUE = (23, 50, 122)
EYE_WHITE = (255, 255, 255)

# Geometry in unit coordinates (0..1 on both axes, y down).
CX = 0.5
SHIELD_TOP = 0.06
SHIELD_SHOULDER = 0.46  # where the straight sides start curving to the point
SHIELD_TIP = 0.95
SHIELD_HALF_WIDTH = 0.40
SHIELD_NOTCH = 0.035  # how far the top edge dips at the centre
EYE_CY = 0.44
EYE_HALF_WIDTH = 0.27
EYE_HALF_HEIGHT = 0.15
PUPIL_RADIUS = 0.095
GLINT_CX, GLINT_CY, GLINT_RADIUS = 0.535, 0.405, 0.03

SUBSAMPLES = 8  # sub-rows per pixel row


def shield_spans(y):
    """Inside-shield x spans on row y."""
    if y < SHIELD_TOP or y > SHIELD_TIP:
        return []
    if y <= SHIELD_SHOULDER:
        half = SHIELD_HALF_WIDTH
    else:
        # cos() has zero slope at the shoulder (smooth join with the sides)
        # and a non-zero slope at the tip, which gives a crisp point.
        t = (y - SHIELD_SHOULDER) / (SHIELD_TIP - SHIELD_SHOULDER)
        half = SHIELD_HALF_WIDTH * math.cos(math.pi / 2 * t)
    # The top edge is a shallow downward arc: y_top(dx) =
    # SHIELD_TOP + NOTCH * (1 - (dx / half_width)^2); above it on this row
    # lies a gap around the centre.
    if y < SHIELD_TOP + SHIELD_NOTCH:
        gap = SHIELD_HALF_WIDTH * math.sqrt(max(0.0, 1 - (y - SHIELD_TOP) / SHIELD_NOTCH))
        return [(CX - half, CX - gap), (CX + gap, CX + half)]
    return [(CX - half, CX + half)]


def eye_spans(y):
    """An almond: both lids are parabolas meeting in points at the corners."""
    dy = abs(y - EYE_CY)
    if dy >= EYE_HALF_HEIGHT:
        return []
    half = EYE_HALF_WIDTH * math.sqrt(1 - dy / EYE_HALF_HEIGHT)
    return [(CX - half, CX + half)]


def disc_spans(cx, cy, r):
    def spans(y):
        dy = y - cy
        if abs(dy) >= r:
            return []
        half = math.sqrt(r * r - dy * dy)
        return [(cx - half, cx + half)]

    return spans


# Painted in order, each over the previous ones.
LAYERS = [
    (shield_spans, DEEP_BLUE),
    (eye_spans, EYE_WHITE),
    (disc_spans(CX, EYE_CY, PUPIL_RADIUS), DEEP_BLUE),
    (disc_spans(GLINT_CX, GLINT_CY, GLINT_RADIUS), EYE_WHITE),
]


def coverage(spans_of, size):
    """Fraction (0..1) of each pixel covered by a shape, row-major."""
    cov = [0.0] * (size * size)
    weight = 1.0 / SUBSAMPLES
    for py in range(size):
        row = py * size
        for s in range(SUBSAMPLES):
            y = (py + (s + 0.5) / SUBSAMPLES) / size
            for x0, x1 in spans_of(y):
                a = max(0.0, x0 * size)
                b = min(float(size), x1 * size)
                if b <= a:
                    continue
                first, last = int(a), min(int(math.ceil(b)), size)
                for px in range(first, last):
                    overlap = min(b, px + 1) - max(a, px)
                    if overlap > 0:
                        cov[row + px] += overlap * weight
    return cov


def render(size):
    """Premultiplied compositing of the layers; returns straight RGBA bytes."""
    pr = [0.0] * (size * size)
    pg = [0.0] * (size * size)
    pb = [0.0] * (size * size)
    pa = [0.0] * (size * size)
    for spans_of, (r, g, b) in LAYERS:
        cov = coverage(spans_of, size)
        for i, c in enumerate(cov):
            if c <= 0.0:
                continue
            c = min(c, 1.0)
            keep = 1.0 - c
            pr[i] = r * c + pr[i] * keep
            pg[i] = g * c + pg[i] * keep
            pb[i] = b * c + pb[i] * keep
            pa[i] = c + pa[i] * keep
    out = bytearray(size * size * 4)
    for i in range(size * size):
        a = pa[i]
        if a <= 0.0:
            continue
        out[4 * i] = min(255, round(pr[i] / a))
        out[4 * i + 1] = min(255, round(pg[i] / a))
        out[4 * i + 2] = min(255, round(pb[i] / a))
        out[4 * i + 3] = min(255, round(a * 255))
    return bytes(out)


def png(size, rgba):
    """Encodes 8-bit RGBA pixels as a PNG file."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    stride = size * 4
    raw = b"".join(b"\x00" + rgba[y * stride : (y + 1) * stride] for y in range(size))
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit, RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def ico(entries):
    """An .ico whose images are PNGs (understood since Windows Vista)."""
    header = struct.pack("<HHH", 0, 1, len(entries))
    offset = len(header) + 16 * len(entries)
    directory, blobs = b"", b""
    for size, data in entries:
        dim = 0 if size >= 256 else size  # 0 means 256 in the directory
        directory += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        blobs += data
        offset += len(data)
    return header + directory + blobs


# icns element types that hold PNG data, by pixel size.
ICNS_TYPES = {32: b"ic11", 64: b"ic12", 128: b"ic07", 256: b"ic08", 512: b"ic09", 1024: b"ic10"}


def icns(entries):
    body = b"".join(
        ICNS_TYPES[size] + struct.pack(">I", len(data) + 8) + data for size, data in entries
    )
    return b"icns" + struct.pack(">I", len(body) + 8) + body


def main():
    cache = {}

    def png_of(size):
        if size not in cache:
            cache[size] = png(size, render(size))
        return cache[size]

    outputs = {
        "32x32.png": png_of(32),
        "128x128.png": png_of(128),
        "128x128@2x.png": png_of(256),
        "icon.png": png_of(512),
    }
    outputs["icon.ico"] = ico([(s, png_of(s)) for s in (16, 24, 32, 48, 64, 256)])
    outputs["icon.icns"] = icns([(s, png_of(s)) for s in (32, 64, 128, 256, 512, 1024)])
    for name, data in outputs.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
        print(f"wrote icons/{name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
