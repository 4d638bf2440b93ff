"""A local Hugging Face causal language model as a provider (`provider: transformers`, `model: <folder>`).

Requests that arrive together are generated together: each call joins a queue and one runner per model
takes up to `max_concurrency` waiting requests with the same sampling parameters, pads them on the left and
generates them in one `generate` call in a worker thread, so the event loop (and the journal) keep going.
The prompt comes from the tokenizer's chat template when it has one, else from a plain role-tagged format.
Runs on the GPU when there is one (the Dagster step carries `pool="gpu"`), else on the CPU. Temperature 0
is greedy decoding; above 0 it samples with a seed derived from the batch, so reruns are repeatable.
Loaded models are cached per process (the gateway closes its providers after every run).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from ...config import ModelSpec
from ..types import ChatRequest, ProviderError, ProviderReply

MAX_CACHED_MODELS = 2
_cache: OrderedDict[str, _LocalModel] = OrderedDict()
_cache_lock = threading.Lock()


def pick_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def fallback_prompt(messages: list[tuple[str, str]]) -> str:
    """For tokenizers without a chat template: role-tagged turns, ending where the assistant speaks."""
    parts = [f"### {role.capitalize()}:\n{content.strip()}\n" for role, content in messages]
    return "\n".join(parts) + "\n### Assistant:\n"


class _LocalModel:
    def __init__(self, path: str, device: str):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path, self.device = path, device
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.tokenizer.padding_side = "left"  # decoder-only models continue from the right edge
        if self.tokenizer.pad_token is None:
            fill = self.tokenizer.eos_token or self.tokenizer.unk_token
            if fill is None:
                self.tokenizer.add_special_tokens({"pad_token": "<pad>"})
            else:
                self.tokenizer.pad_token = fill
        dtype = torch.float16 if device == "cuda" else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)
        if len(self.tokenizer) > self.model.get_input_embeddings().weight.shape[0]:
            self.model.resize_token_embeddings(len(self.tokenizer))
        self.model.to(device).eval()
        cfg = self.model.config
        self.context = int(getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
                           or min(self.tokenizer.model_max_length, 1 << 20))
        self.gen_lock = threading.Lock()

    def prompt(self, messages: list[tuple[str, str]]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            dicts = [{"role": r, "content": c} for r, c in messages]
            try:
                return self.tokenizer.apply_chat_template(dicts, tokenize=False, add_generation_prompt=True)
            except Exception:  # noqa: BLE001 - e.g. a template that rejects the system role
                system = "\n\n".join(c for r, c in messages if r == "system")
                rest = [d for d in dicts if d["role"] != "system"]
                if system and rest:
                    rest[0] = {"role": rest[0]["role"], "content": f"{system}\n\n{rest[0]['content']}"}
                return self.tokenizer.apply_chat_template(rest, tokenize=False, add_generation_prompt=True)
        return fallback_prompt(messages)

    def n_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, prompts: list[str], temperature: float, max_new: int,
                 seed: int) -> list[tuple[str, int, int]]:
        """(text, input tokens, output tokens) per prompt; one forward batch."""
        import torch

        tok = self.tokenizer
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        kwargs = {"max_new_tokens": max_new, "pad_token_id": tok.pad_token_id}
        if tok.eos_token_id is not None:
            kwargs["eos_token_id"] = tok.eos_token_id
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_k=0)
            torch.manual_seed(seed)
        else:
            kwargs.update(do_sample=False)
        with self.gen_lock, torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        width = enc["input_ids"].shape[1]
        results = []
        for i in range(len(prompts)):
            new = out[i, width:].tolist()
            n_out = len(new)
            if tok.eos_token_id is not None and tok.eos_token_id in new:
                n_out = new.index(tok.eos_token_id) + 1
            text = tok.decode(new[:n_out], skip_special_tokens=True).strip()
            results.append((text, int(enc["attention_mask"][i].sum()), n_out))
        return results


def load_model(path: str, device: str | None = None) -> _LocalModel:
    """Load (or reuse) a local model; at most MAX_CACHED_MODELS stay in memory."""
    device = device or pick_device()
    key = f"{Path(path).expanduser().resolve()}|{device}"
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        lm = _LocalModel(str(Path(path).expanduser().resolve()), device)
        _cache[key] = lm
        while len(_cache) > MAX_CACHED_MODELS:
            _cache.popitem(last=False)
        return lm


def unload_all() -> None:
    with _cache_lock:
        _cache.clear()


@dataclass
class _Waiting:
    req: ChatRequest
    temperature: float
    max_tokens: int
    future: asyncio.Future


@dataclass
class _Queue:
    items: list[_Waiting] = field(default_factory=list)
    runner: asyncio.Task | None = None


class TransformersProvider:
    name = "transformers"
    local = True  # no server: the gateway skips its rate limiter; max_concurrency is the batch size
    supports_batch = False

    def __init__(self):
        self._queues: dict[str, _Queue] = {}
        self._models: dict[str, _LocalModel] = {}
        self._load_lock = asyncio.Lock()

    async def _model(self, spec: ModelSpec) -> _LocalModel:
        if spec.name in self._models:
            return self._models[spec.name]
        async with self._load_lock:
            if spec.name not in self._models:
                path = Path(spec.model_id).expanduser()
                if not (path / "config.json").exists():
                    raise ProviderError(f"model {spec.name}: no local Hugging Face model folder at {path} "
                                        f"(expected {path / 'config.json'})", retryable=False, fatal=True)
                try:
                    self._models[spec.name] = await asyncio.to_thread(load_model, str(path))
                except Exception as exc:  # noqa: BLE001 - report which model and why
                    raise ProviderError(f"model {spec.name}: cannot load {path}: {type(exc).__name__}: {exc}",
                                        retryable=False, fatal=True) from None
        return self._models[spec.name]

    async def complete(self, spec: ModelSpec, req: ChatRequest, temperature: float,
                       max_tokens: int) -> ProviderReply:
        await self._model(spec)
        q = self._queues.setdefault(spec.name, _Queue())
        fut = asyncio.get_running_loop().create_future()
        q.items.append(_Waiting(req, temperature, max_tokens, fut))
        if q.runner is None or q.runner.done():
            q.runner = asyncio.create_task(self._drain(spec, q))
        return await fut

    async def _drain(self, spec: ModelSpec, q: _Queue) -> None:
        lm = self._models[spec.name]
        while q.items:
            await asyncio.sleep(0)  # let callers that are starting right now join this batch
            first = q.items[0]
            group = [w for w in q.items
                     if (w.temperature, w.max_tokens) == (first.temperature, first.max_tokens)]
            group = group[: max(1, spec.max_concurrency)]
            taken = {id(w) for w in group}
            q.items = [w for w in q.items if id(w) not in taken]
            group = [w for w in group if not w.future.done()]  # cancelled callers
            if group:
                await self._generate(spec, lm, group)

    async def _generate(self, spec: ModelSpec, lm: _LocalModel, group: list[_Waiting]) -> None:
        ready, prompts = [], []
        for w in group:
            text = lm.prompt(list(w.req.messages))
            room = lm.context - lm.n_tokens(text)
            if room < 1:
                w.future.set_exception(ProviderError(
                    f"model {spec.name}: prompt of {lm.context - room} tokens does not fit the context of "
                    f"{lm.context}", retryable=False, status=400))
                continue
            ready.append((w, min(w.max_tokens, room)))
            prompts.append(text)
        if not ready:
            return
        max_new = min(m for _, m in ready)  # the shortest room bounds the whole batch
        seed = int.from_bytes(hashlib.sha256("\x1f".join(prompts).encode()).digest()[:4], "big")
        try:
            outs = await asyncio.to_thread(lm.generate, prompts, ready[0][0].temperature, max_new, seed)
        except Exception as exc:  # noqa: BLE001 - e.g. out of memory: worth another try
            for w, _ in ready:
                if not w.future.done():
                    w.future.set_exception(ProviderError(
                        f"model {spec.name}: generation failed: {type(exc).__name__}: {exc}", retryable=True))
            return
        for (w, _), (text, n_in, n_out) in zip(ready, outs, strict=True):
            if not w.future.done():
                w.future.set_result(ProviderReply(text=text, input_tokens=n_in, output_tokens=n_out))

    async def aclose(self) -> None:
        for q in self._queues.values():
            if q.runner is not None and not q.runner.done():
                q.runner.cancel()
        self._queues.clear()
        self._models.clear()  # the loaded weights stay in the module cache for the next run
