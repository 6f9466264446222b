"""The fixed-benchmark machinery: spec, lite selection, generation, resume, manifest, verify, audit.

Generation runs on the real XNLI files from the data mirror with two small fake perturbation
families defined here (deterministic, driven only by the RNG they are given) and a fake
similarity scorer, so these tests need neither the real families nor the e5 encoder.
Everything the spawned worker processes unpickle lives at module level.
"""

from __future__ import annotations

import csv
import difflib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from attacks.base import NOT_APPLICABLE, SEVERITIES
from harness import LABELS, LANGUAGES
from harness.data.benchmark import MANIFEST, PARTIAL_SUFFIX, PROGRESS, load_benchmark, verify
from harness.data.spec import BenchmarkSpec, SizeSpec, load_spec, parse_spec, spec_units
from harness.generate.audit import audit
from harness.generate.run import generate
from harness.generate.select import select_items
from harness.data.xnli import load_local
from harness.core.errors import DataError, IntegrityError
from harness.core.examples import NLIExample
from harness.core.hashing import sha256_file

FAKE_LANGUAGES = ["en", "fr", "th"]
FAIL_ON_ENV = "XNLI_ROBUST_TEST_FAIL_ON"


# ------------------------------------------------------------------ fake perturbations


class _FakeBase:
    family = ""
    version = "1"

    def __init__(self, severity: str, language: str) -> None:
        self.severity, self.language = severity, language
        self.name = f"{self.family}-{severity}"
        self.languages = frozenset(LANGUAGES)

    def params(self) -> dict[str, Any]:
        return {"edits": SEVERITIES.index(self.severity) + 1}

    def resource_files(self) -> dict[str, str]:
        return {}


