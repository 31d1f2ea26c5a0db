"""image_mark: marks written and read back, existing metadata kept, unsafe XMP refused, inspect CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

Image = pytest.importorskip("PIL.Image")

from clauseguard.guards import (  # noqa: E402
    Action,
    Context,
    GuardSpec,
    _xmp,
    create,
)
from clauseguard.guards.image_mark import mark_image, read_marks  # noqa: E402

IMAGES = Path(__file__).parent / "fixtures" / "images"
TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"


def _encode(fmt: str, **options: object) -> bytes:
    from fixtures.images.generate import encode, text_on_white

    return encode(text_on_white(), fmt, **options)


@pytest.mark.parametrize(("fmt", "out_fmt", "png_text"), [
    ("PNG", "PNG", True), ("JPEG", "JPEG", False), ("WEBP", "WEBP", False),
    ("GIF", "PNG", True), ("BMP", "PNG", True), ("TIFF", "PNG", True),
])
@pytest.mark.parametrize(("dst", "uri"), [("trainedAlgorithmicMedia", TRAINED),
                                          ("compositeWithTrainedAlgorithmicMedia", COMPOSITE)])
def test_marks_round_trip(fmt, out_fmt, png_text, dst, uri) -> None:
    original = _encode(fmt)
    assert read_marks(original)["ai_generated"] is False
    marks = read_marks(mark_image(original, digital_source_type=dst))
    assert (marks["format"], marks["digital_source_type"], marks["ai_generated"]) == (out_fmt, uri, True)
    assert marks["xmp"] is True and marks["errors"] == [] and marks["c2pa_manifest"] is False
    assert (marks["png_text"].get("AI-Generated") == "true") is png_text


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_pixels_and_other_metadata_are_kept(fmt) -> None:
    image = Image.open(io.BytesIO(_encode("PNG"))).convert("RGB")
    buffer = io.BytesIO()
    if fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Software", "my generator 1.0")
        image.save(buffer, format="PNG", pnginfo=info)
    else:
        exif = Image.Exif()
        exif[0x0131] = "my generator 1.0"  # Software
        image.save(buffer, format="JPEG", exif=exif, quality=90)
    original = buffer.getvalue()
    marked = mark_image(original)
    before, after = Image.open(io.BytesIO(original)), Image.open(io.BytesIO(marked))
    assert before.tobytes() == after.tobytes()  # no re-encoding
    if fmt == "PNG":
        assert after.text["Software"] == "my generator 1.0"
    else:
        assert after.getexif()[0x0131] == "my generator 1.0"
        assert marked.endswith(original[original.index(b"\xff\xda"):])  # scan data untouched
    assert TRAINED in after.info["xmp"].decode() if isinstance(after.info["xmp"], bytes) else after.info["xmp"]


PACKET = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
          b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
          b"<dc:creator><rdf:Seq><rdf:li>Ada</rdf:li></rdf:Seq></dc:creator>"
          b"</rdf:Description></rdf:RDF></x:xmpmeta>")


def _with_metadata(fmt: str, xmp_chunk: str = "iTXt") -> bytes:
    """The test picture carrying an XMP packet by Ada (and, as PNG, a Comment text chunk)."""
    image = Image.open(io.BytesIO(_encode("PNG"))).convert("RGB")
    buffer = io.BytesIO()
    if fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        if xmp_chunk == "iTXt":
            info.add_itxt("XML:com.adobe.xmp", PACKET.decode())
        else:
            info.add_text("XML:com.adobe.xmp", PACKET.decode(), zip=True)
        info.add_text("Comment", "shot on a Tuesday")
        image.save(buffer, format="PNG", pnginfo=info)
    else:
        image.save(buffer, format="JPEG", xmp=PACKET)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_an_existing_xmp_packet_is_extended_not_replaced(fmt) -> None:
    marked = mark_image(mark_image(_with_metadata(fmt)))  # twice: still one packet, one value
    assert read_marks(marked)["digital_source_type"] == TRAINED
    assert marked.count(b"Ada") == 1  # PNG below: the XMP packet and the tEXt chunk
    assert marked.count(b"trainedAlgorithmicMedia") == (2 if fmt == "PNG" else 1)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_visible_label_keeps_the_xmp_packet_and_png_text(fmt) -> None:
    """Drawing the label re-encodes the picture, which dropped the creator and the PNG's Comment."""
    marked = mark_image(_with_metadata(fmt), visible_label="AI-generated")
    marks = read_marks(marked)
    assert marks["digital_source_type"] == TRAINED and b"<rdf:li>Ada</rdf:li>" in marked
    if fmt == "PNG":
        assert marks["png_text"]["Comment"] == "shot on a Tuesday"


