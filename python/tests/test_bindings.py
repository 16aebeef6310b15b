"""import ryzanstein: every call of the package on the shared models, against
the CLI and the server where they compute the same thing."""

import ctypes
import os
import subprocess
import sys
import threading
import time

import pytest

import ryzanstein
from conftest import REPO

PROMPT = "Once upon a time"


def test_cpu_info():
    info = ryzanstein.cpu_info()
    assert info["isa"] in ("scalar", "avx2", "avx512")
    assert info["logical_cores"] >= 1 and isinstance(info["avx2"], bool)
    forced = subprocess.run(
        [sys.executable, "-c", "import ryzanstein; print(ryzanstein.cpu_info()['isa'])"],
        env={**os.environ, "RZ_ISA": "scalar", "PYTHONPATH": os.path.join(REPO, "python")}, check=True,
        capture_output=True, text=True,
    )
    assert forced.stdout.strip() == "scalar"


def test_tokenize_matches_the_cli(rz_cli, stories):
    model = ryzanstein.Model(stories)
    ids = model.tokenize(PROMPT)
    cli = subprocess.run([rz_cli, "tokenize", "-m", stories, "-p", PROMPT, "--ids", "--add-special"],
                         check=True, capture_output=True, text=True).stdout
    assert ids == [int(t) for t in cli.split()]
    assert ids[0] == model.desc["bos"]
    assert model.tokenize(PROMPT, add_special=False) == ids[1:]
    assert model.detokenize(ids) == PROMPT
    assert model.detokenize([]) == ""
    assert model.tokenize("") == [model.desc["bos"]]


@pytest.mark.parametrize("n", [1, 48])
def test_greedy_equals_rz_run(rz_cli, stories, n):
    out = subprocess.run([rz_cli, "run", "-m", stories, "-p", PROMPT, "-n", str(n), "--temp", "0"],
                         check=True, capture_output=True).stdout
    model = ryzanstein.Model(stories)
    text = model.generate(PROMPT, max_tokens=n, temperature=0)
    assert (PROMPT + text + "\n").encode() == out
    assert model.last_result["n_generated"] == n
    assert model.last_result["stop_reason"] == 2  # length


def test_llama2c_checkpoint(stories):
    """A llama2.c checkpoint with its tokenizer.bin runs as its GGUF does."""
    from conftest import shared

    model = ryzanstein.Model(shared("models/stories260K.bin"), tokenizer_path=shared("models/tok512.bin"))
    assert model.desc["format"] == "llama2c"
    gguf = ryzanstein.Model(stories)
    assert model.tokenize(PROMPT) == gguf.tokenize(PROMPT)
    assert model.generate(PROMPT, max_tokens=32, temperature=0) == gguf.generate(PROMPT, max_tokens=32,
                                                                                  temperature=0)


def test_stream_equals_whole(stories):
    model = ryzanstein.Model(stories)
    for kwargs in ({"temperature": 0}, {"temperature": 0.9, "seed": 42}, {"temperature": 1.2, "seed": 7,
                                                                          "stop": ["Lily"]}):
        whole = model.generate(PROMPT, max_tokens=64, **kwargs)
        pieces = list(model.generate(PROMPT, max_tokens=64, stream=True, **kwargs))
        assert len(pieces) > 1 and all(isinstance(p, str) for p in pieces)
        assert "".join(pieces) == whole
    assert "Lily" not in model.generate(PROMPT, max_tokens=64, temperature=0, stop="Lily")


def test_stream_closed_early_stops(stories):
    model = ryzanstein.Model(stories)
    it = model.generate(PROMPT, max_tokens=200, temperature=0, stream=True, ignore_eos=True)
    first = [next(it) for _ in range(3)]
    it.close()
    assert len(first) == 3
    assert model.last_result["stop_reason"] == 5  # the callback asked to stop
    assert model.last_result["n_generated"] < 200
    # The context is free again.
    assert model.generate(PROMPT, max_tokens=4, temperature=0)


