"""Import TextAttack offline, next to transformers 5, without letting it download anything.

TextAttack 0.3.11 is used only as a point of comparison (baselines, throughput benchmark),
never by the benchmark generator itself, so it is an optional extra.  Importing it as
published fails here for four reasons, each handled below before `import textattack`:

1. **flair.**  `textattack.shared` imports flair at module load, and flair pins
   `transformers<5`, so it cannot be installed next to our transformers.  TextAttack uses flair
   only for POS/NER tagging (`AttackedText.pos_of_word_index`, `WordSwapInflections`,
   `WordSwapChangeName/Location`, `PartOfSpeech(tagger_type="flair")`), all of which download
   tagger models at run time anyway.  When flair is not installed we register a small stand-in
   module named `flair` whose taggers and `Sentence` raise `HarnessError` when used; the
   character-level swaps, WordNet swaps, constraints, goal functions and search methods never
   touch it.  A real flair, if installed, is left alone.
2. **The post-install step.**  On first import TextAttack runs `nltk.download(...)` for six
   resources unless a marker file `post_install_check_3` exists in its cache folder
   (`$TA_CACHE_DIR`, default `~/.cache/textattack`).  We point `TA_CACHE_DIR` at a folder under
   `harness.core.paths.cache_root()` (unless the user set it) and create the marker there.  Setting
   `TA_CACHE_DIR` makes TextAttack overwrite `HF_HOME`, `XDG_CACHE_HOME`,
   `PYTORCH_TRANSFORMERS_CACHE` and `TFHUB_CACHE_DIR` during its import; `import_textattack`
   imports transformers, huggingface_hub and datasets first and restores those four variables
   afterwards, so model look-ups and our own cache folder are unaffected (matplotlib, imported
   by bert-score meanwhile, writes its font cache into TextAttack's folder).
3. **Stopwords.**  `textattack.augmentation.recipes` builds `StopwordModification()` at module
   load, which reads NLTK's English stopwords corpus (not in our data mirror).  If NLTK cannot
   find one, we write a minimal corpus generated from `ENGLISH_STOPWORDS` below into
   `<cache_root>/textattack/nltk_data/corpora/stopwords/english`.  That list is a short
   hand-written list of English function words, *not* NLTK's list: code that relies on
   TextAttack's default stopwords gets ours.  Pass `stopwords=ENGLISH_STOPWORDS` (or another
   explicit list) to `StopwordModification` so results never depend on which corpus was found.
   Negations (not, no, nor, never) are in it on purpose: editing them flips NLI labels.
4. **Downloads at construction.**  Some components call `nltk.download` in `__init__`
   (`WordSwapWordNet` asks for "omw-1.4" every time), which tries the network and prints an
   error offline.  `no_nltk_downloads()` replaces `nltk.download` for the duration of a block
   with a check that the resource is already on `nltk.data.path`; `import_textattack` and
   `wordnet_swap` use it.

Randomness: TextAttack draws from the *global* `random` module (Augmenter, letter choice,
QWERTY neighbours) and the global NumPy RNG (position inside a word).  Seed both with
`seed_textattack(seed)` before each call to make its output reproducible; its output for one
item still depends on everything drawn before it, unlike our per-item `derive_rng`.  Even
seeded, `WordSwapWordNet` differs between processes unless PYTHONHASHSEED is fixed: it
collects synonyms in a `set` and picks by position.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import random
import sys
import types
from pathlib import Path
from typing import Any, Iterator

from harness.core.atomic import atomic_write_text
from harness.core.errors import HarnessError
from harness.core.paths import cache_root

TEXTATTACK_VERSION = "0.3.11"

INSTALL_HINT = "make textattack (or: pip install -e '.[textattack]' && pip install --no-deps " \
    f"--require-hashes --target \"$VIRTUAL_ENV/textattack-{TEXTATTACK_VERSION}\" -r requirements/textattack.txt)"
"""TextAttack without flair (which would downgrade transformers), plus what its import needs."""

TEXTATTACK_PATH_ENV = "XNLI_ROBUST_TEXTATTACK"


def vendored_path() -> Path:
    """Where `make textattack` puts TextAttack: outside site-packages, so pip does not see it.

    TextAttack's metadata requires flair, and flair requires `transformers<5`; installed into
    site-packages, TextAttack would make `pip check` fail (and a resolver downgrade
    transformers).  Installed with `pip install --target` into this folder and put on
    `sys.path` by `import_textattack`, it is used as a library while pip checks only what pip
    manages.  `$XNLI_ROBUST_TEXTATTACK` overrides the folder.
    """
    return Path(os.environ.get(TEXTATTACK_PATH_ENV) or Path(sys.prefix) / f"textattack-{TEXTATTACK_VERSION}")

POST_INSTALL_MARKER = "post_install_check_3"
"""The file whose presence in TextAttack's cache folder skips its NLTK downloads at import."""

