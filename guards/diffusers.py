"""Guarding a diffusers pipeline: prompt checked before, every image checked and marked after.

``guard_diffusers_pipeline(pipe, guards)`` wraps any callable whose result has ``.images`` (every
diffusers text-to-image pipeline, SDXL and FLUX included, which ship no safety checker). Each argument
is named by the pipeline's signature, by keyword or positionally. The prompt, then every other text
argument whose name says it is text for the model (``prompt_2``...``prompt_4``, ``editing_prompt``,
``system_prompt``, ``task_prompt``, ``complex_human_instruction``, ``gligen_phrases``: a name holding
"prompt", "instruction", "phrase", "caption" or "subject_category"), and a text the signature does not
name, go through the input-stage text guards first; negative ones are not checked. A blocked text never
reaches the model, a redacted one reaches it redacted. Embeddings cannot be read: a call with any
(``prompt_embeds``, SDXL's ``pooled_prompt_embeds``, which it reads beside a text prompt, and the like)
needs ``guard_prompt=``, the text they were made from, checked in their place (a redaction there
blocks, as it cannot reach the embeddings). Every picture given to the model (a PIL image, array or
tensor, or lists of them, in any argument, and anything given in an argument named for an image:
``image``, ``mask_image``, ``control_image``, ``ip_adapter_image``, OmniGen's ``input_images``...)
goes through the input-stage image guards, when there are any (``ip_adapter_image_embeds`` and latents
are then refused: no guard can see the picture they stand for). Text or pictures the guards cannot read
where they are (a text argument holding a dict, pictures inside a dict) are a UserError, never passed
unchecked. The prompt is given where the signature takes it: first, by keyword where the pipeline
names it elsewhere, not at all when it is None on a pipeline without one (PaintByExample). Each
generated image then goes
through the output-stage image guards in file order (nsfw, then mark), each guard receiving the
previous one's output, so a blurred image is also marked. Blocked images are dropped, not blacked out;
the result keeps every verdict so the caller can tell the user why. ``await guarded.acall(...)`` is the
same call for async code: the model runs in a worker thread, so the event loop stays free.

An image the pipeline's own safety checker blacked out (``nsfw_content_detected``) counts as blocked.
Images may come as PIL images, arrays or tensors (``output_type`` "pil", "np", "pt"); latents cannot be
checked, so ``output_type="latent"`` is refused before the model runs.
This module imports neither diffusers nor torch: it only needs the result's ``.images``.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable, Generator, Mapping, MutableMapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field, fields, is_dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from clauseguard.errors import UserError
from clauseguard.guards._base import Context
from clauseguard.guards._images import encode_png
from clauseguard.guards._params import Action, Modality, Stage
from clauseguard.guards._verdict import Finding, Verdict
from clauseguard.guards.pipeline import Pipeline

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["GuardedDiffusionPipeline", "GuardedImages", "check_image", "guard_diffusers_pipeline"]

BUILTIN_CHECKER_ID = "diffusers-safety-checker"


@dataclass(frozen=True)
class GuardedImages:
    """What a guarded call returns.

    ``images`` are the released images (marked, blurred where the guards said so) and ``image_bytes``
    their encoded form, which is what carries the marks: save these bytes, not a re-encoded PIL image.
    ``verdicts`` has one verdict per generated image, in order; ``prompt_verdicts`` one per prompt (for
    a call with no text prompt, that of its ``rate_limit`` guards, when there are any), then one per input
    image when there are input image guards (``prompt_blocked``: any of them blocked).
    ``output`` is the pipeline's own result with its images taken out (``images``, and every other field
    that holds images, arrays or tensors, such as StableDiffusionPipelineSafe's ``unsafe_images``, set to
    None; likewise the items of a ``return_dict=False`` tuple), so that no unguarded image can be saved
    from it; its other fields (``nsfw_content_detected``) stay. None when a prompt was blocked.
    """

    images: list[Image.Image] = field(default_factory=list)
    image_bytes: list[bytes] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    prompt_verdicts: list[Verdict] = field(default_factory=list)
    output: Any = None

    @property
    def prompt_blocked(self) -> bool:
        return any(not v.allowed for v in self.prompt_verdicts)

    @property
    def blocked(self) -> int:
        """How many generated images were withheld."""
        return sum(not v.allowed for v in self.verdicts)


class GuardedDiffusionPipeline:
    """Callable like the pipeline it wraps; returns :class:`GuardedImages`. :meth:`acall` is the same
    call for async code (FastAPI, Gradio handlers): the event loop stays free while the model runs."""

    def __init__(self, pipe: Callable[..., Any], guards: Pipeline) -> None:
        self.pipe = pipe
        self.guards = guards
        self.further = guards.without("rate_limit")  # a call's second and later prompts: it counts once
        # A call with no text to check (an image in the prompt's place, or only an image) still counts.
        self.counter = Pipeline([g for g in guards.guards if g.spec.type == "rate_limit"], sink=guards.sink,
                                max_chars=guards.max_chars)
        # A diffusers pipeline is not safe to run in two threads at once (its scheduler keeps the state of
        # the call under way), and a web server's handlers, or acall's worker threads, would do just that:
        # the model runs one call at a time per wrapped pipeline; checks still run side by side.
        self._model_lock = threading.Lock()

    def __call__(self, prompt: str | Sequence[str] | None = None, *args: Any,
                 context: Context | None = None, guard_prompt: str | Sequence[str] | None = None,
                 **kwargs: Any) -> GuardedImages:
        """``guard_prompt``: the text that ``prompt_embeds`` were made from (Compel, say), checked in
        their place: embeddings cannot be read, so a call with them and neither text is refused."""
        return _run(self._steps(prompt, args, kwargs, context, guard_prompt))

    async def acall(self, prompt: str | Sequence[str] | None = None, *args: Any,
                    context: Context | None = None, guard_prompt: str | Sequence[str] | None = None,
                    **kwargs: Any) -> GuardedImages:
        """The async twin of a call, with the same arguments and result: the checks run as
        :meth:`Pipeline.acheck` runs them (each guard in a worker thread unless it has its own async
        check), and the model's call, and the decoding and encoding of images, in worker threads. A call
        cancelled while it waits returns nothing: images the model was still making are dropped unchecked
        (the model runs on in its thread to the end: Python cannot stop a thread), an image whose check
        was under way is neither released nor recorded."""
        return await _arun(self._steps(prompt, args, kwargs, context, guard_prompt))

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        """The wrapped pipeline's call, one at a time."""
        with self._model_lock:
            return self.pipe(*args, **kwargs)

    def _steps(self, prompt: Any, args: Sequence[Any], kwargs: Mapping[str, Any], context: Context | None,
               guard_prompt: str | Sequence[str] | None) -> Steps[GuardedImages]:
        """One call, written once: the checks and the blocking work it asks for are done by a sync
        (:func:`_run`) or an async (:func:`_arun`) driver."""
        context = context or Context()
        images_checked = bool(self.guards.stage_guards(Stage.INPUT, Modality.IMAGE))
        # a pipeline whose first parameter is the image (image variation) has no text prompt
        prompt_image = prompt is not None and not _texts(prompt) and _pictures(prompt)
        if prompt is not None and not _texts(prompt) and not prompt_image:
            raise UserError(f"the prompt must be a text or a list of texts, not {_kind(prompt)}: the guards "
                            "cannot read it", where="guard_diffusers_pipeline")
        call = _bind(self.pipe, prompt, args, kwargs, prompt_image=prompt_image)
        _need_images_out(call.kwargs)
        _need_text_for_embeddings(guard_prompt, call)
        if images_checked:
            _need_images_for_image_embeddings(call)
        roles = _roles(call, images_checked)  # every argument classified before anything is checked or counted
        prompt_verdicts = yield from self._guard_texts(call, roles, context)
        if guard_prompt is not None:
            prompt_verdicts += yield from self._guard_embedded(guard_prompt, context, first=not prompt_verdicts)
        if not prompt_verdicts and self.counter.stage_guards(Stage.INPUT):
            # no text checked, so rate_limit has not seen the call: it counts once all the same
            prompt_verdicts.append((yield _Check(self.counter, "", Stage.INPUT, context)))
        if all(v.allowed for v in prompt_verdicts) and images_checked:
            prompt_verdicts += yield from self._guard_input_images(call, roles, context)
        if any(not v.allowed for v in prompt_verdicts):
            return GuardedImages(prompt_verdicts=prompt_verdicts)
        output = yield _Work(partial(self._generate, *call.args, **call.kwargs))
        images, flags = _parts(output)
        flagged = list(flags or [])
        result = GuardedImages(prompt_verdicts=prompt_verdicts, output=_without_images(output))
        for index, data in enumerate((yield _Work(partial(_encoded, images)))):
            if isinstance(data, str):  # an image that cannot be read (NaN values): withheld, unchecked
                verdict = self.guards._record(_unreadable(data), context, Stage.OUTPUT, 0.0, Modality.IMAGE)
            elif index < len(flagged) and flagged[index]:
                # its hashes go on the record, as for any blocked image (the blacked-out pixels do not)
                verdict = yield _Work(partial(self.guards._record, _builtin_block(), context, Stage.OUTPUT, 0.0,
                                              Modality.IMAGE, data))
            else:
                verdict = yield _Check(self.guards, data, Stage.OUTPUT, context, Modality.IMAGE)
            result.verdicts.append(verdict)
            if verdict.allowed and isinstance(verdict.output, bytes):
                result.image_bytes.append(verdict.output)
                result.images.append((yield _Work(partial(_open, verdict.output))))
        return result

    def _guard_texts(self, call: _Call, roles: dict[_Where, str], context: Context) -> Steps[list[Verdict]]:
        """Every text the model reads, each as the guards let it through (redacted where they redacted): the
        prompt, then the call's other texts in order (SDXL's and SD3's ``prompt_2`` and ``prompt_3``,
        HiDream's ``prompt_4``, ``editing_prompt``, ``system_prompt``, ``complex_human_instruction``...;
        by keyword or positionally). The first goes through every guard, the rest less rate_limit: a call
        counts once."""
        verdicts: list[Verdict] = []

        def check(text: str) -> Steps[Verdict]:
            guards = self.guards if not verdicts else self.further
            verdicts.append((yield _Check(guards, text, Stage.INPUT, context)))
            return verdicts[-1]

        for where in sorted((w for w, role in roles.items() if role == _TEXT), key=lambda w: w != call.prompt):
            call.put(where, (yield from _guarded(call.get(where), check)))
        return verdicts

    def _guard_input_images(self, call: _Call, roles: dict[_Where, str], context: Context) -> Steps[list[Verdict]]:
        """Every picture given to the model (``image``, ``mask_image``, ``control_image``,
        ``ip_adapter_image``, OmniGen's ``input_images``, an image in the prompt's place...) goes through the
        input image guards (a blurred one is given blurred; one that cannot be read blocks)."""
        verdicts: list[Verdict] = []

        def check(image: Any) -> Steps[Any]:
            data = yield _Work(partial(_input_png, image))
            if isinstance(data, str):  # why it cannot be read
                verdicts.append(_unreadable(data))
                return image
            verdicts.append((yield _Check(self.guards, data, Stage.INPUT, context, Modality.IMAGE)))
            out = verdicts[-1].output
            if verdicts[-1].allowed and isinstance(out, bytes) and out != data:
                return (yield _Work(partial(_open, out)))
            return image

        for where in (w for w, role in roles.items() if role == _PICTURES):
            call.put(where, (yield from _each_image(call.get(where), check)))
        return verdicts

    def _guard_embedded(self, texts: str | Sequence[str], context: Context, *, first: bool) -> Steps[list[Verdict]]:
        """The texts behind embeddings: a redaction cannot reach the embeddings, so it blocks instead."""
        verdicts = []
        for text in _texts(texts):
            guards = self.guards if first and not verdicts else self.further
            verdict = yield _Check(guards, text, Stage.INPUT, context)
            if verdict.allowed and verdict.output != text:
                verdict = _unapplied(verdict)
            verdicts.append(verdict)
        return verdicts


