"""Where the tests find their references: the repository (fixtures written from PyTorch and
transformers) and ../shared (the release's vocabularies and reference tokenizations), which
tests skip without, saying why."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def shared_dir() -> Path:
    return Path(os.environ.get("GENPT_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not path.is_dir():
        pytest.skip(f"needs the shared data at {path} (set GENPT_SHARED)")
    return path


def write_numbered_vocabulary(directory: Path, size: int) -> Path:
    """A GPT-1-style vocabulary of `size` pieces ("t0</w>", "t1</w>", ...) and no merges, in the
    release's file names: the tokenizer for a fixture model whose ids come from its reference,
    not from text."""
    import json

    directory.mkdir(parents=True, exist_ok=True)
    encoder = {f"t{i}</w>": i for i in range(size)}
    (directory / "encoder_bpe_0.json").write_text(json.dumps(encoder))
    (directory / "vocab_0.bpe").write_text("#version: 0.2\n")
    return directory
