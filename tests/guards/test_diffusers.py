"""guard_diffusers_pipeline with a fake pipeline: prompt first, then every image checked and marked."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import pytest

Image = pytest.importorskip("PIL.Image")

from clauseguard.errors import UserError  # noqa: E402
from clauseguard.guards import Action, Guard, GuardSpec, MemorySink, Pipeline, Verdict  # noqa: E402
from clauseguard.guards.diffusers import check_image, guard_diffusers_pipeline  # noqa: E402
from clauseguard.guards.image_mark import read_marks  # noqa: E402
from clauseguard.guards.image_nsfw import ImageNsfwGuard  # noqa: E402

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


@dataclass
class FakeOutput:
    images: list
    nsfw_content_detected: list | None = None


@dataclass
class FakePipeline:
    """Paints one flat image per colour named in the prompt; remembers its calls."""

    calls: list = field(default_factory=list)
    output_type: str = "pil"
    builtin_flags: list | None = None

    def __call__(self, prompt, *args, **kwargs):
        self.calls.append((prompt, *args, kwargs) if args else (prompt, kwargs))
        images = [Image.new("RGB", (32, 32), COLOURS[w]) for w in str(prompt).split() if w in COLOURS]
        if self.output_type == "np":
            import numpy as np

            images = [np.asarray(i, dtype=np.float32) / 255.0 for i in images]
        return FakeOutput(images=images, nsfw_content_detected=self.builtin_flags)


def _red_is_nsfw(frames):
    return [1.0 if f.getpixel((0, 0)) == (255, 0, 0) else 0.0 for f in frames]


def _guards(on_fail: str = "block", sink: MemorySink | None = None) -> Pipeline:
    keyword = GuardSpec(id="kw", type="keyword", stage="input", params={"terms": {"S12": ["forbiddenword"]}})
    nsfw = GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image", on_fail=on_fail)
    mark = GuardSpec(id="mark", type="image_mark", stage="output", modality="image", on_fail="label")
    return Pipeline([keyword, ImageNsfwGuard(nsfw, scorer=_red_is_nsfw), mark], sink=sink)


@pytest.mark.parametrize(("prompt", "released", "blocked"), [
    ("green blue", 2, 0),
    ("red green", 1, 1),
    ("red red", 0, 2),
])
def test_blocked_images_are_dropped_and_the_rest_marked(prompt, released, blocked) -> None:
    result = guard_diffusers_pipeline(FakePipeline(), _guards())(prompt)
    assert (len(result.images), result.blocked, len(result.verdicts)) == (released, blocked, released + blocked)
    assert all(read_marks(b)["ai_generated"] for b in result.image_bytes)
    assert all(i.getpixel((0, 0)) != (255, 0, 0) for i in result.images)


def test_a_blocked_prompt_never_reaches_the_model() -> None:
    pipe = FakePipeline()
    result = guard_diffusers_pipeline(pipe, _guards())("a forbiddenword in green")
    assert result.prompt_blocked and pipe.calls == [] and result.images == [] and result.output is None
    assert result.prompt_verdicts[0].findings[0].category == "S12"


@pytest.mark.parametrize(("args", "kwargs"), [
    (("a forbiddenword",), {}),  # SDXL's prompt_2, positionally
    ((), {"prompt_2": "a forbiddenword"}),
    ((), {"prompt_2": ["ok", "a forbiddenword"]}),
    ((), {"prompt_3": "a forbiddenword"}),  # SD3
])
def test_second_and_third_prompts_are_checked_too(args, kwargs) -> None:
    pipe = FakePipeline()
    result = guard_diffusers_pipeline(pipe, _guards())("green", *args, **kwargs)
    assert result.prompt_blocked and pipe.calls == []


def test_embeddings_need_the_text_they_were_made_from() -> None:
    """prompt_embeds cannot be read by the guards: the call names their text, or it is refused."""
    pipe, embeds = FakePipeline(), object()
    guarded = guard_diffusers_pipeline(pipe, _guards())
    with pytest.raises(UserError, match="guard_prompt"):
        guarded(prompt_embeds=embeds)
    assert guarded(prompt_embeds=embeds, guard_prompt="a forbiddenword").prompt_blocked
    assert pipe.calls == []
    result = guarded(prompt_embeds=embeds, pooled_prompt_embeds=embeds, guard_prompt=["fine", "also fine"])
    assert not result.prompt_blocked and len(result.prompt_verdicts) == 2
    assert pipe.calls == [(None, {"prompt_embeds": embeds, "pooled_prompt_embeds": embeds})]  # not passed on


def test_a_redaction_of_the_text_behind_embeddings_blocks() -> None:
    pii = GuardSpec(id="pii", type="pii", stage="input", on_fail="redact", params={"entities": ["email"]})
    pipe = FakePipeline()
    result = guard_diffusers_pipeline(pipe, Pipeline([pii]))(prompt_embeds=object(),
                                                             guard_prompt="a card for jane@example.org")
    assert result.prompt_blocked and pipe.calls == []
    assert "cannot reach prompt_embeds" in result.prompt_verdicts[0].findings[-1].message


def _img2img_guards(on_fail: str = "block") -> Pipeline:
    """The usual guards, and image_nsfw on the input images too."""
    spec = GuardSpec(id="nsfw-in", type="image_nsfw", stage="input", modality="image", on_fail=on_fail)
    return Pipeline([*_guards().guards, ImageNsfwGuard(spec, scorer=_red_is_nsfw)])


class Img2Img(FakePipeline):
    """An img2img pipeline's signature: the image is the second positional parameter."""

    def __call__(self, prompt=None, image=None, strength=0.8, **kwargs):
        return super().__call__(prompt, **({"image": image, "strength": strength} | kwargs))


