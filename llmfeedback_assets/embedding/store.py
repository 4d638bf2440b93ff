"""The embedding store: every vector computed once per (backbone, key) and kept in the warehouse table
`embedding_store`, which curation, both frozen reward models and best-of-n reranking read and fill.

`EmbeddingStore.vectors` is the one entry point: it answers from an in-process cache, then from the warehouse,
and embeds only what neither holds, in one pass over the distinct missing inputs. Writes are INSERT OR IGNORE
on the key in the warehouse's short retried transactions, so steps filling the store at once (several
processes) never lose or duplicate a row; at worst two of them embed the same text at the same time and the
second write is ignored. Without a warehouse the store is a plain in-process cache (tests, notebooks).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..warehouse import Warehouse
from .encoder import pair_hash, text_hash

TABLE = "embedding_store"


@dataclass
class StoreStats:
    """What one `vectors` call did: inputs asked for, distinct keys, found in memory / the warehouse, and
    embedded now."""

    inputs: int = 0
    distinct: int = 0
    from_memory: int = 0
    from_warehouse: int = 0
    embedded: int = 0

    @property
    def cached(self) -> int:
        return self.from_memory + self.from_warehouse


class EmbeddingStore:
    """Vectors by (backbone, key): an in-process cache in front of the warehouse table (or alone)."""

    def __init__(self, wh: Warehouse | None = None):
        self.wh = wh
        self._memory: dict[str, dict[str, np.ndarray]] = {}
        self.last = StoreStats()  # the last `vectors` call
        self.total = StoreStats()  # every `vectors` call of this store

    # -- reads ---------------------------------------------------------------------------------------------
    def lookup(self, backbone: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors among `keys` (distinct), from memory first, then the warehouse."""
        mem = self._memory.setdefault(backbone, {})
        found = {k: mem[k] for k in keys if k in mem}
        rest = [k for k in keys if k not in found]
        if rest and self.wh is not None:
            rows = self.wh.query(f"""
                SELECT s.text_hash, s.vector FROM "{TABLE}" s
                JOIN (SELECT DISTINCT unnest(?::VARCHAR[]) AS text_hash) k USING (text_hash)
                WHERE s.backbone = ?""", [rest, backbone])
            for k, v in zip(rows["text_hash"], rows["vector"], strict=True):
                mem[k] = found[k] = np.asarray(v, dtype=np.float32)
        return found

    def count(self, backbone: str | None = None) -> int:
        """Rows in the warehouse table (of one backbone), or in memory without a warehouse."""
        if self.wh is None:
            return sum(len(m) for b, m in self._memory.items() if backbone in (None, b))
        if backbone is None:
            return self.wh.count(TABLE)
        return self.wh.count(TABLE, "WHERE backbone = ?", [backbone])

    # -- writes --------------------------------------------------------------------------------------------
    def add(self, backbone: str, vectors: dict[str, np.ndarray]) -> None:
        """Keep new vectors in memory and insert them into the warehouse, ignoring keys already there."""
        if not vectors:
            return
        self._memory.setdefault(backbone, {}).update(vectors)
        if self.wh is not None:
            keys = list(vectors)
            self.wh.insert_new(TABLE, pd.DataFrame({
                "backbone": backbone, "text_hash": keys,
                "dim": np.array([vectors[k].size for k in keys], dtype=np.int32),
                "vector": [np.asarray(vectors[k], dtype=np.float32) for k in keys],
                "created_at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}))

    # -- the entry point -----------------------------------------------------------------------------------
    def vectors(self, backbone: str, keys: Sequence[str], compute: Callable[[list[int]], np.ndarray]
                ) -> np.ndarray:
        """(len(keys), dim) float32 vectors in the order of `keys`. `compute(positions)` embeds the inputs at
        those positions of `keys` (one per distinct missing key) and is called at most once."""
        keys = list(keys)
        first: dict[str, int] = {}
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        stats = StoreStats(inputs=len(keys), distinct=len(first))
        in_memory = self._memory.get(backbone, {})
        stats.from_memory = sum(k in in_memory for k in first)
        found = self.lookup(backbone, list(first))
        stats.from_warehouse = len(found) - stats.from_memory
        missing = [k for k in first if k not in found]
        if missing:
            fresh = np.asarray(compute([first[k] for k in missing]), dtype=np.float32)
            if fresh.shape[0] != len(missing):
                raise ValueError(f"compute returned {fresh.shape[0]} vectors for {len(missing)} inputs")
            new = dict(zip(missing, fresh, strict=True))
            self.add(backbone, new)
            found.update(new)
            stats.embedded = len(missing)
        self.last = stats
        for f in ("inputs", "distinct", "from_memory", "from_warehouse", "embedded"):
            setattr(self.total, f, getattr(self.total, f) + getattr(stats, f))
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)


def embed_pairs(store: EmbeddingStore, encoder, prompts: Sequence[str], responses: Sequence[str], *,
                batch_size: int = 64) -> np.ndarray:
    """Vectors of (prompt, response) pairs through the store: only pairs it lacks reach the encoder."""
    prompts, responses = list(prompts), list(responses)
    keys = [pair_hash(p, r) for p, r in zip(prompts, responses, strict=True)]
    if not keys:
        return np.zeros((0, encoder.dim), dtype=np.float32)

    def compute(pos: list[int]) -> np.ndarray:
        return encoder.embed_pairs([prompts[i] for i in pos], [responses[i] for i in pos],
                                   batch_size=batch_size)

    return store.vectors(encoder.backbone, keys, compute)


def embed_texts(store: EmbeddingStore, encoder, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
    """Vectors of single texts through the store (not normalised)."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)

    def compute(pos: list[int]) -> np.ndarray:
        return encoder.embed_texts([texts[i] for i in pos], batch_size=batch_size)

    return store.vectors(encoder.backbone, [text_hash(t) for t in texts], compute)