def test_an_xmp_packet_in_a_compressed_text_chunk_is_extended() -> None:
    marked = mark_image(_with_metadata("PNG", xmp_chunk="zTXt"))
    assert read_marks(marked)["digital_source_type"] == TRAINED and b"<rdf:li>Ada</rdf:li>" in marked


@pytest.mark.parametrize("evil", [
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><x>&b;</x>',
    b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>',
    b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed>",
])
def test_unsafe_or_broken_xmp_is_refused_when_read_and_replaced_when_marking(evil) -> None:
    with pytest.raises(_xmp.XmpError):
        _xmp.read_digital_source_type(evil)
    image = Image.open(io.BytesIO(_encode("PNG")))
    buffer = io.BytesIO()
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", evil.decode())
    image.save(buffer, format="PNG", pnginfo=info)
    assert read_marks(buffer.getvalue())["errors"]
    assert read_marks(mark_image(buffer.getvalue()))["digital_source_type"] == TRAINED


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_visible_label_is_drawn_in_a_corner(fmt) -> None:
    original = _encode(fmt)
    marked = mark_image(original, visible_label="AI-generated")
    before = Image.open(io.BytesIO(original)).convert("L")
    after = Image.open(io.BytesIO(marked)).convert("L")
    assert after.size == before.size
    corner = (100, 110, 128, 128)
    assert after.crop(corner).tobytes() != before.crop(corner).tobytes()
    top_left = (0, 0, 4, 4)
    assert abs(after.crop(top_left).tobytes()[0] - before.crop(top_left).tobytes()[0]) <= 3
    assert read_marks(marked)["ai_generated"] is True


def test_visible_label_keeps_a_16_bit_picture_as_a_viewer_sees_it() -> None:
    """Pillow's convert clips 16-bit values above 255 to white: a grey ramp came out almost all white."""
    import numpy as np

    ramp = np.tile(np.linspace(0, 65535, 128).astype(np.uint16), (128, 1))
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format="PNG")
    marked = Image.open(io.BytesIO(mark_image(buffer.getvalue(), visible_label="AI"))).convert("L")
    row = np.asarray(marked)[0, :64]  # top row, left half: away from the label
    assert np.allclose(row, ramp[0, :64] / 257.0, atol=1.5)


@pytest.mark.parametrize("mode", ["CMYK", "F", "LAB"])
@pytest.mark.parametrize("label", [None, "AI"])
def test_modes_png_cannot_store_are_marked_as_rgb(mode, label) -> None:
    """A TIFF in CMYK, float or LAB is re-encoded as PNG to carry the mark; PNG cannot store those modes."""
    image = Image.new("RGB", (32, 32), (200, 30, 30)).convert(mode) if mode != "F" else Image.new("F", (32, 32), 0.5)
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF")
    marked = mark_image(buffer.getvalue(), visible_label=label)
    assert read_marks(marked)["ai_generated"] is True
    assert Image.open(io.BytesIO(marked)).format == "PNG"


@pytest.mark.parametrize(("fmt", "insert"), [("PNG", "png"), ("JPEG", "jpeg")])
def test_c2pa_manifest_presence_is_reported(fmt, insert) -> None:
    data = _encode(fmt)
    if insert == "png":
        chunks = _xmp.png_chunks(data)
        jumbf = _xmp.png_chunk(b"caBX", b"\x00\x00\x00\x10jumb\x00\x00\x00\x08jumdc2pa")
        data = _xmp.PNG_SIGNATURE + _xmp.png_chunk(*chunks[0]) + jumbf + b"".join(
            _xmp.png_chunk(k, p) for k, p in chunks[1:])
    else:
        segment = _xmp.jpeg_segment(0xEB, b"JP\x00\x00\x00\x00\x00\x01\x00\x00\x00\x10jumbc2pa")
        data = data[:2] + segment + data[2:]
    assert read_marks(data)["c2pa_manifest"] is True


