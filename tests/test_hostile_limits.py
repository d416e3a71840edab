"""Policy limits hold for every frame, not just for the header: every ffmpeg/ffprobe call the
stages make carries `-max_pixels` from the policy and runs under a timeout, and all of those
command lines are built in one place (stages/io/media_io.py). An MJPEG AVI whose header (and
first frames) say 64x64 and whose frame at 4 s is 8192x8192 is never `ready`, and no tool
decodes that frame at full size."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from stages import catalog
from stages.common import default_settings
from stages.core import records
from stages.io import media_io
from tests.fixtures.hostile import giant_frame_avi, tool_spy
from tests.fixtures.media import make_audio
from tests.fixtures.stages import ROOT, run_stage

POLICY = default_settings("policy")
FRAME_8K_KB = 8192 * 8192 * 3 // 2 // 1024  # one 8192x8192 yuv420p frame: 96 MiB


@pytest.mark.unit
@pytest.mark.parametrize("builder", [media_io.ffprobe_cmd, media_io.ffmpeg_input_args])
def test_command_builders_cannot_be_called_without_a_pixel_limit(builder):
    param = inspect.signature(builder).parameters["max_pixels"]
    assert param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is inspect.Parameter.empty
    args = builder("/x/clip.mp4", "mov", max_pixels=1234) if builder is media_io.ffmpeg_input_args \
        else builder("/x/clip.mp4", max_pixels=1234)
    at = args.index("-max_pixels")
    assert args[at + 1] == "1234" and at < len(args) - 1 - args[::-1].index("file:/x/clip.mp4")


@pytest.mark.unit
def test_every_tool_run_has_a_deadline():
    for fn in (media_io.run_tool, media_io.Piped):
        param = inspect.signature(fn).parameters["timeout"]
        assert param.default is inspect.Parameter.empty, f"{fn.__name__} must be given a timeout"


@pytest.mark.unit
def test_media_io_is_the_one_place_that_runs_the_tools():
    """No other stage module starts a process or names ffmpeg/ffprobe itself."""
    offenders = []
    for path in sorted((ROOT / "stages").rglob("*.py")):
        if path.relative_to(ROOT).as_posix() == "stages/io/media_io.py":
            continue
        text = path.read_text()
        if re.search(r"\bsubprocess\b|\bPopen\b|os\.(system|exec|spawn|posix_spawn)|media_io\.FF(MPEG|PROBE)|"
                     r"\[\s*[\"']ff(mpeg|probe)[\"']", text):
            offenders.append(path.relative_to(ROOT).as_posix())
    assert offenders == []


@pytest.mark.media
def test_a_stalled_tool_is_killed_at_its_deadline_even_while_its_output_is_read():
    """A reader blocked on stdout (frames, PCM) must not wait for ever: the deadline kills it."""
    args = media_io.ffmpeg_base() + ["-re", "-f", "lavfi", "-i", "testsrc=size=32x32:rate=5:duration=600",
                                     "-f", "rawvideo", "pipe:1"]
    with media_io.Piped(args, timeout=2) as proc:
        while proc.stdout.read(65536):
            pass
        rc, err = proc.finish()
    assert rc == -9 and "timed out after 2s" in err


def mini_dag(media: Path, out: Path, clamd: str) -> dict:
    """scan, probe, transcode, labels and catalog run by hand on one upload (as the specs
    chain them); returns the catalog record."""
    name = media.name
    run_stage("scan", media, out / "scan", "--clamd", clamd)
    run_stage("probe", media, out / "probe", "--scan", str(out / "scan" / "clean" / f"{name}.json"))
    [probe] = list((out / "probe").glob(f"*/{name}.json"))
    if probe.parent.name == "valid":
        for stage in ("transcode", "labels"):
            run_stage(stage, media, out / stage, "--probe", str(probe))
    args = ["--scan", str(out / "scan" / "clean" / f"{name}.json"), "--probe", str(probe)]
    for stage in ("transcode", "labels"):
        if (out / stage / name).is_dir():
            args += [f"--{stage}", str(out / stage / name)]
    assert catalog.main([*args, "--out", str(out / "catalog")]) == 0  # catalog runs no tools: in-process
    rec = records.read_json(out / "catalog" / f"{name}.json")
    records.validate("catalog", rec)
    return rec


@pytest.mark.media
@pytest.mark.parametrize("at_s,seconds", [pytest.param(4, 8, id="at-4s-as-reported"),
                                          pytest.param(12, 24, id="past-every-probe-window")])
def test_a_giant_frame_mid_stream_is_never_ready_nor_decoded(tmp_path, monkeypatch, clamd, at_s, seconds):
    spy = tool_spy(tmp_path / "spy")
    for k, v in spy.env.items():
        monkeypatch.setenv(k, v)
    (tmp_path / "m").mkdir()
    twin = giant_frame_avi(tmp_path / "m" / "twin.avi", giant=(64, 64), at_s=at_s, seconds=seconds)
    honest = mini_dag(twin, tmp_path / "twin", clamd)
    assert honest["status"] == "ready", honest  # the same file without the giant frame is fine
    twin_peak = max(c["peak_kb"] for c in spy.calls())
    spy.log.unlink()

    avi = giant_frame_avi(tmp_path / "m" / "giant.avi", at_s=at_s, seconds=seconds)
    rec = mini_dag(avi, tmp_path / "out", clamd)
    assert rec["status"] == "rejected", rec
    why = rec.get("rejection") or rec["probe"]
    assert why["reason"] in ("dimensions_too_large", "frame_too_large") and "8192x8192" in why["message"], why

    calls = spy.calls()
    assert calls, "the stages ran no ffmpeg/ffprobe through the spy"
    for c in calls:
        if c["args"] == ["-version"]:
            continue
        assert "-max_pixels" in c["args"], c["args"]
        assert int(c["args"][c["args"].index("-max_pixels") + 1]) <= POLICY["max_pixels"]
        assert c["peak_kb"] < twin_peak + FRAME_8K_KB // 2, (c["tool"], c["peak_kb"], twin_peak)


@pytest.mark.media
def test_audio_and_still_paths_carry_the_limit_too(tmp_path, monkeypatch):
    spy = tool_spy(tmp_path / "spy")
    for k, v in spy.env.items():
        monkeypatch.setenv(k, v)
    (tmp_path / "m").mkdir()
    tone = make_audio(tmp_path / "m" / "tone.m4a", seconds=2, codec="aac")
    run_stage("probe", tone, tmp_path / "probe")
    probe = tmp_path / "probe" / "valid" / "tone.m4a.json"
    for stage in ("transcode", "labels"):  # waveform, loudness, the package check
        run_stage(stage, tone, tmp_path / stage, "--probe", str(probe))
    calls = [c for c in spy.calls() if c["args"] != ["-version"]]
    assert len(calls) >= 5
    assert all("-max_pixels" in c["args"] for c in calls), [c["args"] for c in calls if "-max_pixels" not in c["args"]]
