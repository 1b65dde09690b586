"""Just enough ISO-BMFF parsing to check CMAF segments without decrypting them.

Sample flags and durations live in the clear ``moof`` even when samples are encrypted, so
the keyframe and duration checks need no key. ``tenc``/``schm`` in the init segment say
whether a track is encrypted, with which scheme and under which KID.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

# ISO/IEC 14496-12 sample_is_non_sync_sample bit of the 32-bit sample flags.
NON_SYNC_SAMPLE = 0x00010000
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf"}


class Fmp4Error(ValueError):
    """The bytes are not the fragmented MP4 we expect."""


@dataclass(frozen=True)
class Box:
    type: bytes
    start: int  # offset of the box header
    payload: int  # offset of the payload
    end: int


def iter_boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[Box]:
    pos, stop = start, len(data) if end is None else end
    while pos + 8 <= stop:
        size, typ = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = stop - pos
        if size < header or pos + size > stop:
            raise Fmp4Error(f"bad box size {size} for {typ!r} at offset {pos}")
        yield Box(typ, pos, pos + header, pos + size)
        pos += size


def find_boxes(data: bytes, path: list[bytes], start: int = 0, end: int | None = None) -> list[Box]:
    """Boxes at a path of types, e.g. [b"moof", b"traf", b"trun"]."""
    found: list[Box] = []
    for box in iter_boxes(data, start, end):
        if box.type != path[0]:
            continue
        if len(path) == 1:
            found.append(box)
        elif box.type in _CONTAINERS:
            found.extend(find_boxes(data, path[1:], box.payload, box.end))
    return found


@dataclass(frozen=True)
class InitInfo:
    timescale: int
    trex_default_duration: int
    trex_default_flags: int
    sample_entry: str  # e.g. "encv", "avc1", "enca", "mp4a"
    scheme: str | None  # "cbcs" / "cenc" when encrypted
    default_kid: bytes | None

    @property
    def encrypted(self) -> bool:
        return self.default_kid is not None


def read_init(data: bytes) -> InitInfo:
    mdhd = find_boxes(data, [b"moov", b"trak", b"mdia", b"mdhd"])
    if not mdhd:
        raise Fmp4Error("init segment has no moov/trak/mdia/mdhd")
    box = mdhd[0]
    version = data[box.payload]
    (timescale,) = struct.unpack_from(">I", data, box.payload + (20 if version == 1 else 12))
    trex = find_boxes(data, [b"moov", b"mvex", b"trex"])
    dur = flags = 0
    if trex:
        # version/flags, track_ID, default_sample_description_index, duration, size, flags
        _, _, _, dur, _, flags = struct.unpack_from(">IIIIII", data, trex[0].payload)
    stsd = find_boxes(data, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"])
    if not stsd:
        raise Fmp4Error("init segment has no stsd")
    # stsd: version/flags(4) entry_count(4), then the first sample entry box header.
    entry = data[stsd[0].payload + 12 : stsd[0].payload + 16].decode("latin-1")
    scheme = kid = None
    # The sample entry's children sit after a codec-specific header; searching the stsd span
    # for the tenc/schm fourccs is simpler than decoding every sample-entry layout.
    span = data[stsd[0].start : stsd[0].end]
    t = span.find(b"tenc")
    if t >= 4:
        kid = span[t + 12 : t + 28]  # fourcc, version/flags(4), 4 bytes of defaults, KID
    s = span.find(b"schm")
    if s >= 4:
        scheme = span[s + 8 : s + 12].decode("latin-1")
    return InitInfo(timescale, dur, flags, entry, scheme, kid)


@dataclass(frozen=True)
class SegmentInfo:
    sample_count: int
    duration: int  # in the track timescale
    first_sample_flags: int
    base_decode_time: int | None
    sync_samples: int

    @property
    def starts_with_sync_sample(self) -> bool:
        return self.sample_count > 0 and not self.first_sample_flags & NON_SYNC_SAMPLE


def read_segment(data: bytes, init: InitInfo) -> SegmentInfo:
    """Sample count, total duration and first-sample flags of a media segment."""
    moofs = find_boxes(data, [b"moof"])
    if not moofs:
        raise Fmp4Error("media segment has no moof")
    totals = _SegmentTotals()
    for moof in moofs:
        for traf in find_boxes(data, [b"traf"], moof.payload, moof.end):
            defaults = (init.trex_default_duration, init.trex_default_flags)
            for tfhd in find_boxes(data, [b"tfhd"], traf.payload, traf.end):
                defaults = _tfhd_defaults(data, tfhd.payload, defaults)
            for tfdt in find_boxes(data, [b"tfdt"], traf.payload, traf.end):
                if totals.base_time is None:
                    v = data[tfdt.payload]
                    fmt = ">Q" if v == 1 else ">I"
                    (totals.base_time,) = struct.unpack_from(fmt, data, tfdt.payload + 4)
            for trun in find_boxes(data, [b"trun"], traf.payload, traf.end):
                _add_trun(data, trun.payload, defaults, totals)
    return SegmentInfo(
        totals.count, totals.duration, totals.first_flags or 0, totals.base_time, totals.sync
    )


@dataclass
class _SegmentTotals:
    count: int = 0
    duration: int = 0
    sync: int = 0
    first_flags: int | None = None
    base_time: int | None = None


def _tfhd_defaults(data: bytes, payload: int, defaults: tuple[int, int]) -> tuple[int, int]:
    """The track fragment's default sample duration and flags (else ``defaults``, trex's)."""
    default_dur, default_flags = defaults
    (vf,) = struct.unpack_from(">I", data, payload)
    off = payload + 8
    if vf & 0x01:
        off += 8
    if vf & 0x02:
        off += 4
    if vf & 0x08:
        (default_dur,) = struct.unpack_from(">I", data, off)
        off += 4
    if vf & 0x10:
        off += 4
    if vf & 0x20:
        (default_flags,) = struct.unpack_from(">I", data, off)
    return default_dur, default_flags


def _add_trun(data: bytes, payload: int, defaults: tuple[int, int], totals: _SegmentTotals) -> None:
    """Count one track run's samples, durations and sync samples into ``totals``."""
    default_dur, default_flags = defaults
    (vf,) = struct.unpack_from(">I", data, payload)
    (n,) = struct.unpack_from(">I", data, payload + 4)
    off = payload + 8
    if vf & 0x01:
        off += 4
    trun_first: int | None = None
    if vf & 0x04:
        (trun_first,) = struct.unpack_from(">I", data, off)
        off += 4
    for i in range(n):
        d, f = default_dur, default_flags
        if vf & 0x100:
            (d,) = struct.unpack_from(">I", data, off)
            off += 4
        if vf & 0x200:
            off += 4
        if vf & 0x400:
            (f,) = struct.unpack_from(">I", data, off)
            off += 4
        if vf & 0x800:
            off += 4
        if i == 0 and trun_first is not None:
            f = trun_first
        if totals.first_flags is None:
            totals.first_flags = f
        if not f & NON_SYNC_SAMPLE:
            totals.sync += 1
        totals.duration += d
    totals.count += n