def test_jpeg_with_stray_bytes_and_standalone_markers_is_marked_clean() -> None:
    """libjpeg passes over junk before a marker (with a warning), so such files are common; so do we."""
    data = _encode("JPEG")
    first = 2 + 2 + int.from_bytes(data[4:6], "big")  # after SOI and the first segment
    odd = data[:first] + b"\x00junk" + b"\xff\xd0" + b"\xff\xff" + data[first:]
    assert Image.open(io.BytesIO(odd)).convert("RGB").tobytes() == Image.open(io.BytesIO(data)).convert("RGB").tobytes()
    marked = mark_image(odd)
    assert read_marks(marked)["digital_source_type"] == TRAINED
    assert b"junk" not in marked and b"\xff\xd0" not in marked[:first + 8]
    with Image.open(io.BytesIO(marked)) as image:
        image.load()
    for marker in (b"\xff\xd9", b"\xff\xd8"):
        with pytest.raises(_xmp.XmpError, match="before its image data"):
            _xmp.jpeg_segments(data[:first] + marker + data[first:])


def test_guard_labels_and_outputs_the_marked_image() -> None:
    guard = create(GuardSpec(id="mark", type="image_mark", stage="output", modality="image", on_fail="label",
                             clauses=["ai/synthetic-media-marking"]))
    data = _encode("PNG")
    verdict = guard.check(data, Context())
    assert (verdict.allowed, verdict.action) == (True, Action.LABEL)
    assert read_marks(verdict.output)["digital_source_type"] == TRAINED
    assert verdict.metadata["ai_generated"] is True and verdict.metadata["digital_source_type"] == TRAINED
    assert verdict.findings[0].category == "ai_disclosure"
    assert verdict.findings[0].clause_ids == ("ai/synthetic-media-marking",)


@pytest.mark.parametrize("content", [b"not an image", (IMAGES / "truncated.png").read_bytes(), "text"])
def test_guard_blocks_what_it_cannot_mark(content) -> None:
    guard = create(GuardSpec(id="mark", type="image_mark", stage="output", modality="image", on_fail="label"))
    verdict = guard.check(content, Context())
    assert not verdict.allowed and verdict.output is None
    assert "cannot be checked" in verdict.findings[0].message


# -- clauseguard inspect ------------------------------------------------------------------------------

@pytest.fixture
def cli(monkeypatch):
    from clauseguard import cli as cli_module

    monkeypatch.setitem(cli_module.COMMANDS, "inspect",
                        ("clauseguard.guards.inspect_cli", "inspect", "Show the AI-generated marks of an image."))
    return cli_module.main