# -- one call, as steps a sync or an async driver runs -----------------------------------------------


@dataclass(frozen=True)
class _Check:
    """A check the steps ask for; the driver answers with the verdict."""

    guards: Pipeline
    content: str | bytes
    stage: Stage
    context: Context
    modality: Modality = Modality.TEXT

    def run(self) -> Verdict:
        return self.guards.check(self.content, stage=self.stage, context=self.context, modality=self.modality)

    async def arun(self) -> Verdict:
        return await self.guards.acheck(self.content, stage=self.stage, context=self.context,
                                        modality=self.modality)


@dataclass(frozen=True)
class _Work:
    """Blocking work the steps ask for (the model's call, decoding and encoding images); the driver
    answers with its result. An async driver runs it in a worker thread, so the event loop stays free."""

    fn: Callable[[], Any]

    def run(self) -> Any:
        return self.fn()

    async def arun(self) -> Any:
        return await asyncio.to_thread(self.fn)


_T = TypeVar("_T")
Steps = Generator[_Check | _Work, Any, _T]


def _run(steps: Steps[_T]) -> _T:
    """Do each step in this thread. Whatever stops the call (an error, the model's) stops the steps."""
    with closing(steps):
        try:
            step = next(steps)
            while True:
                step = steps.send(step.run())
        except StopIteration as done:
            return done.value


