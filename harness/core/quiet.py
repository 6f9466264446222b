"""Third-party noise off by default: the Hugging Face libraries' info logs, load reports and bars.

Why: `make bench` printed transformers' "BertModel LOAD REPORT" table twice (once per generation
worker) about the e5 encoder's pooler, which mean pooling never uses, plus a "Loading weights"
bar per model.  Such lines bury the few that matter.  What matters is said by the harness
itself (`warning: ...` lines, e.g. a checkpoint whose weights were newly initialised, see
`adapters.hf.warn_newly_initialised`); Python `warnings` are never filtered here; the
harness's own progress bars follow `--no-progress`.  `--verbose` leaves the libraries alone.

Nothing heavy is imported: the settings go into environment variables, which each library reads
when it is first imported (in this process and in spawned worker processes alike), and a
library that is already imported is told through its public API.
"""

from __future__ import annotations

import os
import sys

QUIET_ENV: dict[str, str] = {
    "TRANSFORMERS_VERBOSITY": "error",
    "DATASETS_VERBOSITY": "error",
    "HF_HUB_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' own bars follow the hub's setting
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
}
"""Only set where unset: a value the user exported wins."""


def configure(verbose: bool) -> None:
    """Silence the third-party libraries for the rest of this process, unless `verbose`.

    Process-wide, like `logging.basicConfig`: the CLI calls it once per command."""
    if verbose:
        return
    for var, value in QUIET_ENV.items():
        os.environ.setdefault(var, value)
    _silence_imported()


def _ours(var: str) -> bool:
    """True when `var` holds our value, i.e. the user did not choose another one."""
    return os.environ.get(var) == QUIET_ENV[var]


def _silence_imported() -> None:
    """Libraries imported before `configure` read their environment too early: tell them directly."""
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        if _ours("TRANSFORMERS_VERBOSITY"):
            transformers_logging.set_verbosity_error()
        if _ours("HF_HUB_DISABLE_PROGRESS_BARS"):
            transformers_logging.disable_progress_bar()
    if "datasets" in sys.modules:
        import datasets.utils

        if _ours("DATASETS_VERBOSITY"):
            datasets.utils.logging.set_verbosity_error()
        if _ours("HF_DATASETS_DISABLE_PROGRESS_BARS"):
            datasets.utils.disable_progress_bars()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub import utils as hub_utils

        if _ours("HF_HUB_VERBOSITY"):
            hub_utils.logging.set_verbosity_error()
        if _ours("HF_HUB_DISABLE_PROGRESS_BARS"):
            hub_utils.disable_progress_bars()
