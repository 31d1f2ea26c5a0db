"""``params.device`` and ``params.dtype``: where the transformers backend and the sd_safety_checker run, and
in which precision. Each model runs on every device this machine has (the CPU here; a CUDA GPU too where
there is one) and scores as it does in float32 on the CPU; a device this machine lacks is a load error that
names the key, never a quiet fall-back to the CPU. Tiny random models built here; nothing downloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clauseguard.cli import main
from clauseguard.errors import GuardConfigError, ModelLoadError
from clauseguard.guards import Context, GuardSpec, create

pytestmark = pytest.mark.ml
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from test_clf_transformers import _bert, _gpt2, _guard, _tokenizer  # noqa: E402

# Every device this machine has: the same tests prove the GPU path where one is present.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
TEXTS = ["hello you kill", "kill", "hello", "safe unsafe S3 , S10 hello you kill kill"]


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _bert(tmp_path_factory.mktemp("bert") / "m", {0: "safe", 1: "toxic", 2: "threat"})


@pytest.fixture(scope="module")
def judge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _gpt2(tmp_path_factory.mktemp("judge") / "m", transformers.GPT2LMHeadModel,
                 _tokenizer(bos_token="<bos>", eos_token="<eos>"))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("dtype", "tolerance"), [("auto", 1e-5), ("float32", 1e-5), ("bfloat16", 2e-2),
                                                  ("float16", 2e-3)])
def test_a_classifier_scores_alike_on_each_device_and_dtype(bert: Path, device: str, dtype: str,
                                                            tolerance: float) -> None:
    reference = _guard(bert).backends[0]
    backend = _guard(bert, device=device, dtype=dtype).backends[0]
    parameter = next(backend.model.parameters())
    assert parameter.device.type == device
    assert parameter.dtype == (torch.float32 if dtype == "auto" else getattr(torch, dtype))  # saved in float32
    scores = backend.score(TEXTS)
    assert scores == [pytest.approx(r, abs=tolerance) for r in reference.score(TEXTS)]
    assert all(isinstance(s, float) for row in scores for s in row.values())  # not tensors, not bfloat16


@pytest.mark.parametrize("device", DEVICES)
def test_a_judge_answers_alike_on_each_device(judge: Path, device: str) -> None:
    """The random judge's greedy answer is gibberish, but the same gibberish wherever it runs."""
    reference = _guard(judge, guard_id="judge").backends[0]
    backend = _guard(judge, guard_id="judge", device=device, dtype="float32").backends[0]
    assert next(backend.model.parameters()).device.type == device
    for text in TEXTS:
        assert backend.judge(text) == reference.judge(text)
        assert backend.judge(text, "assistant") == reference.judge(text, "assistant")
    assert backend._answers(TEXTS, "user") == [reference._answers([t], "user")[0] for t in TEXTS]  # left-padded


def test_a_judge_in_bfloat16_generates(judge: Path) -> None:
    backend = _guard(judge, guard_id="judge", dtype="bfloat16").backends[0]
    assert next(backend.model.parameters()).dtype == torch.bfloat16
    assert isinstance(backend.judge("hello you"), str)


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("diffusers")
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from guard_helpers import tiny_clip_config
    from transformers import CLIPImageProcessor

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("checker")
    StableDiffusionSafetyChecker(tiny_clip_config()).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def _nsfw(folder: Path, **params: Any) -> Any:
    return create(GuardSpec(id="nsfw", type="image_nsfw", modality="image",
                            params={"backend": "sd_safety_checker", "model_path": str(folder), **params}))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("dtype", "tolerance"), [("float32", 1e-5), ("bfloat16", 0.05)])
def test_the_safety_checker_scores_alike_on_each_device_and_dtype(checker: Path, device: str, dtype: str,
                                                                  tolerance: float) -> None:
    from guard_helpers import FIXTURES
    from PIL import Image

    frames = [Image.open(FIXTURES / "images" / name).convert("RGB") for name in ("gradient.png", "text.png")]
    frames.append(Image.new("RGB", (512, 512), (200, 30, 30)))
    reference = _nsfw(checker).scorer(frames)
    guard = _nsfw(checker, device=device, dtype=dtype)
    assert guard.scorer(frames) == pytest.approx(reference, abs=tolerance)
    verdict = guard.check((FIXTURES / "images" / "gradient.png").read_bytes(), Context())
    assert verdict.action in ("allow", "block")


def _no_gpu(monkeypatch: pytest.MonkeyPatch, *, cuda: int = 0, mps: bool = False) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize(("device", "gpus", "message"), [
    ("cuda", 0, r"device 'cuda' asked for, but torch sees no CUDA GPU \(torch "),
    ("cuda:0", 0, "torch sees no CUDA GPU"),
    ("cuda:1", 1, r"device 'cuda:1' asked for, but this machine has 1 CUDA GPU\(s\), numbered from 0"),
    ("mps", 0, "device 'mps' asked for, but torch sees no Apple GPU"),
])
def test_a_device_this_machine_lacks_is_a_load_error_naming_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], device: str,
        gpus: int, message: str) -> None:
    folder = _bert(tmp_path / "m", {0: "safe", 1: "toxic"})
    _no_gpu(monkeypatch, cuda=gpus)
    with pytest.raises(ModelLoadError, match=message) as err:
        _guard(folder, device=device)
    assert err.value.where == "guard 'clf' params.device"
    with pytest.raises(ModelLoadError, match=message) as err:
        _nsfw(tmp_path, device=device)
    assert err.value.where == "guard 'nsfw' params.device"
    guards = tmp_path / "guards.yaml"
    guards.write_text(f"guards:\n  - id: clf\n    type: classifier\n    params:\n      backends: [transformers]\n"
                      f"      model_path: {folder}\n      device: '{device}'\n")
    assert main(["check", "--guards", str(guards), "--text", "hello"]) == 2
    assert f"{guards}:7 guard 'clf' guards[0].params.device: " in capsys.readouterr().err