@pytest.mark.parametrize("call", [
    lambda g, image: g("green", image=image),
    lambda g, image: g("green", image),  # positionally, as the signature names it
    lambda g, image: g("green", image=[Image.new("RGB", (8, 8), (0, 255, 0)), image]),
    lambda g, image: g("green", control_image=image),
])
def test_input_images_go_through_the_input_image_guards(call) -> None:
    pipe = Img2Img()
    result = call(guard_diffusers_pipeline(pipe, _img2img_guards()), Image.new("RGB", (8, 8), (255, 0, 0)))
    assert result.prompt_blocked and pipe.calls == []
    assert result.prompt_verdicts[-1].findings[0].category == "S12"


def test_input_images_that_pass_reach_the_model_and_blurred_ones_blurred() -> None:
    pipe, green = Img2Img(), Image.new("RGB", (8, 8), (0, 255, 0))
    result = guard_diffusers_pipeline(pipe, _img2img_guards())("green", green, 0.5)
    assert not result.prompt_blocked and pipe.calls[0][1]["image"] is green and pipe.calls[0][1]["strength"] == 0.5
    red = Image.new("RGB", (16, 16), (255, 0, 0))
    red.paste((0, 0, 255), (8, 0, 16, 16))  # something for the blur to change
    result = guard_diffusers_pipeline(pipe, _img2img_guards("redact"))("green", image=red)
    sent = pipe.calls[-1][1]["image"]
    assert not result.prompt_blocked and sent.size == red.size and sent.tobytes() != red.tobytes()


def test_an_input_image_that_cannot_be_read_blocks() -> None:
    pipe = Img2Img()
    result = guard_diffusers_pipeline(pipe, _img2img_guards())("green", image=object())
    assert result.prompt_blocked and pipe.calls == [] and "cannot be checked" in str(result.prompt_verdicts[-1])


def test_without_input_image_guards_input_images_pass_unread() -> None:
    pipe, red = Img2Img(), Image.new("RGB", (8, 8), (255, 0, 0))
    result = guard_diffusers_pipeline(pipe, _guards())("green", image=red)
    assert not result.prompt_blocked and pipe.calls[0][1]["image"] is red and len(result.prompt_verdicts) == 1


def test_redacted_images_are_blurred_and_still_marked() -> None:
    result = guard_diffusers_pipeline(FakePipeline(), _guards("redact"))("red")
    (verdict,) = result.verdicts
    assert verdict.action is Action.REDACT and len(result.images) == 1
    assert read_marks(result.image_bytes[0])["digital_source_type"].endswith("trainedAlgorithmicMedia")


def test_arguments_pass_through_and_np_output_is_accepted() -> None:
    pipe = FakePipeline(output_type="np")
    result = guard_diffusers_pipeline(pipe, _guards())("green", num_inference_steps=2, guidance_scale=0.0)
    assert pipe.calls == [("green", {"num_inference_steps": 2, "guidance_scale": 0.0})]
    assert result.images[0].convert("RGB").getpixel((0, 0)) == (0, 255, 0)


def test_the_builtin_safety_checker_verdict_counts_as_a_block() -> None:
    sink = MemorySink()
    result = guard_diffusers_pipeline(FakePipeline(builtin_flags=[True, False]), _guards(sink=sink))("green blue")
    assert result.blocked == 1 and result.verdicts[0].findings[0].guard_id == "diffusers-safety-checker"
    blocked = next(r for r in sink.records if r.get("modality") == "image" and not r["allowed"])
    assert len(blocked["image"]["sha256"]) == 64 and blocked["image"]["width"] == 32


def test_decisions_are_recorded_with_hashes_not_pixels() -> None:
    sink = MemorySink()
    guard_diffusers_pipeline(FakePipeline(), _guards(sink=sink))("red green")
    images = [r for r in sink.records if r.get("modality") == "image"]
    assert [r["allowed"] for r in images] == [False, True]
    assert all(len(r["image"]["sha256"]) == 64 and "dhash" in r["image"] for r in images)


@pytest.mark.parametrize("bad", [object(), None, (3, 32, 32), (4, 8, 8)],
                         ids=["object", "no-images", "channels-first", "latents"])
def test_a_result_without_pil_images_is_a_user_error(bad) -> None:
    if isinstance(bad, tuple):  # output_type "pt" or "latent", as numpy arrays
        import numpy as np

        bad = np.zeros(bad, dtype=np.float32)

    class Weird:
        images = [bad] if bad is not None else None

    with pytest.raises(UserError):
        guard_diffusers_pipeline(lambda prompt: Weird(), _guards())("green")


def test_check_image_passes_each_guard_the_previous_output() -> None:
    from fixtures.images.generate import encode, text_on_white

    verdict = check_image(_guards(), encode(text_on_white()))
    assert verdict.action is Action.LABEL and read_marks(verdict.output)["ai_generated"]


