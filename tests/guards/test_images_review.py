"""Review findings on the image guards: each test failed before its fix."""

from __future__ import annotations

import contextlib
import io

import pytest

Image = pytest.importorskip("PIL.Image")

from clauseguard.guards._images import ImageLoadError, load_image  # noqa: E402


def _pages(fmt: str, sizes: list[tuple[int, int]]) -> bytes:
    """A multi-frame file whose frames have the given sizes (the first sets the size Pillow reports)."""
    if fmt == "TIFF":
        pages = [Image.new("L", size, 0) for size in sizes]
        buffer = io.BytesIO()
        pages[0].save(buffer, format="TIFF", save_all=True, append_images=pages[1:])
        return buffer.getvalue()
    gifs = []  # GIF: the first one's header (logical screen), then each one's image block
    for size in sizes:
        buffer = io.BytesIO()
        Image.new("P", size, 0).save(buffer, format="GIF")
        gifs.append(buffer.getvalue())
    head = gifs[0][:gifs[0].index(b"\x2c")]
    return head + b"".join(gif[gif.index(b"\x2c"):-1] for gif in gifs) + b"\x3b"


@pytest.mark.parametrize("fmt", ["GIF", "TIFF"])
def test_a_later_frame_larger_than_the_first_is_held_to_the_pixel_limit(fmt) -> None:
    """Only the first frame's size was checked: a 60 KB GIF or TIFF with a 9000x9000 second frame was
    decoded (81 MP, 1 GB of memory) though the limit is 40 MP."""
    data = _pages(fmt, [(1, 1), (30, 30)])
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (1, 1) and image.n_frames == 2
    assert len(load_image(data).frames) == 2
    with pytest.raises(ImageLoadError, match="too large to check"):
        load_image(data, max_pixels=400)


def test_later_frames_larger_than_the_first_count_in_the_total(monkeypatch) -> None:
    import clauseguard.guards._images as images

    monkeypatch.setattr(images, "MAX_TOTAL_PIXELS", 1000)
    with pytest.raises(ImageLoadError, match="too large to check"):
        load_image(_pages("TIFF", [(1, 1), (30, 30), (30, 30)]))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_frames_are_judged_turned_as_a_viewer_shows_them(orientation) -> None:
    """A photo stored sideways (Exif Orientation) is shown turned by every browser; the guards judged it
    as stored, so a picture could be stored upside down to be judged in an orientation nobody sees."""
    from PIL import ImageOps

    image = Image.new("RGB", (60, 40), (240, 240, 240))
    image.paste((10, 10, 10), (0, 0, 20, 10))  # a dark block in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", exif=exif)
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(buffer.getvalue()))).convert("RGB")
    loaded = load_image(buffer.getvalue())
    assert loaded.frames[0].size == shown.size and loaded.frames[0].tobytes() == shown.tobytes()
    assert loaded.size == (60, 40)  # the file's own size, as stored


def _utf16_packet(encoding: str, doctype: str, value: str) -> bytes:
    text = ('<?xml version="1.0" encoding="UTF-16"?>' + doctype +
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
            f"<Iptc4xmpExt:DigitalSourceType>{value}</Iptc4xmpExt:DigitalSourceType>"
            "</rdf:Description></rdf:RDF></x:xmpmeta>")
    return (b"\xfe\xff" if encoding == "utf-16-be" else b"") + text.encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-16-be", "utf-16"])
def test_a_doctype_in_a_utf16_xmp_packet_is_refused(encoding) -> None:
    """The DOCTYPE refusal was a byte pattern: in UTF-16 (which XMP allows and expat reads) it did not
    match, and the packet's entities were expanded."""
    from clauseguard.guards import _xmp

    evil = _utf16_packet(encoding, '<!DOCTYPE x [<!ENTITY a "trainedAlgorithmicMedia">]>', "&a;")
    with pytest.raises(_xmp.XmpError, match="DOCTYPE"):
        _xmp.read_digital_source_type(evil)


