"""Benchmark v2's cells are chosen by code from a reading audit, never by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.core.errors import DataError
from harness.generate.cells import choose_cells, main


def _candidate() -> dict[str, Any]:
    return {"name": "cand", "version": "0", "seed": 1, "split": "test", "languages": ["en", "hi", "th"],
            "sizes": {"lite": {"per_language": 6, "stratify": ["label"]}},
            "families": {"char_noise": {"severities": ["low", "high"], "languages": "all", "similarity": None,
                                        "params": {"rules": "v2"}},
                         "back_translation": {"severities": ["low"], "languages": ["hi"], "similarity": None,
                                              "params": {"routes": {"hi": {"low": "hi>ur>hi"}}}}},
            "resources": []}


def _row(family: str, language: str, included: bool, reasons: list[str] | None = None) -> dict[str, Any]:
    return {"family": family, "language": language, "included": included, "reasons": reasons or []}


def test_only_cells_in_the_bar_stay_and_the_others_are_listed_with_reasons() -> None:
    rows = [_row("char_noise", "en", True), _row("char_noise", "th", False, ["label preserved in 90.0% (bar 95%)"]),
            _row("back_translation", "hi", False, ["only 12 items judged (needs 30)"])]
    chosen, excluded = choose_cells(_candidate(), rows)
    assert chosen["families"] == {"char_noise": {**_candidate()["families"]["char_noise"], "languages": ["en"]}}
    assert excluded == [{"family": "char_noise", "language": "th", "reasons": ["label preserved in 90.0% (bar 95%)"]},
                        {"family": "char_noise", "language": "hi", "reasons": ["not audited"]},  # XNLI's language order
                        {"family": "back_translation", "language": "hi", "reasons": ["only 12 items judged (needs 30)"]}]


def test_routes_follow_the_chosen_languages_and_unknown_cells_are_refused() -> None:
    chosen, _ = choose_cells(_candidate(), [_row("back_translation", "hi", True)])
    assert chosen["families"]["back_translation"]["params"]["routes"] == {"hi": {"low": "hi>ur>hi"}}
    with pytest.raises(DataError, match="does not have"):
        choose_cells(_candidate(), [_row("synonym", "en", True)])


def test_the_command_reads_the_audit_checks_the_sample_and_writes_a_valid_spec(tmp_path: Path) -> None:
    from harness.data.spec import load_spec

    cand = tmp_path / "cand.yaml"
    cand.write_text(yaml.safe_dump(_candidate()), encoding="utf-8")
    audit, keys = tmp_path / "audit", tmp_path / "keys"
    audit.mkdir(), keys.mkdir()
    key_rows = [{"benchmark": "cand-v0-lite", "family": "char_noise", "severity": sev, "language": "en", "id": f"{sev}{i}"}
                for sev in ("low", "high") for i in range(15)]
    (keys / "en.keys.jsonl").write_text("".join(json.dumps(k) + "\n" for k in key_rows), encoding="utf-8")
    judged = [{**k, "label_preserved": "yes", "meaning": "same", "fluency": "fine", "note": ""} for k in key_rows]
    (audit / "en.audit.jsonl").write_text("".join(json.dumps(j) + "\n" for j in judged), encoding="utf-8")
    out = tmp_path / "v2.yaml"
    assert main([str(cand), "--audit", str(audit), "--keys", str(keys), "--name", "bench", "--version", "2",
                 "--header", "test spec", "--out", str(out)]) == 0
    spec = load_spec(out)
    assert spec.id == "bench-v2" and list(spec.families) == ["char_noise"] and spec.families["char_noise"].languages == ("en",)
    text = out.read_text(encoding="utf-8")
    assert "# - char_noise / th: not audited" in text and "# - back_translation / hi: not audited" in text
    (keys / "en.keys.jsonl").write_text("".join(json.dumps(k) + "\n" for k in key_rows[:-1]), encoding="utf-8")
    with pytest.raises(DataError):
        main([str(cand), "--audit", str(audit), "--keys", str(keys), "--name", "b", "--version", "2", "--out", str(out)])


def _check_spec_is_its_audit(audit: str, candidate: str, spec_file: str) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """The committed spec is what `choose_cells` makes of the committed audit of its candidate,
    every included cell meets the bar with >= 30 readings, and its lite pin covers exactly its
    units; returns (spec, audit rows, excluded cells, lite pin)."""
    from harness.core.hashing import sha256_json
    from harness.data.spec import SPEC_DIR, load_spec, read_pinned_files, spec_units
    from harness.metrics import validity

    audits = SPEC_DIR / "audits" / audit
    judgments = [j for path in sorted(audits.glob("*.audit.jsonl")) for j in validity.read_audit(path)]
    rows = validity.report(judgments)
    raw = yaml.safe_load((SPEC_DIR / "candidates" / candidate).read_text("utf-8"))
    chosen, excluded = choose_cells(raw, rows)
    spec = load_spec(SPEC_DIR / spec_file)
    assert {f: list(fam.languages) for f, fam in spec.families.items()} == \
        {f: body["languages"] for f, body in chosen["families"].items()}
    by_cell = {(r["family"], r["language"]): r for r in rows}
    for family, fam in spec.families.items():
        for lang in fam.languages:
            row = by_cell[(family, lang)]
            assert row["included"] and row["n"] >= 30 and row["label_preserved_yes"]["rate"] >= 0.95
    text = (SPEC_DIR / spec_file).read_text("utf-8")
    assert all(f"# - {e['family']} / {e['language']}: " in text for e in excluded)
    pin = read_pinned_files(spec, "lite")
    assert pin is not None and pin["benchmark_hash"] == spec.expected_hashes["lite"] == sha256_json(pin["files"])
    assert set(pin["files"]) == {f"clean/{lang}.jsonl" for lang in spec.languages} | {u.relpath for u in spec_units(spec)}
    return spec, rows, excluded, pin


def _candidate_pin(name: str) -> dict[str, Any]:
    from harness.data.spec import SPEC_DIR

    return json.loads((SPEC_DIR / "candidates" / name).read_text("utf-8"))


def test_v2_is_the_audited_candidate_cut_to_the_cells_in_the_bar() -> None:
    """v2 from its candidate's audit, and every pinned v2 file is the candidate's file of the same
    unit, byte for byte (the items the readers read)."""
    v2, rows, _, pin = _check_spec_is_its_audit("xnli-robust-v2-candidate-v0-lite", "xnli-robust-v2-candidate.yaml",
                                                "xnli-robust-v2.yaml")
    assert len(rows) == 61 and {r["language"] for r in rows} == set(v2.languages)
    cand_pin = _candidate_pin("xnli-robust-v2-candidate-v0-lite.files.json")
    assert all(cand_pin["files"][rel] == sha for rel, sha in pin["files"].items())


def test_v2_1_is_its_audited_candidate_cut_to_the_cells_in_the_bar() -> None:
    """v2.1 from the v2.1 candidate's audit (readings carried and new); its char_noise files are
    byte for byte the v2.0 candidate's, whose readings were carried."""
    _, _, excluded, pin = _check_spec_is_its_audit("xnli-robust-candidate-v2.1-lite", "xnli-robust-v2.1-candidate.yaml",
                                                   "xnli-robust-v2.1.yaml")
    assert {(e["family"], e["language"]) for e in excluded} == \
        {("code_switch", "bg"), ("code_switch", "de"), ("code_switch", "es"), ("code_switch", "vi")}
    v2_candidate = _candidate_pin("xnli-robust-v2-candidate-v0-lite.files.json")
    char_noise = {rel: sha for rel, sha in pin["files"].items() if rel.startswith("char_noise/")}
    assert len(char_noise) == 36 and all(v2_candidate["files"][rel] == sha for rel, sha in char_noise.items())


