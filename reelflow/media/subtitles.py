"""Sidecar captions: parse SRT and WebVTT, validate, normalise to WebVTT.

Every error is a SubtitleError whose message names the 1-based line number, so a studio
can fix the file without guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from reelflow.media.errors import SubtitleError

Format = Literal["srt", "vtt"]

# Cues may start slightly before the previous one (overlapping speakers, rounding); a
# bigger step back means the file is out of order or its timestamps are garbage.
MAX_BACKWARDS_S = 1.0

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})[.,](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s+(.*))?$")
# SRT styling that WebVTT does not know: <font ...> tags and ASS overrides like {\an8}.
_FONT_TAG = re.compile(r"</?font\b[^>]*>", re.IGNORECASE)
_ASS_OVERRIDE = re.compile(r"\{\\[^}]*\}")
# In WebVTT "&" starts an entity and "<" a tag; SRT text uses both as plain characters.
_BARE_AMP = re.compile(r"&(?![a-zA-Z]+;|#\d+;|#x[0-9a-fA-F]+;)")
_BARE_LT = re.compile(r"<(?!/?(?:i|b|u|c|v|lang|ruby|rt)\b[^<>]*>|\d[\d:.]*>)")


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str
    identifier: str | None = None
    settings: str | None = None  # WebVTT cue settings, e.g. "line:0 align:start"
    line: int = 0  # line of the timing line in the source, for error messages


def decode_caption_bytes(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252 as studios often send."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def detect_format(text: str) -> Format:
    first = next((ln.strip() for ln in _lines(text) if ln.strip()), "")
    if first.startswith("WEBVTT"):
        return "vtt"
    return "srt"


def parse_captions(text: str, *, fmt: Format | None = None) -> list[Cue]:
    """Parse and validate; returns cues sorted by start time."""
    kind = fmt or detect_format(text)
    cues = parse_webvtt(text) if kind == "vtt" else parse_srt(text)
    return validate_cues(cues)


def to_webvtt(text: str, *, fmt: Format | None = None) -> str:
    """Normalise SRT or WebVTT caption text to WebVTT; raises SubtitleError."""
    return cues_to_webvtt(parse_captions(text, fmt=fmt))


def cues_to_webvtt(cues: list[Cue]) -> str:
    out = ["WEBVTT", ""]
    for cue in cues:
        if cue.identifier:
            out.append(cue.identifier)
        timing = f"{format_timestamp(cue.start_s)} --> {format_timestamp(cue.end_s)}"
        out.append(f"{timing} {cue.settings}" if cue.settings else timing)
        out.append(cue.text)
        out.append("")
    return "\n".join(out)


def format_timestamp(seconds: float) -> str:
    total_ms = round(seconds * 1000)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


# ---- parsing -------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Blank-line separated blocks as (1-based first line number, lines)."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(lines, start=1):
        if line.strip():
            if not current:
                start = number
            current.append(line.rstrip())
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


def _parse_timing(line: str, number: int) -> tuple[float, float, str | None]:
    m = _TIMING.match(line)
    if not m:
        raise SubtitleError(f"line {number}: malformed timing line {line.strip()!r}", line=number)
    g = m.groups()
    start = _seconds(g[0:4], number)
    end = _seconds(g[4:8], number)
    settings = (g[8] or "").strip() or None
    return start, end, settings


def _seconds(parts: tuple[str | None, ...], number: int) -> float:
    hours, minutes, secs, frac = parts
    m, s = int(minutes or 0), int(secs or 0)
    if m >= 60 or s >= 60:
        raise SubtitleError(f"line {number}: minutes and seconds must be below 60", line=number)
    # "1,5" means 500 ms in the wild; pad the fraction to milliseconds.
    ms = int((frac or "0").ljust(3, "0"))
    return int(hours or 0) * 3600 + m * 60 + s + ms / 1000


def _clean_text(lines: list[str], first_number: int, *, escape: bool = False) -> str:
    for offset, line in enumerate(lines):
        if "-->" in line:
            number = first_number + offset
            raise SubtitleError(
                f"line {number}: cue text contains '-->' (missing blank line between cues?)",
                line=number,
            )
    text = "\n".join(lines)
    text = _ASS_OVERRIDE.sub("", _FONT_TAG.sub("", text))
    if escape:
        text = _BARE_LT.sub("&lt;", _BARE_AMP.sub("&amp;", text))
    return "\n".join(ln.strip() for ln in text.split("\n")).strip()


def parse_srt(text: str) -> list[Cue]:
    cues: list[Cue] = []
    blocks = _blocks(_lines(text))
    if not blocks:
        raise SubtitleError("line 1: caption file has no cues", line=1)
    for start, block in blocks:
        index = 0
        identifier = None
        if "-->" not in block[0]:
            if not block[0].strip().isdigit():
                raise SubtitleError(
                    f"line {start}: expected a cue number or timing line, got {block[0]!r}",
                    line=start,
                )
            identifier = block[0].strip()
            index = 1
        if index >= len(block):
            raise SubtitleError(f"line {start}: cue number without a timing line", line=start)
        timing_line = start + index
        begin, end, _settings = _parse_timing(block[index], timing_line)
        payload = _clean_text(block[index + 1 :], timing_line + 1, escape=True)
        if payload:  # empty cues are common in SRT exports and carry nothing
            cues.append(Cue(begin, end, payload, identifier, None, timing_line))
    return cues


def parse_webvtt(text: str) -> list[Cue]:
    lines = _lines(text)
    header = lines[0] if lines else ""
    if not (header == "WEBVTT" or header.startswith(("WEBVTT ", "WEBVTT\t"))):
        raise SubtitleError("line 1: WebVTT file must start with 'WEBVTT'", line=1)
    cues: list[Cue] = []
    blocks = _blocks(lines)
    for start, block in blocks:
        if start == 1:
            continue  # the header block (WEBVTT plus optional header lines)
        head = block[0]
        if head.startswith(("NOTE", "STYLE", "REGION")) and "-->" not in head:
            continue  # comments and styling: not carried into the normalised file
        index = 0
        identifier = None
        if "-->" not in head:
            identifier = head.strip()
            index = 1
            if len(block) < 2 or "-->" not in block[1]:
                raise SubtitleError(
                    f"line {start}: expected a timing line after cue identifier {head!r}",
                    line=start,
                )
        timing_line = start + index
        begin, end, settings = _parse_timing(block[index], timing_line)
        payload = _clean_text(block[index + 1 :], timing_line + 1)
        if payload:
            cues.append(Cue(begin, end, payload, identifier, settings, timing_line))
    return cues


def validate_cues(cues: list[Cue]) -> list[Cue]:
    """Check cue times; returns the cues sorted by start time."""
    if not cues:
        raise SubtitleError("line 1: caption file has no cues", line=1)
    previous: Cue | None = None
    for cue in cues:
        if cue.end_s <= cue.start_s:
            raise SubtitleError(
                f"line {cue.line}: cue ends ({format_timestamp(cue.end_s)}) "
                f"at or before it starts ({format_timestamp(cue.start_s)})",
                line=cue.line,
            )
        if previous is not None and cue.start_s < previous.start_s - MAX_BACKWARDS_S:
            raise SubtitleError(
                f"line {cue.line}: cue starts at {format_timestamp(cue.start_s)}, before the "
                f"previous cue at {format_timestamp(previous.start_s)} (line {previous.line})",
                line=cue.line,
            )
        previous = cue
    return sorted(cues, key=lambda c: (c.start_s, c.end_s))
