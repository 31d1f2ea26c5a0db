"""A text that names a group of people protected by law is judged by the toxicity head against its lower
``group_threshold`` (hate is toxicity aimed at a group), unless the stance gate reads it as speech against a
hostile claim; naming a group never flags a text on its own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clauseguard.errors import ModelLoadError

pytestmark = pytest.mark.ml

NAMED = ["Immigrants are rapists and criminals.", "Muslims are ruining this country.",
         "Some of the bravest people I know are women.", "the j3ws run the banks",
         "Meeting notes\n- Polish workers on the night shift asked for a rota\n- Budget approved\n- Next week"]
NOT_NAMED = ["black coffee and polish sausage, please", "My neighbour is a liar and a thief.",
             "trans fats are bad for you", "You are the worst referee I have ever seen."]


def test_the_shipped_groups_and_what_counts_as_naming_one() -> None:
    from clauseguard.guards._clf_embedding import names_a_group

    assert all(names_a_group(t) for t in NAMED)
    assert not any(names_a_group(t) for t in NOT_NAMED)
    # adjectives that also name things count only before a word for people
    assert names_a_group("Black people") and names_a_group("Trans women are women")
    assert not names_a_group("the black cat") and not names_a_group("trans-Atlantic flights")


def test_only_the_toxicity_head_has_a_lower_threshold_for_texts_naming_a_group(embedding: Any) -> None:
    entries = embedding.heads.manifest["heads"]
    lower = {e["name"]: e["group_threshold"] for e in entries if "group_threshold" in e}
    assert list(lower) == ["toxicity"]
    toxicity = next(e for e in entries if e["name"] == "toxicity")
    assert 0.0 < lower["toxicity"] < toxicity["threshold"]


def _without_group_thresholds(tmp_path: Path) -> Any:
    from clauseguard.guards._clf_embedding import EmbeddingBackend, shipped_heads_dir

    folder = tmp_path / "heads"
    shutil.copytree(shipped_heads_dir(), folder)
    manifest = json.loads((folder / "classifier.json").read_text())
    for entry in manifest["heads"]:
        entry.pop("group_threshold", None)
    (folder / "classifier.json").write_text(json.dumps(manifest))
    return EmbeddingBackend(folder)


def test_a_text_naming_a_group_is_rescaled_at_the_group_threshold_and_nothing_else_moves(
        tmp_path: Path, embedding: Any) -> None:
    from clauseguard.guards._clf_embedding import embed_windows, max_by_owner, rescale

    plain = _without_group_thresholds(tmp_path)
    assert plain.group_thresholds is None
    names = [e["name"] for e in embedding.heads.manifest["heads"]]
    tox, s10 = names.index("toxicity"), names.index("S10")
    embedding._recent.clear()
    shipped, before = embedding.score(NAMED + NOT_NAMED), plain.score(NAMED + NOT_NAMED)
    for text, now, then in zip(NAMED + NOT_NAMED, shipped, before, strict=True):
        others = {c for c in now if c != "S10"}
        assert {c: now[c] for c in others} == pytest.approx({c: then[c] for c in others}), text
        assert now["S10"] == pytest.approx(then["S10"]) if text in NOT_NAMED else now["S10"] >= then["S10"], text
    # S10 is the higher of the S10 head (at its threshold) and the toxicity head, at the group threshold in the
    # windows the stance gate reads as voicing a claim, else at its own
    x, owner = embed_windows(plain.embedder, NAMED, plain.layers, True)
    p = plain.heads.probabilities(x)
    lowered = embedding.heads.endorses(x)
    at = np.where(lowered, embedding.group_thresholds[tox], embedding.thresholds[tox])
    both = np.stack([rescale(p[:, s10], embedding.thresholds[s10]), rescale(p[:, tox], at)], axis=1)
    expected = max_by_owner(both, owner, len(NAMED)).max(axis=1)
    assert [s["S10"] for s in shipped[:len(NAMED)]] == pytest.approx(expected.tolist(), abs=1e-5)


def test_hateful_claims_about_a_group_are_flagged_at_the_lower_threshold_and_praise_is_not(
        tmp_path: Path, embedding: Any) -> None:
    """Claims just under the toxicity head's own threshold, which its group threshold flags."""
    claims = ["Send the immigrants back where they came from.", "Refugees are a plague on this country.",
              "Jews are greedy."]
    praise = "Immigrants built this town, and we are proud of them."
    embedding._recent.clear()
    scores = embedding.score([*claims, praise])
    assert [s["S10"] >= 0.5 for s in scores] == [True, True, True, False]
    assert max(scores[-1].values()) < 0.5
    assert all(s["S10"] < 0.5 for s in _without_group_thresholds(tmp_path).score(claims))


