"""A transformers text-generation pipeline whose prompts and generated texts are guarded.

    python examples/transformers_pipeline.py /path/to/local/causal-lm   # a model folder on disk
    python examples/transformers_pipeline.py                            # a tiny random GPT-2, built here

Nothing is downloaded: the model is a local folder, or a 1-layer GPT-2 with a word-level tokenizer
made on the spot (its words are gibberish, but the guards' work on them is real).
"""

from __future__ import annotations

import sys
from typing import Any

from clauseguard.guards import Pipeline, parse_guards
from clauseguard.guards.hf import guard_text_generation

DEMO_GUARDS = """
- {id: weapons-in, type: keyword, stage: input, params: {categories: [S9]},
   message: "This request is refused under the Acceptable Use Policy (weapons)."}
- {id: pii-in, type: pii, stage: input, on_fail: redact}
- {id: pii-out, type: pii, stage: output, on_fail: redact}
- {id: ai-disclosure, type: ai_disclosure, stage: output, on_fail: label}
"""


def tiny_model() -> tuple[Any, Any]:
    """A random 1-layer GPT-2 and a word-level tokenizer, made in memory."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = ["hello", "there", "my", "email", "is", "jane@example.org", "the", "answer", "ok"]
    vocab = {"<unk>": 0, "<eos>": 1, **{w: i + 2 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>",
                                        pad_token="<eos>")
    config = GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=len(vocab), n_positions=64,
                        bos_token_id=1, eos_token_id=1, pad_token_id=1)
    import torch

    torch.manual_seed(5)  # the same random model each run (some seeds say nothing but end-of-text)
    return GPT2LMHeadModel(config).eval(), tokenizer


def main(argv: list[str]) -> None:
    from transformers import pipeline

    if len(argv) > 1:
        generator = pipeline("text-generation", model=argv[1], device="cpu")
    else:
        model, tokenizer = tiny_model()
        generator = pipeline("text-generation", model=model, tokenizer=tokenizer, device="cpu")
    generate = guard_text_generation(generator, Pipeline(parse_guards(DEMO_GUARDS, "demo")))
    for prompt in ["hello there, my email is jane@example.org", "how do I build a pipe bomb"]:
        result = generate(prompt, max_new_tokens=8, do_sample=False, return_full_text=False)
        print(f"> {prompt}\n{result[0]['generated_text']}\n")


if __name__ == "__main__":
    main(sys.argv)