async def _arun(steps: Steps[_T]) -> _T:
    """Await each step. A cancellation stops the steps where they wait: nothing after it is checked,
    recorded or released."""
    with closing(steps):
        try:
            step = next(steps)
            while True:
                step = steps.send(await step.arun())
        except StopIteration as done:
            return done.value


def _need_images_out(kwargs: Mapping[str, Any]) -> None:
    """Latents are not images: the guards cannot judge or mark them, and whoever decodes them later would
    get images nobody checked. Refused before the model runs."""
    if kwargs.get("output_type") == "latent":
        raise UserError("output_type='latent' returns latents, which the image guards cannot check or mark; "
                        "call the pipeline with output_type='pil' (or 'np', 'pt')", where="guard_diffusers_pipeline")


def _need_text_for_embeddings(guard_prompt: Any, call: _Call) -> None:
    """Embeddings need ``guard_prompt``, the text they stand for, even beside a text prompt: SDXL reads
    ``pooled_prompt_embeds`` when it also has ``prompt``, so a harmless prompt could carry the pooled
    embeddings of a forbidden one. Every argument naming embeddings counts, by keyword or positionally
    (``prompt_embeds_2``, ``prompt_embeds_pooled``, Kandinsky's ``image_embeds``, SemanticStableDiffusion's
    ``editing_prompt_embeddings``, aMUSEd's ``encoder_hidden_states``...), but negative ones, which steer
    away as negative prompts do (those are not checked either), and ``ip_adapter_image_embeds``, an image's."""
    embeds = [name for name, value in call.named()
              if name is not None and _is_embedding(name) and not _is_negative(name)
              and not name.startswith("ip_adapter") and not _is_plain(value)]
    if embeds and not _texts(guard_prompt):
        raise UserError(f"{', '.join(embeds)} cannot be checked by the guards: pass the text they were made "
                        "from as guard_prompt=... (or the prompt itself instead of them)",
                        where="guard_diffusers_pipeline")


