"""Loading XNLI (and custom NLI files) into `NLIExample`s.

Four sources, one result type:
  (a) a folder of per-language files, `dev-xx.tsv[.gz]` / `test-xx.tsv[.gz]` (the XTREME layout
      that `../shared/data/xnli` mirrors);
  (b) the official XNLI-1.0 layout, `xnli.dev.tsv` / `xnli.test.tsv` with a header row
      (downloaded and checksum-verified by `harness.data.sources` when missing);
  (c) the Hugging Face hub dataset `facebook/xnli` (for online users; see `harness.data.sources`);
  (d) a custom JSONL or TSV file of premise/hypothesis/label(/language/id).

TSV files are split on tabs by hand: XNLI texts contain quote characters that a CSV parser
would treat as field delimiters and silently merge rows.  Every malformed line raises a
`DataError` naming the file and the line, so bad data never reaches scoring.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Iterable, Iterator

from harness import LANGUAGES
from harness.core.errors import DataError
from harness.core.examples import NLIExample, parse_label

SPLITS = ("dev", "test")


def open_text(path: Path) -> io.TextIOBase:
    """Open a UTF-8 text file, transparently gunzipping `.gz` files."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="\n")
    return open(path, encoding="utf-8", newline="\n")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline), decoding errors reported by file."""
    try:
        with open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                yield number, line.rstrip("\n").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 ({exc.reason})") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def _check_texts(premise: str, hypothesis: str, where: str) -> None:
    if not premise.strip():
        raise DataError(f"{where}: empty premise")
    if not hypothesis.strip():
        raise DataError(f"{where}: empty hypothesis")


def _label(raw: str, where: str) -> int:
    label = parse_label(raw)
    if label is None:
        raise DataError(f"{where}: unknown label {raw!r} (expected entailment, neutral or contradiction)")
    return label


def find_split_file(folder: Path, split: str, language: str) -> Path:
    """The per-language file for (split, language) in a folder, `.tsv` or `.tsv.gz`."""
    for name in (f"{split}-{language}.tsv", f"{split}-{language}.tsv.gz"):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: no {split}-{language}.tsv[.gz] (missing language file)")


def read_local_split(path: Path, language: str, split: str) -> list[NLIExample]:
    """Read one XTREME-layout file: dev has 3 columns, test has 5 (with pairID and genre).

    Dev rows have no pairID; their id is `dev-<row>`, which is still shared across languages
    because dev rows are parallel.
    """
    examples: list[NLIExample] = []
    seen: set[str] = set()
    for number, line in _lines(path):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        fields = line.split("\t")
        if len(fields) not in (3, 5):
            raise DataError(f"{where}: expected 3 or 5 tab-separated fields, found {len(fields)}")
        premise, hypothesis, raw_label = fields[:3]
        _check_texts(premise, hypothesis, where)
        item_id = fields[3] if len(fields) == 5 else f"{split}-{len(examples)}"
        if item_id in seen:
            raise DataError(f"{where}: duplicate item id {item_id!r}")
        seen.add(item_id)
        genre = fields[4] if len(fields) == 5 else None
        examples.append(NLIExample(item_id, language, premise, hypothesis, _label(raw_label, where), genre))
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


def load_local(folder: Path, split: str, languages: Iterable[str]) -> dict[str, list[NLIExample]]:
    """Source (a): a folder of per-language files."""
    _check_split(split)
    out = {}
    for language in languages:
        _check_language(language)
        out[language] = read_local_split(find_split_file(folder, split, language), language, split)
    return out


def load_xnli10(folder: Path, split: str, languages: Iterable[str]) -> dict[str, list[NLIExample]]:
    """Source (b): the official `xnli.{dev,test}.tsv` (header row, all languages in one file)."""
    _check_split(split)
    path = folder / f"xnli.{split}.tsv"
    if not path.is_file():
        raise DataError(f"{folder}: no xnli.{split}.tsv (expected the XNLI-1.0 layout)")
    wanted = set(languages)
    for language in wanted:
        _check_language(language)
    rows = _lines(path)
    header = _header(rows, path)
    needed = ("language", "gold_label", "pairID", "genre", "sentence1", "sentence2")
    missing = [name for name in needed if name not in header]
    if missing:
        raise DataError(f"{path}:1: header lacks columns {missing}")
    col = {name: header.index(name) for name in needed}
    out: dict[str, list[NLIExample]] = {language: [] for language in sorted(wanted)}
    for number, line in rows:
        if not line.strip():
            continue
        where = f"{path}:{number}"
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(f"{where}: expected {len(header)} tab-separated fields, found {len(fields)}")
        language = fields[col["language"]]
        if language not in wanted:
            continue
        premise, hypothesis = fields[col["sentence1"]], fields[col["sentence2"]]
        _check_texts(premise, hypothesis, where)
        out[language].append(NLIExample(
            fields[col["pairID"]], language, premise, hypothesis,
            _label(fields[col["gold_label"]], where), fields[col["genre"]],
        ))
    for language, examples in out.items():
        if not examples:
            raise DataError(f"{path}: no rows for language {language!r}")
    return out


def load_custom(path: Path, default_language: str = "en") -> dict[str, list[NLIExample]]:
    """Source (d): JSONL objects or a headed TSV with premise, hypothesis, label[, language, id,
    genre, premise_language, hypothesis_language]."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    name = path.name.removesuffix(".gz")
    records = _custom_jsonl(path) if name.endswith((".jsonl", ".json")) else _custom_tsv(path)
    out: dict[str, list[NLIExample]] = {}
    for number, record in records:
        where = f"{path}:{number}"
        for key in ("premise", "hypothesis", "label"):
            if key not in record or record[key] is None:
                raise DataError(f"{where}: missing field {key!r}")
        premise, hypothesis = str(record["premise"]), str(record["hypothesis"])
        _check_texts(premise, hypothesis, where)
        language = _row_language(record, default_language, where)
        examples = out.setdefault(language, [])
        item_id = str(record.get("id") if record.get("id") is not None else f"row-{number}")
        examples.append(NLIExample(item_id, language, premise, hypothesis,
                                   _label(str(record["label"]), where), record.get("genre")))
    if not out:
        raise DataError(f"{path}: no examples")
    return out


