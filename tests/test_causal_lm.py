"""The causal-lm adapter: a tiny random GPT-2 scored with lm-eval's XNLI prompt, checked by hand.

The model and its byte-level BPE tokenizer are built in the test (`tests/tiny_causal.py`) on real
XNLI dev text; the items are real XNLI rows.  What is pinned: the log-likelihood equals a float64
computation written out here, probabilities do not depend on batch size or order, each language
uses its own words, the record names the prompt, and classifier cache keys did not change.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest

from adapters import xnli_prompt
from adapters.causal_lm import CausalLMAdapter
from harness import LANGUAGES
from harness.cli import main
from harness.data.xnli import load_local
from harness.core.errors import ModelError
from harness.core.examples import NLIExample
from harness.core.hashing import sha256_json

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_causal(tiny_dir: Path, data_root: Path) -> Path:
    from tiny_causal import build_causal_lm

    return build_causal_lm(tiny_dir / "causal", data_root)


@pytest.fixture(scope="module")
def causal(tiny_causal: Path) -> CausalLMAdapter:
    return CausalLMAdapter.load(str(tiny_causal))


@pytest.fixture(scope="module")
def dev(data_root: Path) -> dict[str, list[NLIExample]]:
    return load_local(data_root / "xnli", "dev", ["en", "fr", "th"])


def _pairs(dev: dict[str, list[NLIExample]], language: str, n: int) -> list[tuple[str, str]]:
    return [(e.premise, e.hypothesis) for e in dev[language][:n]]


def test_probabilities_are_rows_over_the_three_labels(causal: CausalLMAdapter, dev: dict[str, list[NLIExample]]) -> None:
    probs = causal.predict(_pairs(dev, "en", 12), language="en")
    assert probs.shape == (12, 3) and probs.dtype == np.float32
    assert np.isfinite(probs).all() and (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert causal.predict([], language="en").shape == (0, 3)


def test_batch_size_and_order_do_not_change_predictions(tiny_causal: Path, dev: dict[str, list[NLIExample]]) -> None:
    """Short and long pairs mixed (some truncated at max_length 64), scored 1 and 8 sequences a pass."""
    pairs = _pairs(dev, "th", 10) + _pairs(dev, "fr", 10)
    one = CausalLMAdapter.load(str(tiny_causal), batch_size=1, max_length=64)
    eight = CausalLMAdapter.load(str(tiny_causal), batch_size=8, max_length=64)
    a, b = one.loglikelihoods(pairs, "th"), eight.loglikelihoods(pairs, "th")
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-5)
    pa, pb = one.predict(pairs, language="th"), eight.predict(pairs, language="th")
    np.testing.assert_allclose(pa, pb, rtol=0, atol=1e-6)
    assert (pa.argmax(axis=1) == pb.argmax(axis=1)).all()
    shuffled = np.random.default_rng(0).permutation(len(pairs))
    pc = eight.predict([pairs[i] for i in shuffled], language="th")
    np.testing.assert_allclose(pc, pb[shuffled], rtol=0, atol=1e-6)
    assert one.stats["truncated"] > 0, "the long Thai pairs should exercise truncation"
    assert eight.keeps_logits, "GPT-2 computes logits only at the continuation positions"
    eight.keeps_logits = False  # every position's logits, sliced afterwards: the same numbers
    np.testing.assert_allclose(eight.loglikelihoods(pairs, "th"), b, rtol=1e-6, atol=1e-5)


def test_loglikelihood_equals_a_hand_computation(tiny_causal: Path, causal: CausalLMAdapter,
                                                 dev: dict[str, list[NLIExample]]) -> None:
    """Sum of log p(continuation token | everything before), in float64, for one short pair."""
    import torch
    from transformers import AutoTokenizer, GPT2LMHeadModel

    premise, hypothesis = min(_pairs(dev, "en", 50), key=lambda p: len(p[0]) + len(p[1]))
    tokenizer = AutoTokenizer.from_pretrained(tiny_causal)
    model = GPT2LMHeadModel.from_pretrained(tiny_causal).double().eval()
    context = f"{premise}, right?"
    expected = []
    for word in ("Yes", "Also", "No"):
        ids = tokenizer(f"{premise}, right? {word}, {hypothesis}", add_special_tokens=False)["input_ids"]
        start = len(tokenizer(context, add_special_tokens=False)["input_ids"])
        assert tokenizer.decode(ids[start:]) == f" {word}, {hypothesis}"
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), dim=-1)
        expected.append(sum(float(logp[t - 1, ids[t]]) for t in range(start, len(ids))))
    got = causal.loglikelihoods([(premise, hypothesis)], "en")[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    softmax = np.exp(np.array(expected) - max(expected))
    np.testing.assert_allclose(causal.predict([(premise, hypothesis)], language="en")[0], softmax / softmax.sum(), atol=1e-5)


def test_each_language_is_scored_with_its_own_words(causal: CausalLMAdapter) -> None:
    assert set(xnli_prompt.VERBALISERS) == set(LANGUAGES)
    context, continuations = xnli_prompt.render("Le chat dort.", "Un chat dort.", xnli_prompt.VERBALISERS["fr"])
    assert context == "Le chat dort., correct? "
    assert continuations == ("Oui, Un chat dort.", "Aussi, Un chat dort.", "Non, Un chat dort.")
    encoded = causal._encode("Le chat dort.", "Un chat dort.", xnli_prompt.VERBALISERS["fr"])
    assert causal.tokenizer.decode(encoded.context) == "Le chat dort., correct?"
    assert [causal.tokenizer.decode(c) for c in encoded.continuations] == [" " + c for c in continuations]
    pair = [("The cat sleeps on the mat.", "A cat is asleep.")]
    assert not np.allclose(causal.loglikelihoods(pair, "en"), causal.loglikelihoods(pair, "fr"))


def test_missing_or_unknown_language_is_a_clear_error(causal: CausalLMAdapter) -> None:
    with pytest.raises(ModelError, match="needs each pair's language"):
        causal.predict([("a", "b")])
    with pytest.raises(ModelError, match="no causal-lm prompt words for language 'xx'"):
        causal.predict([("a", "b")], language="xx")


def test_identity_names_adapter_weights_and_prompt(tiny_causal: Path, causal: CausalLMAdapter) -> None:
    from adapters.hf import weights_sha256

    identity = causal.identity()
    assert identity["adapter"] == "causal-lm" and identity["architecture"] == "GPT2LMHeadModel"
    assert identity["weights_sha256"] == weights_sha256(tiny_causal) and identity["weights_format"] == "safetensors"
    assert identity["language_dependent"] is True and identity["precision"] == "float32"
    prompt = identity["prompt"]
    assert prompt["sha256"] == xnli_prompt.PROMPT_SHA256 == sha256_json(xnli_prompt.definition())
    assert prompt["context"] == "{premise}, {question}? " and prompt["continuation"] == "{label}, {hypothesis}"
    assert prompt["verbalisers"]["fr"] == {"question": "correct", "entailment": "Oui", "neutral": "Aussi",
                                           "contradiction": "Non"}
    assert "lm-evaluation-harness" in prompt["source"] and len(prompt["languages"]) == 15


def test_options_that_make_no_sense_are_refused(tiny_causal: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not take --label-map"):
        CausalLMAdapter.load(str(tiny_causal), label_map="entailment=0,neutral=1,contradiction=2")
    with pytest.raises(ModelError, match="does not take --calibrate"):
        CausalLMAdapter.load(str(tiny_causal), calibrate_with=([("a", "b")], [0]))
    classifier = shutil.copytree(tiny_causal, tmp_path / "classifier")
    config = json.loads((classifier / "config.json").read_text())
    (classifier / "config.json").write_text(json.dumps({**config, "architectures": ["GPT2ForSequenceClassification"]}))
    with pytest.raises(ModelError, match="sequence classifier.*--adapter hf"):
        CausalLMAdapter.load(str(classifier))
    with pytest.raises(ModelError, match="exceeds the model's position limit of 256"):
        CausalLMAdapter.load(str(tiny_causal), max_length=300)


def test_truncation_cuts_the_premise_from_the_left_and_is_counted(tiny_causal: Path,
                                                                  dev: dict[str, list[NLIExample]]) -> None:
    adapter = CausalLMAdapter.load(str(tiny_causal), max_length=40)
    verbaliser = xnli_prompt.VERBALISERS["en"]
    long_pairs = [p for p in _pairs(dev, "en", 50) if len(p[0]) > 150][:3]
    assert len(long_pairs) == 3
    full = CausalLMAdapter.load(str(tiny_causal), max_length=256)
    for premise, hypothesis in long_pairs:
        cut, whole = adapter._encode(premise, hypothesis, verbaliser), full._encode(premise, hypothesis, verbaliser)
        assert cut.truncated and not whole.truncated
        assert max(len(cut.context) + len(c) for c in cut.continuations) <= 40
        assert whole.context[-len(cut.context):] == cut.context, "the premise loses tokens from its left only"
        assert all(whole.continuations[k][:len(c)] == c for k, c in enumerate(cut.continuations))
    adapter.predict(long_pairs + _pairs(dev, "en", 1), language="en")
    assert adapter.stats["pairs"] == len(long_pairs) + 1 and adapter.stats["truncated"] >= len(long_pairs)
    with pytest.raises(ModelError, match="leaves no room"):
        CausalLMAdapter.load(str(tiny_causal), max_length=4).predict(long_pairs, language="en")


def test_a_too_long_hypothesis_loses_its_end_never_its_label_word() -> None:
    from adapters.causal_lm import _truncated

    ctx = list(range(1, 11))
    conts = ([20, 21, 30, 31, 32], [22, 30, 31, 32], [23, 24, 25, 30, 31, 32])  # label tokens, then 30 31 32
    labels = (2, 1, 3)
    fits = _truncated([0], ctx, conts, 8, labels)  # the premise alone is cut: 1 + 1 + 6 tokens
    assert fits.context == [0, 10] and fits.continuations == conts and fits.truncated
    tail = _truncated([0], ctx, conts, 6, labels)  # two hypothesis tokens go, from each continuation
    assert tail.context == [0, 10] and tail.continuations == ([20, 21, 30], [22, 30], [23, 24, 25, 30])
    with pytest.raises(ModelError, match="leaves no room"):
        _truncated([0], ctx, conts, 5, labels)
    assert not _truncated([0], ctx, conts, 17, labels).truncated


def test_precision_options_are_refused_with_a_clear_message(tiny_causal: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    for option in (["--quantize", "int8"], ["--dtype", "bf16"], ["--runtime", "onnxruntime"]):
        code = main(["bench", str(tiny_causal), "--adapter", "causal-lm", *option, "--limit", "1", "--languages", "en",
                     "--no-cache", "--no-progress", "--out", str(tmp_path / "out")])
        assert code == 2
        assert f"{' '.join(option)} is not offered by the causal-lm adapter (only by: hf)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bench_scores_all_15_languages_and_records_the_prompt(tiny_causal: Path, tmp_path: Path,
                                                              data_root: Path) -> None:
    from harness.core.record import load_record

    out = tmp_path / "run"
    assert main(["bench", str(tiny_causal), "--adapter", "causal-lm", "--source", "local", "--data-dir", str(data_root),
                 "--limit", "3", "--no-cache", "--no-progress", "--batch-size", "7", "--out", str(out)]) == 0
    record = load_record(out / "result.json")  # validates against the schema
    assert record["data"]["languages"] == sorted(LANGUAGES)
    assert set(record["results"]["clean"]["per_language"]) == set(LANGUAGES)
    model = record["model"]
    assert model["adapter"] == "causal-lm" and model["label_map_source"] == "verbaliser"
    assert model["prompt"]["sha256"] == xnli_prompt.PROMPT_SHA256
    assert model["prompt"]["verbalisers"]["zh"]["entailment"] == "是的"
    assert record["truncation"]["pairs"] == 45


def test_bench_group_of_mixed_languages_matches_one_language_at_a_time(causal: CausalLMAdapter,
                                                                        dev: dict[str, list[NLIExample]]) -> None:
    """`bench` scores several units per call; each language must still get its own prompt."""
    from harness.scoring.bench import TimedAdapter

    items = [e for lang in ("en", "fr", "th") for e in dev[lang][:4]]
    items = items[::2] + items[1::2]  # interleaved languages
    probs = TimedAdapter(causal, lambda _: None).predict("mixed", items)
    for k, e in enumerate(items):
        np.testing.assert_allclose(probs[k], causal.predict([(e.premise, e.hypothesis)], language=e.language)[0], atol=1e-6)


class Recorder:
    """A fake adapter that records each call's language."""

    def __init__(self, language_dependent: bool) -> None:
        self.calls: list[tuple[int, str | None]] = []
        self.dependent = language_dependent

    def predict(self, pairs: Sequence[tuple[str, str]], language: str | None = None) -> np.ndarray:
        self.calls.append((len(pairs), language))
        return np.array([[float(len(p)), float(len(h)), 0.0] for p, h in pairs], dtype=np.float32)

    def identity(self) -> dict[str, Any]:
        return {"language_dependent": self.dependent}