def test_latent_output_is_refused_before_the_model_runs() -> None:
    """FLUX's packed latents (one (4096, 64) array per image) were taken for a greyscale picture, marked
    and released as a 64x4096 'image'; SD's were refused only after the model had run."""
    import numpy as np

    calls = []

    def flux_like(prompt, output_type="pil"):
        calls.append(output_type)
        return FakeOutput(images=np.random.default_rng(0).normal(size=(1, 4096, 64)).astype(np.float32))

    guarded = guard_diffusers_pipeline(flux_like, _guards())
    with pytest.raises(UserError, match="latent"):
        guarded("green", output_type="latent")
    assert calls == []
    with pytest.raises(UserError, match="latents"):  # the same arrays, the output type not said
        guarded("green")


def test_pt_output_is_guarded_in_any_dtype_on_any_device() -> None:
    """output_type='pt' gives channels-first tensors (a UserError) and bfloat16 ones raised numpy's
    TypeError; each is an image in [0, 1], guarded like the others, on the CPU or a GPU (where a
    pipeline moved to CUDA leaves them)."""
    torch = pytest.importorskip("torch")
    colours = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # green, red
    batch = colours[:, :, None, None].expand(2, 3, 16, 16).contiguous()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # every device this machine has
    for tensor in (batch.to(device, dtype) for device in devices for dtype in (torch.float32, torch.bfloat16,
                                                                               torch.float16)):
        result = guard_diffusers_pipeline(lambda prompt, t=tensor, **k: FakeOutput(images=t), _guards())(
            "green red", output_type="pt")
        assert (len(result.images), result.blocked) == (1, 1)
        assert result.images[0].convert("RGB").getpixel((0, 0)) == (0, 255, 0)
        assert read_marks(result.image_bytes[0])["ai_generated"]


def test_an_image_of_nan_values_is_withheld_not_released_black() -> None:
    """A float16 VAE overflowing gives NaN pixels; they became a black image, judged and released."""
    import numpy as np

    images = np.stack([np.full((16, 16, 3), np.nan, np.float32), np.full((16, 16, 3), [0, 1, 0], np.float32)])
    sink = MemorySink()
    result = guard_diffusers_pipeline(lambda prompt: FakeOutput(images=images), _guards(sink=sink))("green")
    assert (len(result.images), result.blocked) == (1, 1)
    assert "NaN" in result.verdicts[0].findings[0].message
    assert [r["allowed"] for r in sink.records if r.get("modality") == "image"] == [False, True]


def test_embeddings_with_other_positional_arguments_still_need_their_text() -> None:
    """guarded(None, None, 512, prompt_embeds=...) passed the embeddings to the model unchecked: any
    positional argument after the prompt turned the refusal off."""
    pipe = FakePipeline()
    guarded = guard_diffusers_pipeline(pipe, _guards())
    for call in (lambda: guarded(None, None, 512, prompt_embeds=object()),
                 lambda: guarded(None, prompt_2="fine", prompt_embeds=object())):
        with pytest.raises(UserError, match="guard_prompt"):
            call()
    assert pipe.calls == []


def test_a_prompt_the_guards_cannot_read_is_refused() -> None:
    """A tuple, or a list holding something else than texts, reached the model unchecked."""
    pipe = FakePipeline()
    for prompt in (("a forbiddenword", 1), ["a forbiddenword", None], 42):
        with pytest.raises(UserError, match="text or a list of texts"):
            guard_diffusers_pipeline(pipe, _guards())(prompt)
    assert pipe.calls == []


def test_an_image_in_the_prompts_place_goes_through_the_input_image_guards() -> None:
    """Image variation pipelines take the image first: it reached the model unchecked."""
    seen = []

    def variation(image, num_inference_steps=50):
        seen.append((image, num_inference_steps))
        return FakeOutput(images=[Image.new("RGB", (8, 8), (0, 0, 255))])

    red, green = Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 255, 0))
    result = guard_diffusers_pipeline(variation, _img2img_guards())(red, 5)
    assert result.prompt_blocked and seen == []
    result = guard_diffusers_pipeline(variation, _img2img_guards())(green, 5)
    assert not result.prompt_blocked and seen == [(green, 5)] and len(result.images) == 1


def test_the_pipelines_own_result_holds_no_unguarded_image() -> None:
    # A caller used to pipe(prompt).images[0] must not find the blocked red image in result.output.
    result = guard_diffusers_pipeline(FakePipeline(builtin_flags=[False, False]), _guards())("red green")
    assert result.blocked == 1 and len(result.images) == 1
    assert result.output.images is None and result.output.nsfw_content_detected == [False, False]


def test_a_diffusers_output_loses_its_images_as_a_dict_and_as_a_tuple() -> None:
    outputs = pytest.importorskip("diffusers.pipelines.stable_diffusion")

    def pipe(prompt, **kwargs):
        images = [Image.new("RGB", (32, 32), COLOURS[w]) for w in prompt.split()]
        output = outputs.StableDiffusionPipelineOutput(images=images, nsfw_content_detected=[False] * len(images))
        return output if kwargs.get("return_dict", True) else output.to_tuple()

    result = guard_diffusers_pipeline(pipe, _guards())("red green")
    assert result.output.images is None and result.output["images"] is None
    assert result.output.to_tuple() == (None, [False, False])
    as_tuple = guard_diffusers_pipeline(pipe, _guards())("red green", return_dict=False)
    assert as_tuple.output == (None, [False, False]) and len(as_tuple.images) == 1


