"""Stable ids and content hashes: every id in the warehouse is a hash of what it names, so reruns are
idempotent and nothing is duplicated. Also the seeds that make the simulator reproducible."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

SEP = "\x1f"  # unit separator: cannot occur in a part by accident, so ("a", "bc") != ("ab", "c")


def content_hash(data: str | bytes, length: int = 16) -> str:
    """Hex prefix of sha256 of the text (UTF-8) or bytes; 16 characters = 64 bits, collisions negligible."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:length]


def stable_id(*parts: object) -> str:
    """The id of a row made of these parts (model, prompt, turn, ...)."""
    return content_hash(SEP.join(str(p) for p in parts))


def file_hash(path: str | Path, length: int | None = 16) -> str:
    """sha256 of a file's bytes, read in chunks; the full digest with length=None."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length] if length else h.hexdigest()


def seed_for(*parts: object) -> int:
    """A 64-bit seed from the parts' content: draws are reproducible and independent of call order."""
    digest = hashlib.sha256(SEP.join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def rng_for(*parts: object) -> np.random.Generator:
    return np.random.default_rng(seed_for(*parts))