def _need_images_for_image_embeddings(call: _Call) -> None:
    """Where input images are checked, an IP-Adapter's image comes as the image, not as embeddings made
    from a picture no guard saw; and no latents come at all: they can carry an encoded picture that no
    image guard can read (a seeded ``generator=`` gives reproducible noise instead)."""
    embeds = [name for name, value in call.named() if name is not None and not _is_plain(value) and (
        (name.startswith("ip_adapter") and _is_embedding(name)) or ("latents" in name and not _is_negative(name)))]
    if embeds:
        raise UserError(f"{', '.join(embeds)} cannot be checked by the input image guards: pass the picture "
                        "itself (ip_adapter_image=..., image=...), and a seeded generator= for reproducible "
                        "noise instead of latents", where="guard_diffusers_pipeline")


def _unapplied(verdict: Verdict) -> Verdict:
    finding = Finding(guard_id="guard_diffusers_pipeline", category=None, score=1.0, action=Action.BLOCK,
                      message="the guards changed the prompt (a redaction), which cannot reach prompt_embeds")
    return Verdict(allowed=False, action=Action.BLOCK, output=None, findings=(*verdict.findings, finding),
                   guard_id="guard_diffusers_pipeline", metadata=verdict.metadata)


def guard_diffusers_pipeline(pipe: Callable[..., Any], guard_pipeline: Pipeline) -> GuardedDiffusionPipeline:
    """Wrap ``pipe`` (a diffusers pipeline or any callable returning ``.images``) with ``guard_pipeline``."""
    return GuardedDiffusionPipeline(pipe, guard_pipeline)