def test_a_result_whose_images_cannot_be_taken_out_is_not_handed_back() -> None:
    class Frozen:
        nsfw_content_detected = None

        @property
        def images(self):
            return [Image.new("RGB", (32, 32), COLOURS["red"])]

    result = guard_diffusers_pipeline(lambda prompt, **kw: Frozen(), _guards())("red")
    assert result.blocked == 1 and result.output is None


@pytest.mark.parametrize("name", ["pooled_prompt_embeds", "prompt_embeds_2", "prompt_embeds_pooled",
                                  "prompt_embeds", "image_embeds"])
def test_embeddings_beside_a_text_prompt_still_need_their_text(name) -> None:
    """A harmless prompt with the pooled embeddings of a forbidden one (SDXL reads pooled_prompt_embeds
    even when given a prompt; HunyuanDiT's prompt_embeds_2, StableCascade's prompt_embeds_pooled) passed
    the prompt check, and the model was conditioned on what the guards would have blocked."""
    pipe = FakePipeline()
    guarded = guard_diffusers_pipeline(pipe, _guards())
    with pytest.raises(UserError, match=f"{name}.*guard_prompt"):
        guarded("green", **{name: object()})
    assert guarded("green", guard_prompt="a forbiddenword", **{name: object()}).prompt_blocked
    assert pipe.calls == []
    embeds = object()
    result = guarded("green", guard_prompt="green", **{name: embeds})
    assert not result.prompt_blocked and pipe.calls == [("green", {name: embeds})]


def test_negative_embeddings_pass_unchecked_like_negative_prompts() -> None:
    pipe, embeds = FakePipeline(), object()
    negatives = {"negative_prompt_embeds": embeds, "negative_pooled_prompt_embeds": embeds,
                 "negative_prompt_embeds_2": embeds}
    result = guard_diffusers_pipeline(pipe, _guards())("green", **negatives)
    assert not result.prompt_blocked and pipe.calls == [("green", negatives)]


def test_ip_adapter_image_embeds_are_refused_where_input_images_are_checked() -> None:
    """ip_adapter_image_embeds stand for an image the input image guards never saw: an explicit picture,
    encoded beforehand, steered the model past the image_nsfw input guard."""
    pipe, embeds = Img2Img(), object()
    with pytest.raises(UserError, match=r"ip_adapter_image_embeds.*ip_adapter_image"):
        guard_diffusers_pipeline(pipe, _img2img_guards())("green", ip_adapter_image_embeds=embeds)
    assert pipe.calls == []
    result = guard_diffusers_pipeline(pipe, _guards())("green", ip_adapter_image_embeds=embeds)  # none to check
    assert not result.prompt_blocked and pipe.calls[0][1]["ip_adapter_image_embeds"] is embeds


def test_every_field_of_the_result_that_holds_images_is_emptied() -> None:
    """StableDiffusionPipelineSafe keeps the originals of the images it blacked out in `unsafe_images`
    (tuple item 3 with return_dict=False): result.output.unsafe_images[0] was the explicit picture."""
    import numpy as np

    black, unsafe = Image.new("RGB", (32, 32), "black"), Image.new("RGB", (32, 32), "red")

    @dataclass
    class SafeOutput:
        images: list
        nsfw_content_detected: list
        applied_safety_concept: str | None
        unsafe_images: list
        latents: object = None

    def safe_pipe(prompt, return_dict=True):
        fields = ([black], [True], "concept", [unsafe], np.zeros((1, 4, 8, 8), np.float32))
        return SafeOutput(*fields) if return_dict else fields

    result = guard_diffusers_pipeline(safe_pipe, _guards())("x")
    assert result.blocked == 1 and result.images == []
    assert (result.output.images, result.output.unsafe_images, result.output.latents) == (None, None, None)
    assert result.output.nsfw_content_detected == [True] and result.output.applied_safety_concept == "concept"
    as_tuple = guard_diffusers_pipeline(safe_pipe, _guards())("x", return_dict=False).output
    assert as_tuple == (None, [True], "concept", None, None)


def test_a_diffusers_output_loses_every_image_field_as_a_dict_too() -> None:
    """diffusers' own output kept `unsafe_images` both as a field and as a key (`to_tuple()` gave it back)."""
    outputs = pytest.importorskip("diffusers.pipelines.deprecated.stable_diffusion_safe.pipeline_output")
    unsafe = Image.new("RGB", (32, 32), "red")

    def safe_pipe(prompt):
        return outputs.StableDiffusionSafePipelineOutput(images=[Image.new("RGB", (32, 32), "black")],
                                                         nsfw_content_detected=[True],
                                                         applied_safety_concept=None, unsafe_images=[unsafe])

    output = guard_diffusers_pipeline(safe_pipe, _guards())("x").output
    assert output.unsafe_images is None and output["unsafe_images"] is None
    assert all(value is None or value == [True] for value in output.to_tuple())


