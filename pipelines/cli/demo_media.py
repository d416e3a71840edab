"""The demo's uploads: real footage from Debian's opencv-doc, generated clips, and the
hostile files every ingest system meets (an infected file, a truncated file, a
playlist posing as a video). Generated with ffmpeg lavfi; nothing is committed."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

OPENCV_DOC = Path("/usr/share/doc/opencv-doc/examples/data")
# The EICAR test string, split so no scanner flags this source file itself.
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_demo_media(dest: Path) -> dict[str, str]:
    """Writes the uploads into dest; returns {file name: what it is}."""
    dest.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}
    real = OPENCV_DOC / "Megamind.avi"
    if real.is_file():
        shutil.copyfile(real, dest / "megamind.avi")
        made["megamind.avi"] = "real footage (opencv-doc), MPEG-4 in AVI, faces"
    photo = OPENCV_DOC / "messi5.jpg"
    if photo.is_file():
        shutil.copyfile(photo, dest / "messi5.jpg")
        made["messi5.jpg"] = "a real photo (opencv-doc), JPEG"
    # three shots (cuts at 3 s and 6 s) with a tone: something for the scene detector
    shots = ["testsrc2=size=1280x720:rate=30:duration=3",
             "smptehdbars=size=1280x720:rate=30:duration=3",
             "mandelbrot=size=1280x720:rate=30,trim=duration=3"]
    args: list[str] = []
    for s in shots:
        args += ["-f", "lavfi", "-i", s]
    args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=9"]
    _ffmpeg(*args, "-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1:a=0,format=yuv420p[v]",
            "-map", "[v]", "-map", "3:a", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac",
            str(dest / "interview.mp4"))
    made["interview.mp4"] = "generated 720p H.264/AAC, 9 s, cuts at 3 s and 6 s"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=720x1280:rate=25:duration=4", "-c:v", "libx264",
            "-preset", "veryfast", "-pix_fmt", "yuv420p", str(dest / "portrait.mov"))
    made["portrait.mov"] = "generated portrait 720x1280 QuickTime, no audio"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=330:duration=3", "-f", "lavfi", "-i",
            "anullsrc=r=44100:cl=mono:d=2", "-f", "lavfi", "-i", "sine=frequency=550:duration=3",
            "-filter_complex", "[0][1][2]concat=n=3:v=0:a=1", "-c:a", "libmp3lame", "-b:a", "96k",
            str(dest / "podcast.mp3"))
    made["podcast.mp3"] = "generated audio-only MP3 with a 2 s silence"
    (dest / "eicar.mp4").write_bytes(EICAR)
    made["eicar.mp4"] = "the EICAR test virus named like a video"
    data = (dest / "interview.mp4").read_bytes()
    (dest / "truncated.mp4").write_bytes(data[: len(data) // 3])
    made["truncated.mp4"] = "the first third of interview.mp4"
    (dest / "playlist.mp4").write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\ninterview.mp4\n#EXT-X-ENDLIST\n")
    made["playlist.mp4"] = "an HLS playlist named .mp4 that points at another upload"
    return made