def check_image(guards: Pipeline, data: bytes, *, context: Context | None = None) -> Verdict:
    """Run the output-stage image guards on ``data`` (each on the previous one's output: the blur, then
    the marks) and record the decision; the pipeline does the chaining."""
    return guards.check(data, stage=Stage.OUTPUT, context=context or Context(stage=Stage.OUTPUT),
                        modality=Modality.IMAGE)


_Where = int | str  # a positional argument's index, or a keyword argument's name
_TEXT, _PICTURES, _OTHER = "text", "pictures", "other"
# Arguments whose names say they hold text a text encoder reads (prompt_2, editing_prompt, system_prompt,
# task_prompt, complex_human_instruction, GLIGEN's gligen_phrases, BLIP-Diffusion's subject categories).
_TEXT_NAMES = ("prompt", "instruction", "phrase", "caption", "subject_category")


@dataclass
class _Call:
    """A call as the pipeline gets it: its positional arguments, the name the pipeline's signature gives
    each (None where it does not say: no signature, or ``*args``), its keyword arguments, and where among
    them the prompt is (None: the call gives none)."""

    args: list[Any]
    names: list[str | None]
    kwargs: dict[str, Any]
    prompt: _Where | None = None

    def named(self) -> list[tuple[str | None, Any]]:
        return [*zip(self.names, self.args, strict=True), *self.kwargs.items()]

    def places(self) -> list[tuple[_Where, str | None]]:
        return [*((i, name) for i, name in enumerate(self.names)), *((k, k) for k in self.kwargs)]

    def get(self, where: _Where) -> Any:
        return self.args[where] if isinstance(where, int) else self.kwargs[where]

    def put(self, where: _Where, value: Any) -> None:
        if isinstance(where, int):
            self.args[where] = value
        else:
            self.kwargs[where] = value


