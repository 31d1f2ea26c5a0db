"""guard_diffusers_pipeline on real diffusers pipelines: Stable Diffusion 1.x and SDXL (which has no safety
checker of its own), built here from tiny random components, on every device this machine has (the CPU;
a CUDA GPU in float16 too where there is one). The fake pipelines of test_diffusers.py pin each rule down;
these prove the rules hold for the pipelines users call. Nothing downloads."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")

from clauseguard.guards import GuardSpec, MemorySink, Pipeline, create  # noqa: E402
from clauseguard.guards.diffusers import guard_diffusers_pipeline  # noqa: E402
from clauseguard.guards.image_mark import read_marks  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # every device this machine has
DTYPES = {"cpu": torch.float32, "cuda": torch.float16}  # as each is used
CALL = {"num_inference_steps": 2, "height": 64, "width": 64}


def _tokenizer(folder: Path) -> Any:
    """A CLIP tokenizer over single characters (no merges), written here."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in string.ascii_lowercase + string.digits + string.punctuation:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return transformers.CLIPTokenizer(vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt"),
                                      model_max_length=16)


def _text_encoder(cls: Any) -> Any:
    return cls(transformers.CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32,
                                           intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                                           vocab_size=200, max_position_embeddings=16, projection_dim=32))


def _unet(**kw: Any) -> Any:
    return diffusers.UNet2DConditionModel(block_out_channels=(4, 8), layers_per_block=1, sample_size=16,
                                          in_channels=4, out_channels=4,
                                          down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                          up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), **kw)


def _vae() -> Any:
    return diffusers.AutoencoderKL(block_out_channels=[4, 8], in_channels=3, out_channels=3, norm_num_groups=2,
                                   down_block_types=["DownEncoderBlock2D"] * 2,
                                   up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4)


def _build(kind: str, folder: Path) -> Any:
    torch.manual_seed(0)
    if kind == "sd":
        pipe = diffusers.StableDiffusionPipeline(
            unet=_unet(cross_attention_dim=32, norm_num_groups=2), vae=_vae(),
            scheduler=diffusers.DDIMScheduler(clip_sample=False, set_alpha_to_one=False, steps_offset=1),
            text_encoder=_text_encoder(transformers.CLIPTextModel), tokenizer=_tokenizer(folder),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    else:  # SDXL: two text encoders, micro-conditioning on sizes, and no safety checker at all
        pipe = diffusers.StableDiffusionXLPipeline(
            unet=_unet(attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
                       addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
                       projection_class_embeddings_input_dim=80, cross_attention_dim=64, norm_num_groups=1),
            vae=_vae(), scheduler=diffusers.EulerDiscreteScheduler(),
            text_encoder=_text_encoder(transformers.CLIPTextModel), tokenizer=_tokenizer(folder),
            text_encoder_2=_text_encoder(transformers.CLIPTextModelWithProjection),
            tokenizer_2=_tokenizer(folder / "2"))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random StableDiffusionSafetyChecker folder, for the sd_safety_checker guard."""
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from guard_helpers import tiny_clip_config

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("checker")
    StableDiffusionSafetyChecker(tiny_clip_config()).save_pretrained(folder)
    transformers.CLIPImageProcessor(size={"shortest_edge": 32},
                                    crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", params=[(kind, device) for kind in ("sd", "sdxl") for device in DEVICES],
                ids=lambda p: "-".join(p))
def pipe(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    kind, device = request.param
    built = _build(kind, tmp_path_factory.mktemp(kind)).to(device, DTYPES[device])
    built.unet_calls = 0

    def count(*_: Any) -> None:
        built.unet_calls += 1

    built.unet.register_forward_pre_hook(count)
    return built


def _guards(checker: Path, device: str, *, threshold: float = 1.0, sink: MemorySink | None = None) -> Pipeline:
    """A keyword guard on prompts; on images the safety checker (threshold 1.0: it never blocks, but
    scores every image) on the pipeline's device, and the AI-generated mark."""
    specs = [
        GuardSpec(id="kw", type="keyword", stage="input", params={"terms": {"S12": ["forbiddenword"]}}),
        GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image",
                  params={"backend": "sd_safety_checker", "model_path": str(checker), "device": device,
                          "threshold": threshold}),
        GuardSpec(id="mark", type="image_mark", stage="output", modality="image", on_fail="label"),
    ]
    return Pipeline([create(s) for s in specs], sink=sink)