@pytest.mark.parametrize("encoding", ["utf-16-be", "utf-16-le"])
def test_a_utf16_xmp_packet_is_read(encoding) -> None:
    """Stripping NUL padding cut the last byte of a UTF-16LE packet: it was unreadable, and marking the
    image replaced it, losing the creator's metadata."""
    from clauseguard.guards import _xmp

    bom = b"\xfe\xff" if encoding == "utf-16-be" else b"\xff\xfe"
    plain = bom + _utf16_packet(encoding, "", "trainedAlgorithmicMedia").removeprefix(b"\xfe\xff")
    assert _xmp.read_digital_source_type(plain + "\n".encode(encoding)) == "trainedAlgorithmicMedia"
    marked = _xmp.set_digital_source_type(plain, "algorithmicMedia")
    assert _xmp.read_digital_source_type(marked) == "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia"


def _mpo() -> bytes:
    """A camera's MPO: a JPEG with a second picture (a stereo view, a depth map) after its end."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 50, 50)).save(buffer, format="MPO", save_all=True,
                                                   append_images=[Image.new("RGB", (64, 48), (20, 20, 220))])
    return buffer.getvalue()


def test_an_mpo_is_marked_as_the_jpeg_it_is() -> None:
    """An MPO (a .jpg from many cameras) was converted to an animated PNG flipping between its primary
    picture and the depth map or second view no viewer shows."""
    from clauseguard.guards.image_mark import mark_image, read_marks

    data = _mpo()
    marked = mark_image(data)
    with Image.open(io.BytesIO(data)) as before, Image.open(io.BytesIO(marked)) as after:
        assert after.format == "MPO" and after.n_frames == 2
        assert after.tobytes() == before.tobytes()  # spliced, not re-encoded
        after.seek(1)
        after.load()
        assert after.getpixel((5, 5))[2] > 200  # the second picture is still found where it was
    assert marked.startswith(b"\xff\xd8") and read_marks(marked)["ai_generated"] is True


def test_an_mpo_with_a_label_is_a_jpeg_of_its_primary_picture() -> None:
    from clauseguard.guards.image_mark import mark_image, read_marks

    marked = mark_image(_mpo(), visible_label="AI")
    with Image.open(io.BytesIO(marked)) as image:
        assert image.format == "JPEG" and getattr(image, "n_frames", 1) == 1
        assert image.getpixel((5, 5))[0] > 180  # the primary (red) picture
    assert read_marks(marked)["ai_generated"] is True


class _SD3Like:
    """The call signature of diffusers' StableDiffusion3Pipeline (prompt, prompt_2, prompt_3, ...)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, prompt=None, prompt_2=None, prompt_3=None, height=None, width=None, **kwargs):
        self.calls.append((prompt, prompt_2, prompt_3))
        from types import SimpleNamespace

        return SimpleNamespace(images=[Image.new("RGB", (16, 16), (0, 200, 0))])


class _FluxLike(_SD3Like):
    """FluxPipeline's order: (prompt, prompt_2, negative_prompt, ...)."""

    def __call__(self, prompt=None, prompt_2=None, negative_prompt=None, **kwargs):
        return super().__call__(prompt, prompt_2, None)


def _keyword_guards():
    from clauseguard.guards import GuardSpec, Pipeline

    return Pipeline([GuardSpec(id="kw", type="keyword", stage="input", params={"terms": {"S12": ["forbiddenword"]}})])


def test_a_prompt_3_given_positionally_is_checked() -> None:
    """Only the first positional argument after the prompt was checked (SDXL's prompt_2): SD3's third
    prompt, given positionally, reached its text encoder unchecked."""
    from clauseguard.guards.diffusers import guard_diffusers_pipeline

    pipe = _SD3Like()
    result = guard_diffusers_pipeline(pipe, _keyword_guards())("ok", "ok", "a forbiddenword")
    assert result.prompt_blocked and pipe.calls == []


def test_a_negative_prompt_given_positionally_is_not_taken_for_a_prompt() -> None:
    from clauseguard.guards.diffusers import guard_diffusers_pipeline

    pipe = _FluxLike()
    result = guard_diffusers_pipeline(pipe, _keyword_guards())("a lighthouse", "at dusk", "forbiddenword")
    assert not result.prompt_blocked and len(result.prompt_verdicts) == 2 and len(pipe.calls) == 1