@pytest.mark.parametrize(("marked", "ai"), [(True, True), (False, False)])
def test_inspect_prints_the_marks(cli, capsys, tmp_path, marked, ai) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(mark_image(_encode("PNG")) if marked else _encode("PNG"))
    assert cli(["inspect", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["ai_generated"] is ai and printed["format"] == "PNG"
    assert printed["digital_source_type"] == (TRAINED if marked else None)


@pytest.mark.parametrize(("name", "message"), [("not-an-image.png", "not a readable image: no image format"),
                                               ("truncated.png", "image cannot be decoded")])
def test_inspect_non_image_is_a_user_error(cli, capsys, name, message) -> None:
    assert cli(["inspect", str(IMAGES / name)]) == 2
    err = capsys.readouterr().err
    assert f"{IMAGES / name}: {message}" in err and "BytesIO" not in err


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_inspect_refuses_what_is_not_a_regular_file(cli, capsys) -> None:
    """`clauseguard inspect /dev/zero` read without end (its size is 0, so the size check passed), until
    memory ran out."""
    assert cli(["inspect", "/dev/zero"]) == 2
    assert "/dev/zero: not a regular file" in capsys.readouterr().err


def _animation(fmt: str, durations: list[int], **options: object) -> bytes:
    frames = [Image.new("RGB", (24, 24), c) for c in ((200, 0, 0), (0, 200, 0), (0, 0, 200))][:len(durations)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=durations, **options)
    return buffer.getvalue()


def _durations(data: bytes) -> list[int]:
    from PIL import ImageSequence

    with Image.open(io.BytesIO(data)) as image:
        return [(frame.load(), frame.info["duration"])[1] for frame in ImageSequence.Iterator(image)]


@pytest.mark.parametrize("label", [None, "AI"])
def test_webp_animation_keeps_each_frames_timing(label) -> None:
    marked = mark_image(_animation("WEBP", [100, 500, 900]), visible_label=label)
    assert _durations(marked) == [100, 500, 900] and read_marks(marked)["ai_generated"] is True


@pytest.mark.parametrize("lossless", [True, False])
def test_webp_is_marked_in_its_container_without_re_encoding(lossless) -> None:
    """A simple WebP gets the extended header that metadata needs; its pixel chunk is kept byte for byte."""
    from clauseguard.guards import _xmp

    buffer = io.BytesIO()
    Image.new("RGBA" if lossless else "RGB", (30, 20), (10, 120, 240, 200)[:4 if lossless else 3]).save(
        buffer, format="WEBP", lossless=lossless, quality=80)
    original = buffer.getvalue()
    marked = mark_image(original)
    pixels = {k: p for k, p in _xmp.webp_chunks(original) if k in (b"VP8 ", b"VP8L")}
    assert pixels and all(p in dict(_xmp.webp_chunks(marked)).values() for p in pixels.values())
    assert read_marks(marked)["digital_source_type"] == TRAINED
    with Image.open(io.BytesIO(marked)) as image:
        assert image.size == (30, 20) and image.mode == ("RGBA" if lossless else "RGB")
        image.load()


@pytest.mark.parametrize(("loop", "plays"), [(None, 1), (0, 0), (3, 3)])
def test_a_gif_plays_as_often_after_marking(loop, plays) -> None:
    gif = _animation("GIF", [100, 200], **({} if loop is None else {"loop": loop}))
    marked = mark_image(gif)
    with Image.open(io.BytesIO(marked)) as image:
        assert image.format == "PNG" and image.n_frames == 2 and image.info.get("loop") == plays


def test_a_tiff_marked_as_png_keeps_its_exif_and_xmp() -> None:
    buffer = io.BytesIO()  # a TIFF keeps Exif's Make (0x010F) and the XMP packet (700) as tags of its own
    Image.new("RGB", (16, 16), (90, 90, 90)).save(buffer, format="TIFF", tiffinfo={0x010F: "CameraMaker", 700: PACKET})
    marked = mark_image(buffer.getvalue())
    with Image.open(io.BytesIO(marked)) as image:
        assert image.format == "PNG" and image.getexif().get(0x010F) == "CameraMaker"
    assert read_marks(marked)["digital_source_type"] == TRAINED and b"<rdf:li>Ada</rdf:li>" in marked


def _icc_header(space: bytes) -> bytes:
    """The 132-byte header of an ICC profile for colour space ``space`` (bytes 16-20), enough for Pillow."""
    header = bytearray(132)
    header[0:4], header[8:12], header[12:16] = (132).to_bytes(4, "big"), b"\x04\x20\x00\x00", b"mntr"
    header[16:20], header[20:24], header[36:40] = space, b"XYZ ", b"acsp"
    return bytes(header)


@pytest.mark.parametrize(("mode", "space", "kept"), [("L", b"GRAY", False), ("CMYK", b"CMYK", False),
                                                      ("RGB", b"RGB ", True)])
def test_a_label_keeps_the_icc_profile_only_where_it_still_describes_the_pixels(mode, space, kept) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 140, 200)).convert(mode).save(buffer, format="JPEG", icc_profile=_icc_header(space))
    with Image.open(io.BytesIO(mark_image(buffer.getvalue(), visible_label="AI"))) as image:
        assert image.mode == "RGB" and ("icc_profile" in image.info) is kept


