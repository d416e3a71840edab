"""catalog's pure core: status and record for each combination of upstream records."""
from __future__ import annotations

import subprocess
import sys

import pytest

from stages.core import records
from stages.catalog import build_record, status_of

pytestmark = pytest.mark.media

SHA = "a" * 64
CLEAN = {"verdict": "clean", "sha256": SHA, "size": 10}
VALID = {"status": "valid", "kind": "video", "duration": 3.0, "container": {"demuxer": "mov"},
         "streams": [{"codec_type": "video", "codec_name": "h264", "width": 640, "height": 360},
                     {"codec_type": "audio", "codec_name": "aac", "channels": 1, "sample_rate": 48000}]}
PKG = {"renditions": [{"name": "360p", "width": 640, "height": 360, "bandwidth": 800000}]}
LABELS = {"scenes": [{}, {}], "summary": {"scene_count": 2}}


@pytest.mark.parametrize("scan,probe,pkg,labels,status", [
    pytest.param(None, None, None, None, "pending", id="nothing-yet"),
    pytest.param({"verdict": "infected", "signature": "Eicar-Signature"}, None, None, None, "infected", id="infected"),
    pytest.param({"verdict": "unscanned", "reason": "too_large"}, None, None, None, "unscanned", id="unscanned"),
    pytest.param(CLEAN, None, None, None, "pending", id="clean-not-probed"),
    pytest.param(CLEAN, {"status": "rejected", "reason": "not_media"}, None, None, "rejected", id="rejected"),
    pytest.param(CLEAN, VALID, PKG, None, "processing", id="labels-missing"),
    pytest.param(CLEAN, VALID, PKG, LABELS, "ready", id="ready"),
])
def test_status(scan, probe, pkg, labels, status):
    assert status_of(scan, probe, pkg, labels) == status
    rec = build_record("x.mp4", scan, probe, pkg, labels, [], {"scan": "c1"}, None, records.utc_now())
    records.validate("catalog", rec)
    assert rec["status"] == status


def test_ready_record_carries_renditions_labels_and_provenance():
    rec = build_record("x.mp4", CLEAN, VALID, PKG, LABELS,
                       [{"repo": "scan", "path": "/clean/x.mp4.json", "sha256": SHA}],
                       {"scan": "c1", "probe": "c2", "transcode": "c3", "labels": "c4"}, "job1", records.utc_now())
    records.validate("catalog", rec)
    assert rec["package"]["hls"] == "x.mp4/hls/master.m3u8"
    assert rec["package"]["renditions"][0]["height"] == 360
    assert rec["labels"]["scenes"] == 2
    assert rec["probe"]["video"]["codec_name"] == "h264" and rec["probe"]["container"] == "mov"
    assert rec["provenance"]["upload"]["sha256"] == SHA
    assert rec["provenance"]["commits"]["transcode"] == "c3"


def test_record_shows_the_selected_streams_and_what_was_left_out():
    # stream 1 (DFPWM) was left out: the catalog must show the AAC track the package carries
    probe = {"status": "valid", "kind": "video", "duration": 3.0, "container": {"demuxer": "matroska"},
             "streams": [{"index": 0, "codec_type": "video", "codec_name": "h264", "width": 64, "height": 64},
                         {"index": 1, "codec_type": "audio", "codec_name": "dfpwm", "channels": 1},
                         {"index": 2, "codec_type": "audio", "codec_name": "aac", "channels": 2}],
             "selected": {"video": 0, "audio": 2, "audio_tracks": [2], "subtitles": []},
             "left_out": [{"index": 1, "codec_type": "audio", "codec_name": "dfpwm", "reason": "codec_not_allowed",
                           "message": "audio codec dfpwm is not in the policy's allowed codecs"}]}
    rec = build_record("x.mkv", CLEAN, probe, PKG, LABELS, [], {}, None, records.utc_now())
    records.validate("catalog", rec)
    assert rec["probe"]["audio"]["codec_name"] == "aac"
    assert [(x["index"], x["reason"]) for x in rec["probe"]["left_out"]] == [(1, "codec_not_allowed")]


def test_cli_reads_pachyderm_env_and_writes_the_record(tmp_path):
    scan = tmp_path / "pfs/scan/infected/bad.mp4.json"
    scan.parent.mkdir(parents=True)
    records.write_json(scan, {"verdict": "infected", "signature": "Eicar-Signature", "sha256": SHA})
    env = {"scan": str(scan), "scan_COMMIT": "abc", "PACH_JOB_ID": "j1", "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-m", "stages.catalog", "--out", str(tmp_path / "out")], env=env,
                   check=True, cwd=records.SCHEMA_DIR.parent.parent)
    rec = records.read_json(tmp_path / "out/bad.mp4.json")
    assert rec["status"] == "infected" and rec["provenance"]["commits"]["scan"] == "abc"
    assert rec["provenance"]["records"][0]["path"] == "/infected/bad.mp4.json"


def test_a_preview_is_in_the_record_until_and_after_the_ladder_lands():
    preview = {"hls": {"master": "x.mp4/hls/master.m3u8"}, "dash": {"manifest": "x.mp4/dash/manifest.mpd"},
               "poster": "x.mp4/poster.jpg", "renditions": [{"name": "360p", "width": 640, "height": 360}]}
    early = build_record("x.mp4", CLEAN, VALID, None, None, [], {}, None, records.utc_now(), preview)
    records.validate("catalog", early)
    assert early["status"] == "processing" and "package" not in early
    assert early["preview"] == {"repo": "preview", "hls": "x.mp4/hls/master.m3u8",
                                "dash": "x.mp4/dash/manifest.mpd", "poster": "x.mp4/poster.jpg",
                                "renditions": [{"name": "360p", "width": 640, "height": 360}]}
    done = build_record("x.mp4", CLEAN, VALID, PKG, LABELS, [], {}, None, records.utc_now(), preview)
    records.validate("catalog", done)
    assert done["status"] == "ready" and done["preview"]["hls"] and done["package"]["renditions"]
    still = build_record("x.jpg", CLEAN, VALID, PKG, LABELS, [], {}, None, records.utc_now(), None)
    assert "preview" not in still