@pytest.mark.parametrize(("call", "sent"), [
    (lambda g: g("a portrait of jane.doe@example.com"), ("a portrait of [EMAIL]", None, None)),
    (lambda g: g(["ok", "mail jane.doe@example.com"], prompt_3="x jane.doe@example.com"),
     (["ok", "mail [EMAIL]"], None, "x [EMAIL]")),
    (lambda g: g("ok", "mail jane.doe@example.com"), ("ok", "mail [EMAIL]", None)),
])
def test_the_model_gets_the_prompt_as_the_input_guards_redacted_it(call, sent) -> None:
    """An input guard that redacts (pii, on_fail: redact) was overruled: the model got the original."""
    from clauseguard.guards import Action, GuardSpec, Pipeline
    from clauseguard.guards.diffusers import guard_diffusers_pipeline

    pipe = _SD3Like()
    guards = Pipeline([GuardSpec(id="pii", type="pii", stage="input", on_fail="redact")])
    result = call(guard_diffusers_pipeline(pipe, guards))
    assert not result.prompt_blocked and any(v.action is Action.REDACT for v in result.prompt_verdicts)
    assert pipe.calls == [sent]


def test_a_label_keeps_a_pngs_colour_chunks_and_resolution() -> None:
    """Drawing a label re-encodes the picture; gAMA, cHRM (how its values map to colours) and pHYs (its
    resolution) were dropped with the rest, so the labelled picture showed in other colours."""
    from clauseguard.guards import _xmp
    from clauseguard.guards.image_mark import mark_image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 130, 140)).save(buffer, format="PNG", dpi=(300, 300))
    chunks = _xmp.png_chunks(buffer.getvalue())
    colour = [(b"gAMA", (45455).to_bytes(4, "big")), (b"cHRM", bytes(range(32)))]
    data = _xmp.PNG_SIGNATURE + b"".join(_xmp.png_chunk(k, p) for k, p in [chunks[0], *colour, *chunks[1:]])
    marked = mark_image(data, visible_label="AI")
    kinds = [k for k, _ in _xmp.png_chunks(marked)]
    assert all(c in _xmp.png_chunks(marked) for c in colour) and kinds.index(b"cHRM") < kinds.index(b"IDAT")
    with Image.open(io.BytesIO(marked)) as image:
        assert round(image.info["dpi"][0]) == 300


def test_a_label_keeps_a_jpegs_iptc_segment_and_resolution() -> None:
    """Likewise a JPEG's APP13 (the IPTC IIM record: by-line, caption, copyright) and its dpi."""
    from clauseguard.guards import _xmp
    from clauseguard.guards.image_mark import mark_image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 130, 140)).save(buffer, format="JPEG", dpi=(300, 300))
    data = buffer.getvalue()
    iptc = b"\x1c\x02\x50\x00\x03Ada"  # IIM 2:80 By-line
    app13 = b"Photoshop 3.0\x00" + b"8BIM\x04\x04\x00\x00" + len(iptc).to_bytes(4, "big") + iptc + b"\x00"
    segments = _xmp.jpeg_segments(data)[0]
    after_jfif = 2 + 4 + len(segments[0][1])
    data = data[:after_jfif] + _xmp.jpeg_segment(0xED, app13) + data[after_jfif:]
    marked = mark_image(data, visible_label="AI")
    assert (0xED, app13) in _xmp.jpeg_segments(marked)[0]
    with Image.open(io.BytesIO(marked)) as image:
        assert image.info["dpi"] == (300, 300)