TEXTATTACK_ENV_SIDE_EFFECTS: tuple[str, ...] = (
    "TFHUB_CACHE_DIR", "PYTORCH_TRANSFORMERS_CACHE", "HF_HOME", "XDG_CACHE_HOME",
)
"""Variables TextAttack's import overwrites when `TA_CACHE_DIR` is set; restored afterwards."""

ENGLISH_STOPWORDS: tuple[str, ...] = (
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
    "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
    "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for",
    "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself",
    "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just",
    "me", "more", "most", "my", "myself", "never", "no", "nor", "not", "now", "of", "off", "on",
    "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same",
    "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them",
    "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which",
    "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself",
    "yourselves",
)
"""A short hand-written English stopword list (function words and negations), for now.

Not NLTK's corpus; replace it with a reviewed list shipped as a resource file when TextAttack
baselines are reported, and bump whatever records depend on it.
"""

_NLTK_SUBDIRS = ("corpora", "taggers", "tokenizers", "chunkers", "misc", "models")


def textattack_cache_dir() -> Path:
    """The project-owned folder for TextAttack's marker file and the generated stopwords."""
    return cache_root() / "textattack"


def prepare_textattack(data_root: Path) -> None:
    """Set paths and files so that a later `import textattack` succeeds offline.

    Idempotent.  Puts `<data_root>/nltk_data` and our generated NLTK folder on NLTK's search
    path (the environment variable for NLTK imported later, `nltk.data.path` for NLTK imported
    already), provides the stopwords corpus if none is found, creates TextAttack's post-install
    marker, and registers the flair stand-in if flair is not installed.
    """
    own_nltk = textattack_cache_dir() / "nltk_data"
    _add_nltk_paths([Path(data_root) / "nltk_data", own_nltk])
    if not _nltk_resource_found("stopwords"):
        _write_stopwords_corpus(own_nltk)
    marker_dir = Path(os.environ.setdefault("TA_CACHE_DIR", str(textattack_cache_dir())))
    marker_dir.mkdir(parents=True, exist_ok=True)
    (marker_dir / POST_INSTALL_MARKER).touch()
    if "flair" not in sys.modules and importlib.util.find_spec("flair") is None:
        _register_flair_stand_in()


def import_textattack(data_root: Path) -> types.ModuleType:
    """The `textattack` module, imported offline; `HarnessError` saying what to install if not.

    Takes 5-15 s on first call (TextAttack imports every recipe eagerly).
    """
    if "textattack" in sys.modules:
        return sys.modules["textattack"]
    _add_vendored_path()
    if importlib.util.find_spec("textattack") is None:
        raise HarnessError(f"TextAttack is not installed. Install it with: {INSTALL_HINT}")
    prepare_textattack(data_root)
    for name in ("transformers", "huggingface_hub", "datasets"):
        # Imported first, so that their cache paths come from the user's HF_HOME before
        # TextAttack's import overwrites it.
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    saved = {name: os.environ.get(name) for name in TEXTATTACK_ENV_SIDE_EFFECTS}
    try:
        with no_nltk_downloads():
            return importlib.import_module("textattack")
    except ImportError as error:
        _forget_partial_import()
        missing = getattr(error, "name", None) or str(error)
        raise HarnessError(
            f"TextAttack is installed but cannot be imported: {missing!s} is missing "
            f"({error}). Install its dependencies with: {INSTALL_HINT}"
        ) from error
    finally:
        _restore_environment(saved)


def textattack_available() -> bool:
    """Whether TextAttack can be imported (site-packages or the vendored folder)."""
    _add_vendored_path()
    return importlib.util.find_spec("textattack") is not None


def _add_vendored_path() -> None:
    folder = vendored_path()
    if (folder / "textattack").is_dir() and str(folder) not in sys.path:
        sys.path.append(str(folder))
        importlib.invalidate_caches()