def test_calls_are_split_by_language_only_for_language_dependent_adapters() -> None:
    from harness.scoring.bench import TimedAdapter

    items = [NLIExample(str(i), lang, "p" * i, "h" * (i + 1), 0) for i, lang in enumerate(["en", "fr", "en", "th", "fr"])]
    prompted, classifier = Recorder(True), Recorder(False)
    want = np.array([[i, i + 1, 0] for i in range(5)], dtype=np.float32)
    np.testing.assert_array_equal(TimedAdapter(prompted, lambda _: None).predict("x", items), want)
    assert prompted.calls == [(2, "en"), (2, "fr"), (1, "th")]
    np.testing.assert_array_equal(TimedAdapter(classifier, lambda _: None).predict("x", items), want)
    TimedAdapter(classifier, lambda _: None).predict("x", items[:1])
    assert classifier.calls == [(5, None), (1, "en")], "a classifier gets one call, as before"


def test_cache_keys_on_language_for_prompted_models_only(causal: CausalLMAdapter, tiny_bert: Path, tmp_path: Path,
                                                         dev: dict[str, list[NLIExample]]) -> None:
    from adapters.hf import HFAdapter
    from adapters.cache import IDENTITY_KEYS, CachedAdapter, model_key, pair_key
    from harness.core.hashing import sha256_text

    pairs = _pairs(dev, "en", 5)
    cached = CachedAdapter(causal, tmp_path / "c.sqlite")
    np.testing.assert_allclose(cached.predict(pairs, language="en"), causal.predict(pairs, language="en"), atol=1e-6)
    french = cached.predict(pairs, language="fr")  # the same text under another language: never served English rows
    assert (cached.hits, cached.misses) == (0, 10)
    np.testing.assert_allclose(french, causal.predict(pairs, language="fr"), atol=1e-6)
    assert cached.key != model_key({k: causal.identity().get(k) for k in IDENTITY_KEYS}), "the prompt is in the key"

    hf = HFAdapter.load(str(tiny_bert))
    legacy = sha256_json({k: hf.identity().get(k) for k in IDENTITY_KEYS})  # the key before this adapter existed
    warm = CachedAdapter(hf, tmp_path / "hf.sqlite")
    assert warm.key == model_key(hf.identity()) == legacy
    warm.predict(pairs, language="en")
    again = CachedAdapter(HFAdapter.load(str(tiny_bert)), tmp_path / "hf.sqlite")
    again.predict(pairs)  # no language: the rows the language-tagged call stored are the same rows
    assert (again.hits, again.misses) == (5, 0)
    assert pair_key("Un chat.", "Le chat.") == sha256_text("Un chat.\x1fLe chat.")


