"""`xnli-robust export --format hf`, `datasets.load_dataset` on the export, `bench --benchmark` on it.

Tiny benchmarks are generated from real XNLI rows of the data mirror into tmp folders (their
texts never leave them), exported, and read back with `datasets` offline, config by config and
row by row, against the generated folder's own files.  `bench` scores the export and the folder
with a tiny model and must write the same record and the same predictions; a tampered export is
refused like a tampered folder.  The `datasets` cache goes to the test's tmp folder.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import generate_small_benchmark

from attacks.base import NOT_APPLICABLE
from harness import LANGUAGES
from harness.cli import main
from harness.core.errors import IntegrityError
from harness.core.examples import NLIExample
from harness.core.hashing import sha256_file
from harness.data.benchmark import MANIFEST, benchmark_hash, manifest_bytes, verify
from harness.data.hf_dataset import CARD, read_card_header

LANGS = ["en", "th"]
CONFIGS = {"clean", "char_noise-low", "char_noise-high", "code_switch-medium"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A real benchmark: 9 items in en and th; char noise (low, high), word code-switching (medium)."""
    return generate_small_benchmark(tmp_path_factory.mktemp("export") / "tiny", data_root, LANGS, 9, 5)


@pytest.fixture(scope="module")
def exported(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export-out") / "tiny-hf"
    assert main(["export", str(folder), "--format", "hf", "--out", str(out)]) == 0
    return out


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The datasets cache for this test only (conftest already moved HF_HOME out of the real home)."""
    cache = tmp_path / "hf-datasets-cache"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    return cache


def records(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load(folder: Path, config: str | None, cache: Path, **kwargs: Any) -> Any:
    import datasets

    return datasets.load_dataset(str(folder), config, cache_dir=str(cache), **kwargs)


# ------------------------------------------------------------------ the exported folder


def test_export_is_the_folder_byte_for_byte_plus_a_card(folder: Path, exported: Path) -> None:
    ours = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    theirs = {p.relative_to(exported).as_posix() for p in exported.rglob("*") if p.is_file()}
    assert theirs == ours | {CARD}
    assert all((exported / rel).read_bytes() == (folder / rel).read_bytes() for rel in ours)
    report, original = verify(exported), verify(folder)
    assert report.form == "hf-datasets" and original.form == "folder"
    assert report.benchmark_hash == original.benchmark_hash and report.n_files == original.n_files
    header = read_card_header(exported / CARD)
    assert header["xnli_robust"]["benchmark_hash"] == original.benchmark_hash
    assert header["xnli_robust"]["manifest_sha256"] == sha256_file(folder / MANIFEST)
    card = (exported / CARD).read_text(encoding="utf-8")
    for rel, entry in original.manifest["files"].items():  # every per-file hash is in the card
        assert f"`{rel}`" in card and entry["sha256"] in card
    assert "None measured: no committed audit" in card and "## Coverage" in card and "## Licences" in card
    assert not list(exported.parent.glob(".tiny-hf.*")), "no temporary folder is left beside the export"


def test_every_config_loads_offline_with_the_folders_rows(folder: Path, exported: Path, hf_cache: Path) -> None:
    from datasets import Value

    header = read_card_header(exported / CARD)
    assert {c["config_name"] for c in header["configs"]} == CONFIGS
    changed = 0
    for config in CONFIGS:
        loaded = load(exported, config, hf_cache)
        assert set(loaded) == set(LANGS)
        for lang in LANGS:
            rel = "clean" if config == "clean" else config.replace("-", "/")
            want = records(folder / rel / f"{lang}.jsonl")
            split = loaded[lang]
            assert split.num_rows == len(want) == 9
            assert split.to_list() == want
            assert all(f == Value("string") for f in split.features.values())
            if config != "clean":
                changed += sum(r["premise"] != r["orig_premise"] or r["hypothesis"] != r["orig_hypothesis"] for r in want)
    assert changed > 0, "the perturbed configs hold perturbed text"
    default = load(exported, None, hf_cache, split="th")  # `clean` is the default config
    assert default.to_list() == records(folder / "clean" / "th.jsonl")
    assert any(hf_cache.rglob("*.arrow")), "datasets wrote its cache where the test told it to"


# ------------------------------------------------------------------ bench on the export


def bench(model: Path, benchmark: Path, out: Path) -> int:
    return main(["bench", str(model), "--benchmark", str(benchmark), "--out", str(out), "--no-progress",
                 "--no-cache", "--allow-unpinned"])


def test_bench_on_the_export_equals_bench_on_the_folder(folder: Path, exported: Path, tiny_bert: Path,
                                                        tmp_path: Path, one_torch_thread: None) -> None:
    assert bench(tiny_bert, folder, tmp_path / "folder") == 0
    assert bench(tiny_bert, exported, tmp_path / "export") == 0
    a, b = (json.loads((tmp_path / run / "result.json").read_text()) for run in ("folder", "export"))
    assert a["results"] == b["results"] and a["data"] == b["data"]
    assert {k for k in a if a[k] != b[k]} <= {"timing", "created"}
    assert a["data"]["benchmark"]["verified"] is True and a["data"]["n_items"] == {"en": 9, "th": 9}
    assert set(a["results"]["perturbed"]["families"]) == {"char_noise", "code_switch"}
    pa, pb = ((tmp_path / run / "predictions.jsonl.gz").read_bytes() for run in ("folder", "export"))
    assert pa == pb and a["predictions"]["sha256"] == b["predictions"]["sha256"]
    assert len(gzip.decompress(pa).splitlines()) == 9 * 2 * 4  # 2 languages x (clean + 3 perturbed sets)
    subs, page = tmp_path / "subs", tmp_path / "LB.md"  # the leaderboard reads gold labels from the export
    assert main(["submit", str(tmp_path / "export"), "--name", "Tiny", "--benchmark", str(exported),
                 "--allow-unpinned", "--submissions", str(subs), "--page", str(page)]) == 0
    assert main(["leaderboard", "--submissions", str(subs), "--page", str(page), "--benchmark", str(exported)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "[Tiny](../submissions/Tiny/)" in text and "xnli-robust-test-v0-tiny (unpinned)" in text
    assert "Not listed" not in text


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    path.write_bytes(bytes(data))


def _rehash(root: Path, rel: str) -> None:
    """Rewrite the manifest so it agrees with a changed file: the tampering `verify` alone cannot see."""
    manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    manifest["files"][rel] = {"sha256": sha256_file(root / rel), "bytes": (root / rel).stat().st_size}
    manifest["benchmark_hash"] = benchmark_hash(manifest["files"])
    (root / MANIFEST).write_bytes(manifest_bytes(manifest))


def _repoint(root: Path) -> None:
    card = (root / CARD).read_text(encoding="utf-8")
    (root / CARD).write_text(card.replace("    path: clean/en.jsonl", "    path: clean/th.jsonl", 1), encoding="utf-8")


TAMPERING = {
    "item byte": (lambda root: _flip_byte(root / "char_noise/low/en.jsonl"),
                  "char_noise/low/en.jsonl: sha256"),
    "manifest rewritten to match": (lambda root: (_flip_byte(root / "clean/th.jsonl"), _rehash(root, "clean/th.jsonl")),
                                    "README.md: xnli_robust.benchmark_hash is"),
    "card points a split at another file": (_repoint,
                                            "README.md: config 'clean' split 'en' reads 'clean/th.jsonl'; "
                                            "the manifest's file is 'clean/en.jsonl'"),
    "unlisted file": (lambda root: (root / "clean" / "extra.jsonl").write_text("{}\n"),
                      "clean/extra.jsonl: present but not in the manifest"),
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_a_tampered_export_is_refused(how: str, exported: Path, tiny_bert: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    copy = shutil.copytree(exported, tmp_path / "copy")
    tamper, message = TAMPERING[how]
    tamper(copy)
    assert bench(tiny_bert, copy, tmp_path / "out") == 3
    err = capsys.readouterr().err
    assert "benchmark verification failed" in err and message in err
    assert not (tmp_path / "out").exists()


def test_the_export_fails_verification_with_the_folders_message(folder: Path, exported: Path, tmp_path: Path) -> None:
    """The same change gives the same problem lines on the folder and on its export."""
    problems = []
    for name, root in (("f", folder), ("e", exported)):
        copy = shutil.copytree(root, tmp_path / name)
        _flip_byte(copy / "code_switch/medium/th.jsonl")
        with pytest.raises(IntegrityError) as caught:
            verify(copy)
        problems.append(str(caught.value).split("\n", 1)[1])
    assert problems[0] == problems[1] and "code_switch/medium/th.jsonl: sha256" in problems[0]


def test_what_a_hub_download_adds_is_not_a_problem(exported: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(exported, tmp_path / "copy")
    (copy / ".gitattributes").write_text("*.jsonl filter=lfs diff=lfs merge=lfs -text\n")
    (copy / ".cache" / "huggingface" / "download").mkdir(parents=True)
    (copy / ".cache" / "huggingface" / "download" / "README.md.metadata").write_text("x\n")
    assert verify(copy).benchmark_hash == verify(exported).benchmark_hash


def test_a_readme_that_is_no_card_is_refused(folder: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(folder, tmp_path / "copy")
    (copy / CARD).write_text("---\ntitle: notes\n---\nmy notes\n")
    with pytest.raises(IntegrityError, match="not an xnli-robust data card"):
        verify(copy)


# ------------------------------------------------------------------ refusals, atomicity


def test_export_refuses_bad_output_and_bad_benchmarks(folder: Path, exported: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    before = (exported / CARD).read_bytes()
    assert main(["export", str(folder), "--out", str(exported)]) == 2  # exists
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert (exported / CARD).read_bytes() == before
    assert main(["export", str(folder), "--out", str(folder / "hf")]) == 2
    assert "overlaps the benchmark" in capsys.readouterr().err and not (folder / "hf").exists()
    bad = shutil.copytree(folder, tmp_path / "bad")
    _flip_byte(bad / "clean/en.jsonl")
    assert main(["export", str(bad), "--out", str(tmp_path / "bad-hf")]) == 3
    assert "verification failed" in capsys.readouterr().err and not (tmp_path / "bad-hf").exists()


def test_unknown_format_is_an_argparse_error(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["export", str(folder), "--format", "parquet", "--out", str(tmp_path / "p")])
    assert caught.value.code == 2 and not (tmp_path / "p").exists()


def test_overwrite_replaces_and_a_failed_export_leaves_nothing(folder: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.generate.export as export

    out = tmp_path / "hf"
    out.mkdir()
    (out / "old.txt").write_text("old\n")
    assert main(["export", str(folder), "--out", str(out), "--overwrite", "--no-check"]) == 0
    assert not (out / "old.txt").exists() and verify(out).form == "hf-datasets"

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "read_back", interrupted)
    assert main(["export", str(folder), "--out", str(tmp_path / "never")]) == 130
    assert main(["export", str(folder), "--out", str(out), "--overwrite"]) == 130
    assert not (tmp_path / "never").exists() and verify(out).form == "hf-datasets"
    assert not list(tmp_path.glob(".never.*")) and not list(tmp_path.glob(".hf.*"))


def test_a_row_datasets_reads_otherwise_stops_the_export(folder: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The read-back compares rows, not counts: one changed field is found and nothing is published."""
    import datasets

    real = datasets.load_dataset

    def relabel_fourth(row: dict[str, Any], i: int) -> dict[str, str]:
        other = "entailment" if row["label"] == "neutral" else "neutral"
        return {"label": other if i == 3 else row["label"]}

    def one_row_off(path: str, name: str | None = None, **kwargs: Any) -> Any:
        loaded = real(path, name, **kwargs)
        if name == "char_noise-high":
            loaded["th"] = loaded["th"].map(relabel_fourth, with_indices=True)
        return loaded

    monkeypatch.setattr(datasets, "load_dataset", one_row_off)
    assert main(["export", str(folder), "--out", str(tmp_path / "hf")]) == 3
    err = capsys.readouterr().err
    assert "char_noise/high/th.jsonl: datasets reads it (config 'char_noise-high', split 'th')" in err
    assert "row 4 differs" in err and not (tmp_path / "hf").exists() and not list(tmp_path.glob(".hf.*"))


# ------------------------------------------------------------------ shapes Arrow must survive


def test_rows_without_a_genre_load_as_strings(data_root: Path, tmp_path: Path, hf_cache: Path) -> None:
    """XNLI dev rows have no genre: written as null in every row, typed string by the card."""
    from harness.data.spec import parse_spec
    from harness.generate.export import export_hf
    from harness.generate.run import generate

    spec = parse_spec({"name": "xnli-robust-test", "version": "0", "seed": 3, "split": "dev", "languages": ["sw"],
                       "sizes": {"tiny": {"per_language": 6, "stratify": ["label"]}},
                       "families": {"char_noise": {"severities": ["low"], "languages": "all", "similarity": None}}})
    bench_dir = generate(tmp_path / "dev", size="tiny", spec=spec, data_root=data_root, progress=False).out_dir
    assert {r["genre"] for r in records(bench_dir / "clean" / "sw.jsonl")} == {None}
    report = export_hf(bench_dir, tmp_path / "dev-hf")
    assert report.checked and report.rows == {"clean": {"sw": 6}, "char_noise-low": {"sw": 6}}
    loaded = load(tmp_path / "dev-hf", "char_noise-low", hf_cache, split="sw")
    assert loaded.features["genre"].dtype == "string" and set(loaded["genre"]) == {None}
    assert loaded.to_list() == records(bench_dir / "char_noise" / "low" / "sw.jsonl")


class NeverInThai:
    """Upper-cases the hypothesis; not applicable to any Thai item, so the Thai unit is empty."""

    family, version, severity = "never_th", "1", "low"
    name = "never_th-low"
    languages = frozenset(LANGUAGES)

    def __init__(self, language: str) -> None:
        self.language = language

    def params(self) -> dict[str, Any]:
        return {}

    def resource_files(self) -> dict[str, str]:
        return {}

    def perturb(self, ex: NLIExample, rng: random.Random) -> NLIExample | Any:
        return NOT_APPLICABLE if ex.language == "th" else ex.with_texts(ex.premise, ex.hypothesis.upper())


def never_in_thai(family: str, severity: str, language: str, data_root: Path) -> NeverInThai:
    return NeverInThai(language)


def test_a_unit_with_no_kept_item_is_no_split(data_root: Path, tmp_path: Path, hf_cache: Path) -> None:
    """`datasets` cannot load an empty split: the empty unit is left out of its config, still hashed."""
    from harness.data.spec import parse_spec
    from harness.generate.export import export_hf
    from harness.generate.run import generate

    spec = parse_spec({"name": "xnli-robust-test", "version": "0", "seed": 3, "split": "test", "languages": LANGS,
                       "sizes": {"tiny": {"per_language": 6, "stratify": ["label"]}},
                       "families": {"never_th": {"severities": ["low"], "languages": "all", "similarity": None}}})
    bench_dir = generate(tmp_path / "b", size="tiny", spec=spec, data_root=data_root, builder=never_in_thai,
                         progress=False).out_dir
    assert (bench_dir / "never_th" / "low" / "th.jsonl").read_bytes() == b""
    report = export_hf(bench_dir, tmp_path / "b-hf")
    assert report.rows == {"clean": {"en": 6, "th": 6}, "never_th-low": {"en": 6}}
    assert set(load(tmp_path / "b-hf", "never_th-low", hf_cache)) == {"en"}
    card = (tmp_path / "b-hf" / CARD).read_text(encoding="utf-8")
    assert "Units with no kept item" in card and "never_th/low/th" in card
    assert verify(tmp_path / "b-hf").n_files == verify(bench_dir).n_files


# ------------------------------------------------------------------ validity from committed audits


def test_the_card_reports_committed_audits(folder: Path, tmp_path: Path) -> None:
    from harness.generate.export import export_hf

    bench_id = "xnli-robust-test-v0-tiny"
    audits = tmp_path / "audits" / bench_id
    audits.mkdir(parents=True)
    lines = []
    for severity in ("low", "high"):
        for r in records(folder / "char_noise" / severity / "en.jsonl"):
            kept = r["id"] != records(folder / "clean" / "en.jsonl")[0]["id"]
            lines.append({"benchmark": bench_id, "family": "char_noise", "severity": severity, "language": "en",
                          "id": r["id"], "label_preserved": "yes" if kept else "no", "meaning": "same" if kept else "broken",
                          "fluency": "fine", "note": "" if kept else "typo made another word"})
    (audits / "en.audit.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines))
    export_hf(folder, tmp_path / "hf", audits_dir=tmp_path / "audits", check=False)
    card = (tmp_path / "hf" / CARD).read_text(encoding="utf-8")
    assert "Measured by reading (18 items judged" in card and "0 of 1 cells meet the inclusion bar" in card
    assert "| char_noise | en | 18 | 89 [" in card and "only 18 items judged (needs 30)" in card
    assert "the audited items may differ" in card  # an unpinned benchmark: the caveat is there