def _row_language(record: dict, default_language: str, where: str) -> str:
    """The row's language code: `language`, else `premise_language`/`hypothesis_language`.

    A pair whose sides differ gets the code PREMISE+HYPOTHESIS ("en+de"), which is what the
    perturbation families read (`attacks.mixed`); given both ways, they must agree."""
    from attacks.mixed import mixed_code

    given = record.get("language")
    sides = [record.get("premise_language"), record.get("hypothesis_language")]
    if not any(sides):
        return str(given or default_language)
    fallback = str(given) if given and "+" not in str(given) else default_language
    code = mixed_code(str(sides[0] or fallback), str(sides[1] or fallback))
    if given and str(given) != code:
        raise DataError(f"{where}: language {given!r} contradicts premise_language/hypothesis_language "
                        f"(which make {code!r})")
    return code


def _custom_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: expected a JSON object")
        yield number, record


def _header(rows: Iterator[tuple[int, str]], path: Path) -> list[str]:
    """The tab-separated column names on the first line."""
    try:
        _, header_line = next(rows)
    except StopIteration:
        raise DataError(f"{path}: empty file") from None
    return header_line.split("\t")


def _custom_tsv(path: Path) -> Iterator[tuple[int, dict]]:
    rows = _lines(path)
    header = _header(rows, path)
    for number, line in rows:
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(f"{path}:{number}: expected {len(header)} tab-separated fields, found {len(fields)}")
        yield number, dict(zip(header, fields))


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise DataError(f"unknown XNLI language {language!r} (expected one of {' '.join(LANGUAGES)})")


def check_parallel(data: dict[str, list[NLIExample]]) -> None:
    """XNLI rows are parallel: the same ids in the same order in every language."""
    reference: list[str] | None = None
    for language, examples in data.items():
        ids = [example.id for example in examples]
        if reference is None:
            reference, first = ids, language
        elif ids != reference:
            raise DataError(f"languages {first!r} and {language!r} do not have the same item ids in the same order")