@pytest.mark.parametrize("output_type", ["pil", "np", "pt"])
def test_every_image_of_a_real_pipeline_is_checked_and_marked(pipe: Any, checker: Path, output_type: str) -> None:
    device = pipe.device.type
    sink = MemorySink()
    result = guard_diffusers_pipeline(pipe, _guards(checker, device, sink=sink))(
        "a green field", num_images_per_prompt=2, output_type=output_type, **CALL)
    assert not result.prompt_blocked and result.blocked == 0
    assert [image.size for image in result.images] == [(64, 64)] * 2
    for data, verdict in zip(result.image_bytes, result.verdicts, strict=True):
        assert read_marks(data)["ai_generated"]
        assert 0.0 <= verdict.metadata["scores/nsfw"]["S12"] < 1.0  # the checker read it on the device
    assert result.output.images is None  # the pipeline's own result holds no unguarded image
    images = [r for r in sink.records if r.get("modality") == "image"]
    assert len(images) == 2 and all(len(r["image"]["sha256"]) == 64 for r in images)


def test_a_blocked_image_of_a_real_pipeline_is_withheld(pipe: Any, checker: Path) -> None:
    """Threshold 0: the checker's score of any image reaches it, so every image is withheld."""
    result = guard_diffusers_pipeline(pipe, _guards(checker, pipe.device.type, threshold=0.0))("a green field",
                                                                                                **CALL)
    assert result.blocked == 1 and result.images == [] and result.image_bytes == []


def test_a_blocked_prompt_never_reaches_a_real_pipeline(pipe: Any, checker: Path) -> None:
    guarded = guard_diffusers_pipeline(pipe, _guards(checker, pipe.device.type))
    before = pipe.unet_calls
    result = guarded("a forbiddenword field", **CALL)
    assert result.prompt_blocked and result.images == [] and result.output is None
    if "prompt_2" in pipe.__call__.__code__.co_varnames:  # SDXL's second text encoder reads prompt_2
        result = guarded("a green field", prompt_2="a forbiddenword field", **CALL)
        assert result.prompt_blocked and result.output is None
    assert pipe.unet_calls == before
    guarded("a green field", **CALL)
    assert pipe.unet_calls > before  # the hook counts: the model did run for an allowed prompt


def test_an_editing_prompt_never_reaches_a_real_semantic_pipeline(tmp_path: Path, checker: Path) -> None:
    """SemanticStableDiffusionPipeline's editing_prompt went to its text encoder unchecked: only prompt,
    prompt_2 and prompt_3 were read."""
    sd = _build("sd", tmp_path)
    pipe = diffusers.SemanticStableDiffusionPipeline(**{k: v for k, v in sd.components.items() if k != "image_encoder"},
                                                     requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    read: list[Any] = []
    pipe.text_encoder.register_forward_pre_hook(lambda module, args: read.append(1))
    guarded = guard_diffusers_pipeline(pipe, _guards(checker, "cpu"))
    result = guarded("a green field", editing_prompt=["a forbiddenword"], edit_guidance_scale=[7.0],
                     edit_warmup_steps=[0], **CALL)
    assert result.prompt_blocked and read == []
    result = guarded("a green field", editing_prompt=["sunset"], edit_guidance_scale=[7.0], edit_warmup_steps=[0],
                     **CALL)
    assert not result.prompt_blocked and len(result.prompt_verdicts) == 2 and len(result.images) == 1 and read
