"""The studio ingest body: its model and every rule a studio's request must meet.

Source and callback URLs on a scheme allow-list and never at internal hosts (or a source in
the studio's own uploads, ``store:uploads/<studio id>/...``), window order,
ISO 3166 regions, known plans, lengths. ``parse_ingest_body`` turns any violation into a
422 problem. The one piece of I/O: each URL's host is resolved, by the same check the
fetcher applies (``reelflow.ingest.sources.check_public_host``), so a name that points
inside the deployment is refused at the door. Parse in a worker thread, not on the event
loop.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from reelflow.domain.codecs import VideoCodec
from reelflow.domain.ids import TITLE_ID_PATTERN
from reelflow.ingest.sources import (
    STORE_PREFIX,
    BadSource,
    check_public_host,
    check_studio_store_source,
)
from reelflow.lifecycle import contracts as c
from reelflow.playback_api.http.problems import Problem

LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$"
IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9._:-]{1,200}")
# The fetcher (reelflow.ingest.sources) speaks only these; the setting can narrow them, not widen:
# file:, store: and the rest would let a studio read the server's files or other masters.
FETCHABLE_SCHEMES = frozenset({"https", "http"})
CALLBACK_SCHEMES = frozenset({"https", "http"})
MAX_URL_CHARS = 2048
MAX_REPORTED_ERRORS = 50

# ISO 3166-1 alpha-2, all 249 officially assigned codes (pycountry is not a dependency;
# tests cross-check against tzdata's iso3166.tab where the system has it).
_ISO_3166_ALPHA2_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ
    DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
    GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG
    KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML
    MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
    PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
    SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM
    US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
ISO_3166_ALPHA2: frozenset[str] = frozenset(_ISO_3166_ALPHA2_CODES.split())
_HOSTNAME_RE = re.compile(
    r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?"
)


# ---- body validation ---------------------------------------------------------------------


def _no_control_chars(value: str, *, allow_newlines: bool = False) -> str:
    allowed = "\n\r\t" if allow_newlines else ""
    # NUL and friends break PostgreSQL text columns and terminal output downstream.
    if any((ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0) and ch not in allowed for ch in value):
        raise ValueError("control characters are not allowed")
    return value


def check_url(value: str, schemes: Collection[str]) -> str:
    """An absolute URL a worker may fetch or call; error messages never echo the URL."""
    if not value.isascii() or any(ch <= " " or ch in "\x7f\\" for ch in value):
        raise ValueError(
            "the URL must be ASCII without spaces, control characters or backslashes "
            "(percent-encode them; punycode international host names)"
        )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme.lower() not in schemes:
        raise ValueError(f"the URL scheme must be one of: {', '.join(sorted(schemes))}")
    if "@" in parts.netloc:
        raise ValueError("credentials in URLs are not accepted")
    host = parts.hostname
    if not host:
        raise ValueError("the URL needs a host")
    if port == 0:
        raise ValueError("not a valid URL")
    bracketed = parts.netloc.startswith("[")
    if not bracketed and not _HOSTNAME_RE.fullmatch(host):
        raise ValueError("the URL's host name is not valid")
    # The ingest workers sit inside the deployment: a studio must not point them at it.
    # Resolving (not reading the name) also catches DNS names that point inside and the
    # legacy address spellings (127.1, 2130706433) getaddrinfo still accepts.
    try:
        check_public_host(value)
    except BadSource:
        # A fixed message: BadSource names the host, and errors never echo the URL.
        raise ValueError(
            "the URL's host must resolve, and only to public addresses: loopback, private "
            "and link-local hosts are not accepted"
        ) from None
    return value


def _source_schemes(info: ValidationInfo) -> frozenset[str]:
    ctx = info.context or {}
    configured = ctx.get("source_schemes")
    return frozenset(configured) if configured is not None else FETCHABLE_SCHEMES


Text = Annotated[str, StringConstraints(strip_whitespace=True)]
Genre = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Region = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Plan = Literal["basic", "standard", "premium"]


class SubtitleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    language: str = Field(
        max_length=16,
        pattern=LANGUAGE_PATTERN,
        description="BCP 47 language tag, e.g. `en`, `pt-BR`",
        examples=["en"],
    )
    source: str = Field(max_length=MAX_URL_CHARS, description="WebVTT or SRT file URL")

    @field_validator("source")
    @classmethod
    def _source(cls, value: str, info: ValidationInfo) -> str:
        return check_url(value, _source_schemes(info))


def _h264_only() -> list[VideoCodec]:
    return ["h264"]


class IngestOptionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    require_approval: bool = Field(
        default=False, description="hold the title at the approval gate even when QC passes"
    )
    codecs: list[VideoCodec] = Field(
        default_factory=_h264_only,
        min_length=1,
        max_length=3,
        description="video ladders in the one package, the fallback first: "
        '["h264", "av1"] adds an AV1 ladder beside H.264 (players that decode AV1 prefer it)',
    )

    @field_validator("codecs")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each codec at most once")
        return value


class IngestBody(BaseModel):
    """One title delivery. Unknown fields are refused, so a misspelt field never goes unseen."""

    model_config = ConfigDict(extra="forbid", strict=True)

    title_id: str = Field(
        pattern=TITLE_ID_PATTERN,
        description="your stable id for the title: a-z 0-9 _ -, at most 64",
        examples=["big-buck-bunny"],
    )
    version: int = Field(
        default=1, ge=1, le=1000, description="a re-delivered master gets the next version"
    )
    name: Annotated[Text, Field(min_length=1, max_length=300)]
    synopsis: Annotated[Text, Field(max_length=5000)] = ""
    genres: list[Genre] = Field(default_factory=list, max_length=20)
    rating: Annotated[Text, Field(min_length=1, max_length=16)] | None = None
    source: str = Field(
        max_length=MAX_URL_CHARS,
        description=(
            "URL of the master file; schemes per REELFLOW_INGEST_SOURCE_SCHEMES (https, http). "
            "No credentials in the URL, no internal hosts. Or `store:uploads/<your studio "
            "id>/...`, the `source` of a presigned upload (POST /v1/studio/uploads)."
        ),
        examples=["https://media.example.com/masters/big-buck-bunny.mov"],
    )
    subtitles: list[SubtitleIn] = Field(default_factory=list, max_length=20)
    window_start: AwareDatetime | None = Field(
        default=None, description="ISO 8601 with offset; default: available once published"
    )
    window_end: AwareDatetime | None = Field(
        default=None, description="ISO 8601 with offset, after window_start; default: open-ended"
    )
    regions: list[Region] = Field(
        default_factory=list,
        max_length=250,
        description="ISO 3166-1 alpha-2 codes, uppercase; empty: worldwide",
        examples=[["US", "CA"]],
    )
    plans: list[Plan] = Field(
        default_factory=list, max_length=3, description="plans that may watch; empty: every plan"
    )
    callback_url: str | None = Field(
        default=None,
        max_length=MAX_URL_CHARS,
        description="https/http URL that receives signed lifecycle notifications",
    )
    options: IngestOptionsIn = Field(default_factory=IngestOptionsIn)

    @field_validator("name", "genres", "rating")
    @classmethod
    def _plain_text(cls, value: Any) -> Any:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                _no_control_chars(item)
        return value

    @field_validator("synopsis")
    @classmethod
    def _synopsis(cls, value: str) -> str:
        return _no_control_chars(value, allow_newlines=True)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str, info: ValidationInfo) -> str:
        if value.startswith(STORE_PREFIX):
            studio_id = (info.context or {}).get("studio_id")
            if not isinstance(studio_id, str):
                raise ValueError("store: sources are only accepted from a studio")
            try:
                check_studio_store_source(value, studio_id)
            except BadSource as exc:
                raise ValueError(str(exc)) from None
            return value
        return check_url(value, _source_schemes(info))

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value, CALLBACK_SCHEMES)

    @field_validator("window_end")
    @classmethod
    def _window(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("window_start")
        if value is not None and start is not None and value <= start:
            raise ValueError("window_end must be after window_start")
        return value

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        unknown = [r for r in value if r not in ISO_3166_ALPHA2]
        if unknown:
            raise ValueError(f"not ISO 3166-1 alpha-2 country codes: {', '.join(unknown[:10])}")
        return list(dict.fromkeys(value))

    @field_validator("genres", "plans")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    def to_title_input(self, catalog_id: str, studio_id: str, media_queue: str) -> c.TitleInput:
        """The workflow's input; ``catalog_id``: the title in the studio's namespace."""
        return c.TitleInput(
            title_id=catalog_id,
            source=self.source,
            name=self.name,
            version=self.version,
            synopsis=self.synopsis,
            genres=list(self.genres),
            rating=self.rating,
            options=c.TitleOptions(
                require_approval=self.options.require_approval,
                codec=self.options.codecs[0],
                extra_codecs=list(self.options.codecs[1:]),
            ),
            availability=c.AvailabilitySpec(
                window_start=self.window_start.isoformat() if self.window_start else None,
                window_end=self.window_end.isoformat() if self.window_end else None,
                regions=list(self.regions),
                plans=list(self.plans),
            ),
            subtitles=[c.SubtitleSource(s.language, s.source) for s in self.subtitles],
            studio_id=studio_id,
            callback_url=self.callback_url,
            media_queue=media_queue,
        )


def parse_ingest_body(
    raw: bytes, source_schemes: Collection[str], studio_id: str | None = None
) -> IngestBody:
    """Validate the signed bytes; every violation is a 422 validation_error listing them.

    ``studio_id``: the delivering studio, whose own uploads a ``store:`` source may name."""
    try:
        return IngestBody.model_validate_json(
            raw, context={"source_schemes": source_schemes, "studio_id": studio_id}
        )
    except ValidationError as exc:
        # Location, message and kind only: echoing the input could reflect URLs with secrets.
        errors = [
            {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise Problem(
            "validation_error",
            "the ingest body did not match the schema",
            errors=errors[:MAX_REPORTED_ERRORS],
        ) from None


def inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON schema with its ``$defs`` inlined: OpenAPI resolves ``#/$defs/...``
    against the whole document, where those definitions do not exist."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = walk(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]))
                return {**target, **{k: walk(v) for k, v in node.items() if k != "$ref"}}
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result
