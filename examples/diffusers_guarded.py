"""A diffusers pipeline behind clauseguard: prompt checked, images checked for sexual content and marked.

    python examples/diffusers_guarded.py "a lighthouse at dusk"                # a stand-in pipeline
    python examples/diffusers_guarded.py "a lighthouse at dusk" --model DIR    # a local diffusers folder

The stand-in pipeline paints a gradient, so the example runs anywhere (it needs the image extra:
``pip install 'clauseguard[image]'``). With ``--model`` it loads a local Stable Diffusion or SDXL
folder with diffusers (nothing is downloaded). Released images are written as marked PNG files;
check them with ``clauseguard inspect out-0.png``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from clauseguard.guards import GuardSpec, JsonlSink, Pipeline
from clauseguard.guards.diffusers import guard_diffusers_pipeline

GUARDS = [
    GuardSpec(id="prompt-keywords", type="keyword", stage="input", clauses=["content/sexual-content"],
              message="This prompt asks for content our Acceptable Use Policy forbids."),
    GuardSpec(id="image-nsfw", type="image_nsfw", stage="output", modality="image", on_fail="block",
              clauses=["content/sexual-imagery"], message="This image was withheld (Acceptable Use Policy)."),
    GuardSpec(id="image-mark", type="image_mark", stage="output", modality="image", on_fail="label",
              clauses=["ai/image-marking"], params={"visible_label": "AI-generated"}),
]


@dataclass
class _Output:
    images: list


def stand_in_pipeline(prompt: str, **_: object) -> _Output:
    """Paints a gradient: the same interface as a diffusers pipeline, without a model."""
    from PIL import Image

    grey = Image.linear_gradient("L").resize((512, 512))
    return _Output(images=[Image.merge("RGB", (grey, grey.rotate(90), Image.new("L", (512, 512), 160)))])


def load_pipeline(model: Path | None):
    if model is None:
        return stand_in_pipeline
    from diffusers import AutoPipelineForText2Image

    return AutoPipelineForText2Image.from_pretrained(model, local_files_only=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompt")
    parser.add_argument("--model", type=Path, default=None, help="a local diffusers pipeline folder")
    parser.add_argument("--out", type=Path, default=Path("."), help="where to write the released images")
    args = parser.parse_args()
    guarded = guard_diffusers_pipeline(load_pipeline(args.model),
                                       Pipeline(GUARDS, sink=JsonlSink(args.out / "decisions.jsonl")))
    result = guarded(args.prompt)
    if result.prompt_blocked:
        blocked = next(v for v in result.prompt_verdicts if not v.allowed)  # a prompt (prompt_2...) or an input image
        print("prompt blocked:", blocked.findings[0].message)
        return
    for index, data in enumerate(result.image_bytes):
        path = args.out / f"out-{index}.png"
        path.write_bytes(data)
        print("released", path)
    print(f"{result.blocked} image(s) withheld; decisions in {args.out / 'decisions.jsonl'}")


if __name__ == "__main__":
    main()