def test_a_clip_model_folder_is_not_taken_for_a_safety_checker(tmp_path) -> None:
    """A folder of the wrong model (a CLIP model, not the checker) loaded with only a warning: the
    checker's concept embeddings were left at their initial values and every image got a meaningless
    score, so a misconfigured guard judged silently at random instead of failing at load."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    import torch
    from guard_helpers import tiny_clip_config
    from transformers import CLIPImageProcessor, CLIPModel

    from clauseguard.errors import ModelLoadError
    from clauseguard.guards import GuardSpec, create

    torch.manual_seed(0)
    CLIPModel(tiny_clip_config()).save_pretrained(tmp_path)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="concept_embeds"):
        create(GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image",
                         params={"backend": "sd_safety_checker", "model_path": str(tmp_path)}))


def _icc_rgb_profile(curve: list[int]) -> bytes:
    """A minimal ICC v2 RGB display profile (sRGB-like primaries) with ``curve`` as every tone curve."""
    import struct

    def s15(x: float) -> bytes:
        return struct.pack(">i", round(x * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    curv = b"curv\0\0\0\0" + struct.pack(">I", len(curve)) + b"".join(struct.pack(">H", p) for p in curve)
    desc = b"desc\0\0\0\0" + struct.pack(">I", 5) + b"test\0" + b"\0" * 79
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)), (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)),
            (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)), (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
            (b"rTRC", curv), (b"gTRC", curv), (b"bTRC", curv)]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (struct.pack(">I", offset + len(body)) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
              + b"\0" * 12 + b"acsp" + b"\0" * 24 + s15(0.9642) + s15(1.0) + s15(0.8249)).ljust(128, b"\0")
    return header + struct.pack(">I", len(tags)) + table + body


def test_an_icc_profile_that_changes_the_picture_is_judged_as_shown(ctx) -> None:
    """Browsers apply an image's ICC profile; the guards judged the stored values only, so a profile
    whose tone curves run backwards showed viewers a negative of what the guard judged."""
    from PIL import ImageDraw

    from clauseguard.guards import Action, GuardSpec
    from clauseguard.guards.image_nsfw import ImageNsfwGuard

    stored = Image.new("RGB", (64, 64), (255, 255, 255))
    ImageDraw.Draw(stored).rectangle((16, 16, 48, 48), fill=(0, 0, 0))  # stored: black square on white
    buffer = io.BytesIO()
    stored.save(buffer, format="PNG", icc_profile=_icc_rgb_profile([65535 - i * 257 for i in range(256)]))

    def dark_corner(frames):  # the "unsafe" picture: what a colour-managed viewer shows, a dark page
        return [1.0 if f.getpixel((2, 2))[0] < 64 else 0.0 for f in frames]

    spec = GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image", on_fail="block")
    verdict = ImageNsfwGuard(spec, scorer=dark_corner).check(buffer.getvalue(), ctx)
    assert verdict.action is Action.BLOCK and verdict.metadata["nsfw"]["frame"] == 0
    plain = io.BytesIO()
    stored.save(plain, format="PNG", icc_profile=_icc_rgb_profile([i * 257 for i in range(256)]))
    assert ImageNsfwGuard(spec, scorer=dark_corner).check(plain.getvalue(), ctx).action is Action.ALLOW


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_every_truncation_of_an_animation_is_an_image_load_error(fmt) -> None:
    """Counting a truncated GIF's frames raised IndexError or struct.error outside load_image's error
    handling: no ImageLoadError, so Pipeline.check, describing the image for its record, raised too."""
    frames = [Image.new("RGB", (40, 40), c) for c in ("red", "green", "blue")]
    for index, frame in enumerate(frames):
        frame.paste((index * 80, 0, 0), (index * 5, 0, index * 5 + 10, 40))
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=100)
    data = buffer.getvalue()
    for cut in range(1, len(data)):
        with contextlib.suppress(ImageLoadError):  # anything else fails the test
            load_image(data[:cut])


def test_marking_keeps_the_packets_namespace_prefixes() -> None:
    """The packet was rewritten with ElementTree's own prefixes (ns0, ns1, ...) for namespaces it did not
    know: a motion photo's GCamera:MicroVideo became ns2:MicroVideo, lost to readers that look for it."""
    from clauseguard.guards import _xmp

    packet = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              b'<rdf:Description rdf:about="" xmlns:GCamera="http://ns.google.com/photos/1.0/camera/" '
              b'GCamera:MicroVideo="1"/></rdf:RDF></x:xmpmeta>')
    marked = _xmp.set_digital_source_type(packet, "trainedAlgorithmicMedia")
    assert b'xmlns:GCamera="http://ns.google.com/photos/1.0/camera/"' in marked and b'GCamera:MicroVideo="1"' in marked
    assert _xmp.read_digital_source_type(marked).endswith("/trainedAlgorithmicMedia")


