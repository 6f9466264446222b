"""The benchmark reproduces byte for byte on any machine from a cold start (v1.1).

Three ways a v1 file depended on more than its own input, each pinned here:
- Apertium translated a line differently depending on the lines next to it, so an item's text
  depended on which items shared its batch (and hence on the translation cache's history);
- cache entries were trusted whatever produced them;
- float32 cosines move with the CPU kernel, the thread count and the batch, and a keep/drop
  decision next to the similarity threshold moved with them.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from attacks import translation as tr
from attacks.base import derive_rng
from attacks.registry import FAMILIES, build
from attacks.translation import ApertiumEngine, CachedEngine
from harness.generate.run import generate
from harness.data.spec import parse_spec
from harness.data.xnli import load_local

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def apertium() -> ApertiumEngine:
    if shutil.which("apertium") is None:
        pytest.fail(f"apertium is not installed; install it with: {tr.APERTIUM_INSTALL}")
    return ApertiumEngine()


def test_apertium_translates_each_segment_alone(apertium: ApertiumEngine) -> None:
    """The case found in v1: a line without a full stop ran into the next one."""
    alone = apertium.translate(["Nací en Fresno."], "es", "en")
    after = apertium.translate(["Algo sin punto final", "Nací en Fresno."], "es", "en")
    assert alone == ["I was born in Ash."] and after[1] == alone[0]
    cli = subprocess.run(["apertium", "-u", "spa-eng"], input="Nací en Fresno.", capture_output=True,
                         text=True, check=True).stdout
    assert tr.normalize_space(cli) == alone[0]  # the same text as the command line, segment alone


def test_apertium_batches_of_any_composition_agree(apertium: ApertiumEngine, data_root: Path) -> None:
    items = load_local(data_root / "xnli", "test", ["es"])["es"][:25]
    texts = [t for ex in items for t in (ex.premise, ex.hypothesis)]
    whole = dict(zip(texts, apertium.translate(texts, "es", "en")))
    shuffled = texts[::-1]
    random.Random(3).shuffle(shuffled)
    assert dict(zip(shuffled, apertium.translate(shuffled, "es", "en"))) == whole
    small = ApertiumEngine(chunk_size=7)
    assert dict(zip(texts, small.translate(texts, "es", "en"))) == whole
    assert {t: apertium.translate([t], "es", "en")[0] for t in texts[:8]} == {t: whole[t] for t in texts[:8]}


def _xnli_rows(data_root: Path, language: str) -> list[list[str]]:
    import gzip

    with gzip.open(data_root / "xnli" / f"test-{language}.tsv.gz", "rt", encoding="utf-8") as handle:
        return [line.rstrip("\n").split("\t") for line in handle]


def test_the_tagger_carried_state_and_the_fresh_tagger_protocol_does_not(data_root: Path) -> None:
    """The case found after v1.1: within one null-flush pipeline English row 45's hypothesis
    changes how the tagger reads "after" in row 49's (preposition, not conjunction).  Protocol 1
    shows it (that is why v1.1's files depend on the order of the work); protocol 3 (v1.2)
    gives the segment's translation alone, the same as `apertium -u` on it alone."""
    rows = _xnli_rows(data_root, "en")
    before, target = rows[45][1], rows[49][1]
    old = ApertiumEngine()
    assert old.translate([before, target], "en", "es")[1] != old.translate([target], "en", "es")[0]
    fresh = ApertiumEngine(protocol="fresh-tagger")
    alone = fresh.translate([target], "en", "es")[0]
    assert fresh.translate([before, target], "en", "es")[1] == alone
    cli = subprocess.run(["apertium", "-u", "eng-spa"], input=target, capture_output=True, text=True, check=True).stdout
    assert tr.normalize_space(cli) == alone


@pytest.mark.parametrize("src,tgt", sorted(tr.APERTIUM_V1_PAIRS))
def test_fresh_tagger_translations_are_functions_of_their_segment(src: str, tgt: str, data_root: Path) -> None:
    """v1.2's four directions: one batch, a shuffled one, small chunks and each segment alone agree."""
    rows = _xnli_rows(data_root, src)[40:58]  # English rows 45 and 49 are the case above
    texts = [t for row in rows for t in row[:2]]
    engine = ApertiumEngine(pairs=[(src, tgt)], protocol="fresh-tagger")
    whole = dict(zip(texts, engine.translate(texts, src, tgt)))
    shuffled = texts[::-1]
    random.Random(7).shuffle(shuffled)
    assert dict(zip(shuffled, engine.translate(shuffled, src, tgt))) == whole
    small = ApertiumEngine(pairs=[(src, tgt)], protocol="fresh-tagger", chunk_size=5)
    assert dict(zip(texts, small.translate(texts, src, tgt))) == whole
    assert {t: engine.translate([t], src, tgt)[0] for t in texts} == whole


FAMILY_LANGUAGES = {"char_noise": ["en", "th", "zh", "ar"], "synonym": ["en", "de", "hi"],
                    "code_switch": ["fr", "th", "zh"], "code_switch_sentence": ["en", "ur"],
                    "back_translation": ["en", "es", "fr"]}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_output_depends_on_its_own_input_only(family: str, data_root: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Each item alone, in a shuffled batch, with a cold cache and a warm one: the same output."""
    assert set(FAMILY_LANGUAGES) == set(FAMILIES), "a new family needs languages here"
    monkeypatch.setenv("XNLI_ROBUST_CACHE", str(tmp_path / "cache"))
    data = load_local(data_root / "xnli", "test", FAMILY_LANGUAGES[family])
    for language in FAMILY_LANGUAGES[family]:
        items = data[language][:10]
        results = []
        for order in (list(range(10)), [7, 2, 9, 0, 5, 1, 8, 3, 6, 4], list(range(10))):  # cold, shuffled, warm
            p = build(family, "high", language, data_root)
            batch = [items[i] for i in order]
            rngs = [derive_rng(1, family, "high", language, ex.id) for ex in batch]
            out = p.perturb_batch(batch, rngs) if hasattr(p, "perturb_batch") else [p.perturb(e, r) for e, r in zip(batch, rngs)]
            results.append({ex.id: repr(o) for ex, o in zip(batch, out)})
        p = build(family, "high", language, data_root)
        alone = {}
        for ex in items[:4]:
            rng = derive_rng(1, family, "high", language, ex.id)
            alone[ex.id] = repr(p.perturb_batch([ex], [rng])[0] if hasattr(p, "perturb_batch") else p.perturb(ex, rng))
        assert results[0] == results[1] == results[2], f"{family}/{language}: order or cache changed an output"
        assert alone == {k: results[0][k] for k in alone}, f"{family}/{language}: an item alone differs"


class Upper:
    name, version = "upper", "upper-1"
    pairs = frozenset({("en", "xx")})

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        return [t.upper() for t in texts]


def test_stale_and_corrupt_cache_entries_are_never_used(tmp_path: Path) -> None:
    cached = CachedEngine(Upper(), tmp_path, context="family==1")
    assert cached.translate(["a", "b"], "en", "xx") == ["A", "B"]
    entries = sorted(tmp_path.rglob("*.json"))
    assert len(entries) == 2
    forged = json.loads(entries[0].read_text(encoding="utf-8"))
    forged["translation"] = "FORGED"  # checksum no longer matches
    entries[0].write_text(json.dumps(forged), encoding="utf-8")
    other = CachedEngine(Upper(), tmp_path / "other", context="family==0")
    other.translate(["b"], "en", "xx")
    stale = next((tmp_path / "other").rglob("*.json"))
    shutil.copyfile(stale, entries[1])  # a valid entry, but made for another family version
    fresh = CachedEngine(Upper(), tmp_path, context="family==1")
    assert fresh.translate(["a", "b"], "en", "xx") == ["A", "B"] and fresh.rejected == 2
    again = CachedEngine(Upper(), tmp_path, context="family==1")
    assert again.translate(["a", "b"], "en", "xx") == ["A", "B"] and again.rejected == 0  # rewritten
    assert CachedEngine(Upper(), tmp_path, context="family==2").identity != again.identity


def _bt_spec() -> Any:
    return parse_spec({
        "name": "xnli-robust-test", "version": "0", "seed": 5, "split": "test", "languages": ["en", "es"],
        "sizes": {"tiny": {"per_language": 9, "stratify": ["label"]}},
        "families": {"back_translation": {"severities": ["low", "medium"], "languages": "all", "similarity": 0.9}},
    })


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.jsonl"))}


def test_a_unit_is_the_same_cold_warm_and_with_stale_entries(tmp_path: Path, data_root: Path, e5_encoder: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from attacks.similarity import SimilarityFilter

    monkeypatch.setenv("XNLI_ROBUST_CACHE", str(tmp_path / "cache"))
    runs = {}

    def run(name: str) -> None:
        runs[name] = generate(tmp_path / name, size="tiny", spec=_bt_spec(), data_root=data_root, progress=False,
                              scorer_factory=lambda t: SimilarityFilter(t, e5_encoder))

    run("cold")
    entries = sorted((tmp_path / "cache" / "translations").rglob("*.json"))
    assert entries, "back-translation wrote no cache entries"
    run("warm")
    for entry in entries[::2]:  # plant stale translations (valid JSON, wrong checksum)
        data = json.loads(entry.read_text(encoding="utf-8"))
        entry.write_text(json.dumps({**data, "translation": "Ein ganz anderer Satz."}), encoding="utf-8")
    run("stale")
    assert _files(tmp_path / "cold") == _files(tmp_path / "warm") == _files(tmp_path / "stale")
    assert runs["cold"].benchmark_hash == runs["warm"].benchmark_hash == runs["stale"].benchmark_hash


KERNEL_SCRIPT = r"""
import json, sys, torch
from pathlib import Path
from attacks.similarity import SentenceEncoder, SimilarityFilter
from harness.generate.run import generate
from harness.data.spec import parse_spec
from harness.data.xnli import load_local
from attacks.charnoise import noise_text
import random
model_dir, data_root, out = sys.argv[1:4]
enc = SentenceEncoder(Path(model_dir), batch_size=int(sys.argv[4]))
spec = parse_spec({
    "name": "xnli-robust-test", "version": "0", "seed": 11, "split": "test", "languages": ["en", "ar", "zh"],
    "sizes": {"tiny": {"per_language": 12, "stratify": ["label"]}},
    "families": {"char_noise": {"severities": ["high"], "languages": "all", "similarity": 0.9},
                 "synonym": {"severities": ["low"], "languages": "all", "similarity": 0.9}},
})
report = generate(Path(out), size="tiny", spec=spec, data_root=data_root, progress=False,
                  scorer_factory=lambda t: SimilarityFilter(t, enc))
items = load_local(Path(data_root) / "xnli", "test", ["en"])["en"][:20]
rng = random.Random(2)
noisy = [noise_text(e.hypothesis, "en", 0.4, rng) for e in items]
flt = SimilarityFilter(0.9, enc)
print(json.dumps({"hash": report.benchmark_hash, "capability": torch.backends.cpu.get_cpu_capability(),
                  "threads": torch.get_num_threads(),
                  "fp32": flt.scores([e.hypothesis for e in items], noisy),
                  "fp64": flt.exact_scores([e.hypothesis for e in items], noisy)}))
"""


def _kernel_settings() -> list[dict[str, str]]:
    settings = [{"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "OMP_NUM_THREADS": "1", "BATCH": "1"},
                {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "OMP_NUM_THREADS": "2", "BATCH": "32"}]
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    if "avx512f" in flags:
        settings.append({"ATEN_CPU_CAPABILITY": "avx512", "MKL_ENABLE_INSTRUCTIONS": "AVX512", "OMP_NUM_THREADS": "2", "BATCH": "7"})
    return settings


def test_kernels_threads_and_batches_do_not_change_the_benchmark(tmp_path: Path, data_root: Path, e5_encoder: Any) -> None:
    """Generation under other instruction sets (torch's ATEN_CPU_CAPABILITY and MKL's), thread
    counts and encoder batch sizes gives the same files; float64 cosines agree to 1e-12 where
    float32 ones need not."""
    results = []
    for i, setting in enumerate(_kernel_settings()):
        env = {**os.environ, **{k: v for k, v in setting.items() if k != "BATCH"}, "PYTHONPATH": str(REPO)}
        proc = subprocess.run([sys.executable, "-c", KERNEL_SCRIPT, str(e5_encoder.model_dir), str(data_root),
                               str(tmp_path / f"run{i}"), setting["BATCH"]],
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        assert result["capability"] == setting["ATEN_CPU_CAPABILITY"].upper()
        results.append(result)
    first = results[0]
    for other in results[1:]:
        assert other["hash"] == first["hash"]
        assert max(abs(a - b) for a, b in zip(first["fp64"], other["fp64"])) < 1e-12
        assert max(abs(a - b) for a, b in zip(first["fp32"], other["fp32"])) < 1e-4  # small, not necessarily 0
    files = [_files(tmp_path / f"run{i}") for i in range(len(results))]
    assert all(f == files[0] for f in files[1:])


BERGAMOT_SCRIPT = r"""
import json, sys
from attacks.translation import BergamotEngine
texts = json.loads(sys.stdin.read())
print(json.dumps(BergamotEngine(threads=int(sys.argv[1])).translate(texts, "en", "pt")))
"""


def test_bergamot_output_does_not_depend_on_threads_or_batches(data_root: Path) -> None:
    """Python threads and the engine's own (rayon) threads: 1 against 2, batch against alone."""
    from attacks.translation import bergamot_cpu_path

    texts = [ex.hypothesis for ex in load_local(data_root / "xnli", "test", ["en"])["en"][:12]]
    outputs = []
    for threads in ("1", "2"):
        env = {**os.environ, "RAYON_NUM_THREADS": threads, "PYTHONPATH": str(REPO)}
        proc = subprocess.run([sys.executable, "-c", BERGAMOT_SCRIPT, threads], input=json.dumps(texts),
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outputs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    alone = tr.BergamotEngine(threads=1)
    assert outputs[0] == outputs[1]
    assert [alone.translate([t], "en", "pt")[0] for t in texts[:4]] == outputs[0][:4]
    assert bergamot_cpu_path() in tr.BergamotEngine().version


def test_a_failed_verification_names_files_causes_and_options(tmp_path: Path, data_root: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import generate_small_benchmark

    from harness.data.benchmark import read_manifest, verify
    from harness.data.spec import parse_spec, pinned_files_path
    from harness.generate.manifest import write_pinned_files
    from harness.core.errors import IntegrityError

    folder = generate_small_benchmark(tmp_path / "bench", data_root, ["en", "de"], 6, seed=4)
    manifest = read_manifest(folder)
    import harness.data.spec

    monkeypatch.setattr(harness.data.spec, "SPEC_DIR", tmp_path)
    spec = parse_spec({**manifest["spec"], "expected_hashes": {"tiny": "0" * 64}})
    write_pinned_files(manifest, pinned_files_path(spec, "tiny"), note="test pin")
    pin = json.loads(pinned_files_path(spec, "tiny").read_text(encoding="utf-8"))
    assert pin["benchmark_hash"] == manifest["benchmark_hash"] and "premise" not in json.dumps(pin)
    changed = sorted(r for r in pin["files"] if not r.startswith("clean/"))  # 6 unit files
    for rel in changed:
        pin["files"][rel] = "f" * 64
    pin["engines"] = {"char_noise/low/de": {"apertium": "apertium -u;line-stream"}}
    pinned_files_path(spec, "tiny").write_text(json.dumps(pin), encoding="utf-8")
    with pytest.raises(IntegrityError) as err:
        verify(folder, spec=spec)
    message = str(err.value)
    assert f"{len(changed)} of {len(pin['files'])} files differ from the pin" in message
    assert all(rel in message for rel in changed[:5]) and "more" in message  # at most 5 named
    assert "engine apertium is None here, the pin was made with 'apertium -u;line-stream'" in message
    assert "this machine's apertium is" in message
    assert "regenerate" in message and "--unverified" in message


def test_a_v1_folder_verifies_against_the_v1_spec() -> None:
    from harness.data.spec import committed_specs, load_spec, spec_for

    specs = committed_specs()
    assert {("xnli-robust", "1"), ("xnli-robust", "1.1"), ("xnli-robust", "1.2")} <= set(specs)
    assert spec_for({"benchmark": {"name": "xnli-robust", "version": "1"}}).id == "xnli-robust-v1"
    assert spec_for({"benchmark": {"name": "xnli-robust", "version": "1.1"}}).id == "xnli-robust-v1.1"
    assert spec_for({"benchmark": {"name": "xnli-robust", "version": "1.2"}}).id == "xnli-robust-v1.2"
    assert load_spec().id == "xnli-robust-v1.2"
    assert all("SUPERSEDED" in specs[("xnli-robust", v)].read_text(encoding="utf-8") for v in ("1", "1.1"))


def test_the_real_home_guard_sees_every_change(tmp_path: Path) -> None:
    import hermetic

    home = tmp_path / "home"
    (home / ".cache" / "xnli-robust").mkdir(parents=True)
    (home / ".cache" / "xnli-robust" / "a.json").write_text("{}", encoding="utf-8")
    (home / ".cargo").mkdir()
    before = hermetic.snapshot(home)
    (home / ".cache" / "xnli-robust" / "a.json").write_text('{"x": 1}', encoding="utf-8")
    (home / ".cache" / "new").write_text("", encoding="utf-8")
    (home / ".cargo" / "ignored").write_text("", encoding="utf-8")  # other tools' folders are skipped
    assert hermetic.changes(before, hermetic.snapshot(home)) == ["created .cache/new", "modified .cache/xnli-robust/a.json"]


def test_tests_run_with_a_temporary_home() -> None:
    from conftest import REAL_HOME, TEST_HOME

    from harness.core.paths import cache_root

    assert Path.home() == TEST_HOME != REAL_HOME
    assert not str(cache_root()).startswith(str(REAL_HOME) + os.sep) or str(TEST_HOME).startswith(str(REAL_HOME))
    for var in ("XDG_CACHE_HOME", "HF_HOME", "XNLI_ROBUST_CACHE", "TORCH_HOME", "MPLCONFIGDIR"):
        assert not Path(os.environ[var]).is_relative_to(REAL_HOME), var


def test_v12_lite_differs_from_v11_lite_only_in_back_translation() -> None:
    """v1.2 changed how Apertium runs and nothing else: every other file keeps v1.1's sha256."""
    from harness.data.spec import SPEC_DIR, load_spec, read_pinned_files

    v11, v12 = (read_pinned_files(load_spec(SPEC_DIR / f"xnli-robust-v{v}.yaml"), "lite") for v in ("1.1", "1.2"))
    assert v11 is not None and v12 is not None and set(v11["files"]) == set(v12["files"])
    changed = {rel for rel in v12["files"] if v12["files"][rel] != v11["files"][rel]}
    assert changed and all(rel.startswith("back_translation/") for rel in changed)


@pytest.mark.parametrize("version, protocol", [("1.1", "null-flush-per-segment-1"),
                                               ("1.2", "fresh-tagger-per-segment-3-pipefail")])
def test_the_lite_pin_is_complete_and_consistent(version: str, protocol: str) -> None:
    """The committed per-file pin of lite hashes to the spec's lite hash, covers exactly the
    spec's files and names the engine versions (Apertium's protocol too) of every machine-translated unit."""
    from harness.data.spec import SPEC_DIR, load_spec, read_pinned_files, spec_units
    from harness.core.hashing import sha256_json

    spec = load_spec(SPEC_DIR / f"xnli-robust-v{version}.yaml")
    pin = read_pinned_files(spec, "lite")
    assert pin is not None and spec.expected_hashes.get("lite")
    assert pin["benchmark_hash"] == spec.expected_hashes["lite"] == sha256_json(pin["files"])
    expected = {f"clean/{lang}.jsonl" for lang in spec.languages} | {u.relpath for u in spec_units(spec)}
    assert set(pin["files"]) == expected
    translated = {u.key for u in spec_units(spec) if u.family == "back_translation"}
    assert set(pin["engines"]) == translated
    apertium = [e["apertium"] for e in pin["engines"].values() if "apertium" in e]
    assert apertium and all(f";{protocol};" in version_ for version_ in apertium)


@pytest.mark.parametrize("language", ["en", "de", "ru", "zh"])
def test_synonym_v2_output_depends_on_its_own_input_only(language: str, data_root: Path) -> None:
    """The every-family check for synonym's rule set v2 (`rules: v2`), every severity."""
    items = load_local(data_root / "xnli", "test", [language])[language][:10]
    for severity in ("low", "medium", "high"):
        results = []
        for order in (list(range(10)), [7, 2, 9, 0, 5, 1, 8, 3, 6, 4]):
            p = build("synonym", severity, language, data_root, rules="v2")
            batch = [items[i] for i in order]
            rngs = [derive_rng(1, "synonym", severity, language, ex.id) for ex in batch]
            results.append({ex.id: repr(p.perturb(ex, r)) for ex, r in zip(batch, rngs)})
        p = build("synonym", severity, language, data_root, rules="v2")
        alone = {ex.id: repr(p.perturb(ex, derive_rng(1, "synonym", severity, language, ex.id))) for ex in items[:4]}
        assert results[0] == results[1], f"synonym v2/{language}/{severity}: order changed an output"
        assert alone == {k: results[0][k] for k in alone}, f"synonym v2/{language}/{severity}: an item alone differs"