def test_logits_without_copy(stories):
    np = pytest.importorskip("numpy")
    model = ryzanstein.Model(stories)
    ids = model.tokenize(PROMPT)
    view = model.logits(ids)
    assert view.format == "f" and view.shape == (len(ids), model.n_vocab) and not view.readonly
    rows = np.asarray(view)
    assert rows.dtype == np.float32 and np.shares_memory(rows, np.asarray(view))
    assert np.all(np.isfinite(rows))
    # No copy: the array is the context's buffer, so a second evaluation of
    # the same ids rewrites these very bytes with the same values.
    before = rows.copy()
    rows[:] = 0
    model.logits(ids)
    assert np.array_equal(rows, before)
    # The last row is what greedy generation picks from.
    first = model.tokenize(PROMPT + model.generate(PROMPT, max_tokens=1, temperature=0), add_special=True)
    assert int(rows[-1].argmax()) == first[len(ids)]
    # Every position's logits equal those of the prefix evaluated alone.
    for k in (1, 3):
        prefix = np.array(model.logits(ids[:k]))
        np.testing.assert_allclose(prefix[-1], before[k - 1], rtol=0, atol=1e-4)


def test_chat_completion_matches_the_server(stories, serve):
    model = ryzanstein.Model(stories, n_ctx=256)
    messages = [{"role": "system", "content": "Tell a story."}, {"role": "user", "content": "Once upon a time"}]
    reply = model.create_chat_completion(messages, max_tokens=24, temperature=0)
    assert reply["object"] == "chat.completion"
    choice = reply["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] in ("stop", "length")
    assert reply["usage"]["total_tokens"] == reply["usage"]["prompt_tokens"] + reply["usage"]["completion_tokens"]
    chunks = list(model.create_chat_completion(messages, max_tokens=24, temperature=0, stream=True))
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == choice["message"]["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == choice["finish_reason"]
    server = serve(stories, "-c", "256")
    theirs = server.post("/v1/chat/completions", {"model": "default", "messages": messages, "max_tokens": 24,
                                                      "temperature": 0})
    assert theirs["choices"][0]["message"]["content"] == choice["message"]["content"]
    assert theirs["usage"] == reply["usage"]
    with pytest.raises(ryzanstein.Error, match="unknown chat template"):
        model.create_chat_completion(messages, chat_template="jinja")
    harmony = [{"role": "user", "content": "Hi"}, {"role": "tool", "content": "42"}]
    with pytest.raises(ryzanstein.Error, match=r"messages\[1\]\.role"):
        model.create_chat_completion(harmony, chat_template="harmony")


def test_embeddings_equal_the_server(bert, serve):
    model = ryzanstein.Model(bert)
    texts = ["hello world", "a second, longer input to embed"]
    vectors = model.embed(texts)
    assert len(vectors) == 2 and len(vectors[0]) == model.n_embd
    assert model.embed(texts[0]) == vectors[0]
    assert abs(sum(v * v for v in vectors[0]) - 1) < 1e-5
    server = serve(bert)
    theirs = server.post("/v1/embeddings", {"input": texts})
    for mine, data in zip(vectors, theirs["data"]):
        assert len(mine) == len(data["embedding"])
        assert max(abs(a - b) for a, b in zip(mine, data["embedding"])) < 1e-6
    raw = model.embed(texts[0], normalize=False, pooling="cls")
    assert abs(sum(v * v for v in raw) - 1) > 1e-3
    with pytest.raises(ryzanstein.Error, match="encoder"):
        model.generate("hello")


def test_corrupt_model_raises(tmp_path, stories):
    bad = tmp_path / "bad.gguf"
    data = bytearray(open(stories, "rb").read(4096))
    data[8:16] = (2**62).to_bytes(8, "little")  # absurd tensor count
    bad.write_bytes(bytes(data))
    with pytest.raises(ryzanstein.Error) as e:
        ryzanstein.Model(str(bad))
    assert e.value.status == "format error" and "gguf" in str(e.value)
    with pytest.raises(ryzanstein.Error, match="open"):
        ryzanstein.Model(str(tmp_path / "missing.gguf"))
    with pytest.raises(ryzanstein.Error, match="cache|type"):
        ryzanstein.Model(stories, cache_type_k="nonsense")


def test_handles_closed_twice_or_used_after_close_raise(stories):
    model = ryzanstein.Model(stories)
    ctx = model.create_context(n_ctx=64)
    ctx.close()
    with pytest.raises(ryzanstein.Error, match="closed"):
        ctx.close()
    with pytest.raises(ryzanstein.Error, match="closed"):
        ctx.generate(PROMPT)
    other = model.create_context()
    model.close()
    with pytest.raises(ryzanstein.Error, match="closed"):
        model.close()
    for call in (lambda: model.generate(PROMPT), lambda: model.tokenize("x"), lambda: other.logits([1]),
                 lambda: model.n_vocab):
        with pytest.raises(ryzanstein.Error, match="closed"):
            call()
    with ryzanstein.Model(stories) as m:
        assert m.generate(PROMPT, max_tokens=2, temperature=0)
    with pytest.raises(ryzanstein.Error):
        m.generate(PROMPT)
    # An unfinished stream holds its context: this thread may not reuse or
    # close it, and closing the model ends the stream.
    m = ryzanstein.Model(stories)
    it = m.generate(PROMPT, max_tokens=50, temperature=0, stream=True, ignore_eos=True)
    next(it)
    for call in (lambda: m.generate(PROMPT), lambda: m.context.close(), lambda: m.logits([1])):
        with pytest.raises(ryzanstein.Error, match="busy"):
            call()
    m.close()
    with pytest.raises(ryzanstein.Error, match="closed"):
        list(it)


def test_quantize_with_progress(stories, tmp_path):
    out = tmp_path / "q8.gguf"
    seen = []
    ryzanstein.quantize(stories, str(out), "Q8_0", progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1]
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    model = ryzanstein.Model(str(out))
    assert model.desc["weight_type"] == "q8_0"
    assert model.generate(PROMPT, max_tokens=8, temperature=0)
    with pytest.raises(ryzanstein.Error, match="preset|Q9"):
        ryzanstein.quantize(stories, str(tmp_path / "x.gguf"), "Q9_9")

    def fail(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ryzanstein.quantize(stories, str(tmp_path / "y.gguf"), "Q8_0", progress=fail)


def test_two_threads_two_contexts(synth_model):
    model = ryzanstein.Model(synth_model, n_threads=1)
    contexts = [model.context, model.create_context()]
    prompts = ["The first prompt", "Another, different prompt"]

    def run(ctx, prompt):
        return ctx.generate(prompt, max_tokens=64, temperature=0, ignore_eos=True)

    alone = [run(c, p) for c, p in zip(contexts, prompts)]  # also warms both contexts up
    results = [None, None]

    def worker(i):
        results[i] = run(contexts[i], prompts[i])

    sequential = parallel = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        assert [run(c, p) for c, p in zip(contexts, prompts)] == alone
        sequential = min(sequential, time.perf_counter() - t0)
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        parallel = min(parallel, time.perf_counter() - t0)
        assert results == alone
    assert alone[0] != alone[1]
    # The GIL is released while the library computes (ctypes.CDLL, not
    # PyDLL), so two threads overlap; the times are shown, not held to a
    # bound (a loaded machine would make that flaky; bench/ measures speed).
    assert type(ryzanstein._lib) is ctypes.CDLL
    print(f"two contexts: one at a time {sequential:.3f} s, two threads at once {parallel:.3f} s")


def test_pip_install_offline(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--quiet", "--target", str(target),
                    os.path.join(REPO, "python")], check=True, capture_output=True, cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("RYZANSTEIN_LIB", "RZ_BUILD_DIR")}
    env["PYTHONPATH"] = str(target)
    found = subprocess.run([sys.executable, "-c", "import ryzanstein; print(ryzanstein._native.lib._name)"],
                           env=env, check=True, capture_output=True, text=True, cwd=tmp_path).stdout.strip()
    assert found.startswith(str(target))
    assert (target / "ryzanstein" / "py.typed").exists()