def test_a_webp_with_bytes_after_its_container_is_marked() -> None:
    """Bytes after the RIFF container (which Pillow and browsers ignore) were parsed as a chunk running
    past the end of the file: the image was blocked, and `clauseguard inspect` refused it."""
    from clauseguard.guards import _xmp
    from clauseguard.guards.image_mark import mark_image, read_marks

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 10)).save(buffer, format="WEBP")
    data = buffer.getvalue() + b"TRAILING DATA 123"
    marked = mark_image(data)
    assert read_marks(marked)["ai_generated"] is True and b"TRAILING" not in marked
    assert [k for k, _ in _xmp.webp_chunks(marked)] == [b"VP8X", b"VP8 ", b"XMP "]
    assert read_marks(data)["format"] == "WEBP"


def test_a_png_gamma_that_changes_the_picture_is_judged_as_shown(ctx) -> None:
    """The PNG gamma trick: a faint drawing (250 on 255) under gAMA 0.02 is shown at full contrast by a
    viewer that applies gAMA; the guard judged the stored, almost white, values only."""
    from clauseguard.guards import Action, GuardSpec, _xmp
    from clauseguard.guards.image_nsfw import ImageNsfwGuard

    stored = Image.new("RGB", (64, 64), (255, 255, 255))
    stored.paste((250, 250, 250), (16, 16, 48, 48))
    buffer = io.BytesIO()
    stored.save(buffer, format="PNG")
    chunks = _xmp.png_chunks(buffer.getvalue())

    def with_gamma(gamma: float) -> bytes:
        gama = (b"gAMA", round(gamma * 100000).to_bytes(4, "big"))
        return _xmp.PNG_SIGNATURE + b"".join(_xmp.png_chunk(k, p) for k, p in [chunks[0], gama, *chunks[1:]])

    def drawing_seen(frames):
        return [1.0 if f.getpixel((32, 32))[0] < 200 else 0.0 for f in frames]

    spec = GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image", on_fail="block")
    assert ImageNsfwGuard(spec, scorer=drawing_seen).check(with_gamma(0.02), ctx).action is Action.BLOCK
    assert ImageNsfwGuard(spec, scorer=drawing_seen).check(with_gamma(1 / 2.2), ctx).action is Action.ALLOW
    assert load_image(with_gamma(0.45455)).managed == ()  # the usual gamma: nothing more to judge


def test_a_pipeline_called_with_return_dict_false_is_guarded() -> None:
    """diffusers returns (images, nsfw flags) with return_dict=False: the wrapper raised 'the result has
    no .images; call it with output_type=pil' after the model had run, though the output type was pil."""
    from clauseguard.guards import GuardSpec, Pipeline
    from clauseguard.guards.diffusers import guard_diffusers_pipeline
    from clauseguard.guards.image_mark import read_marks

    def sd_like(prompt, return_dict=True):
        images = [Image.new("RGB", (16, 16), (0, 200, 0)), Image.new("RGB", (16, 16), (0, 0, 0))]
        return (images, [False, True]) if not return_dict else None

    mark = GuardSpec(id="mark", type="image_mark", stage="output", modality="image", on_fail="label")
    result = guard_diffusers_pipeline(sd_like, Pipeline([mark]))("a lighthouse", return_dict=False)
    assert (len(result.images), result.blocked) == (1, 1)
    assert result.images[0].getpixel((0, 0)) == (0, 200, 0) and read_marks(result.image_bytes[0])["ai_generated"]


@pytest.mark.parametrize(("prompt", "kwargs"), [(["a cat", "a dog", "a fox"], {}), ("a cat", {"prompt_2": "oil"})])
def test_a_request_counts_once_against_a_rate_limit_however_many_prompts_it_carries(prompt, kwargs) -> None:
    """Each prompt was checked by the whole pipeline, rate limit included: a batch of three prompts (or
    SDXL's two) took three (two) tokens, so a capacity of 2 blocked the first request."""
    from types import SimpleNamespace

    from clauseguard.guards import Context, GuardSpec, Pipeline
    from clauseguard.guards.diffusers import guard_diffusers_pipeline

    def pipe(prompt, prompt_2=None):
        return SimpleNamespace(images=[Image.new("RGB", (8, 8))])

    rate = GuardSpec(id="rl", type="rate_limit", stage="input", params={"capacity": 2, "refill_per_second": 0.001})
    guarded = guard_diffusers_pipeline(pipe, Pipeline([rate]))
    blocked = [guarded(prompt, context=Context(user_key="u1"), **kwargs).prompt_blocked for _ in range(3)]
    assert blocked == [False, False, True]
