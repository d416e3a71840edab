"""labels: shots, per-scene keyframes and features, faces, loudness and silences.

`python -m stages.labels --media PATH --probe valid.json --settings labels.json --out DIR`
-> DIR/<name>/labels.json, DIR/<name>/scenes/NNN.jpg, DIR/<name>/contact-sheet.jpg.
Frames come from one ffmpeg decoder on the safe input flags (deinterlaced and turned as
transcode does, sampled, then downscaled), read ahead of the analysis by a thread, with the
audio analysis running beside it; neither OpenCV nor PySceneDetect ever opens the upload.
"""
from __future__ import annotations

import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from stages.core import frame_features as ff
from stages.io import media_io
from stages.io.encode import idet_if_unstated
from stages.io.frames import FrameReader
from stages.core import records
from stages.core.audio_features import analyse_audio
from stages.common import Progress, content_or_record, media_stage_args, run_main, staged
from stages.core.conform import coded_filters, display_dims
from stages.core.ladder import even
from stages.core.scenes import Scene, ShotTracker
from stages.core.source import source_info


# Every picture labels writes (analysis frames, keyframes, the contact sheet) and every
# coordinate in its record (face boxes) is in one space: the picture as displayed (pixel
# aspect and rotation applied, as transcode shows it) scaled to the analysis size.
SPACE = "display"


def analysis_size(v: dict, width: int) -> tuple[int, int]:
    """The analysis frame of video stream `v`: its display size, at most `width` wide."""
    dw, dh = display_dims(v)
    w = min(even(width), even(dw))
    return w, even(w * dh / dw)


@dataclass(frozen=True)
class Decode:
    """The analysis decode of the upload's video: ffmpeg's arguments, the frame size, and the
    field deinterlaced first ("tff"/"bff", None: progressive)."""
    args: list[str]
    width: int
    height: int
    deinterlaced: str | None


def analysis_decode(media: Path, src: dict, settings: dict) -> Decode:
    """The decode every picture of labels comes from: the frames as coded (the decoder's
    autorotate off), deinterlaced and turned as transcode does (conform.coded_filters, idet
    asked when the stream does not say), then sampled to the analysis rate and scaled to the
    analysis size, raw BGR on stdout. Sampled or scaled first, fields would be mixed into
    every keyframe, face and colour: combing. (Nothing of the decode itself is skipped:
    skipping H.264's deblocking drifted brightness and colours by several levels on grainy
    footage, -lowres changed which frame was sharpest.)"""
    v = src["video"]
    w, h = analysis_size(v, settings["analysis_width"])
    detected = idet_if_unstated(media, src["demuxer"], v, max_pixels=src["max_pixels"])
    parity, coded = coded_filters(v, detected)
    args = [*media_io.ffmpeg_base(),
            *media_io.ffmpeg_input_args(media, src["demuxer"], max_pixels=src["max_pixels"], autorotate=False),
            "-map", f"0:{v['index']}", "-vf", ",".join([*coded, f"fps={settings['analysis_fps']}",
                                                       f"scale={w}:{h}:flags=area"]),
            "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"]
    return Decode(args, w, h, parity)


def check_decode(name: str, reader: FrameReader, errors: dict, max_pixels: int) -> None:
    """After the last frame: decoder errors it concealed are not fatal, as the probe
    accepted the file (`errors` gets their count and the last one); a frame over
    `max_pixels`, a decoder that stopped on the upload or its deadline passing are
    ContentRejected (media_io.check_run)."""
    err = reader.check(f"{name}: decoding for analysis", max_pixels)
    if reader.lines:
        errors |= {"lines": reader.lines, "last": media_io.last_complaint(err)}


def still_frame(media: Path, src: dict, max_side: int) -> np.ndarray:
    """A still as a BGR array, EXIF orientation applied (Pillow, held to the pixels probe accepted)."""
    from PIL import ImageOps

    from stages.io.still import eight_bit, expected_size, open_still, pillow_errors
    with open_still(media, src["demuxer"], src["max_pixels"], expected_size(src, media.name)) as img, \
            pillow_errors(media.name):
        img.seek(0)
        im = ImageOps.exif_transpose(eight_bit(img).convert("RGB"))
    im.thumbnail((max_side, max_side))
    return cv2.cvtColor(np.asarray(im), cv2.COLOR_RGB2BGR)


