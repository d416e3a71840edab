"""The sources a browser could not play as they came (issue 16 point 5: HDR, anamorphic,
interlaced, several audio tracks, captions) play from the page in Debian's Chromium,
through the whole DAG: time advances in hls.js and dash.js with no player error, and
each player lists the alternate audio and the caption tracks; choosing captions puts
their cues on the <video>, choosing another audio track keeps it playing."""
from __future__ import annotations

import pytest

from tests.fixtures import ladder_media as lm
from tests.fixtures.playback import browse, playback_site

pytestmark = pytest.mark.browser

CASES = {
    "hlg.mp4": lambda p: lm.make_hdr(p, "arib-std-b67"),
    "pq.mp4": lambda p: lm.make_hdr(p, "smpte2084"),
    "anamorphic.mp4": lm.make_anamorphic,
    "interlaced.ts": lambda p: lm.make_interlaced(p, stated=True),
    "multi-audio.mp4": lm.make_multi_audio,
    "captions.mkv": lm.make_subtitled,
    "sidecar.mp4": lm.make_anamorphic,
    "sidecar.vtt": lm.write_vtt,   # joins sidecar.mp4 (the group on the name)
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    d = tmp_path_factory.mktemp("renditions")
    uploads = [(f"/{name}", make(d / name)) for name, make in CASES.items()]
    with playback_site(d, uploads) as url:
        yield url, d


def plays(got: dict) -> None:
    assert got["errors"] == [] and got["console"] == [], got
    for player in ("hls", "dash"):
        assert got[player]["currentTime"] > 1 and got[player]["error"] is None, (player, got[player])
        assert got[player]["videoWidth"] > 0, got[player]


@pytest.mark.parametrize("name", ["hlg.mp4", "pq.mp4", "anamorphic.mp4", "interlaced.ts"])
def test_conformed_sources_play(site, name):
    url, d = site
    got = browse(url, name, d / f"{name}.png", "tracks")
    plays(got)
    if name == "anamorphic.mp4":  # square pixels at 16:9: the player's picture is as wide as the display aspect
        assert abs(got["hls"]["videoWidth"] / got["hls"]["videoHeight"] - 16 / 9) < 0.03, got["hls"]


def test_alternate_audio_is_listed_and_switches(site):
    url, d = site
    got = browse(url, "multi-audio.mp4", d / "multi.png", "tracks")
    plays(got)
    for player in ("hls", "dash"):
        audio = got["tracks"][player]["audio"]
        assert [(t["name"], t["lang"][:2]) for t in audio] == [("French", "fr"), ("English", "en"), ("German", "de")], \
            (player, audio)
        assert audio[0]["selected"], (player, audio)  # the source's default track plays first
        switched = got["afterSwitch"][player]
        assert switched["now"] > 1 and switched["errors"] == [], (player, switched)


def test_caption_tracks_are_listed_and_show_their_cues(site):
    url, d = site
    got = browse(url, "captions.mkv", d / "captions.png", "tracks")
    plays(got)
    for player in ("hls", "dash"):
        text = got["tracks"][player]["text"]
        assert [t["lang"][:2] for t in text] == ["en", "fr", "de"], (player, text)
        [showing] = got["cues"][player]
        cues = showing["cues"]
        assert cues and cues[0][2] == "Hello <b>world</b>", (player, showing)
        # on the media timeline: where the source put them (0.2 s and 1.0 s), not shifted
        assert abs(cues[0][0] - 0.2) < 0.15 and abs(cues[1][0] - 1.0) < 0.15, (player, cues)


def test_a_sidecar_caption_track_is_listed_and_shows(site):
    url, d = site
    got = browse(url, "sidecar.mp4", d / "sidecar.png", "tracks")
    plays(got)
    for player in ("hls", "dash"):
        assert [t["name"] for t in got["tracks"][player]["text"]] == ["sidecar.vtt"], got["tracks"][player]
        [showing] = got["cues"][player]
        assert [(round(c[0], 1), c[2]) for c in showing["cues"]] == [(0.3, "from a <i>sidecar</i>")], showing
