"""Download paths with only the network boundary mocked."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path

import pytest

from harness.data import sources
from harness.core.errors import DataError, IntegrityError
from harness.core.hashing import sha256_bytes
from test_data import _xnli10


def _zip_of(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for split in ("dev", "test"):
            bundle.writestr(f"XNLI-1.0/xnli.{split}.tsv", (folder / "xnli.test.tsv").read_bytes())
    return buffer.getvalue()


def test_fetch_verifies_the_pinned_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_root: Path) -> None:
    payload = _zip_of(_xnli10(tmp_path / "src", data_root))
    calls: list[str] = []

    def fake_get(url: str, dest: Path) -> None:
        calls.append(url)
        dest.write_bytes(payload)

    monkeypatch.setattr(sources, "http_get", fake_get)
    monkeypatch.setenv("XNLI_ROBUST_CACHE", str(tmp_path / "cache"))
    # The real pin refuses bytes that are not the official archive, and leaves nothing behind.
    with pytest.raises(IntegrityError, match="sha256"):
        sources.fetch(sources.XNLI_10)
    assert not list((tmp_path / "cache" / "downloads").iterdir())
    assert calls == [sources.XNLI_10.url]
    # With the pin matching, the archive is cached, extracted and loadable.
    pinned = dataclasses.replace(sources.XNLI_10, sha256=sha256_bytes(payload), size=len(payload))
    monkeypatch.setattr(sources, "XNLI_10", pinned)
    folder = sources.ensure_xnli10()
    assert (folder / "xnli.test.tsv").is_file()
    sources.fetch(pinned)  # cached: no second download
    assert len(calls) == 2


def test_fetch_offline_gives_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, dest: Path) -> None:
        raise OSError("network unreachable")

    monkeypatch.setattr(sources, "http_get", offline)
    with pytest.raises(DataError, match="XNLI_ROBUST_DATA"):
        sources.fetch(sources.XNLI_10, tmp_path)


def test_hub_parquet_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_root: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.data.xnli import load_local

    local = load_local(data_root / "xnli", "test", ["sw"])["sw"][:6]
    path = tmp_path / "sw.parquet"
    pq.write_table(pa.table({"premise": [e.premise for e in local], "hypothesis": [e.hypothesis for e in local],
                             "label": [e.label for e in local]}), path)
    asked: list[tuple[str, str, str | None]] = []

    def fake_download(repo_id: str, filename: str, revision: str | None) -> str:
        asked.append((repo_id, filename, revision))
        return str(path)

    monkeypatch.setattr(sources, "hub_download", fake_download)
    data, files = sources.load_hub("test", ["sw"], revision="abc123")
    assert asked == [("facebook/xnli", "sw/test-00000-of-00001.parquet", "abc123")]
    assert [(e.premise, e.label) for e in data["sw"]] == [(e.premise, e.label) for e in local]
    assert data["sw"][0].id == "test-0" and list(files) == ["hub:facebook/xnli/sw/test-00000-of-00001.parquet"]
