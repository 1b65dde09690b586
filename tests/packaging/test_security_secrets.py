"""Content keys never reach an argument list, an exception, a report or a Temporal failure.

Tool wrappers: ``_recording`` puts a shell script in front of the real ffmpeg / ffprobe /
packager that logs the kernel's view of its own argument list (``/proc/$$/cmdline``, what any
local user can read) and what any ``--flagfile`` is (an in-memory file), then ``exec``s the
real binary.
``_slow`` is a FAULT WRAPPER: a tool that hangs is a fault a real binary cannot be made to
produce on demand, so it logs its argv and then ``exec sleep``s past the timeout.
"""

from __future__ import annotations

import base64
import os
import subprocess
import traceback
from pathlib import Path

import pytest
from temporalio.api.failure.v1 import Failure
from temporalio.converter import DataConverter

from reelflow.domain.content_keys import ContentKey
from reelflow.domain.track_classes import TrackClass
from reelflow.media.errors import FFmpegTimeout, ProbeError
from reelflow.media.ffmpeg_run import run_ffmpeg, run_ffmpeg_detailed, run_ffprobe_json
from reelflow.packaging.errors import PackagerError
from reelflow.packaging.packager import PackageResult
from reelflow.packaging.packager_run import key_flags, run_packager, sweep_key_files
from reelflow.packaging.verify import verify_package


def _key_texts(keys: dict[TrackClass, ContentKey]) -> list[str]:
    """Every spelling of every key a leak could take."""
    out: list[str] = []
    for k in keys.values():
        out += [k.key.hex(), k.key.hex().upper()]
        out += [base64.b64encode(k.key).decode().rstrip("=")]
        out += [base64.urlsafe_b64encode(k.key).decode().rstrip("=")]
    return out


def _assert_no_key(text: str, keys: dict[TrackClass, ContentKey]) -> None:
    for secret in _key_texts(keys):
        assert secret not in text, f"key material {secret[:6]}... leaked"


def _wrapper(path: Path, real: str, log: Path, *, hang: bool) -> str:
    run = "exec sleep 30" if hang else f'exec "{real}" "$@"'
    path.write_text(
        "#!/bin/sh\n"
        f'tr "\\0" " " < /proc/$$/cmdline >> "{log}"; echo >> "{log}"\n'
        'for a in "$@"; do case "$a" in --flagfile=*) f="${a#--flagfile=}";\n'
        f'  echo "flagfile $f $(readlink "$f")" >> "{log}";;\n'
        "esac; done\n"
        f"{run}\n"
    )
    path.chmod(0o700)
    return str(path)


def _failure_text(exc: BaseException) -> str:
    """What Temporal records in history (cause chain) plus what a log's traceback prints."""
    failure = Failure()
    DataConverter.default.failure_converter.to_failure(
        exc, DataConverter.default.payload_converter, failure
    )
    return str(failure) + "".join(traceback.format_exception(exc))


def _activity_message(report_failures: list[tuple[str, str]]) -> str:
    # The same join PackagingActivities uses for "package failed verification: ...".
    return "; ".join(f"{n}: {d}" for n, d in report_failures)


def test_real_verification_keeps_keys_off_every_argv(
    encrypted_pkg: PackageResult,
    content_keys: dict[TrackClass, ContentKey],
    ffprobe_bin: str,
    ffmpeg9: str,
    packager_bin: str,
    tmp_path: Path,
) -> None:
    log = tmp_path / "argv.log"
    report = verify_package(
        encrypted_pkg,
        ffprobe=_wrapper(tmp_path / "ffprobe", ffprobe_bin, log, hang=False),
        ffmpeg_decode=_wrapper(tmp_path / "ffmpeg", ffmpeg9, log, hang=False),
        packager=_wrapper(tmp_path / "packager", packager_bin, log, hang=False),
        keys=content_keys,
    )
    assert report.passed, report.failures
    logged = log.read_text()
    _assert_no_key(logged, content_keys)
    assert "-decryption_key" not in logged
    flagfiles = [ln.split() for ln in logged.splitlines() if ln.startswith("flagfile ")]
    packager_runs = [ln for ln in logged.splitlines() if "/packager " in ln]
    # One decrypt per class (AUDIO, SD, HD) at least, each through its own flag file, which
    # is an inherited memory file (memfd), never a path on a disk.
    assert len(flagfiles) == len(packager_runs) >= 3
    for _, path, target, *_ in flagfiles:
        assert path.startswith("/proc/self/fd/") and target.startswith("/memfd:"), (path, target)


@pytest.mark.parametrize("hung", ["ffmpeg", "packager"])
def test_verification_timeout_leaks_no_key(
    hung: str,
    encrypted_pkg: PackageResult,
    content_keys: dict[TrackClass, ContentKey],
    ffprobe_bin: str,
    ffmpeg9: str,
    packager_bin: str,
    tmp_path: Path,
) -> None:
    log = tmp_path / "argv.log"
    report = verify_package(
        encrypted_pkg,
        ffprobe=ffprobe_bin,
        ffmpeg_decode=_wrapper(tmp_path / "ffmpeg", ffmpeg9, log, hang=hung == "ffmpeg"),
        packager=_wrapper(tmp_path / "packager", packager_bin, log, hang=hung == "packager"),
        keys=content_keys,
        # Long enough for the real tools on a loaded 2-core machine; the hung one never ends.
        timeout_s=4,
    )
    failed = {c.name: c.detail for c in report.failures}
    assert set(failed) == {"decrypt:AUDIO", "decrypt:SD", "decrypt:HD"}
    for name, detail in failed.items():
        assert "timed out after 4 s" in detail and hung in detail, (name, detail)
        assert "--flagfile" not in detail and "-i " not in detail  # no argv in the text
    _assert_no_key(_activity_message([(c.name, c.detail) for c in report.checks]), content_keys)
    _assert_no_key(repr(report), content_keys)
    _assert_no_key(log.read_text(), content_keys)
    assert log.read_text().count("\n") >= 3  # the wrappers really ran