def seed_textattack(seed: int) -> None:
    """Seed the two global RNGs TextAttack draws from (`random` and NumPy's)."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)


def wordnet_swap(textattack: types.ModuleType, language: str = "eng") -> Any:
    """`WordSwapWordNet(language)` without its `nltk.download("omw-1.4")` network attempt."""
    with no_nltk_downloads():
        return textattack.transformations.WordSwapWordNet(language=language)


@contextlib.contextmanager
def no_nltk_downloads() -> Iterator[None]:
    """Within the block, `nltk.download(name)` only reports whether `name` is installed.

    It returns True when NLTK can already find the resource and False otherwise (what the real
    function returns after a failed download), and never opens a connection.
    """
    import nltk

    original = nltk.download
    nltk.download = _download_refused
    try:
        yield
    finally:
        nltk.download = original


def _download_refused(info_or_id: Any = None, *args: Any, **kwargs: Any) -> bool:
    return isinstance(info_or_id, str) and _nltk_resource_found(info_or_id)


def _nltk_resource_found(name: str) -> bool:
    """Whether NLTK finds resource `name` (a downloader id such as "stopwords") locally."""
    import nltk.data

    for subdir in _NLTK_SUBDIRS:
        for candidate in (f"{subdir}/{name}", f"{subdir}/{name}.zip"):
            try:
                nltk.data.find(candidate)
            except LookupError:
                continue
            return True
    return False


def _add_nltk_paths(folders: list[Path]) -> None:
    """Append folders to NLTK's search path, now and for an NLTK imported later."""
    current = [p for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    for folder in folders:
        if str(folder) not in current:
            current.append(str(folder))
    os.environ["NLTK_DATA"] = os.pathsep.join(current)
    if "nltk.data" in sys.modules:
        search_path = sys.modules["nltk.data"].path
        for folder in folders:
            if str(folder) not in search_path:
                search_path.append(str(folder))


def _write_stopwords_corpus(nltk_root: Path) -> None:
    """Write `ENGLISH_STOPWORDS` as NLTK's stopwords corpus (one word a line, file per language)."""
    text = "\n".join(ENGLISH_STOPWORDS) + "\n"
    folder = nltk_root / "corpora" / "stopwords"
    atomic_write_text(folder / "english", text)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    atomic_write_text(
        folder / "README",
        "Generated by attacks/textattack_compat.py from its ENGLISH_STOPWORDS list, a short\n"
        f"hand-written list (not NLTK's corpus). sha256 of 'english': {digest}\n",
    )


def _restore_environment(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _forget_partial_import() -> None:
    """Drop half-imported textattack modules so a retry after installing starts clean."""
    for name in [m for m in sys.modules if m == "textattack" or m.startswith("textattack.")]:
        del sys.modules[name]


class FlairUnavailable(HarnessError):
    """A TextAttack component needs flair's POS/NER taggers, which are not installed."""


_FLAIR_MESSAGE = (
    "this TextAttack component needs flair (POS or NER tagging), which is not installed: flair "
    "requires transformers<5 and its taggers are downloaded at run time. Use components that "
    "need no tagger (character swaps, WordNet swaps, pre-transformation constraints)."
)


class _FlairSentence:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise FlairUnavailable(_FLAIR_MESSAGE)


class _FlairTokenizer:
    """Base class only: TextAttack subclasses it at import time."""

    def tokenize(self, text: str) -> list[str]:
        raise FlairUnavailable(_FLAIR_MESSAGE)


class _FlairSequenceTagger:
    @classmethod
    def load(cls, *args: Any, **kwargs: Any) -> Any:
        raise FlairUnavailable(_FLAIR_MESSAGE)


def _register_flair_stand_in() -> None:
    """Register modules `flair`, `flair.data`, `flair.models` with what TextAttack imports."""
    import torch

    package = _stand_in_module("flair", is_package=True)
    package.device = torch.device("cpu")  # type: ignore[attr-defined]
    package.__version__ = "0+xnli-robust-stand-in"  # type: ignore[attr-defined]
    package.XNLI_ROBUST_STAND_IN = True  # type: ignore[attr-defined]
    data = _stand_in_module("flair.data")
    data.Sentence = _FlairSentence  # type: ignore[attr-defined]
    data.Tokenizer = _FlairTokenizer  # type: ignore[attr-defined]
    models = _stand_in_module("flair.models")
    models.SequenceTagger = _FlairSequenceTagger  # type: ignore[attr-defined]
    package.data, package.models = data, models  # type: ignore[attr-defined]
    sys.modules.update({"flair": package, "flair.data": data, "flair.models": models})


def _stand_in_module(name: str, is_package: bool = False) -> types.ModuleType:
    module = types.ModuleType(name, f"Stand-in registered by {__name__}: flair is not installed.")
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=is_package)
    if is_package:
        module.__path__ = []  # type: ignore[attr-defined]
    return module
