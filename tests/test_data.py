"""XNLI loading from every source, and clear errors for bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from harness import LANGUAGES
from harness.data.xnli import check_parallel, load_custom, load_local, load_xnli10
from harness.core.errors import DataError


def test_local_mirror_all_languages_parallel(data_root: Path) -> None:
    data = load_local(data_root / "xnli", "test", LANGUAGES)
    assert set(data) == set(LANGUAGES)
    for language, items in data.items():
        assert len(items) == 5010
        assert [sum(e.label == k for e in items) for k in range(3)] == [1670, 1670, 1670]
    check_parallel(data)
    assert data["th"][0].id == data["en"][0].id == "4"
    assert data["en"][0].genre == "facetoface"


def test_dev_ids_are_row_based_and_parallel(data_root: Path) -> None:
    data = load_local(data_root / "xnli", "dev", ["en", "zh"])
    assert len(data["en"]) == 2490
    assert data["zh"][7].id == data["en"][7].id == "dev-7"


def test_quotes_are_kept_verbatim(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "test-en.tsv").write_text('He said "yes\tShe said" no\tneutral\t1\tfiction\n'
                                        '"Quoted" premise\thyp\tentailment\t2\tfiction\n', "utf-8")
    items = load_local(folder, "test", ["en"])["en"]
    assert [e.premise for e in items] == ['He said "yes', '"Quoted" premise']
    assert items[0].hypothesis == 'She said" no'


@pytest.mark.parametrize("content, message", [
    ("a\tb\tentailment\t1\tfiction\nonly\ttwo\n", ":2: expected 3 or 5 tab-separated fields, found 2"),
    ("a\tb\tmaybe\t1\tfiction\n", ":1: unknown label 'maybe'"),
    ("\tb\tneutral\t1\tfiction\n", ":1: empty premise"),
    ("a\t \tneutral\t1\tfiction\n", ":1: empty hypothesis"),
    ("a\tb\tneutral\t1\tfiction\nc\td\tneutral\t1\tfiction\n", ":2: duplicate item id '1'"),
])
def test_malformed_rows_name_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "test-en.tsv").write_text(content, "utf-8")
    with pytest.raises(DataError) as err:
        load_local(tmp_path, "test", ["en"])
    assert str(tmp_path / "test-en.tsv") + message in str(err.value)


def test_missing_language_file_and_unknown_language(tmp_path: Path) -> None:
    (tmp_path / "test-en.tsv").write_text("a\tb\tneutral\t1\tg\n", "utf-8")
    with pytest.raises(DataError, match="no test-fr.tsv"):
        load_local(tmp_path, "test", ["en", "fr"])
    with pytest.raises(DataError, match="unknown XNLI language 'xx'"):
        load_local(tmp_path, "test", ["xx"])


def test_gzip_truncated_file_is_a_data_error(tmp_path: Path, data_root: Path) -> None:
    blob = (data_root / "xnli" / "dev-en.tsv.gz").read_bytes()
    (tmp_path / "dev-en.tsv.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="cannot read"):
        load_local(tmp_path, "dev", ["en"])


def _xnli10(folder: Path, data_root: Path) -> Path:
    """An XNLI-1.0 style file made from a few real rows (header, language column)."""
    header = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
              "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre",
              "label1", "label2", "label3", "label4", "label5", "sentence1_tokenized", "sentence2_tokenized", "match"]
    lines = ["\t".join(header)]
    for language in ("en", "fr"):
        with gzip.open(data_root / "xnli" / f"test-{language}.tsv.gz", "rt", encoding="utf-8") as handle:
            for i, line in zip(range(5), handle):
                p, h, label, pair_id, genre = line.rstrip("\n").split("\t")
                row = dict.fromkeys(header, "")
                row.update(language=language, gold_label=label, sentence1=p, sentence2=h, pairID=pair_id, genre=genre)
                lines.append("\t".join(row[k] for k in header))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "xnli.test.tsv").write_text("\n".join(lines) + "\n", "utf-8")
    return folder


def test_xnli10_layout(tmp_path: Path, data_root: Path) -> None:
    folder = _xnli10(tmp_path / "XNLI-1.0", data_root)
    data = load_xnli10(folder, "test", ["en", "fr"])
    local = load_local(data_root / "xnli", "test", ["fr"])["fr"][:5]
    assert [(e.id, e.premise, e.label) for e in data["fr"]] == [(e.id, e.premise, e.label) for e in local]
    with pytest.raises(DataError, match="no rows for language 'de'"):
        load_xnli10(folder, "test", ["de"])


def test_custom_jsonl_and_tsv(tmp_path: Path) -> None:
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in [
        {"premise": "A man sleeps.", "hypothesis": "A person rests.", "label": "entailment", "id": "a"},
        {"premise": "Il dort.", "hypothesis": "Il court.", "label": "c", "language": "fr"},
    ]) + "\n", "utf-8")
    data = load_custom(jsonl)
    assert data["en"][0].id == "a" and data["fr"][0].label == 2 and data["fr"][0].id == "row-2"
    tsv = tmp_path / "mine.tsv"
    tsv.write_text("premise\thypothesis\tlabel\nA\tB\tneutral\n", "utf-8")
    assert load_custom(tsv)["en"][0].label == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"premise": "x", "label": "neutral"}\n', "utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:1: missing field 'hypothesis'"):
        load_custom(bad)