def test_packager_error_text_redacts_keys_it_echoes(
    packager_bin: str, content_keys: dict[TrackClass, ContentKey], tmp_path: Path
) -> None:
    # Two key specs without labels: the real packager refuses and echoes the whole --keys
    # value ("Failed to parse --keys key_id=...:key=<hex>,...") on stderr.
    flags = tmp_path / "keys.flags"
    spec = ",".join(f"key_id={k.kid.hex()}:key={k.key.hex()}" for k in content_keys.values())
    flags.write_text(f"--enable_raw_key_decryption\n--keys={spec}\n")
    flags.chmod(0o600)
    probe = subprocess.run(
        [packager_bin, "in=x.mp4,stream=video,output=y.mp4", f"--flagfile={flags}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert content_keys[TrackClass.HD].key.hex() in probe.stderr  # the echo really happens
    with pytest.raises(PackagerError) as err:
        run_packager(
            packager_bin,
            ["in=x.mp4,stream=video,output=y.mp4", f"--flagfile={flags}"],
            cwd=tmp_path,
            streams=(),
        )
    assert "Failed to parse --keys" in str(err.value)
    _assert_no_key(str(err.value), content_keys)
    _assert_no_key(_failure_text(err.value), content_keys)


def test_packager_timeout_names_step_not_argv(
    content_keys: dict[TrackClass, ContentKey], tmp_path: Path
) -> None:
    hung = _wrapper(tmp_path / "packager", "/bin/false", tmp_path / "log", hang=True)
    secret_arg = f"in=/x.mp4,stream=video,output=/y.mp4,marker={'ab' * 16}"
    with pytest.raises(PackagerError) as err:
        run_packager(hung, [secret_arg], cwd=tmp_path, streams=(), timeout=0.5, step="decrypt v")
    text = _failure_text(err.value)
    assert "decrypt v timed out after 0.5 s" in str(err.value)
    assert "ab" * 16 not in text and "marker=" not in text
    assert err.value.__cause__ is None and err.value.__suppress_context__


_MARKER = "cd" * 16  # stands in for anything secret an argument list could carry


def test_ffmpeg_timeout_text_and_cause_chain_carry_no_argv(tmp_path: Path) -> None:
    # Real ffmpeg on an endless source: killed by the timeout. `-loglevel error`: ffmpeg's
    # own stderr (kept as the tail) would echo the metadata; the argv must not be in the text.
    args = [
        "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
        "-metadata", f"comment={_MARKER}", "-f", "null", "-",
    ]  # fmt: skip
    for run in (
        lambda: run_ffmpeg(args, ffmpeg="/usr/bin/ffmpeg", timeout_s=0.5, step="encode chunk 3"),
        lambda: run_ffmpeg_detailed(
            args, ffmpeg="/usr/bin/ffmpeg", timeout_s=0.5, follow_progress=True, step="qc decode"
        ),
    ):
        with pytest.raises(FFmpegTimeout) as err:
            run()
        assert "timed out after 0.5 s" in str(err.value)
        assert "encode chunk 3" in str(err.value) or "qc decode" in str(err.value)
        text = _failure_text(err.value)
        assert _MARKER not in text and "testsrc2" not in text


def test_ffprobe_timeout_text_carries_no_argv(tmp_path: Path) -> None:
    hung = _wrapper(tmp_path / "ffprobe", "/bin/false", tmp_path / "log", hang=True)
    with pytest.raises(ProbeError) as err:
        run_ffprobe_json([f"/master-{_MARKER}.mov"], ffprobe=hung, timeout_s=0.5, step="probe")
    assert str(err.value) == "ffprobe (probe) timed out after 0.5 s"
    assert _MARKER not in _failure_text(err.value)


def test_key_flags_live_in_memory_only_and_reach_the_child(
    content_keys: dict[TrackClass, ContentKey], tmp_path: Path
) -> None:
    with key_flags(content_keys, purpose="decryption") as flags:
        # the child reads the keys through the path its argument names
        shown = subprocess.run(
            ["cat", flags.arg.removeprefix("--flagfile=")],
            pass_fds=flags.pass_fds, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert shown.startswith("--enable_raw_key_decryption\n--keys=label=")
        assert content_keys[TrackClass.HD].key.hex() in shown
        # a child not given the descriptor sees nothing there
        blind = subprocess.run(
            ["cat", flags.arg.removeprefix("--flagfile=")], capture_output=True, check=False
        )
        assert blind.returncode != 0 and not blind.stdout
        assert os.readlink(f"/proc/self/fd/{flags.fd}").startswith("/memfd:")
    with pytest.raises(OSError):
        os.fstat(flags.fd)  # closed with the block


def test_key_files_an_older_release_left_are_swept(tmp_path: Path) -> None:
    left = tmp_path / "reelflow-pkg-abc123" / "keys.x1y2.flags"
    left.parent.mkdir()
    left.write_text("--keys=label=HD:key_id=00:key=11\n")
    other = tmp_path / "reelflow-pkg-abc123" / "notes.txt"
    other.write_text("kept")
    assert sweep_key_files(tmp_path) == 1
    assert not left.exists() and other.exists()
    assert sweep_key_files(tmp_path) == 0