def test_a_label_sits_in_the_corner_a_viewer_sees_on_a_photo_stored_sideways() -> None:
    from PIL import ImageOps

    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: shown turned 90 degrees clockwise
    buffer = io.BytesIO()
    Image.new("RGB", (120, 80), (230, 230, 230)).save(buffer, format="JPEG", exif=exif, quality=95)
    with Image.open(io.BytesIO(mark_image(buffer.getvalue(), visible_label="AI"))) as marked:
        assert marked.getexif().get(0x0112, 1) == 1
        shown = ImageOps.exif_transpose(marked).convert("L")
    assert shown.size == (80, 120)
    corners = {"bottom-right": shown.crop((70, 110, 80, 120)), "top-left": shown.crop((0, 0, 10, 10))}
    assert corners["bottom-right"].getextrema()[0] < 100 < corners["top-left"].getextrema()[0]


# -- XMP in JPEG as other writers store it ----------------------------------------------------------

_RDF = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        b'xmlns:xmpNote="http://ns.adobe.com/xmp/note/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        b'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/">%s</rdf:Description></rdf:RDF></x:xmpmeta>')


def _app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


def _jpeg_with(*payloads: bytes) -> bytes:
    jpeg = _encode("JPEG")
    return jpeg[:2] + b"".join(_app1(p) for p in payloads) + jpeg[2:]


def _xmp_segments(data: bytes) -> tuple[list[bytes], dict[str, bytes]]:
    """The JPEG's main XMP packets, and its extended XMP put together, by GUID."""
    segments, _ = _xmp.jpeg_segments(data)
    main = [p[len(_xmp.JPEG_XMP_HEADER):] for m, p in segments if m == 0xE1 and p.startswith(_xmp.JPEG_XMP_HEADER)]
    guids = {p[35:67].decode() for m, p in segments if m == 0xE1 and p.startswith(_xmp.JPEG_XMP_EXTENSION_HEADER)}
    return main, {guid: _xmp.jpeg_extension(segments, guid) for guid in guids}


def _with_extension(extension: bytes) -> bytes:
    import hashlib

    guid = hashlib.md5(extension).hexdigest().upper().encode()
    main = _RDF % (b'<xmpNote:HasExtendedXMP>' + guid + b'</xmpNote:HasExtendedXMP>')
    parts = [b"http://ns.adobe.com/xmp/extension/\x00" + guid + len(extension).to_bytes(4, "big")
             + offset.to_bytes(4, "big") + extension[offset:offset + 60_000]
             for offset in range(0, len(extension), 60_000)]
    return _jpeg_with(_xmp.JPEG_XMP_HEADER + main, *parts)


def test_a_mark_in_a_jpegs_extended_xmp_is_read_and_replaced() -> None:
    """Extended XMP (a packet over 64 KB, split across APP1 segments, as Photoshop writes it) was not read:
    a JPEG whose DigitalSourceType sat there read as unmarked, and marking it left the old value in the
    extension beside the new one in the main packet."""
    import hashlib

    extension = _RDF % (b"<Iptc4xmpExt:DigitalSourceType>" + TRAINED.encode() + b"</Iptc4xmpExt:DigitalSourceType>"
                        b"<photoshop:History>" + b"h" * 100_000 + b"</photoshop:History>")
    data = _with_extension(extension)
    assert read_marks(data)["digital_source_type"] == TRAINED and read_marks(data)["ai_generated"]
    marked = mark_image(data, digital_source_type="compositeWithTrainedAlgorithmicMedia")
    assert read_marks(marked)["digital_source_type"] == COMPOSITE and TRAINED.encode() not in marked
    (main,), extensions = _xmp_segments(marked)
    (guid, body), = extensions.items()
    assert guid == hashlib.md5(body).hexdigest().upper() == _xmp.extended_guid(main)
    assert b"h" * 100_000 in body and COMPOSITE.encode() in main  # the mark in the main packet
    Image.open(io.BytesIO(marked)).load()
    labelled = mark_image(data, visible_label="AI")  # re-encoded: the joined packet goes back, split again
    (main,), extensions = _xmp_segments(labelled)
    assert TRAINED.encode() in main and b"h" * 100_000 in extensions[_xmp.extended_guid(main)]