@pytest.mark.parametrize("layout", ["np", "pt"])
def test_one_unbatched_image_is_one_image_not_a_row_per_image(layout) -> None:
    """A (H, W, 3) array (or (3, H, W) tensor) in .images was taken for a batch: each row of pixels was
    checked and released as an image three pixels wide, so no guard saw the picture, and stacking the
    released rows gave it back."""
    import numpy as np

    picture = np.ones((64, 64, 3), np.float32)
    picture[16:48, 16:48] = [1.0, 0.0, 0.0]  # red: what the guard blocks, in the middle only

    def red_anywhere(frames):
        return [1.0 if (255, 0, 0) in {c for _, c in f.getcolors(1 << 16) or []} else 0.0 for f in frames]

    images = picture if layout == "np" else pytest.importorskip("torch").from_numpy(picture).permute(2, 0, 1)
    nsfw = ImageNsfwGuard(GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image"),
                          scorer=red_anywhere)
    result = guard_diffusers_pipeline(lambda prompt: FakeOutput(images=images), Pipeline([nsfw]))("x")
    assert (len(result.verdicts), result.blocked, result.images) == (1, 1, [])
    picture[16:48, 16:48] = 0.0
    result = guard_diffusers_pipeline(lambda prompt: FakeOutput(images=images), Pipeline([nsfw]))("x")
    assert len(result.images) == 1 and result.images[0].size == (64, 64)


# -- acall: the async entry point ---------------------------------------------------------------------


class _Custom(Guard):
    """A text guard whose sync and async checks say which one ran (and can be told to fail)."""

    def __init__(self, spec: GuardSpec, *, fail: bool = False) -> None:
        super().__init__(spec)
        self.ran: list[str] = []
        self.fail = fail

    def check(self, content, context):
        self.ran.append("check")
        return self._verdict(content)

    async def acheck(self, content, context):
        self.ran.append("acheck")
        return self._verdict(content)

    def _verdict(self, content):
        if self.fail:
            raise RuntimeError("the guard broke")
        return Verdict.allow(content, self.id)


def _raising_scorer(frames):
    raise RuntimeError("the scorer broke")


def _nan_pipe(prompt):
    import numpy as np

    return FakeOutput(images=np.stack([np.full((16, 16, 3), np.nan, np.float32),
                                       np.full((16, 16, 3), [0, 1, 0], np.float32)]))


def _failing_pipe(prompt, **kwargs):
    raise RuntimeError("CUDA out of memory")


def _custom_guards(sink, fail=False):
    spec = GuardSpec(id="custom", type="keyword", stage="input")
    return Pipeline([_Custom(spec, fail=fail), *_guards(sink=sink).guards], sink=sink)


def _broken_nsfw(sink):
    nsfw = GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image")
    mark = GuardSpec(id="mark", type="image_mark", stage="output", modality="image", on_fail="label")
    return Pipeline([ImageNsfwGuard(nsfw, scorer=_raising_scorer), mark], sink=sink)


def _rate_limited(sink):
    limit = GuardSpec(id="rl", type="rate_limit", stage="input", params={"capacity": 1, "refill_per_second": 1e-6})
    return Pipeline([limit, *_img2img_guards().guards], sink=sink)


GREEN, RED = (0, 255, 0), (255, 0, 0)
CASES = {  # name: (the pipeline, its guards from a sink, the calls made in turn, as (args, kwargs))
    "allowed": (FakePipeline, lambda s: _guards(sink=s), [(("green blue",), {"num_inference_steps": 2})]),
    "images-blocked": (FakePipeline, lambda s: _guards(sink=s), [(("red green",), {})]),
    "images-blurred": (FakePipeline, lambda s: _guards("redact", sink=s), [(("red",), {})]),
    "prompt-blocked": (FakePipeline, lambda s: _guards(sink=s), [(("a forbiddenword in green",), {})]),
    "prompt-2-blocked": (FakePipeline, lambda s: _guards(sink=s), [(("green",), {"prompt_2": "forbiddenword"})]),
    "embeddings": (FakePipeline, lambda s: _guards(sink=s),
                   [((), {"prompt_embeds": "E", "guard_prompt": ["fine", "a forbiddenword"]}),
                    ((), {"prompt_embeds": "E", "guard_prompt": "fine"})]),
    "input-image-blocked": (Img2Img, lambda s: Pipeline(_img2img_guards().guards, sink=s),
                            [(("green",), {"image": "red"})]),
    "input-image-blurred": (Img2Img, lambda s: Pipeline(_img2img_guards("redact").guards, sink=s),
                            [(("green",), {"image": "red"})]),
    "rate-limited": (Img2Img, _rate_limited, [((), {"image": "green"}), ((), {"image": "green"})]),
    "builtin-checker": (lambda: FakePipeline(builtin_flags=[True, False]), lambda s: _guards(sink=s),
                        [(("green blue",), {})]),
    "nan-image": (lambda: _nan_pipe, lambda s: _guards(sink=s), [(("green",), {})]),
    "input-guard-error": (FakePipeline, lambda s: _custom_guards(s, fail=True), [(("green",), {})]),
    "image-guard-error": (FakePipeline, _broken_nsfw, [(("green blue",), {})]),
}


def _images(kwargs):
    """The colour names of image arguments as images (made afresh for each call)."""
    return {k: Image.new("RGB", (16, 16), COLOURS[v]) if k == "image" else v for k, v in kwargs.items()}


def _made(case):
    make_pipe, make_guards, calls = CASES[case]
    sink = MemorySink()
    pipe = make_pipe()
    return pipe, guard_diffusers_pipeline(pipe, make_guards(sink)), sink, calls


def _facts(result):
    return (result.prompt_blocked, result.blocked, [i.tobytes() for i in result.images], result.image_bytes,
            result.verdicts, result.prompt_verdicts, result.output)


