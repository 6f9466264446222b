"""Validity audits: the sample is drawn by rule, the audit file holds ids and judgments only, and
the rates, intervals and bar are computed from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.errors import DataError
from harness.metrics import validity as V

AUDITS = Path(__file__).resolve().parents[1] / "harness" / "specs" / "audits"


def _line(i: int, family: str = "synonym", severity: str = "low", language: str = "fr", kept: str = "yes",
          meaning: str = "same", note: str = "") -> dict[str, str]:
    return {"benchmark": "b-lite", "family": family, "severity": severity, "language": language, "id": str(i),
            "label_preserved": kept, "meaning": meaning, "fluency": "fine", "note": note}


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_wilson_interval_matches_known_values() -> None:
    low, high = V.wilson(29, 30)
    assert (round(low, 4), round(high, 4)) == (0.8333, 0.9941)
    assert V.wilson(0, 10)[0] == 0.0 and V.wilson(10, 10)[1] == pytest.approx(1.0) and V.wilson(0, 0) == (0.0, 1.0)


def test_a_cell_meets_the_bar_only_with_enough_readings_and_rates(tmp_path: Path) -> None:
    rows = [_line(i, severity=s) for s in ("low", "medium", "high") for i in range(10 * ("lmh".index(s[0]) + 1), 10 * ("lmh".index(s[0]) + 2))]
    rows[0] = _line(10, kept="unsure", meaning="shifted", note="sœur→nonne: wrong sense")
    report = V.report(V.read_audit(_write(tmp_path / "fr.audit.jsonl", rows)))
    (cell,) = report
    assert cell["n"] == 30 and cell["per_severity"] == {"high": 10, "low": 10, "medium": 10}
    assert cell["label_preserved_yes"]["count"] == 29 and cell["label_preserved_unsure"]["count"] == 1
    assert cell["included"] is True  # 29/30 = 96.7% >= 95%, 29/30 same >= 80%
    rows[1] = _line(11, kept="no", meaning="shifted", note="n'a aucun→n'a pas n'importe quel: negation")
    (cell,) = V.report(V.read_audit(_write(tmp_path / "fr.audit.jsonl", rows)))
    assert cell["included"] is False and cell["reasons"] == ["label preserved in 93.3% (bar 95%)"]
    (small,) = V.report(V.read_audit(_write(tmp_path / "de.audit.jsonl", rows[:12])), ("low", "medium", "high"))
    assert "only 12 items judged (needs 30)" in small["reasons"] and "only 0 high items judged (needs 10)" in small["reasons"]
    (one_route,) = V.report(V.read_audit(_write(tmp_path / "hi.audit.jsonl", [_line(i) for i in range(30)])))
    assert one_route["included"] is True and one_route["per_severity"] == {"low": 30}  # only the severity it has
    assert "| synonym | fr | 30 |" in V.markdown(V.report(V.read_audit(tmp_path / "fr.audit.jsonl")))
    units = V.report(V.read_audit(tmp_path / "fr.audit.jsonl"), by_severity=True)
    assert [(u["severity"], u["n"]) for u in units] == [("high", 10), ("low", 10), ("medium", 10)]
    assert "| synonym / low | fr | 10 |" in V.markdown(units)


@pytest.mark.parametrize("edit, message", [
    (lambda r: {**r, "premise": "some text"}, "fields must be exactly"),
    (lambda r: {k: v for k, v in r.items() if k != "note"}, "missing: \\['note'\\]"),
    (lambda r: {**r, "meaning": "similar"}, "meaning 'similar' is not one of same, shifted, broken"),
    (lambda r: {**r, "label_preserved": "no"}, "needs a note"),
    (lambda r: {**r, "id": 7}, "id must be a string"),
])
def test_bad_audit_lines_are_refused_with_the_line(tmp_path: Path, edit, message) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path / "x.audit.jsonl", [_line(1), edit(_line(2))])
    with pytest.raises(DataError, match=message) as info:
        V.read_audit(path)
    assert f"{path}:2" in str(info.value)


def test_duplicates_and_wrong_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="already judged on line 1"):
        V.read_audit(_write(tmp_path / "x.audit.jsonl", [_line(1), _line(1)]))
    with pytest.raises(DataError, match="ends in .audit.jsonl"):
        V.read_audit(_write(tmp_path / "x.jsonl", [_line(1)]))


def test_sheets_sample_by_rule_and_the_audit_must_cover_exactly_the_sample(tmp_path: Path, data_root: Path) -> None:
    from conftest import generate_small_benchmark

    from harness.cli import main

    bench = generate_small_benchmark(tmp_path / "bench", data_root, ["en", "th"], 9, seed=3)
    sheets = tmp_path / "sheets"
    assert main(["audit", str(bench), "--sheets", "--out", str(sheets), "--per-severity", "4"]) == 0
    keys = [json.loads(line) for line in (sheets / "th.keys.jsonl").read_text("utf-8").splitlines()]
    assert len(keys) == 12 and {(k["family"], k["severity"]) for k in keys} == {
        ("char_noise", "low"), ("char_noise", "high"), ("code_switch", "medium")}
    sheet = (sheets / "th.sheet.txt").read_text("utf-8")
    assert sheet.count("\n[") + 1 == 12 and f"{keys[0]['family']}/{keys[0]['severity']}/th {keys[0]['id']}" in sheet
    again = tmp_path / "again"
    main(["audit", str(bench), "--sheets", "--out", str(again), "--per-severity", "4"])
    assert (again / "th.keys.jsonl").read_bytes() == (sheets / "th.keys.jsonl").read_bytes()  # seeded, not random

    judged = [{**k, "label_preserved": "yes", "meaning": "same", "fluency": "awkward", "note": ""} for k in keys]
    audit = _write(tmp_path / "th.audit.jsonl", judged)
    assert main(["validity", str(audit), "--keys", str(sheets / "th.keys.jsonl"),
                 "--json", str(tmp_path / "rows.json")]) == 0
    rows = json.loads((tmp_path / "rows.json").read_text("utf-8"))
    assert {r["family"] for r in rows} == {"char_noise", "code_switch"} and all(r["n"] in (8, 4) for r in rows)
    assert main(["validity", str(_write(tmp_path / "th.audit.jsonl", judged[1:])),
                 "--keys", str(sheets / "th.keys.jsonl")]) == 2  # one sampled item not judged


def test_a_cell_with_fewer_severities_gets_enough_readings_with_min_per_cell(tmp_path: Path, data_root: Path) -> None:
    """The bar needs 30 readings per cell; a one-severity cell takes them all from its one unit,
    while a three-severity cell keeps its 10 per severity (the sample it had without the option)."""
    from conftest import generate_small_benchmark

    from harness.data.benchmark import load_benchmark
    from harness.generate.audit import audit_sample

    bench = load_benchmark(generate_small_benchmark(tmp_path / "bench", data_root, ["en", "th"], 9, seed=3))
    plain = audit_sample(bench, per_severity=2)
    wide = audit_sample(bench, per_severity=2, min_per_cell=6)
    count = lambda sample, fam: sum(1 for unit, _ in sample if unit.family == fam and unit.language == "th")  # noqa: E731
    assert count(plain, "code_switch") == 2 and count(wide, "code_switch") == 6  # one unit: medium
    assert count(plain, "char_noise") == 4 and count(wide, "char_noise") == 6  # two units: 3 each
    same = [(u, i.example.id) for u, i in audit_sample(bench, 3, min_per_cell=6) if u.family == "char_noise"]
    assert same == [(u, i.example.id) for u, i in audit_sample(bench, 3) if u.family == "char_noise"]  # 3 >= 6/2


def test_committed_audits_hold_ids_and_judgments_only() -> None:
    """Whatever audit files are committed parse strictly (exactly the nine fields) and carry no
    text: every note stays short (it quotes the edited words, never a sentence)."""
    for path in sorted(AUDITS.rglob("*.audit.jsonl")):
        for judgment in V.read_audit(path):
            assert len(judgment.note) <= 300, f"{path}: {judgment.id}: a note is a short pointer to the edit"


def _cs_benchmark(out: Path, data_root: Path, rules: str, version: str) -> Path:
    from harness.data.spec import parse_spec
    from harness.generate.run import generate

    spec = parse_spec({
        "name": "xnli-robust-carry", "version": version, "seed": 5, "split": "test", "languages": ["de"],
        "sizes": {"tiny": {"per_language": 24, "stratify": ["label"]}},
        "families": {"char_noise": {"severities": ["low"], "languages": "all", "similarity": None},
                     "code_switch": {"severities": ["low", "medium", "high"], "languages": "all",
                                     "similarity": None, "params": {"rules": rules}}}})
    generate(out, size="tiny", spec=spec, data_root=data_root, progress=False)
    return out


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> tuple[Path, Path]:
    """The same spec with code_switch rules v2 (version 1) and v2.1 (version 2)."""
    root = tmp_path_factory.mktemp("carry")
    return (_cs_benchmark(root / "old", data_root, "v2", "1"), _cs_benchmark(root / "new", data_root, "v2.1", "2"))


def test_judgments_carry_to_a_new_version_only_for_byte_identical_items(tmp_path: Path,
                                                                         two_versions: tuple[Path, Path]) -> None:
    """code_switch v2 -> v2.1 drops items that repeat the severity below and keeps the others'
    text: their readings carry over (re-keyed to the new benchmark), new sample items are read."""
    from harness.cli import main
    from harness.data.benchmark import load_benchmark
    from harness.generate.audit import audit_sample, carry_judgments

    old, new = two_versions
    old_b, new_b = load_benchmark(old), load_benchmark(new)
    judged = [V.Judgment(old_b.id, u.family, u.severity, u.language, it.example.id, "yes", "same", "fine", "")
              for u, it in audit_sample(old_b, per_severity=5)]
    carried, to_read = carry_judgments(new, old, judged, per_severity=5)
    sample = {(u.family, u.severity, u.language, it.example.id): it for u, it in audit_sample(new_b, per_severity=5)}
    assert {(j.family, j.severity, j.language, j.id) for j in carried} | {
        (u.family, u.severity, u.language, it.example.id) for u, it in to_read} == set(sample)
    assert carried and to_read and all(j.benchmark == new_b.id != old_b.id for j in carried)
    old_text = {(u.family, u.severity, it.example.id): (it.example, it.original)
                for u in old_b.units() for it in old_b.perturbed(*u)}
    for j in carried:
        assert old_text[(j.family, j.severity, j.id)] == (sample[(j.family, j.severity, j.language, j.id)].example,
                                                          sample[(j.family, j.severity, j.language, j.id)].original)
    old_keys = {(j.family, j.severity, j.language, j.id) for j in judged}
    assert any((u.family, u.severity, u.language, it.example.id) not in old_keys for u, it in to_read)
    assert {j.family for j in carried} >= {"char_noise"}  # an unchanged family carries whole

    audits = tmp_path / "audits"
    audits.mkdir()
    _write(audits / "de.audit.jsonl", [{f: getattr(j, f) for f in V.AUDIT_FIELDS} for j in judged])
    sheets, out = tmp_path / "sheets", tmp_path / "new-audit"
    assert main(["audit", str(new), "--sheets", "--out", str(sheets), "--per-severity", "5", "--carry-from",
                 str(audits), "--old-benchmark", str(old), "--carried-out", str(out)]) == 0
    keys = V.read_keys(sheets / "de.keys.jsonl")
    carried_file = V.read_audit(out / "de.carried.audit.jsonl")
    assert len(keys) == len(sample) and len(carried_file) == len(carried)
    assert (sheets / "de.sheet.txt").read_text("utf-8").count("\n[") + 1 == len(to_read)
    assert main(["audit", str(new), "--sheets", "--out", str(sheets), "--carry-from", str(audits)]) == 2


def test_readings_of_another_folder_carry_only_from_units_with_the_judged_files(two_versions: tuple[Path, Path]) -> None:
    """Judgments of benchmark X, carried through a folder Y: only where Y's unit file has the hash
    X pinned (here one unit is made to differ), since only then is Y's text the text read."""
    from harness.data.benchmark import load_benchmark
    from harness.generate.audit import audit_sample, carry_judgments

    old, new = two_versions
    old_b = load_benchmark(old)
    judged = [V.Judgment("judged-x-lite", u.family, u.severity, u.language, it.example.id, "yes", "same", "fine", "")
              for u, it in audit_sample(old_b, per_severity=5)]
    files = {rel: e["sha256"] for rel, e in old_b.manifest["files"].items()}
    with pytest.raises(ValueError, match="pinned file hashes"):
        carry_judgments(new, old, judged, per_severity=5)
    all_carried, _ = carry_judgments(new, old, judged, per_severity=5, judged_files=files)
    files["char_noise/low/de.jsonl"] = "0" * 64
    carried, to_read = carry_judgments(new, old, judged, per_severity=5, judged_files=files)
    assert all_carried and {j.family for j in all_carried} >= {"char_noise"}
    assert not any(j.family == "char_noise" for j in carried)
    assert len(carried) == len(all_carried) - sum(j.family == "char_noise" for j in all_carried)
    assert any(u.family == "char_noise" for u, _ in to_read)