def test_a_packet_too_large_for_one_jpeg_segment_is_split_not_refused() -> None:
    """A main packet near the 64 KB a segment holds could not take the mark: the image was blocked."""
    data = _jpeg_with(_xmp.JPEG_XMP_HEADER + _RDF % (b"<dc:source>" + b"s" * 64_800 + b"</dc:source>"))
    marked = mark_image(data)
    (main,), extensions = _xmp_segments(marked)
    assert len(main) <= _xmp.JPEG_PACKET_LIMIT and TRAINED.encode() in main
    assert b"s" * 64_800 in extensions[_xmp.extended_guid(main)]
    assert read_marks(marked)["digital_source_type"] == TRAINED
    assert mark_image(marked) == marked  # marking again: the same packet, the same split


@pytest.mark.parametrize("header", [b"XMP\x00", b""], ids=["XMP-nul", "no-header"])
def test_xmp_under_another_app1_header_is_read_and_replaced_by_one_packet(header) -> None:
    """ExifTool reads XMP in APP1 under 'XMP\\0' or with no header; clauseguard did not: such a JPEG read
    as unmarked, and marking it gave it a second packet."""
    packet = (_RDF % (b"<dc:creator>Jane</dc:creator><Iptc4xmpExt:DigitalSourceType>" + COMPOSITE.encode()
                      + b"</Iptc4xmpExt:DigitalSourceType>"))
    data = _jpeg_with(header + b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>' + packet)
    assert read_marks(data)["digital_source_type"] == COMPOSITE
    marked = mark_image(data)
    (main,), _ = _xmp_segments(marked)
    assert marked.count(b"<x:xmpmeta") == 1 and b"Jane" in main and read_marks(marked)["digital_source_type"] == TRAINED


def _label_box(marked: bytes, background: int) -> tuple[int, int, int, int]:
    import numpy as np

    grey = np.asarray(Image.open(io.BytesIO(marked)).convert("L")).astype(int)
    ys, xs = np.nonzero(abs(grey - background) > 60)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize(("size", "label"), [((2048, 2048), "AI-generated"), ((4000, 1500), "AI-generated"),
                                             ((1600, 1600), "Generated by an AI model; not a photograph " * 2)])
def test_a_visible_label_grows_with_the_image_and_fits_it(size, label) -> None:
    """The label was drawn in Pillow's 10-pixel font whatever the size: 18 pixels high on a 2048-pixel
    image (under 1%), a speck nobody sees. Now its text is 3% of the shorter side (smaller to fit the
    width), in the bottom-right corner."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 200, 200)).save(buffer, format="PNG")
    left, top, right, bottom = _label_box(mark_image(buffer.getvalue(), visible_label=label), 200)
    assert (right, bottom) == size and left > 0
    if len(label) < 20:
        assert bottom - top >= 0.03 * min(size)
    else:  # too long for 3%: smaller, and still inside the image
        assert 10 < bottom - top < 0.03 * min(size)


@pytest.mark.parametrize("kind", [b"tEXt", b"zTXt"])
@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_xmp_in_a_png_text_chunk_keeps_its_non_ascii_text(kind, encoding) -> None:
    """XMP in a tEXt or zTXt chunk is UTF-8 as XMP is, though those chunks nominally hold Latin-1: read as
    Latin-1 and written back in an iTXt chunk, 'Zoë Ørsted' came out 'ZoÃ« Ã\\x98rsted'."""
    import zlib

    packet = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Zoë Ørsted'
              '</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>').encode(encoding)
    payload = _xmp.PNG_XMP_KEYWORD + b"\x00" + (packet if kind == b"tEXt" else b"\x00" + zlib.compress(packet))
    png = _encode("PNG")
    marked = mark_image(png[:33] + _xmp.png_chunk(kind, payload) + png[33:])
    chunks = _xmp.png_chunks(marked)
    (xmp,) = [p for k, p in chunks if k in (b"tEXt", b"zTXt", b"iTXt") and p.startswith(_xmp.PNG_XMP_KEYWORD)]
    assert "Zoë Ørsted".encode() in xmp and read_marks(marked)["digital_source_type"] == TRAINED


def test_marking_in_many_threads_at_once_marks_every_image() -> None:
    """Each packet's prefixes were registered in ElementTree's namespace map, which every thread shares:
    under threads register_namespace raised KeyError (another thread had just removed the entry), so
    about one image in a thousand was blocked, or released unmarked with on_error: flag; and a packet's
    prefixes stayed in the map, changing how the whole process wrote XML."""
    import sys
    import threading
    import xml.etree.ElementTree as ET

    from PIL.PngImagePlugin import PngInfo

    def png(prefix: str, uri: str) -> bytes:
        props = "".join(f"<{prefix}:k{i}>v</{prefix}:k{i}>" for i in range(20))
        packet = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{_xmp.RDF_NS}">'
                  f'<rdf:Description rdf:about="" xmlns:{prefix}="{uri}">{props}</rdf:Description>'
                  "</rdf:RDF></x:xmpmeta>")
        info, buffer = PngInfo(), io.BytesIO()
        info.add_itxt("XML:com.adobe.xmp", packet)
        Image.new("RGB", (8, 8), "green").save(buffer, format="PNG", pnginfo=info)
        return buffer.getvalue()

    images = [png(p, u) for p in ("foo", "bar") for u in ("urn:a", "urn:b")]  # one prefix, two namespaces
    namespaces, failures = dict(ET._namespace_map), []

    def mark(data: bytes) -> None:
        for _ in range(300):
            try:
                marked = mark_image(data)
                assert read_marks(marked)["ai_generated"] and b":k19>v</" in marked
            except Exception as err:  # every failure counts, whatever it is
                failures.append(repr(err))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as they can
    try:
        threads = [threading.Thread(target=mark, args=(images[i % 4],)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == [] and dict(ET._namespace_map) == namespaces


def _mpo_with_xmp_after_its_mpf(packet: bytes) -> bytes:
    """A white and a black picture as an MPO whose XMP segment follows the MPF (APP2) segment, as some
    cameras write it; the MPF offset of the second picture moved to match."""
    import struct

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(buffer, format="MPO", save_all=True,
                                               append_images=[Image.new("RGB", (40, 30), "black")])
    data = buffer.getvalue()
    with Image.open(io.BytesIO(data)) as image:
        offset = image.mpinfo[0xB002][1]["DataOffset"]
    segments, rest = _xmp.jpeg_segments(data)
    xmp = (0xE1, _xmp.JPEG_XMP_HEADER + packet)
    at = next(i for i, (m, _) in enumerate(segments) if m == 0xE2)
    mpf = segments[at][1]
    order = ">" if mpf[4:6] == b"MM" else "<"
    moved = mpf.replace(struct.pack(order + "I", offset), struct.pack(order + "I", offset + 4 + len(xmp[1])), 1)
    segments[at:at + 1] = [(0xE2, moved), xmp]
    return b"\xff\xd8" + b"".join(_xmp.jpeg_segment(m, p) for m, p in segments) + rest


@pytest.mark.parametrize("size", [10, 5000], ids=["short packet", "long packet"])
def test_an_mpo_with_its_xmp_after_the_mpf_segment_keeps_its_second_picture(size) -> None:
    """Marking took the XMP segment from after the MPF segment and wrote the new one before it: the
    second picture moved, its MPF offset did not, and the marked file no longer loaded."""
    from clauseguard.guards._images import load_image

    packet = _xmp.set_digital_source_type(None, "digitalCapture").replace(b"<rdf:RDF>", b"<rdf:RDF>" + b" " * size)
    data = _mpo_with_xmp_after_its_mpf(packet)
    assert [f.getpixel((0, 0)) for f in load_image(data).frames] == [(255, 255, 255), (0, 0, 0)]
    marked = mark_image(data)
    assert [f.getpixel((0, 0)) for f in load_image(marked).frames] == [(255, 255, 255), (0, 0, 0)]
    assert read_marks(marked)["digital_source_type"] == TRAINED