def test_classifier_model_key_is_byte_identical_to_before() -> None:
    """Pinned from `harness/cache.py` as it was before prompts (commit b5f884c)."""
    from adapters.cache import model_key, pair_key

    identity = {"weights_sha256": "ab" * 32, "label_map": {"entailment": 0, "neutral": 1, "contradiction": 2},
                "max_length": 128, "precision": "float32", "adapter": "hf",
                "architecture": "BertForSequenceClassification", "device": "cpu", "id": "x"}
    assert model_key(identity) == "38efc0b9510e15bd0ea3a0249831d404d7a1d47e325548e909622e3dd0dbf185"
    assert pair_key("Un chat.", "Le chat.") == "c4bdd4bb47d5845ebf81c59e3349dc388f9242c0f88c61090dcd36c040835412"


def test_attack_wrapper_passes_the_attacked_language(data_root: Path) -> None:
    from attacks.textattack_compat import import_textattack, textattack_available

    if not textattack_available():
        pytest.skip("TextAttack not installed (make textattack)")
    import_textattack(data_root)
    from attacks import ta_parts

    model = Recorder(True)
    ta_parts.AdapterModelWrapper(model, "fr")([("p", "h")])
    with ta_parts.segmentation("th"):
        ta_parts.AdapterModelWrapper(model)([("p", "h")])
    ta_parts.AdapterModelWrapper(model)([("p", "h")])
    assert model.calls == [(1, "fr"), (1, "th"), (1, None)]


def test_both_backends_and_the_cache_wrapper_are_one_seam(causal: CausalLMAdapter, tiny_xlmr: Path,
                                                          tmp_path: Path) -> None:
    """Everything bench and attack use: predict (with the language), identity, stats; precisions
    only where a backend declares them."""
    from adapters.base import ModelAdapter, load_adapter
    from adapters.cache import CachedAdapter

    classifier = load_adapter("hf", str(tiny_xlmr))
    wrapped = CachedAdapter(causal, tmp_path / "cache.sqlite")
    for adapter in (classifier, causal, wrapped):
        assert isinstance(adapter, ModelAdapter)
        assert set(adapter.stats) >= {"pairs", "truncated"}
        assert "max_length" in adapter.identity() and "adapter" in adapter.identity()
    assert set(type(classifier).precisions) == {"int8", "bf16", "onnxruntime"}
    assert not getattr(type(causal), "precisions", ())