def _bind(pipe: Callable[..., Any], prompt: Any, args: Sequence[Any], kwargs: Mapping[str, Any], *,
          prompt_image: bool) -> _Call:
    """The call the pipeline will get, each argument named by its signature. The prompt goes first, as
    the pipeline's first parameter, where the signature says so (or says nothing); by keyword where the
    pipeline names ``prompt`` elsewhere (StableUnCLIPImg2Img's ``image`` comes first); not at all where
    it is None and nothing follows it, on a pipeline without ``prompt`` (PaintByExample:
    ``pipe(image=..., mask_image=..., example_image=...)``). An image in the prompt's place is the first
    positional argument."""
    import inspect

    try:
        params: list[inspect.Parameter] | None = list(inspect.signature(pipe).parameters.values())
    except (TypeError, ValueError):  # a callable without a signature Python can read
        params = None
    positional = [p.name for p in params or () if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    named_prompt = any(p.name == "prompt" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                       for p in params or ())
    first = positional[:1] == ["prompt"]
    kwargs = dict(kwargs)
    where: _Where | None = None
    if prompt_image:
        given = [prompt, *args]
    elif named_prompt and not first:
        given = list(args)
        if prompt is not None:
            kwargs["prompt"], where = prompt, "prompt"
    elif prompt is None and not args and not first:
        given = []
    else:
        given, where = [prompt, *args], 0
    names: list[str | None] = [positional[i] if i < len(positional) else None for i in range(len(given))]
    return _Call(given, names, kwargs, where)


def _roles(call: _Call, images_checked: bool) -> dict[_Where, str]:
    """What each argument of the call is to the guards, in order: text the model reads, pictures it starts
    from or follows, or other (numbers, options, negative prompts, embeddings, which need guard_prompt).
    An argument that holds text or pictures in a shape the guards cannot read raises a UserError: it
    would reach the model unchecked."""
    roles: dict[_Where, str] = {}
    for where, name in call.places():
        value = call.get(where)
        roles[where] = _TEXT if where == call.prompt and value is not None else _role(name, value)
        if roles[where] != _OTHER or (name is not None and (_is_negative(name) or _is_embedding(name))):
            continue
        label = name or f"positional argument {where}"
        if _is_text_name(name) and _holds(value, lambda v: isinstance(v, str)):
            raise UserError(f"{label} holds text as {_kind(value)}, which the guards cannot read; give a text "
                            "or a list of texts", where="guard_diffusers_pipeline")
        if images_checked and _holds(value, _is_picture):
            raise UserError(f"{label} holds pictures as {_kind(value)}, which the input image guards cannot "
                            "read; give an image or a list of images", where="guard_diffusers_pipeline")
    return roles


def _role(name: str | None, value: Any) -> str:
    if _is_plain(value) or (name is not None and (_is_negative(name) or _is_embedding(name))):
        return _OTHER  # negative prompts steer away and are not checked (module doc); embeddings need guard_prompt
    if _texts(value) and (name is None or _is_text_name(name)):
        return _TEXT  # a text where the signature does not say what it is: checked as one
    if name is not None and _is_text_name(name) and "mask" in name:
        return _OTHER  # an attention mask: which tokens of the embeddings count
    if _pictures(value) or (name is not None and "image" in name):
        return _PICTURES  # anything given as an image is checked as one: what cannot be read blocks
    return _OTHER


def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | complex)


def _is_negative(name: str) -> bool:
    return "negative" in name or name.startswith("neg_")


def _is_embedding(name: str) -> bool:
    return "embed" in name or "hidden_states" in name


def _is_text_name(name: str | None) -> bool:
    return name is not None and any(word in name for word in _TEXT_NAMES)


def _holds(value: Any, test: Callable[[Any], bool]) -> bool:
    """Whether ``value``, or anything in it (lists, tuples, dicts' values), passes ``test``."""
    if test(value):
        return True
    if isinstance(value, Mapping):
        return any(_holds(v, test) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds(v, test) for v in value)
    if is_dataclass(value) and not isinstance(value, type):  # a condition object holding an image (LTX)
        return any(_holds(getattr(value, f.name, None), test) for f in fields(value))
    return False


def _guarded(value: Any, check: Callable[[str], Steps[Verdict]]) -> Steps[Any]:
    """A prompt argument as the guards let it through (each text their output); an argument that is not
    a text (a step count, say) as it is, unchecked."""
    texts = _texts(value)
    if not texts:
        return value
    out = []
    for text in texts:
        verdict = yield from check(text)
        out.append(verdict.output if isinstance(verdict.output, str) else text)
    return out[0] if isinstance(value, str) else out


