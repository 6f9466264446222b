"""Canonical public sources of the data, with pinned checksums, and the one download boundary.

An offline user points the data root at a local mirror (`../shared/data`); an online user's
fresh machine fetches what is missing from the canonical source, verifies its checksum and
caches it.  All network access goes through `http_get` (plain HTTPS) and
`huggingface_hub.hf_hub_download` (the hub), so tests mock exactly those two boundaries.
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from harness.core.atomic import atomic_dir
from harness.core.errors import DataError, IntegrityError
from harness.core.examples import NLIExample
from harness.core.hashing import sha256_file
from harness.core.paths import cache_root
from harness.core.registry import Registry

SOURCES: Registry[str] = Registry("data source", {
    "auto": "XNLI under the data root (XTREME files, then XNLI-1.0); with no data root named, the pinned XNLI-1.0 download",
    "local": "XNLI files under the data root ($XNLI_ROBUST_DATA)",
    "xnli10": "the official XNLI-1.0 archive (downloaded once, sha256-checked)",
    "hub": "the Hugging Face dataset facebook/xnli",
    "custom": "a JSONL/TSV file of premise, hypothesis, label (--data-file)",
})
"""Where `bench --source` takes the items from (the CLI's choices and bench's check)."""


@dataclass(frozen=True)
class Download:
    """A file with a canonical URL and the checksum everybody must get."""

    name: str
    url: str
    sha256: str
    size: int
    licence: str


XNLI_10 = Download(
    name="XNLI-1.0.zip",
    url="https://dl.fbaipublicfiles.com/XNLI/XNLI-1.0.zip",
    # Same checksum as TensorFlow Datasets pins for this archive.
    sha256="4ba1d5e1afdb7161f0f23c66dc787802ccfa8a25a3ddd3b165a35e50df346ab1",
    size=17865352,
    licence="CC BY-NC 4.0",
)

XNLI_HUB_ID = "facebook/xnli"
XNLI_HUB_SPLIT_FILES = {"dev": "validation", "test": "test"}


def http_get(url: str, dest: Path) -> None:
    """The network boundary for plain downloads (mocked in tests)."""
    with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out)


def fetch(download: Download, folder: Path | None = None) -> Path:
    """Return a verified local copy of `download`, downloading it once if needed.

    A partial or corrupted download is never left under the final name: the file is written
    to a temporary sibling, checked, and only then renamed.
    """
    folder = folder or cache_root() / "downloads"
    target = folder / download.name
    if target.is_file() and sha256_file(target) == download.sha256:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{download.name}.", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        try:
            http_get(download.url, tmp_path)
        except OSError as exc:
            raise DataError(f"cannot download {download.url} ({exc}); offline users: point "
                            f"--data-dir / XNLI_ROBUST_DATA at a local mirror") from None
        digest = sha256_file(tmp_path)
        if digest != download.sha256:
            raise IntegrityError(f"{download.url}: sha256 {digest} != pinned {download.sha256}")
        tmp_path.replace(target)
    finally:
        tmp_path.unlink(missing_ok=True)
    return target


def ensure_xnli10(folder: Path | None = None) -> Path:
    """The extracted official XNLI-1.0 folder (xnli.dev.tsv, xnli.test.tsv), fetched if needed."""
    folder = folder or cache_root() / "data" / "XNLI-1.0"
    if (folder / "xnli.test.tsv").is_file() and (folder / "xnli.dev.tsv").is_file():
        return folder
    archive = fetch(XNLI_10)
    with zipfile.ZipFile(archive) as bundle, atomic_dir(folder, replace=True) as tmp:
        for split in ("dev", "test"):
            member = f"XNLI-1.0/xnli.{split}.tsv"
            with bundle.open(member) as src, open(tmp / f"xnli.{split}.tsv", "wb") as dst:
                shutil.copyfileobj(src, dst)
    return folder


def hub_download(repo_id: str, filename: str, revision: str | None) -> str:
    """The network boundary for the Hugging Face hub (mocked in tests)."""
    from huggingface_hub import hf_hub_download

    return hf_hub_download(repo_id=repo_id, filename=filename, repo_type="dataset", revision=revision)


def load_hub(split: str, languages: list[str], revision: str | None = None,
             repo_id: str = XNLI_HUB_ID) -> tuple[dict[str, list[NLIExample]], dict[str, str]]:
    """Source (c): the hub dataset's per-language parquet files.

    Returns the examples and {file: sha256} for the record.  The hub copy has no pairID, so
    ids are `<split>-<row>`; rows are parallel across languages, so ids still match.
    """
    import pyarrow.parquet as pq

    if split not in XNLI_HUB_SPLIT_FILES:
        raise DataError(f"unknown split {split!r}")
    out, hashes = {}, {}
    for language in languages:
        filename = f"{language}/{XNLI_HUB_SPLIT_FILES[split]}-00000-of-00001.parquet"
        try:
            local = Path(hub_download(repo_id, filename, revision))
        except Exception as exc:  # the hub client raises many types; all mean "not available"
            raise DataError(f"cannot fetch {repo_id}/{filename} from the hub ({exc})") from None
        hashes[f"hub:{repo_id}/{filename}"] = sha256_file(local)
        table = pq.read_table(local).to_pylist()
        out[language] = [_hub_row(row, split, i, language, f"{repo_id}/{filename}") for i, row in enumerate(table)]
    return out, hashes


def _hub_row(row: dict, split: str, index: int, language: str, where: str) -> NLIExample:
    try:
        premise, hypothesis, label = str(row["premise"]), str(row["hypothesis"]), int(row["label"])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{where}: row {index} lacks premise/hypothesis/label") from None
    if label not in (0, 1, 2) or not premise.strip() or not hypothesis.strip():
        raise DataError(f"{where}: row {index} has an empty text or a label outside 0..2")
    # The hub's ClassLabel order is entailment, neutral, contradiction: the canonical order.
    return NLIExample(f"{split}-{index}", language, premise, hypothesis, label)