def _records(sink):
    """The records less what differs from one call to the next (time, request id)."""
    return [{k: v for k, v in r.items() if k not in ("time", "elapsed_ms", "request_id")} for r in sink.records]


@pytest.mark.parametrize("case", list(CASES))
def test_acall_returns_and_records_what_a_call_does(case) -> None:
    pipe, guarded, sink, calls = _made(case)
    sync = [_facts(guarded(*a, **_images(k))) for a, k in calls]
    apipe, aguarded, asink, _ = _made(case)

    async def run():
        return [_facts(await aguarded.acall(*a, **_images(k))) for a, k in calls]

    assert asyncio.run(run()) == sync
    assert _records(asink) == _records(sink) and sink.records
    assert getattr(apipe, "calls", None) == getattr(pipe, "calls", None)


@pytest.mark.parametrize(("make_pipe", "call", "error"), [
    (lambda: _failing_pipe, lambda g: g("green"), RuntimeError),
    (FakePipeline, lambda g: g("green", output_type="latent"), UserError),
    (FakePipeline, lambda g: g(("a forbiddenword", 1)), UserError),
    (FakePipeline, lambda g: g(prompt_embeds="E"), UserError),
    (lambda: lambda prompt: FakeOutput(images=[object()]), lambda g: g("green"), UserError),
])
def test_acall_raises_what_a_call_raises(make_pipe, call, error) -> None:
    sink, asink = MemorySink(), MemorySink()
    with pytest.raises(error) as sync:
        call(guard_diffusers_pipeline(make_pipe(), _guards(sink=sink)))
    with pytest.raises(error) as async_:
        asyncio.run(call(guard_diffusers_pipeline(make_pipe(), _guards(sink=asink)).acall))
    assert str(async_.value) == str(sync.value)
    assert _records(asink) == _records(sink)
    assert all(r["stage"] == "input" for r in asink.records)  # no image was checked, none released


def test_acall_runs_the_guards_async_checks() -> None:
    sink = MemorySink()
    guards = _custom_guards(sink)
    guard_diffusers_pipeline(FakePipeline(), guards)("green")
    asyncio.run(guard_diffusers_pipeline(FakePipeline(), guards).acall("green"))
    assert guards.guards[0].ran == ["check", "acheck"]


def _waits_on(event: threading.Event, answer):
    """A callable that blocks its thread until ``event`` is set, then returns ``answer(*args)``."""

    def wait(*args, **kwargs):
        if not event.wait(5):
            raise AssertionError("the event loop was blocked: nothing set the event")
        return answer(*args, **kwargs)

    return wait


@pytest.mark.parametrize("where", ["model", "output-image-guard", "input-image-guard"])
def test_acall_leaves_the_event_loop_free(where) -> None:
    """The model (or an image guard) waits on an event that another coroutine on the same loop sets:
    run on the loop, it would wait out its five seconds and fail."""
    event = threading.Event()
    pipe = FakePipeline()
    nsfw = GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image", timeout_ms=10_000)
    scorer = _waits_on(event, _red_is_nsfw) if where == "output-image-guard" else _red_is_nsfw
    guards = [ImageNsfwGuard(nsfw, scorer=scorer)]
    if where == "input-image-guard":
        spec = GuardSpec(id="nsfw-in", type="image_nsfw", stage="input", modality="image", timeout_ms=10_000)
        guards.append(ImageNsfwGuard(spec, scorer=_waits_on(event, _red_is_nsfw)))
    model = _waits_on(event, pipe) if where == "model" else pipe
    guarded = guard_diffusers_pipeline(model, Pipeline(guards))

    async def run():
        async def release():
            await asyncio.sleep(0.05)
            event.set()

        result, _ = await asyncio.gather(guarded.acall("green red", image=Image.new("RGB", (8, 8), GREEN)),
                                         release())
        return result

    result = asyncio.run(run())
    assert (len(result.images), result.blocked) == (1, 1) and len(pipe.calls) == 1