class SceneWriter:
    """Closes scenes: keyframe jpg, faces and colours on it; keeps only the summary."""

    def __init__(self, folder: Path, name: str, fps: float, settings: dict) -> None:
        self.folder, self.name, self.fps, self.settings = folder, name, fps, settings
        self.records: list[dict] = []
        (folder / "scenes").mkdir(parents=True, exist_ok=True)

    def close(self, s: Scene) -> None:
        if len(self.records) >= self.settings["max_scenes"] or s.keyframe is None:
            s.keyframe = None
            return
        key = s.keyframe
        rel = f"scenes/{s.index + 1:03d}.jpg"
        cv2.imwrite(str(self.folder / rel), key, [cv2.IMWRITE_JPEG_QUALITY, 85])
        g = ff.gray(key)
        boxes = ff.faces(g, self.settings["face_min_px"])
        b = s.brightness / s.frames
        self.records.append({
            "index": s.index + 1,
            "start": round(s.start_frame / self.fps, 3), "end": round(s.end_frame / self.fps, 3),
            "start_frame": s.start_frame, "end_frame": s.end_frame,
            "keyframe": f"{self.name}/{rel}", "keyframe_time": round(s.keyframe_number / self.fps, 3),
            "faces": {"count": len(boxes), "boxes": boxes},
            "brightness": round(b, 1), "light": ff.light_label(b),
            "colors": ff.dominant_colors(key, self.settings["colors"]),
            "motion": round(s.motion / s.frames, 2), "sharpness": round(s.sharpness / s.frames, 1),
        })
        s.keyframe = None  # the array is done with: memory stays flat


def contact_sheet(folder: Path, scenes: list[dict], columns: int, tile_w: int = 240) -> str | None:
    tiles = []
    for sc in scenes[: columns * 6]:
        img = cv2.imread(str(folder / "scenes" / Path(sc["keyframe"]).name))
        if img is not None:
            h = even(tile_w * img.shape[0] / img.shape[1])
            tiles.append(cv2.resize(img, (tile_w, h), interpolation=cv2.INTER_AREA))
    if not tiles:
        return None
    h = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, h - t.shape[0], 0, 0, cv2.BORDER_CONSTANT) for t in tiles]
    cols = min(columns, len(tiles))
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % cols)
    rows = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
    cv2.imwrite(str(folder / "contact-sheet.jpg"), np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 80])
    return "contact-sheet.jpg"


def summarize_labels(scenes: list[dict], duration: float, audio: dict | None) -> dict[str, Any]:
    faces = sum(s["faces"]["count"] for s in scenes)
    light = Counter(s["light"] for s in scenes).most_common(1)
    motion = sum(s["motion"] for s in scenes) / len(scenes) if scenes else 0.0
    colors: Counter = Counter()
    for s in scenes:
        for c in s["colors"]:
            colors[c["hex"]] += c["share"] * (s["end"] - s["start"])
    labels = []
    if faces:
        labels.append("faces")
    if light:
        labels.append(light[0][0])
    if scenes:
        labels.append("high-motion" if motion > 20 else "static" if motion < 2 else "moving")
    if audio and audio.get("silences") and duration:
        silent = sum(x["end"] - x["start"] for x in audio["silences"])
        labels.append("mostly-silent" if silent > duration / 2 else "has-silences")
    return {"scene_count": len(scenes), "average_shot_s": round(duration / len(scenes), 2) if scenes else None,
            "faces_seen": faces, "scenes_with_faces": sum(1 for s in scenes if s["faces"]["count"]),
            "mean_motion": round(motion, 2), "top_colors": [c for c, _ in colors.most_common(3)],
            "labels": labels}


