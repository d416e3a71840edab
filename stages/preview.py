"""preview: one fast, low rendition of a video, published ahead of the ladder so an
upload can be watched within seconds of its upload; the playback page switches to
transcode's ladder when that lands. It is a transcode (the same plan, ffmpeg command,
HLS + DASH over one set of CMAF segments, verification and record) with one rung and
the preview's speed settings.

`python -m stages.preview --media PATH --probe valid.json --settings preview.json --out DIR`
-> DIR/<name>/{hls/master.m3u8, dash/manifest.mpd, dash/*.m4s, poster.jpg, storyboard.*, package.json}
Audio-only uploads and stills get no preview: their package is quick to make anyway.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from stages.common import Progress, StageError, content_or_record, default_settings, media_stage_args, run_main
from stages.core import records
from stages.core.source import source_info
from stages.transcode import transcode


def transcode_settings(preview: dict) -> dict[str, Any]:
    """transcode's defaults with the preview's one rung, preset and CRF."""
    settings = default_settings("transcode") | {
        "rungs": [{"height": preview["height"], "maxrate_kbps": preview["maxrate_kbps"]}],
        "preset": preview["preset"], "crf": preview["crf"]}
    try:
        records.validate("settings-transcode", settings)
    except records.RecordError as e:
        raise StageError(f"settings/preview.json: {e}") from e
    return settings


def preview(media: Path, probe: dict | None, settings: dict, out: Path, progress: Progress) -> dict[str, Any] | None:
    """The preview package of a video upload (its record), None for any other kind."""
    src = source_info(media, probe)
    if src["kind"] != "video" or not src["video"]:
        progress.update(1.0, "no preview")
        return None
    return transcode(media, probe, transcode_settings(settings), out, progress)


def main(argv: list[str] | None = None) -> int:
    media, probe, settings, out = media_stage_args("python -m stages.preview", __doc__.splitlines()[0], "preview", argv)
    rec = content_or_record("preview", out, media.name, lambda: preview(media, probe, settings, out, Progress()))
    if rec is None:
        print(f"{media.name}: no preview (not a video)")
    elif rec.get("status") == "rejected":
        pass  # content_or_record said why
    else:
        print(f"{media.name}: preview {', '.join(r['name'] for r in rec['renditions'])}, verified")
    return 0


if __name__ == "__main__":
    run_main(main)
