"""The transformers provider on a tiny GPT-2-like model built here: random weights, a tokenizer trained on a
few sentences, saved to a temporary folder. No download."""

from __future__ import annotations

import shutil

import pytest

from llmfeedback_assets.config import Config
from llmfeedback_assets.llm import ChatRequest, FatalModelError, Gateway
from llmfeedback_assets.llm.providers import transformers_provider as tp
from llmfeedback_assets.warehouse import Warehouse

SENTENCES = [
    "The judge compares two answers and picks the better one.",
    "A reward model scores responses to a prompt.",
    "Which answer is more helpful, accurate and concise?",
    "Rate the response on a scale of one to ten.",
    "The assistant explains the idea step by step.",
    "System: you are a fair and careful judge of answers.",
]
TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>{% endif %}")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32-wide model gains nothing from threads, and spinning ones crawl on busy CI
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    plain = tmp_path_factory.mktemp("tiny-plain")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<unk>", "<pad>", "<eos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(SENTENCES, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                   eos_token="<eos>")
    fast.save_pretrained(plain)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(fast), n_positions=96, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=fast.eos_token_id, eos_token_id=fast.eos_token_id,
                        pad_token_id=fast.pad_token_id)
    GPT2LMHeadModel(config).save_pretrained(plain)

    templated = tmp_path_factory.mktemp("tiny-chat")
    for f in plain.iterdir():
        shutil.copy(f, templated / f.name)
    fast.chat_template = TEMPLATE
    fast.save_pretrained(templated)
    yield {"plain": plain, "chat": templated}
    tp.unload_all()
    torch.set_num_threads(threads)


def config(path, **kw) -> Config:
    spec = {"name": "tiny", "provider": "transformers", "model": str(path), "max_tokens": 8,
            "max_concurrency": 4}
    spec.update(kw)
    return Config.model_validate({"models": [spec], "responders": ["tiny"], "judges": [],
                                  "prompt_sources": [{"path": "p"}]})


def requests(n: int, **kw) -> list[ChatRequest]:
    return [ChatRequest.of("tiny", [{"role": "system", "content": "You are a fair judge."},
                                    {"role": "user", "content": f"Rate answer number {i} on a scale."}], **kw)
            for i in range(n)]


@pytest.fixture
def batch_sizes(monkeypatch):
    sizes: list[int] = []
    original = tp._LocalModel.generate

    def spy(self, prompts, *a, **kw):
        sizes.append(len(prompts))
        return original(self, prompts, *a, **kw)

    monkeypatch.setattr(tp._LocalModel, "generate", spy)
    return sizes


def test_requests_are_generated_in_batches_and_journaled(tiny, tmp_path, batch_sizes):
    wh = Warehouse(tmp_path / "w.duckdb")
    results, stats = Gateway(config(tiny["chat"]), wh).run(requests(10))
    assert all(r.ok for r in results), [r.error for r in results]
    assert all(isinstance(r.text, str) and 1 <= r.output_tokens <= 8 and r.input_tokens > 5 for r in results)
    assert sum(batch_sizes) == 10 and max(batch_sizes) > 1 and max(batch_sizes) <= 4
    assert wh.count("llm_journal", "WHERE provider = 'transformers' AND status = 'ok'") == 10
    assert stats.output_tokens == sum(r.output_tokens for r in results)

    _, again = Gateway(config(tiny["chat"]), wh).run(requests(10))
    assert again.cache_hits == 10 and sum(batch_sizes) == 10  # nothing generated twice


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_generation_is_repeatable(tiny, tmp_path, temperature):
    runs = []
    for i in range(2):
        wh = Warehouse(tmp_path / f"w{i}.duckdb")
        results, _ = Gateway(config(tiny["plain"], temperature=temperature), wh).run(requests(6))
        assert all(r.ok for r in results)
        runs.append([r.text for r in results])
    assert runs[0] == runs[1]


def test_chat_template_when_present_and_plain_format_otherwise(tiny):
    msgs = [("system", "Be fair."), ("user", "Which is better?")]
    assert tp.load_model(str(tiny["chat"]), "cpu").prompt(msgs) == (
        "<|system|>Be fair.\n<|user|>Which is better?\n<|assistant|>")
    plain = tp.load_model(str(tiny["plain"]), "cpu").prompt(msgs)
    assert plain == tp.fallback_prompt(msgs)
    assert plain.index("Be fair.") < plain.index("Which is better?") < plain.rindex("### Assistant:")


def test_a_prompt_longer_than_the_context_fails_only_that_request(tiny, tmp_path):
    long = ChatRequest.of("tiny", [{"role": "user", "content": " ".join(SENTENCES * 6)}])
    results, _ = Gateway(config(tiny["plain"]), Warehouse(tmp_path / "w.duckdb")).run(requests(2) + [long])
    assert results[0].ok and results[1].ok
    assert not results[2].ok and "does not fit the context of 96" in results[2].error


def test_a_missing_model_folder_stops_the_run_naming_it(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(FatalModelError, match="tiny.*no-such-model"):
        Gateway(config(missing), Warehouse(tmp_path / "w.duckdb")).run(requests(1))
