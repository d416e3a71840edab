"""Names users give files, decided in one place (pipelines/pfs/names.py) for `put file`, the S3
gateway and the engine: NFC-normalised (the NFC and NFD spellings of a name are one file),
control and format characters refused with an error that names the character, and no longer
than every path the stages derive from a name can hold (NAME_MAX is 255 bytes; the stages add
`.json`)."""
from __future__ import annotations

import unicodedata

import pytest

from pipelines.errors import InvalidName
from pipelines.pfs.names import MAX_UPLOAD_NAME_BYTES, check_upload_name, normalize_path, parse_ref
from stages.common import MAX_NAME_BYTES

pytestmark = pytest.mark.unit

NFD = unicodedata.normalize("NFD", "café-Ångström.mp4")
NFC = unicodedata.normalize("NFC", NFD)


def test_nfd_and_nfc_spellings_are_one_name():
    assert NFD != NFC
    assert normalize_path("/" + NFD) == "/" + NFC
    assert check_upload_name(NFD) == NFC
    assert parse_ref(f"media@master:/{NFD}").path == "/" + NFC


@pytest.mark.parametrize("char", [
    pytest.param("\x00", id="NUL"), pytest.param("\n", id="newline"), pytest.param("\x1b", id="ESC"),
    pytest.param("\x7f", id="DEL"), pytest.param("\x85", id="C1-NEL"), pytest.param("\x9b", id="C1-CSI"),
    pytest.param("\u202e", id="right-to-left-override"), pytest.param("\u2066", id="left-to-right-isolate"),
    pytest.param("\u200e", id="left-to-right-mark"), pytest.param("\u200b", id="zero-width-space"),
    pytest.param("\ufeff", id="byte-order-mark"), pytest.param("\u00ad", id="soft-hyphen"),
    pytest.param("\u2028", id="line-separator"), pytest.param("\U000e0041", id="tag-latin-a"),
    pytest.param("\udcff", id="lone-surrogate (undecodable bytes)"),
])
def test_control_and_format_characters_are_refused_by_name(char):
    name = f"invoice{char}gpj.mp4"
    for check in (check_upload_name, lambda n: normalize_path("/" + n)):
        with pytest.raises(InvalidName) as e:
            check(name)
        message = str(e.value)
        assert f"U+{ord(char):04X}" in message, message  # says which character, not just "unsafe"
        assert "rename" in message, message  # and what to do about it


@pytest.mark.parametrize("name", [
    "Ünïcödé 日本語 😀.mp4", "résumé.jpg", "مرحبا.mp3",
    "می\u200cخواهم.mp4",  # Persian needs the zero-width non-joiner
    "\U0001f468\u200d\U0001f469\u200d\U0001f467.png",  # an emoji family is joined by ZWJ
])
def test_ordinary_unicode_names_are_kept(name):
    assert check_upload_name(name) == unicodedata.normalize("NFC", name)


def test_the_upload_limit_leaves_room_for_what_stages_add():
    """scan and probe write `<verdict>/<name>.json`, catalog `<name>.json`: a name the gateway or
    `put file` accepts must leave room for that within NAME_MAX (255 bytes)."""
    assert MAX_UPLOAD_NAME_BYTES == MAX_NAME_BYTES
    assert MAX_UPLOAD_NAME_BYTES + len(".json") <= 255
    ok = "a" * (MAX_UPLOAD_NAME_BYTES - 4) + ".mp4"
    assert check_upload_name(ok) == ok
    for n in range(MAX_UPLOAD_NAME_BYTES + 1, 256):
        with pytest.raises(InvalidName, match=f"{MAX_UPLOAD_NAME_BYTES} bytes"):
            check_upload_name("a" * (n - 4) + ".mp4")


def test_the_limit_counts_bytes_not_characters():
    name = "é" * (MAX_UPLOAD_NAME_BYTES // 2) + "é"  # 2 bytes each: one over the limit
    with pytest.raises(InvalidName, match="bytes"):
        check_upload_name(name)


def test_put_and_the_gateway_share_the_rule(tmp_path):
    """The engine (put file, S3 PUT both end here) stores the NFC name and refuses the rest."""
    from pipelines.engine import Engine
    src = tmp_path / "x.bin"
    src.write_bytes(b"hello")
    with Engine(tmp_path / "home", specs_dir=tmp_path / "no-specs", init=False) as e:
        e.store.create_repo("media")
        e.put_files("media", "master", [("/" + NFD, src)])
        c = e.put_files("media", "master", [("/" + NFC, src)])
        assert [f.path for f in e.store.files("media", c.id)] == ["/" + NFC]
        with pytest.raises(InvalidName, match="U\\+202E"):
            e.put_files("media", "master", [("/clip\u202ephp.mp4", src)])


def test_the_s3_key_check_is_the_same_rule():
    from pipelines.s3.backend import InvalidKey, check_key
    assert check_key(NFD) == NFC
    with pytest.raises(InvalidKey, match="U\\+202E"):
        check_key("clip\u202ephp.mp4")
    with pytest.raises(InvalidKey, match="U\\+0085"):
        check_key("a\x85b.mp4")