class FakeReverse(_FakeBase):
    """Reverses 1-3 hypothesis words; not applicable to every 7th item (by id)."""

    family = "fake_reverse"

    def resource_files(self) -> dict[str, str]:
        root = Path(os.environ.get("XNLI_ROBUST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
        return {"xnli": str(root / "xnli" / f"test-{self.language}.tsv.gz")}

    def perturb(self, ex: NLIExample, rng: random.Random) -> NLIExample | Any:
        if int(ex.id) % 7 == 0:
            return NOT_APPLICABLE
        words = ex.hypothesis.split(" ")
        for _ in range(self.params()["edits"]):
            i = rng.randrange(len(words))
            words[i] = words[i][::-1]
        return ex.with_texts(ex.premise, " ".join(words))


class FakeRepeat(_FakeBase):
    """Repeats one premise word per edit (changes only the premise)."""

    family = "fake_repeat"

    def perturb(self, ex: NLIExample, rng: random.Random) -> NLIExample | Any:
        words = ex.premise.split(" ")
        for _ in range(self.params()["edits"]):
            i = rng.randrange(len(words))
            words.insert(i, words[i])
        return ex.with_texts(" ".join(words), ex.hypothesis)


class FakeRelabel(_FakeBase):
    """A broken perturbation: flips the label (must be refused)."""

    family = "fake_reverse"

    def perturb(self, ex: NLIExample, rng: random.Random) -> NLIExample:
        return NLIExample(ex.id, ex.language, ex.premise + "!", ex.hypothesis, (ex.label + 1) % 3, ex.genre)


def fake_build(family: str, severity: str, language: str, data_root: Path) -> Any:
    """The registry stand-in; raises for the unit named in $XNLI_ROBUST_TEST_FAIL_ON (a 'kill')."""
    if os.environ.get(FAIL_ON_ENV) == f"{family}/{severity}/{language}":
        raise RuntimeError("simulated interruption")
    if os.environ.get("XNLI_ROBUST_TEST_SLOW"):
        time.sleep(float(os.environ["XNLI_ROBUST_TEST_SLOW"]))
    return {"fake_reverse": FakeReverse, "fake_repeat": FakeRepeat}[family](severity, language)


def relabel_build(family: str, severity: str, language: str, data_root: Path) -> Any:
    return FakeRelabel(severity, language)


class FakeScorer:
    """Similarity = difflib ratio; factory signature `FakeScorer(threshold)` like SimilarityFilter."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def scores(self, originals: list[str], perturbed: list[str]) -> list[float]:
        return [difflib.SequenceMatcher(None, a, b).ratio() for a, b in zip(originals, perturbed)]

    def identity(self) -> dict[str, Any]:
        return {"name": "fake-difflib", "version": "1", "threshold": self.threshold}


class FakeEncoder:
    """Bag-of-character-bigrams unit vectors: exercises the encoder fast path deterministically."""

    def encode(self, texts: list[str]) -> Any:
        import numpy as np

        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for a, b in zip(text, text[1:]):
                out[row, (ord(a) * 31 + ord(b)) % 64] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


class FakeEncoderScorer(FakeScorer):
    encoder = FakeEncoder()

    def scores(self, originals: list[str], perturbed: list[str]) -> list[float]:
        a, b = self.encoder.encode(originals), self.encoder.encode(perturbed)
        return [float(x) for x in (a * b).sum(axis=1)]


def fake_spec(per_language: int | None = 30, expected: str | None = None, **overrides: Any) -> BenchmarkSpec:
    raw: dict[str, Any] = {
        "name": "fake-bench", "version": "1", "seed": 7, "split": "test", "languages": FAKE_LANGUAGES,
        "sizes": {"lite": {"per_language": per_language, "stratify": ["label", "genre"]}},
        "families": {
            "fake_reverse": {"severities": list(SEVERITIES), "languages": "all", "similarity": 0.93},
            "fake_repeat": {"severities": ["low", "high"], "languages": ["en", "th"], "similarity": None},
        },
        "resources": [],
        "expected_hashes": {"lite": expected},
    }
    raw.update(overrides)
    return parse_spec(raw)


def run(out: Path, data_root: Path, spec: BenchmarkSpec | None = None, processes: int = 1):
    return generate(out, size="lite", spec=spec or fake_spec(), data_root=data_root, processes=processes,
                    builder=fake_build, scorer_factory=FakeScorer, progress=False)


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """One benchmark generated in-process, the yardstick for every other run."""
    out = tmp_path_factory.mktemp("ref") / "bench"
    run(out, data_root)
    return out


# ------------------------------------------------------------------ spec


def test_committed_spec_is_valid_and_pins_existing_resources(data_root: Path) -> None:
    from attacks.registry import FAMILIES

    spec = load_spec()
    assert spec.id == "xnli-robust-v1.2"
    assert set(spec.families) <= set(FAMILIES)
    assert spec.size("lite") == SizeSpec("lite", 300, ("label", "genre"))
    assert spec.size("full").per_language is None
    assert set(spec.expected_hashes) == {"lite", "full"}
    assert spec.languages == LANGUAGES
    for rel, entry in spec.resources.items():
        assert entry.get("source") and entry.get("licence"), rel
        assert sha256_file(data_root / rel) == entry["sha256"], rel


def test_spec_hash_ignores_expected_hashes() -> None:
    assert fake_spec(expected=None).sha256 == fake_spec(expected="ab" * 32).sha256
    assert fake_spec().sha256 != fake_spec(seed=8).sha256


@pytest.mark.parametrize("change, message", [
    ({"families": {"f": {"severities": ["extreme"]}}}, "unknown severities"),
    ({"families": {"f": {"similarity": 1.5}}}, "similarity"),
    ({"families": {"f": {"languages": ["xx"]}}}, "languages"),
    ({"sizes": {"lite": {"per_language": 0}}}, "per_language"),
    ({"sizes": {"lite": {"per_language": 3, "stratify": ["length"]}}}, "stratify"),
])
def test_spec_errors_name_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError, match=message):
        fake_spec(**change)


# ------------------------------------------------------------------ lite selection


def test_lite_selection_is_stratified_seeded_and_stable(data_root: Path) -> None:
    english = load_local(data_root / "xnli", "test", ["en"])["en"]
    size = load_spec().size("lite")
    ids = select_items(english, size, seed=1)
    assert len(ids) == 300 and len(set(ids)) == 300
    assert ids == select_items(english, size, seed=1)
    assert ids != select_items(english, size, seed=2)
    by_id = {ex.id: ex for ex in english}
    cells: dict[tuple[int, str | None], int] = {}
    for item_id in ids:
        key = (by_id[item_id].label, by_id[item_id].genre)
        cells[key] = cells.get(key, 0) + 1
    assert len(cells) == 30 and set(cells.values()) == {10}  # 3 labels x 10 genres
    order = [ex.id for ex in english]
    assert ids == sorted(ids, key=order.index)  # file order, not selection order


def test_uneven_quota_is_split_by_largest_remainder(data_root: Path) -> None:
    english = load_local(data_root / "xnli", "test", ["en"])["en"]
    ids = select_items(english, SizeSpec("odd", 100, ("label",)), seed=3)
    labels = sorted(sum(1 for ex in english if ex.id in set(ids) and ex.label == k) for k in range(3))
    assert len(ids) == 100 and labels == [33, 33, 34]


def test_every_language_gets_the_same_items(reference: Path) -> None:
    bench = load_benchmark(reference, spec=fake_spec())
    ids = {lang: [ex.id for ex in bench.clean(lang)] for lang in FAKE_LANGUAGES}
    assert len(ids["en"]) == 30
    assert ids["en"] == ids["fr"] == ids["th"]
    labels = [ex.label for ex in bench.clean("th")]
    assert [labels.count(k) for k in range(3)] == [10, 10, 10]


# ------------------------------------------------------------------ generation


def test_generation_writes_every_unit_and_a_complete_manifest(reference: Path) -> None:
    manifest = json.loads((reference / MANIFEST).read_text(encoding="utf-8"))
    spec = fake_spec()
    units = spec_units(spec)
    assert len(units) == 3 * 3 + 2 * 2
    for unit in units:
        assert unit.relpath in manifest["files"]
        stats = manifest["units"][unit.key]["stats"]
        assert stats["n_items"] == 30
        assert stats["n_kept"] + stats["n_dropped_similarity"] + stats["n_not_applicable"] == 30
        assert stats["n_kept"] == len((reference / unit.relpath).read_text(encoding="utf-8").splitlines())
    reverse = manifest["families"]["fake_reverse"]
    assert reverse["similarity_threshold"] == 0.93
    assert reverse["n_dropped_similarity"] > 0 and 0 < reverse["drop_rate"] < 1
    assert manifest["families"]["fake_repeat"]["n_dropped_similarity"] == 0
    assert manifest["similarity_encoder"] == {"name": "fake-difflib", "version": "1"}
    assert manifest["units"]["fake_reverse/low/en"]["resources"]["xnli"]["path"] == "xnli/test-en.tsv.gz"
    assert not (reference / PROGRESS).exists()
    assert not reference.with_name(reference.name + PARTIAL_SUFFIX).exists()


def test_manifest_holds_nothing_machine_specific(reference: Path, data_root: Path) -> None:
    text = (reference / MANIFEST).read_text(encoding="utf-8")
    assert str(reference.parent) not in text and str(data_root) not in text
    assert "seconds" not in text


def test_records_keep_original_beside_perturbed_and_respect_threshold(reference: Path) -> None:
    lines = (reference / "fake_reverse/high/fr.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines:
        record = json.loads(line)
        assert list(record) == sorted(record)
        assert record["label"] in LABELS and record["language"] == "fr"
        assert record["premise"] == record["orig_premise"]
        assert record["hypothesis"] != record["orig_hypothesis"]
        assert "similarity" not in record  # floats stay out of the hashed item files
    sims = [json.loads(line) for line in (reference / "similarity/fake_reverse/high/fr.jsonl").read_text().splitlines()]
    assert {s["id"] for s in sims if s["kept"]} == {json.loads(line)["id"] for line in lines}
    assert all((s["similarity"] >= 0.93) == s["kept"] for s in sims)
    assert all(s["similarity"] == round(s["similarity"], 4) for s in sims)
    assert not (reference / "similarity/fake_repeat").exists()  # filter disabled for this family


def test_generation_is_deterministic_and_independent_of_processes(reference: Path, tmp_path: Path,
                                                                  data_root: Path) -> None:
    again = run(tmp_path / "again", data_root)
    parallel = run(tmp_path / "parallel", data_root, processes=2)
    assert tree_bytes(tmp_path / "again") == tree_bytes(reference)
    assert tree_bytes(tmp_path / "parallel") == tree_bytes(reference)
    assert again.benchmark_hash == parallel.benchmark_hash == verify(reference, spec=fake_spec()).benchmark_hash


def test_a_worker_runs_a_language_as_one_chain_longest_first() -> None:
    """Why: a worker keeps one language's clean embeddings, so a language split over two workers
    embeds its clean texts twice; with fewer languages than workers, units are spread singly."""
    from types import SimpleNamespace

    from harness.data.spec import Unit
    from harness.generate.run import _chains

    tasks = [SimpleNamespace(unit=Unit(family, "low", language))
             for language, families in (("ar", ["a", "b"]), ("en", ["a", "b", "c"]), ("fr", ["a"]))
             for family in families]
    chains = _chains(tasks, processes=2)  # type: ignore[arg-type]
    assert [[t.unit.language for t in chain] for chain in chains] == [["en"] * 3, ["ar"] * 2, ["fr"]]
    assert sorted((t.unit for chain in chains for t in chain), key=str) == sorted((t.unit for t in tasks), key=str)
    assert _chains(tasks[:2], processes=2) == [[tasks[0]], [tasks[1]]]  # type: ignore[arg-type]


def test_interrupted_generation_resumes_to_the_same_benchmark(reference: Path, tmp_path: Path,
                                                             data_root: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "bench"
    partial = out.with_name(out.name + PARTIAL_SUFFIX)
    monkeypatch.setenv(FAIL_ON_ENV, "fake_reverse/high/en")
    with pytest.raises(RuntimeError, match="fake_reverse/high/en failed: simulated interruption"):
        run(out, data_root)
    assert not out.exists()
    assert (partial / "fake_reverse/low/en.jsonl").is_file()
    assert not (partial / "fake_reverse/high/en.jsonl").exists()
    assert not list(partial.rglob("*.tmp")) and not (partial / MANIFEST).exists()
    with pytest.raises(IntegrityError, match="unfinished generation"):
        verify(out, spec=fake_spec())
    monkeypatch.delenv(FAIL_ON_ENV)
    report = run(out, data_root)
    assert "fake_reverse/low/en" in report.units_reused and "fake_reverse/high/en" in report.units_run
    assert tree_bytes(out) == tree_bytes(reference)


def test_resume_redoes_damaged_units_and_clears_stale_temp_files(reference: Path, tmp_path: Path,
                                                                 data_root: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "bench"
    partial = out.with_name(out.name + PARTIAL_SUFFIX)
    monkeypatch.setenv(FAIL_ON_ENV, "fake_repeat/high/th")  # the last unit (tasks run language by language)
    with pytest.raises(RuntimeError):
        run(out, data_root)
    monkeypatch.delenv(FAIL_ON_ENV)
    damaged = partial / "fake_reverse/medium/fr.jsonl"
    damaged.write_bytes(damaged.read_bytes()[:-5])  # as if a non-atomic writer had been killed
    (partial / "fake_reverse" / ".th.jsonl.abc123.tmp").write_text("half a line")
    report = run(out, data_root)
    assert "fake_reverse/medium/fr" in report.units_run
    assert tree_bytes(out) == tree_bytes(reference)


def test_resume_refuses_a_partial_run_of_another_spec(tmp_path: Path, data_root: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "bench"
    monkeypatch.setenv(FAIL_ON_ENV, "fake_reverse/low/th")
    with pytest.raises(RuntimeError):
        run(out, data_root)
    monkeypatch.delenv(FAIL_ON_ENV)
    with pytest.raises(DataError, match="different spec"):
        run(out, data_root, spec=fake_spec(seed=99))


def test_rerun_on_a_finished_benchmark_only_verifies(reference: Path) -> None:
    before = tree_bytes(reference)
    report = generate(reference, spec=fake_spec(), builder=fake_build, scorer_factory=FakeScorer, progress=False)
    assert report.units_run == [] and tree_bytes(reference) == before


def test_a_family_subset_is_a_separate_benchmark(tmp_path: Path, data_root: Path) -> None:
    spec = fake_spec(expected="ab" * 32)
    report = generate(tmp_path / "b", spec=spec, data_root=data_root, builder=fake_build,
                      scorer_factory=FakeScorer, families=["fake_repeat"], progress=False)
    assert {u.split("/")[0] for u in report.manifest["units"]} == {"fake_repeat"}
    assert report.manifest["spec"]["partial_of"] == spec.sha256
    with pytest.raises(DataError, match="not in spec"):
        generate(tmp_path / "c", spec=spec, data_root=data_root, families=["nope"], progress=False)


def test_a_perturbation_may_not_change_the_label(tmp_path: Path, data_root: Path) -> None:
    spec = fake_spec(families={"fake_reverse": {"severities": ["low"], "languages": ["en"]}})
    with pytest.raises(DataError, match="changed the id, label or language"):
        generate(tmp_path / "b", spec=spec, data_root=data_root, builder=relabel_build, progress=False)


def test_output_folder_with_foreign_files_is_refused(tmp_path: Path, data_root: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        run(tmp_path / "b", data_root)


# ------------------------------------------------------------------ verify


@pytest.fixture()
def copy(reference: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(reference, target)
    return target


def test_verify_passes_on_an_untouched_benchmark(copy: Path) -> None:
    report = verify(copy, spec=fake_spec())
    assert report.matches_spec is None and report.n_files == 13 + 9 + 3
    assert any("pins no hash" in note for note in report.notes)


def test_flipping_one_byte_fails_verify(copy: Path) -> None:
    target = copy / "fake_reverse/low/th.jsonl"
    data = bytearray(target.read_bytes())
    data[10] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="fake_reverse/low/th.jsonl: sha256"):
        verify(copy, spec=fake_spec())


def test_extra_and_missing_files_fail_verify(copy: Path) -> None:
    (copy / "clean" / "de.jsonl").write_text("{}\n")
    (copy / "fake_repeat/high/en.jsonl").unlink()
    with pytest.raises(IntegrityError) as info:
        verify(copy, spec=fake_spec())
    assert "clean/de.jsonl: present but not in the manifest" in str(info.value)
    assert "fake_repeat/high/en.jsonl: listed in the manifest but missing" in str(info.value)


def test_consistently_altered_benchmark_fails_against_the_spec_hash(copy: Path, reference: Path) -> None:
    real = verify(reference, spec=fake_spec()).benchmark_hash
    assert verify(copy, spec=fake_spec(expected=real)).matches_spec is True
    with pytest.raises(IntegrityError, match="differs from the hash spec"):
        verify(copy, spec=fake_spec(expected="0" * 64))


def test_similarity_sidecars_are_verified_but_not_part_of_the_identity(copy: Path, reference: Path) -> None:
    from harness.data.benchmark import benchmark_hash

    manifest = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    files = dict(manifest["files"])
    files["similarity/fake_reverse/low/en.jsonl"] = {"sha256": "0" * 64, "bytes": 1}
    assert benchmark_hash(files) == manifest["benchmark_hash"]
    sidecar = copy / "similarity/fake_reverse/low/en.jsonl"
    sidecar.write_text(sidecar.read_text().replace("0.9", "0.8", 1))
    with pytest.raises(IntegrityError, match="similarity/fake_reverse/low/en.jsonl"):
        verify(copy, spec=fake_spec())


def test_encoder_fast_path_matches_pairwise_scores_and_processes(tmp_path: Path, data_root: Path) -> None:
    spec = fake_spec(families={"fake_reverse": {"severities": ["low", "high"], "languages": ["en", "fr"],
                                                "similarity": 0.99}})
    runs = [generate(tmp_path / f"b{n}", spec=spec, data_root=data_root, processes=n, builder=fake_build,
                     scorer_factory=FakeEncoderScorer, progress=False) for n in (1, 2)]
    assert tree_bytes(tmp_path / "b1") == tree_bytes(tmp_path / "b2")
    assert runs[0].manifest["families"]["fake_reverse"]["n_dropped_similarity"] > 0
    bench = load_benchmark(tmp_path / "b1", spec=spec)
    scorer = FakeEncoderScorer(0.99)
    for item in bench.perturbed("fake_reverse", "high", "en")[:5]:
        pairwise = scorer.scores([item.original.hypothesis], [item.example.hypothesis])[0]
        assert item.similarity == pytest.approx(pairwise, abs=1e-4)


def test_manifest_hash_edit_is_caught(copy: Path) -> None:
    manifest = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    manifest["files"]["clean/en.jsonl"]["sha256"] = "0" * 64
    (copy / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IntegrityError, match="benchmark_hash in the manifest"):
        verify(copy, spec=fake_spec())


# ------------------------------------------------------------------ reading and audit


def test_load_benchmark_gives_clean_and_perturbed_items(reference: Path) -> None:
    bench = load_benchmark(reference, spec=fake_spec())
    assert bench.verified and bench.benchmark_hash == bench.manifest["benchmark_hash"]
    clean = {ex.id: ex for ex in bench.clean("en")}
    items = bench.perturbed("fake_reverse", "medium", "en")
    assert items and all(it.original == clean[it.example.id] for it in items)
    assert all(it.example.label == it.original.label for it in items)
    assert len(bench.units()) == 13


def test_unverified_loading_is_explicit(copy: Path) -> None:
    (copy / "clean" / "en.jsonl").write_bytes((copy / "clean" / "en.jsonl").read_bytes() + b"\n")
    with pytest.raises(IntegrityError):
        load_benchmark(copy, spec=fake_spec())
    assert load_benchmark(copy, verify_files=False).verified is False


def test_audit_writes_a_readable_sample_per_family_and_language(reference: Path, tmp_path: Path) -> None:
    target = tmp_path / "audit.csv"
    n = audit(reference, target, per_cell=4, seed=1, spec=fake_spec())
    with open(target, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    bench = load_benchmark(reference, spec=fake_spec())
    available: dict[tuple[str, str], int] = {}
    for unit in bench.units():
        key = (unit.family, unit.language)
        available[key] = available.get(key, 0) + len(bench.perturbed(*unit))
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        counts[(r["family"], r["language"])] = counts.get((r["family"], r["language"]), 0) + 1
    assert n == len(rows)
    assert counts == {key: min(4, have) for key, have in available.items() if have}
    assert ("fake_repeat", "th") in counts and ("fake_repeat", "fr") not in counts
    assert all(r["orig_hypothesis"] != r["hypothesis"] or r["orig_premise"] != r["premise"] for r in rows)
    assert all(r["similarity"] for r in rows if r["family"] == "fake_reverse")
    audit(reference, tmp_path / "again.csv", per_cell=4, seed=1, spec=fake_spec())
    assert (tmp_path / "again.csv").read_bytes() == target.read_bytes()


# ------------------------------------------------------------------ a real kill (slow)


_KILL_SCRIPT = """
import sys
sys.path[:0] = [{tests!r}]
from test_benchmark import fake_build, FakeScorer, fake_spec
from harness.generate.run import generate
generate({out!r}, spec=fake_spec(), data_root={root!r}, processes=2, builder=fake_build,
         scorer_factory=FakeScorer, progress=False)
"""


@pytest.mark.slow
def test_killed_generation_resumes_to_the_same_benchmark(reference: Path, tmp_path: Path,
                                                        data_root: Path) -> None:
    out = tmp_path / "bench"
    journal = out.with_name(out.name + PARTIAL_SUFFIX) / PROGRESS
    script = _KILL_SCRIPT.format(tests=str(Path(__file__).parent), out=str(out), root=str(data_root))
    env = {**os.environ, "XNLI_ROBUST_TEST_SLOW": "0.5"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(journal.glob("*__*.json"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole group: the generator and its workers
    proc.wait()
    assert not out.exists()
    report = run(out, data_root, processes=2)
    assert report.units_reused and tree_bytes(out) == tree_bytes(reference)