@pytest.mark.parametrize("where", ["model", "output-image-guard"])
def test_a_cancelled_acall_releases_and_allows_nothing(where) -> None:
    """Cancelled while the model runs, or while an image is being checked: the call raises
    CancelledError, the images are never released, and no image is recorded as allowed (the model, and
    the guard, run on in their threads to the end; what they return is dropped)."""
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    scored: list[int] = []

    def wait(answer):
        def run(*args, **kwargs):
            started.set()
            release.wait(5)
            try:
                return answer(*args, **kwargs)
            finally:
                finished.set()

        return run

    def allow_all(frames):
        scored.append(len(frames))
        return [0.0 for _ in frames]

    pipe = FakePipeline()
    sink = MemorySink()
    nsfw = GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image", timeout_ms=10_000)
    scorer = wait(allow_all) if where == "output-image-guard" else allow_all
    mark = GuardSpec(id="mark", type="image_mark", stage="output", modality="image", on_fail="label")
    guards = Pipeline([*_guards().without("image_nsfw", "image_mark").guards,
                       ImageNsfwGuard(nsfw, scorer=scorer), mark], sink=sink)
    guarded = guard_diffusers_pipeline(wait(pipe) if where == "model" else pipe, guards)

    async def run():
        task = asyncio.create_task(guarded.acall("green blue"))
        assert await asyncio.to_thread(started.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        assert await asyncio.to_thread(finished.wait, 5)
        await asyncio.sleep(0.05)  # whatever the finished thread could still have set off

    asyncio.run(run())
    assert len(pipe.calls) == 1  # the model ran (to its end, in its thread)
    assert scored == ([] if where == "model" else [1])  # never checked / the first image's check dropped
    assert [r["stage"] for r in sink.records] == ["input"]
    assert not any(r["allowed"] for r in sink.records if r["stage"] == "output")


def test_overlapping_calls_reach_the_model_one_at_a_time() -> None:
    """A diffusers pipeline keeps the state of the call under way in its scheduler, so two threads in one
    pipeline object spoil each other's images: overlapping acalls (or calls from a server's threads) wait
    for the model in turn, while their checks still run side by side."""
    inside, most = [0], [0]
    lock = threading.Lock()
    pipe = FakePipeline()

    def model(prompt, *args, **kwargs):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)
        with lock:
            inside[0] -= 1
        return pipe(prompt, *args, **kwargs)

    guarded = guard_diffusers_pipeline(model, _guards())

    async def run():
        return await asyncio.gather(*(guarded.acall("green") for _ in range(4)))

    results = asyncio.run(run())
    assert [len(r.images) for r in results] == [1, 1, 1, 1] and len(pipe.calls) == 4
    assert most[0] == 1
    threads = [threading.Thread(target=guarded, args=("blue",)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1 and len(pipe.calls) == 7


# -- every argument that reaches the model ------------------------------------------------------------


def _fake(*names):
    """A pipeline whose signature has ``names`` (all defaulting to None), as one of diffusers' does; it
    remembers what it got."""
    seen: list = []
    namespace = {"seen": seen, "out": lambda: FakeOutput(images=[Image.new("RGB", (8, 8), (0, 0, 255))])}
    params = ", ".join(f"{n}=None" for n in names)
    exec(f"def pipe({params}):\n    seen.append(dict(locals()))\n    return out()", namespace)
    return namespace["pipe"], seen


@pytest.mark.parametrize(("names", "args", "kwargs"), [
    (("prompt", "prompt_2", "prompt_3", "prompt_4"), (), {"prompt_4": "a forbiddenword"}),  # HiDream
    (("prompt", "prompt_2", "prompt_3", "prompt_4"), (None, None, "a forbiddenword"), {}),  # positionally
    (("prompt", "editing_prompt"), (), {"editing_prompt": ["ok", "a forbiddenword"]}),  # SemanticStableDiffusion
    (("prompt", "system_prompt"), (), {"system_prompt": "a forbiddenword"}),  # Lumina2
    (("prompt", "complex_human_instruction"), (), {"complex_human_instruction": ["a forbiddenword"]}),  # Sana
    (("task_prompt", "content_prompt", "image"), (), {"task_prompt": "a forbiddenword"}),  # VisualCloze
    (("task_prompt", "content_prompt", "image"), (), {"content_prompt": "a forbiddenword"}),
    (("prompt", "gligen_phrases"), (), {"gligen_phrases": ["a forbiddenword"]}),  # GLIGEN
])
def test_every_text_the_model_reads_is_checked(names, args, kwargs) -> None:
    """Only prompt, prompt_2 and prompt_3 were checked: HiDream's prompt_4, SemanticStableDiffusion's
    editing_prompt, Lumina2's system_prompt, Sana's complex_human_instruction and VisualCloze's task and
    content prompts reached their text encoders unchecked."""
    pipe, seen = _fake(*names)
    result = guard_diffusers_pipeline(pipe, _guards())("green" if "prompt" in names else None, *args, **kwargs)
    assert result.prompt_blocked and seen == []


def test_other_texts_go_through_the_guards_after_the_prompt_and_reach_the_model_redacted() -> None:
    pii = GuardSpec(id="pii", type="pii", stage="input", on_fail="redact", params={"entities": ["email"]})
    limit = GuardSpec(id="rl", type="rate_limit", stage="input", params={"capacity": 1, "refill_per_second": 1e-6})
    pipe, seen = _fake("prompt", "prompt_2", "prompt_3", "prompt_4", "negative_prompt_4")
    guarded = guard_diffusers_pipeline(pipe, Pipeline([limit, pii]))
    result = guarded("a card", None, None, "for jane@example.org", negative_prompt_4="jane@example.org")
    assert not result.prompt_blocked and len(result.prompt_verdicts) == 2  # negative prompts are not checked
    assert seen[0]["prompt_4"] == "for [EMAIL]" and seen[0]["negative_prompt_4"] == "jane@example.org"
    assert guarded("again").prompt_blocked  # the call counted once


@pytest.mark.parametrize(("names", "call"), [
    (("prompt", "input_images"), lambda g, red: g("edit <img><|image_1|></img>", input_images=[red])),  # OmniGen
    (("prompt", "input_images"), lambda g, red: g(["a", "b"], input_images=[[_green()], [red]])),  # batched
    (("prompt", "image", "image_reference"), lambda g, red: g("green", image_reference=red)),  # Flux2 Klein
    (("prompt", "reference_image"), lambda g, red: g("green", reference_image=red)),  # BLIP-Diffusion
    (("prompt", "images"), lambda g, red: g("green", images=[red])),  # JoyImageEditPlus
    (("prompt", "image", "mask_image"), lambda g, red: g("green", mask_image=red)),  # inpainting
    (("example_image", "image", "mask_image"), lambda g, red: g(image=_green(), example_image=red)),
    (("task_prompt", "content_prompt", "image"),  # VisualCloze: a grid of examples, None where it paints
     lambda g, red: g(task_prompt="t", content_prompt="c", image=[[_green(), red], [_green(), None]])),
    (("prompt", "height"), lambda g, red: g("green", red)),  # a picture wherever it is goes through them
])
def test_every_picture_given_to_the_model_goes_through_the_input_image_guards(names, call) -> None:
    """Only image, control_image and ip_adapter_image were checked: OmniGen's input_images, an
    image_reference, reference_image, images, mask_image or example_image reached the model unchecked."""
    pipe, seen = _fake(*names)
    result = call(guard_diffusers_pipeline(pipe, _img2img_guards()), Image.new("RGB", (8, 8), (255, 0, 0)))
    assert result.prompt_blocked and seen == []
    assert [v.findings[0].category for v in result.prompt_verdicts if not v.allowed] == ["S12"]


def _green():
    return Image.new("RGB", (8, 8), (0, 255, 0))


def test_pictures_that_pass_reach_the_model_where_they_were_given() -> None:
    pipe, seen = _fake("task_prompt", "content_prompt", "image")
    grid = [[_green(), _green()], [_green(), None]]
    result = guard_diffusers_pipeline(pipe, _img2img_guards())(task_prompt="t", content_prompt="c", image=grid)
    assert not result.prompt_blocked and len(result.prompt_verdicts) == 2 + 3
    assert seen[0]["image"] == grid and seen[0]["task_prompt"] == "t"


@pytest.mark.parametrize(("names", "kwargs", "match"), [
    (("prompt", "prompt_template"), {"prompt_template": {"template": "a forbiddenword: {}", "crop_start": 9}},
     "prompt_template holds text"),  # HunyuanVideo
    (("prompt", "prompt_2"), {"prompt_2": ["ok", None]}, "prompt_2 holds text"),
    (("prompt", "conditions"), {"conditions": [{"image": "RED", "frame_index": 0}]}, "conditions holds pictures"),
    (("prompt", "latents"), {"latents": "LATENTS"}, "latents"),  # an encoded picture no image guard can read
    (("prompt", "editing_prompt_embeddings"), {"editing_prompt_embeddings": object()}, "guard_prompt"),
])
def test_an_argument_holding_text_or_pictures_the_guards_cannot_read_is_refused(names, kwargs, match) -> None:
    """Whatever the wrapper did not know passed unchecked; now text or pictures in a shape the guards
    cannot read is a UserError, before anything is checked or counted."""
    import numpy as np

    red = Image.new("RGB", (8, 8), (255, 0, 0))
    values = {"RED": red, "LATENTS": np.zeros((1, 4, 8, 8), np.float32)}

    def given(value):
        if isinstance(value, dict):
            return {k: given(v) for k, v in value.items()}
        if isinstance(value, list):
            return [given(v) for v in value]
        return values.get(value, value) if isinstance(value, str) else value

    pipe, seen = _fake(*names)
    with pytest.raises(UserError, match=match):
        guard_diffusers_pipeline(pipe, _img2img_guards())("green", **{k: given(v) for k, v in kwargs.items()})
    assert seen == []


def test_negative_pictures_and_options_pass_as_before() -> None:
    pipe, seen = _fake("prompt", "negative_ip_adapter_image", "output_type", "callback_on_step_end_tensor_inputs",
                       "cross_attention_kwargs", "num_images_per_prompt", "prompt_attention_mask")
    red = Image.new("RGB", (8, 8), (255, 0, 0))
    result = guard_diffusers_pipeline(pipe, _img2img_guards())(
        "green", negative_ip_adapter_image=red, output_type="pil", callback_on_step_end_tensor_inputs=["latents"],
        cross_attention_kwargs={"scale": 0.5}, num_images_per_prompt=1, prompt_attention_mask=[[1, 1]])
    assert not result.prompt_blocked and len(result.prompt_verdicts) == 1 and seen[0]["output_type"] == "pil"


@pytest.mark.parametrize(("names", "call", "sent"), [
    # PaintByExample: no prompt; the call its docs show raised "got multiple values for 'example_image'"
    (("example_image", "image", "mask_image"), lambda g, p: g(image=p, mask_image=p, example_image=p),
     lambda p: {"example_image": p, "image": p, "mask_image": p}),
    # StableUnCLIPImg2Img takes the image first and the prompt second: the prompt went in the image's place
    (("image", "prompt"), lambda g, p: g("green", image=p), lambda p: {"image": p, "prompt": "green"}),
    (("prompt", "image"), lambda g, p: g(None, p), lambda p: {"prompt": None, "image": p}),
])
def test_the_prompt_reaches_the_pipeline_where_its_signature_takes_it(names, call, sent) -> None:
    """The wrapper passed the prompt first and positionally, even None: a keyword call of a pipeline
    without a prompt, or whose prompt is not its first parameter, raised TypeError or mixed them up."""
    green = _green()
    pipe, seen = _fake(*names)
    result = call(guard_diffusers_pipeline(pipe, _img2img_guards()), green)
    assert not result.prompt_blocked and len(result.images) == 1
    assert seen == [sent(green)]