def test_v2_2_is_its_audited_candidate_cut_to_the_cells_in_the_bar() -> None:
    """v2.2 from the v2.2 candidate's audit: char_noise hi (rules 2.1.1) enters, ar stays out;
    every pinned file is the audited candidate's, and every v2.1 file is v2.1's byte for byte
    (so v2.1's readings, carried, describe them)."""
    from harness.data.spec import SPEC_DIR

    _, _, excluded, pin = _check_spec_is_its_audit("xnli-robust-candidate-v2.2-lite", "xnli-robust-v2.2-candidate.yaml",
                                                   "xnli-robust-v2.2.yaml")
    assert {(e["family"], e["language"]) for e in excluded} == {("char_noise", "ar")}
    candidate = _candidate_pin("xnli-robust-candidate-v2.2-lite.files.json")
    assert all(candidate["files"][rel] == sha for rel, sha in pin["files"].items())
    v21 = json.loads((SPEC_DIR / "xnli-robust-v2.1-lite.files.json").read_text("utf-8"))
    assert all(pin["files"][rel] == sha for rel, sha in v21["files"].items())
    assert sorted(set(pin["files"]) - set(v21["files"])) == [f"char_noise/{s}/hi.jsonl" for s in ("high", "low", "medium")]
    superseded = SPEC_DIR / "audits" / "xnli-robust-candidate-v2.2-lite" / "superseded"
    assert (superseded / "hi.rules-2.1.0.audit.jsonl").is_file()  # kept, outside the audit's glob