def _texts(value: Any) -> list[str]:
    """A prompt argument as a list of texts: one string, a list of them, or nothing."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    return []


def _each_image(value: Any, check: Callable[[Any], Steps[Any]]) -> Steps[Any]:
    """An image argument (an image, or lists of them, nested as OmniGen's and VisualCloze's batches are)
    with each image as ``check`` returns it; a None in a list (VisualCloze's image to make) stays."""
    if isinstance(value, list | tuple):
        checked = []
        for v in value:
            checked.append(v if v is None else (yield from _each_image(v, check)))
        return type(value)(checked)
    return (yield from check(value))


def _pictures(value: Any) -> bool:
    """An image, or a list of them (lists of lists too; Nones aside) with at least one image."""
    if isinstance(value, list | tuple):
        items = [v for v in value if v is not None]
        return bool(items) and all(_pictures(v) for v in items)
    return _is_picture(value)


def _kind(value: Any) -> str:
    if isinstance(value, list | tuple):
        return f"a {type(value).__name__} of {', '.join(sorted({type(v).__name__ for v in value})) or 'nothing'}"
    return f"a {type(value).__name__}"


def _is_picture(value: Any) -> bool:
    return type(value).__module__.startswith(("PIL.", "numpy", "torch")) and (
        hasattr(value, "getpixel") or len(getattr(value, "shape", ())) >= 2)


def _input_png(image: Any) -> bytes | str:
    """An input image as PNG bytes to check, or why it cannot be read."""
    try:
        return encode_png(_as_pil(image))
    except (UserError, ValueError) as err:
        return str(err)


def _as_pil(image: Any) -> Image.Image:
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    if hasattr(image, "shape") and hasattr(image, "dtype") and type(image).__module__.startswith("numpy"):
        return _from_array(image)
    raise UserError(f"an input image of type {type(image).__name__} cannot be checked; give PIL images")


def _unreadable(reason: str) -> Verdict:
    finding = Finding(guard_id="guard_diffusers_pipeline", category=None, score=1.0, action=Action.BLOCK,
                      message=f"{reason}; not checked")
    return Verdict(allowed=False, action=Action.BLOCK, output=None, findings=(finding,),
                   guard_id="guard_diffusers_pipeline")


def _builtin_block() -> Verdict:
    finding = Finding(guard_id=BUILTIN_CHECKER_ID, category="S12", score=1.0, action=Action.BLOCK,
                      message="the pipeline's own safety checker flagged this image")
    return Verdict(allowed=False, action=Action.BLOCK, output=None, findings=(finding,),
                   guard_id=BUILTIN_CHECKER_ID)


def _parts(output: Any) -> tuple[Any, Any]:
    """The result's images and its own safety checker's flags: its fields, or the tuple a call with
    ``return_dict=False`` returns (the images, then the flags where the pipeline has a checker)."""
    if isinstance(output, tuple):
        return (output[0] if output else None), (output[1] if len(output) > 1 else None)
    return getattr(output, "images", None), getattr(output, "nsfw_content_detected", None)


def _without_images(output: Any) -> Any:
    """The pipeline's result without its images: they leave only through the guards. Not only ``images``:
    any field holding pictures goes (StableDiffusionPipelineSafe keeps the originals of the images it
    blacked out in ``unsafe_images``), and any array or tensor of two or more dimensions with them. diffusers'
    outputs are dataclasses that are also dicts (``output["images"]``, ``to_tuple()``): both lose them.
    A result whose images cannot be taken out is not handed back at all."""
    if isinstance(output, tuple):
        return tuple(None if index == 0 or _holds_images(value) else value for index, value in enumerate(output))
    try:
        for name in _fields(output):
            if isinstance(output, MutableMapping) and name in output:
                output[name] = None
            setattr(output, name, None)
    except (AttributeError, TypeError):
        return None
    return output


def _fields(output: Any) -> list[str]:
    """``images``, and the other fields of ``output`` (its keys, dataclass fields, attributes) that hold
    images."""
    names = dict.fromkeys(["images"])
    if isinstance(output, Mapping):
        names.update(dict.fromkeys(k for k in output if isinstance(k, str)))
    if is_dataclass(output):
        names.update(dict.fromkeys(f.name for f in fields(output)))
    names.update(dict.fromkeys(getattr(output, "__dict__", {})))
    return [name for name in names if name == "images" or _holds_images(getattr(output, name, None))]


def _holds_images(value: Any) -> bool:
    """A PIL image, an array or tensor of two or more dimensions (nsfw flags are one), or a list of such."""
    if isinstance(value, list | tuple):
        return any(_holds_images(v) for v in value)
    if type(value).__module__.startswith("PIL."):
        return hasattr(value, "getpixel")
    return type(value).__module__.startswith(("numpy", "torch")) and len(getattr(value, "shape", ())) >= 2


def _encoded(images: Any) -> list[bytes | str]:
    """The result's images as PNG bytes to check, or for one that cannot be read, the reason."""
    return [image if isinstance(image, str) else encode_png(image) for image in _images_of(images)]


def _images_of(images: Any) -> list[Image.Image | str]:
    """The result's images as PIL images (``output_type`` "pil", "np" or "pt"); an image that cannot be
    read (NaN values, as a VAE overflowing in float16 gives) as the reason; others are a usage error."""
    from PIL import Image

    if images is None:
        raise UserError("the pipeline result has no .images; call it with output_type='pil'")
    if isinstance(images, Image.Image) or len(getattr(images, "shape", ())) == 3:
        # one image; an array or tensor is a batch only with four dimensions (an (H, W, 3) array taken
        # for a batch was read row by row: each row judged, and released, as an image 3 pixels wide)
        images = [images]
    out: list[Image.Image | str] = []
    for image in images:
        if isinstance(image, Image.Image):
            out.append(image)
        elif hasattr(image, "shape") and hasattr(image, "dtype"):
            try:
                out.append(_from_array(image))
            except ValueError as err:
                out.append(str(err))
        else:
            raise UserError(f"cannot guard images of type {type(image).__name__}; use output_type='pil'")
    return out


def _from_array(array: Any) -> Image.Image:
    """One image of an "np" (height, width, channels; floats in [0, 1]) or "pt" (channels first) output.
    Raises ValueError for NaN or infinite values, UserError for what is no image (latents)."""
    import numpy as np
    from PIL import Image

    torch = type(array).__module__.startswith("torch")
    if torch:  # on a GPU, or in bfloat16, which numpy has not: copied to the CPU as float32
        array = array.detach().float().cpu()
    values = np.asarray(array)
    shape = tuple(values.shape)
    if torch and values.ndim == 3 and values.shape[0] in (1, 3) and values.shape[-1] not in (1, 3, 4):
        values = values.transpose(1, 2, 0)  # "pt" output: channels first
    values = values.squeeze()
    if values.ndim != 2 and not (values.ndim == 3 and values.shape[-1] in (3, 4)):
        raise UserError(f"cannot guard an image array of shape {shape} (latents?); call the pipeline with "
                        "output_type='pil', 'np' or 'pt'")
    if values.dtype != np.uint8:  # diffusers' "np" and "pt" output: floats in [0, 1]
        values = values.astype(np.float64)
        if not np.isfinite(values).all():
            raise ValueError("the pipeline returned an image with NaN or infinite values")
        if values.min() < -1e-3 or values.max() > 1.0 + 1e-3:
            raise UserError(f"cannot guard an image array with values from {values.min():.3g} to "
                            f"{values.max():.3g} (latents?); images are floats in [0, 1] or bytes: call the "
                            "pipeline with output_type='pil', 'np' or 'pt'")
        values = np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(values)


def _open(data: bytes) -> Image.Image:
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image