def analyse_still(media: Path, src: dict, staging: Path, name: str, settings: dict) -> tuple[list[dict], dict]:
    """A still is one scene: the per-frame detectors on the oriented image."""
    frame = still_frame(media, src, settings["analysis_width"] * 2)
    writer = SceneWriter(staging, name, 1.0, settings)
    scene = Scene(0, 0, 1)
    g = ff.gray(frame)
    scene.add(0, frame, ff.brightness(g), 0.0, ff.sharpness(g))
    writer.close(scene)
    return writer.records, {"width": frame.shape[1], "height": frame.shape[0], "space": SPACE, "fps": 0, "frames": 1}


def analyse_video(media: Path, src: dict, staging: Path, name: str, settings: dict,
                  progress: Progress) -> tuple[list[dict], dict]:
    """Shots and per-scene features from one downscaled, sampled decode, read ahead of
    the analysis (stages/io/frames.py)."""
    fps = settings["analysis_fps"]
    decode = analysis_decode(media, src, settings)
    w, h = decode.width, decode.height
    writer = SceneWriter(staging, name, fps, settings)
    n = 0
    errors: dict = {}
    with FrameReader(decode.args, w, h, timeout=media_io.budget(src["duration"], 2)) as decoded:
        # made once the decoder runs: importing PySceneDetect takes a while
        tracker = ShotTracker(fps, settings["adaptive_threshold"], settings["min_scene_s"],
                              settings["min_content_val"])
        for frame in decoded:
            before = len(tracker.scenes)
            tracker.feed(frame)
            for closed in tracker.scenes[before - 1:-1]:
                writer.close(closed)
            n += 1
            if n % 50 == 0 and src["duration"]:
                progress.update(min(0.9, n / fps / src["duration"] * 0.9), "shots")
        check_decode(name, decoded, errors, src["max_pixels"])
    for s in tracker.finish():
        if s.keyframe is not None:
            writer.close(s)
    return writer.records, {"width": w, "height": h, "space": SPACE, "fps": fps, "frames": n,
                            "deinterlaced": decode.deinterlaced} | ({"decoder_errors": errors} if errors else {})


def label(media: Path, probe: dict | None, settings: dict, out: Path, progress: Progress) -> dict[str, Any]:
    name = media.name
    src = source_info(media, probe)
    with staged(out, name) as staging:
        scenes: list[dict] = []
        analysed = None
        with ThreadPoolExecutor(max_workers=1) as pool:  # loudness and silences beside the pictures
            audio = pool.submit(analyse_audio, media, src["demuxer"], src["audio"]["index"], src["duration"],
                                settings["silence_db"], settings["silence_min_s"], max_pixels=src["max_pixels"],
                                timeout=media_io.budget(src["duration"], 1)) if src["audio"] else None
            if src["kind"] == "image":
                scenes, analysed = analyse_still(media, src, staging, name, settings)
            elif src["video"]:
                scenes, analysed = analyse_video(media, src, staging, name, settings, progress)
            progress.update(0.92, "loudness")
            audio = audio.result() if audio else None
        sheet = contact_sheet(staging, scenes, settings["contact_sheet_columns"]) if scenes else None
        if not scenes:
            shutil.rmtree(staging / "scenes", ignore_errors=True)
        record = {
            "name": name, "kind": src["kind"], "duration": src["duration"],
            "source_sha256": src.get("sha256") or "", "analysis": analysed,
            "scenes": scenes, "audio": audio,
            "contact_sheet": f"{name}/{sheet}" if sheet else None,
            "summary": summarize_labels(scenes, src["duration"], audio),
            "settings": settings, "labelled_at": records.utc_now(),
        }
        records.write_record(staging / "labels.json", "labels", record)
    progress.update(1.0, "done")
    return record


def main(argv: list[str] | None = None) -> int:
    media, probe, settings, out = media_stage_args("python -m stages.labels", __doc__.splitlines()[0], "labels", argv)
    rec = content_or_record("labels", out, media.name, lambda: label(media, probe, settings, out, Progress()))
    if rec.get("status") == "rejected":
        return 0
    s = rec["summary"]
    print(f"{media.name}: {s['scene_count']} scenes, {s['faces_seen']} faces, labels {', '.join(s['labels']) or '-'}")
    return 0


if __name__ == "__main__":
    run_main(main)