@pytest.mark.parametrize(("cuda", "mps", "expected"), [(0, False, "cpu"), (0, True, "mps"), (2, True, "cuda")])
def test_auto_picks_cuda_then_mps_then_the_cpu(monkeypatch: pytest.MonkeyPatch, cuda: int, mps: bool,
                                               expected: str) -> None:
    from clauseguard.guards._torch import resolve_device

    _no_gpu(monkeypatch, cuda=cuda, mps=mps)
    assert resolve_device("auto").type == expected


@pytest.mark.parametrize(("type_", "params", "message"), [
    ("classifier", {"backends": ["transformers"], "model_path": "/m", "device": "gpu"}, "params.device"),
    ("classifier", {"backends": ["transformers"], "model_path": "/m", "device": "cuda:x"}, "params.device"),
    ("classifier", {"backends": ["transformers"], "model_path": "/m", "dtype": "int8"}, "params.dtype"),
    ("classifier", {"device": "cuda"}, "device applies only to the transformers backend"),
    ("classifier", {"dtype": "float16", "device": "cuda"}, "device and dtype apply only to the transformers"),
    ("image_nsfw", {"device": "cuda"}, "device applies only to the sd_safety_checker backend, not 'opennsfw'"),
    ("image_nsfw", {"backend": "sd_safety_checker", "model_path": "/m", "device": "tpu"}, "params.device"),
])
def test_device_and_dtype_are_checked_with_the_rest_of_guards_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                    type_: str, params: dict, message: str) -> None:
    lines = "".join(f"      {k}: {v if not isinstance(v, list) else '[' + ', '.join(v) + ']'}\n"
                    for k, v in params.items())
    modality = "    modality: image\n" if type_ == "image_nsfw" else ""
    guards = tmp_path / "guards.yaml"
    guards.write_text(f"guards:\n  - id: g\n    type: {type_}\n{modality}    params:\n{lines}")
    assert main(["check", "--guards", str(guards), "--text", "hello"]) == 2
    err = capsys.readouterr().err
    assert str(guards) in err and message in err
    with pytest.raises((GuardConfigError, ValueError)):
        GuardSpec(id="g", type=type_, modality="image" if type_ == "image_nsfw" else "text", params=params)


@pytest.mark.parametrize(("type_", "params"), [("classifier", {}), ("image_nsfw", {}),
                                               ("classifier", {"device": "cpu", "dtype": "auto"})])
def test_a_spec_dumped_whole_reads_back(type_: str, params: dict) -> None:
    """The generator writes each spec's params whole, defaults included: ``device: cpu`` beside the
    embedding backend is the default, not a setting for a backend that is not there."""
    from clauseguard.guards._params import PARAMS

    typed = PARAMS[type_](**params)
    again = PARAMS[type_](**typed.model_dump(mode="json"))
    assert again == typed and (again.device, again.dtype) == ("cpu", "auto")
    modality = "image" if type_ == "image_nsfw" else "text"
    GuardSpec(id="g", type=type_, modality=modality, params=typed.model_dump(mode="json"))


@pytest.mark.parametrize(("saved", "dtype", "device", "loaded"), [
    ("float16", "auto", "cpu", "float32"),    # no float16 kernels on many CPUs: float32 there
    ("bfloat16", "auto", "cpu", "bfloat16"),  # kept: half the memory of an 8B judge
    ("float16", "float16", "cpu", "float16"),  # asked for: as asked
    ("float32", "auto", "cpu", "float32"),
    *([("float16", "auto", "cuda", "float16")] if torch.cuda.is_available() else []),
])
def test_auto_keeps_the_saved_dtype_but_float16_on_the_cpu(tmp_path: Path, checker: Path, saved: str, dtype: str,
                                                          device: str, loaded: str) -> None:
    import shutil

    folder = _bert(tmp_path / "m", {0: "safe", 1: "toxic"})
    model = transformers.BertForSequenceClassification.from_pretrained(folder).to(getattr(torch, saved))
    model.save_pretrained(folder)
    backend = _guard(folder, device=device, dtype=dtype).backends[0]
    assert next(backend.model.parameters()).dtype == getattr(torch, loaded)
    assert all(0.0 <= s <= 1.0 for row in backend.score(TEXTS) for s in row.values())
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker

    saved_checker = tmp_path / "checker"
    shutil.copytree(checker, saved_checker)
    StableDiffusionSafetyChecker.from_pretrained(checker).to(getattr(torch, saved)).save_pretrained(saved_checker)
    from clauseguard.guards.image_nsfw import _load_sd_checker

    loaded_checker, _ = _load_sd_checker(saved_checker, device, dtype)
    assert loaded_checker.dtype == getattr(torch, loaded)
