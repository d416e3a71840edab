"""Subtitle text is untrusted: what ffmpeg decodes (as ASS events) becomes WebVTT we
write ourselves, which a browser's parser splits into exactly the cues we meant, with
only b/i/u markup. Hostile strings here; the formats through real ffmpeg in
test_transcode_conform.py."""
from __future__ import annotations

import re

import pytest

from stages.core.captions import cue_text, parse_ass, read_webvtt, webvtt

pytestmark = pytest.mark.unit

EVENTS = "[Script Info]\nScriptType: v4.00+\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"


def dialogue(start: str, end: str, text: str) -> str:
    return f"Dialogue: 0,{start},{end},Default,,0,0,0,,{text}\n"


@pytest.mark.parametrize("ass,vtt", [
    ("plain", "plain"),
    ("two\\Nlines", "two\nlines"),
    ("{\\b1}bold{\\b0} and {\\i1}it{\\i0}", "<b>bold</b> and <i>it</i>"),
    ("{\\b700}heavy", "<b>heavy</b>"),
    ("{\\b1}{\\i1}both{\\r} none", "<b><i>both</i></b> none"),
    ("{\\i1}i{\\b1}ib{\\i0}b", "<i>i</i><b><i>ib</i></b><b>b</b>"),   # always nested, never crossed
    ("{\\an8\\pos(10,10)\\c&HFF&}placed", "placed"),                 # other overrides dropped
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("a & b", "a &amp; b"),
    ("&amp; stays text", "&amp;amp; stays text"),
    ("arrow --> inside", "arrow --&gt; inside"),
    ("first\\N\\Nafter a blank", "first\nafter a blank"),          # a blank line would end the cue
    ("WEBVTT\\NNOTE x\\N00:00.000 --> 00:09.000", "WEBVTT\nNOTE x\n00:00.000 --&gt; 00:09.000"),
    ("bell\x07 and\x1b escape\u2028sep", "bell and escapesep"),
    ("{\\b1}", ""),                                                  # nothing visible
    ("\\h\\h", ""),
])
def test_cue_text(ass, vtt):
    assert cue_text(ass) == vtt


def test_a_long_cue_is_cut_and_stays_balanced():
    text = cue_text("{\\b1}" + "x" * 5000)
    assert len(text) <= 1000 and "<" not in text


def test_many_lines_are_capped():
    assert cue_text("\\N".join(f"l{i}" for i in range(50))).count("\n") == 7


def test_parse_ass_orders_and_drops_bad_events():
    script = EVENTS + "".join([
        dialogue("0:00:01.50", "0:00:02.00", "second"),
        dialogue("0:00:00.20", "0:00:01.00", "first, with, commas"),
        dialogue("0:00:03.00", "0:00:02.00", "inverted"),
        dialogue("nonsense", "0:00:02.00", "bad time"),
        dialogue("0:00:04.00", "0:00:05.00", "{\\b1}"),
        "Comment: 0,0:00:00.00,0:00:09.00,Default,,0,0,0,,a comment\n",
        dialogue("9:00:00.00", "9:00:01.00", "past the end"),
    ])
    cues = parse_ass(script, duration=10)
    assert [(c.start, c.end, c.text) for c in cues] == [(0.2, 1.0, "first, with, commas"), (1.5, 2.0, "second")]


def test_dialogue_outside_events_is_ignored():
    assert parse_ass("[Script Info]\n" + dialogue("0:00:00.00", "0:00:01.00", "x")) == []


HOSTILE = ["</b><script>", "a --> b", "\\N\\N\\NWEBVTT\\N\\N1\\N00:00:00.000 --> 00:00:09.000\\Ninjected",
           "NOTE\\N\\Nstyle", "::cue { color: red }", "<v.loud Mallory>hi</v>", "&#x3c;entity&#62;"]


def test_written_webvtt_parses_back_to_exactly_our_cues():
    script = EVENTS + "".join(dialogue(f"0:00:0{i}.00", f"0:00:0{i}.90", t) for i, t in enumerate(HOSTILE))
    cues = parse_ass(script)
    text = webvtt(cues)
    assert text.startswith("WEBVTT\n")
    back = read_webvtt(text)
    assert [(s, e) for s, e, _ in back] == [(c.start, c.end) for c in cues] and len(back) == len(HOSTILE)
    for _, _, body in back:
        assert "-->" not in body and "\n\n" not in body
        assert not re.search(r"<(?!/?[biu]>)", body), body  # no markup but b/i/u