@pytest.mark.parametrize("value", [0, -0.1, "low", 0.999, None])
def test_a_bad_group_threshold_is_a_load_error(tmp_path: Path, ml: None, value: object) -> None:
    """Above 0 and at most the head's own threshold (0.999 is above the toxicity head's)."""
    from clauseguard.guards._clf_embedding import EmbeddingBackend, shipped_heads_dir

    folder = tmp_path / "heads"
    shutil.copytree(shipped_heads_dir(), folder)
    manifest = json.loads((folder / "classifier.json").read_text())
    next(e for e in manifest["heads"] if e["name"] == "toxicity")["group_threshold"] = value
    (folder / "classifier.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="group_threshold must be above 0 and at most the head's threshold"):
        EmbeddingBackend(folder)


def test_the_guard_param_turns_the_group_threshold_off(ml: None) -> None:
    """``params.group_threshold: false`` judges a text naming a group like any other text."""
    from guard_helpers import build

    from clauseguard.guards import Context

    claim, ctx = "Send the immigrants back where they came from.", Context()
    on = build("classifier", params={"categories": ["S10"]})
    off = build("classifier", params={"categories": ["S10"], "group_threshold": False})
    assert on.params.group_threshold is True
    assert not on.check(claim, ctx).allowed
    assert off.check(claim, ctx).allowed
    assert on.scores([claim])[0]["S10"] > off.scores([claim])[0]["S10"]


@pytest.mark.parametrize("value", ["maybe", "0", "null"])
def test_a_group_threshold_param_that_is_not_true_or_false_is_a_config_error(value: str) -> None:
    """Named with the file, the line and the key, like every guards.yaml mistake."""
    from clauseguard.errors import GuardConfigError
    from clauseguard.guards.config import parse_guards

    text = f"guards:\n  - id: harm\n    type: classifier\n    params:\n      group_threshold: {value}\n"
    with pytest.raises(GuardConfigError, match=r"g\.yaml:5 .*group_threshold.*bool"):
        parse_guards(text, "g.yaml")
    assert parse_guards(text.replace(value, "false"), "g.yaml")[0].params["group_threshold"] is False


def test_the_stance_gate_keeps_the_group_threshold_for_hate_and_not_for_speech_against_it(
        tmp_path: Path, embedding: Any) -> None:
    """Texts that repeat a hateful claim to deny, rebut or condemn it are judged at the toxicity head's own
    threshold; without the gate in the manifest, at the group threshold, as every text naming a group was."""
    from clauseguard.guards._clf_embedding import EmbeddingBackend, shipped_heads_dir

    countered = ["If you call women disgusting, you will be banned from this forum.", "Jews are not disgusting."]
    hateful = ["Send the immigrants back where they came from.", "Refugees are a plague on this country."]
    folder = tmp_path / "heads"
    shutil.copytree(shipped_heads_dir(), folder)
    manifest = json.loads((folder / "classifier.json").read_text())
    assert manifest.pop("stance_gate")["name"] == "stance"
    (folder / "classifier.json").write_text(json.dumps(manifest))
    ungated = EmbeddingBackend(folder)
    assert ungated.heads.stance_gate is None
    embedding._recent.clear()
    gated, lowered = embedding.score(countered + hateful), ungated.score(countered + hateful)
    plain = _without_group_thresholds(tmp_path / "plain").score(countered + hateful)
    # speech against hate scores as with no group threshold at all; hate as with the group threshold everywhere
    assert [s["S10"] for s in gated[:2]] == pytest.approx([s["S10"] for s in plain[:2]], abs=1e-6)
    assert [s["S10"] for s in gated[2:]] == pytest.approx([s["S10"] for s in lowered[2:]], abs=1e-6)
    assert all(g["S10"] < lo["S10"] for g, lo in zip(gated[:2], lowered[:2], strict=True))
    assert [s["S10"] >= 0.5 for s in gated] == [False, False, True, True]
    assert [s["S10"] >= 0.5 for s in lowered] == [True, True, True, True]


@pytest.mark.parametrize(("change", "message"), [
    ({"threshold": 1.5}, "stance gate threshold 1.5 is not between 0 and 1"),
    ({"threshold": "high"}, "stance gate threshold 'high'"),
    ({"name": "missing"}, "missing.w"),
])
def test_a_bad_stance_gate_is_a_load_error(tmp_path: Path, ml: None, change: dict, message: str) -> None:
    from clauseguard.guards._clf_embedding import EmbeddingBackend, shipped_heads_dir

    folder = tmp_path / "heads"
    shutil.copytree(shipped_heads_dir(), folder)
    manifest = json.loads((folder / "classifier.json").read_text())
    manifest["stance_gate"].update(change)
    (folder / "classifier.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=message):
        EmbeddingBackend(folder)


def test_a_stance_gate_of_the_wrong_width_is_a_load_error(tmp_path: Path, ml: None) -> None:
    from clauseguard.guards._clf_embedding import EmbeddingBackend, shipped_heads_dir

    folder = tmp_path / "heads"
    shutil.copytree(shipped_heads_dir(), folder)
    with np.load(folder / "classifier.npz") as z:
        arrays = dict(z)
    arrays["stance.w"] = arrays["stance.w"][:384]
    np.savez(folder / "classifier.npz", **arrays)
    with pytest.raises(ModelLoadError, match=r"stance gate 'stance': shapes \(384,\), \(1,\) do not fit 768"):
        EmbeddingBackend(folder)
