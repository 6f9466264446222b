"""Family parameters in a spec (`families.<name>.params`), and what must not move because of them.

v1.1 carries no parameters; its spec hash and the Apertium identity its manifests record are
hard-coded here (values read before family parameters existed), so a change that alters what
v1.1 is fails here first.
"""

from __future__ import annotations

from harness.data.spec import load_spec

V11_SPEC_SHA256 = "4f10e7a1d9efba0d6cbb466c6f3238e490668b00da9278de4813a4d888e33190"


def test_v11_spec_hash_is_unchanged() -> None:
    spec = load_spec()
    assert spec.id == "xnli-robust-v1.1"
    assert spec.sha256 == V11_SPEC_SHA256
