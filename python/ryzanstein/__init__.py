"""Ryzanstein: CPU-first LLM inference, from Python.

    import ryzanstein
    model = ryzanstein.Model("model.gguf", n_ctx=2048)
    print(model.generate("Once upon a time", max_tokens=32, temperature=0))
    for piece in model.generate("The sky is", stream=True):
        print(piece, end="", flush=True)
    reply = model.create_chat_completion([{"role": "user", "content": "Hi"}])
    print(reply["choices"][0]["message"]["content"])

A Model holds the weights, the tokenizer and one Context (its KV cache);
Model.create_context() makes more, so that several threads can generate at
once (the library releases the GIL while it computes). Library failures raise
ryzanstein.Error with the library's message.
"""

from __future__ import annotations

import ctypes
import os
import contextlib
import secrets
import threading
import time
import uuid
import weakref
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TypeVar, Union

from . import _native as _n

__version__ = "0.1.0"
__all__ = ["Model", "Context", "Error", "quantize", "cpu_info", "__version__"]

_lib = _n.lib


class Error(Exception):
    """A failure reported by libryzanstein (or a misuse of a closed handle).

    `status` names the library's status ("format error", "out of range", ...),
    None for errors raised by the bindings themselves."""

    def __init__(self, message: str, status: Optional[str] = None) -> None:
        super().__init__(message)
        self.status = status


def _check(status: int) -> None:
    if status != _n.RZ_OK:
        message = (_lib.rz_last_error() or b"").decode("utf-8", "replace")
        name = _n.STATUS_NAMES[status] if 0 <= status < len(_n.STATUS_NAMES) else str(status)
        raise Error(message or name, name)


def _type_id(name: str) -> int:
    out = _n.rz_type()
    _check(_lib.rz_type_from_name(name.encode(), ctypes.byref(out)))
    return out.value


def _text(data: Union[str, bytes]) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def cpu_info() -> Dict[str, Any]:
    """The CPU as the library sees it: vendor, brand, feature flags, cores and
    the ISA path in use ("scalar", "avx2" or "avx512"; RZ_ISA forces one)."""
    info = _lib.rz_cpu_info_get().contents
    out: Dict[str, Any] = {}
    for name, _ in info._fields_:
        value = getattr(info, name)
        out[name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    out["isa_best"] = _lib.rz_isa_name(_lib.rz_isa_best()).decode()
    out["isa"] = _lib.rz_isa_name(_lib.rz_isa_active()).decode()
    return out


def quantize(
    src: str,
    dst: str,
    type: str = "Q8_0",
    *,
    progress: Optional[Callable[[int, int], None]] = None,
    n_threads: int = 0,
    pure: bool = False,
    output_type: Optional[str] = None,
    token_embedding_type: Optional[str] = None,
) -> None:
    """GGUF -> GGUF with the weights requantized, as `rz quantize` does.

    `type` is a llama.cpp preset name ("Q4_K_M", "Q8_0", "F16", ...);
    `progress(done, total)` is called with elements processed so far."""
    params = _n.rz_quantize_params()
    _lib.rz_quantize_params_init(ctypes.byref(params))
    params.preset = type.encode()
    params.pure = pure
    params.n_threads = n_threads
    if output_type is not None:
        params.output_type = _type_id(output_type)
    if token_embedding_type is not None:
        params.token_embedding_type = _type_id(token_embedding_type)
    failure: List[BaseException] = []

    def on_progress(_user: Any, done: int, total: int) -> None:
        if failure:
            return
        try:
            progress(done, total)  # type: ignore[misc]
        except BaseException as e:  # re-raised once the library returns
            failure.append(e)

    callback = _n.PROGRESS_FN(on_progress) if progress else None
    if callback:
        params.progress = ctypes.cast(callback, ctypes.c_void_p)
    status = _lib.rz_quantize_model(os.fsencode(src), os.fsencode(dst), ctypes.byref(params))
    if failure:
        raise failure[0]
    _check(status)


_FINISH = {
    _n.STOP_END_TOKEN: "stop",
    _n.STOP_STRING: "stop",
    _n.STOP_CALLBACK: "stop",
    _n.STOP_LENGTH: "length",
    _n.STOP_CONTEXT: "length",
}


class _Handle:
    """A library object owned by Python: closed by _release (subclasses),
    on `with` exit or when collected; use after close raises Error."""

    _ptr: Optional[int] = None
    _what = "handle"

    def _handle(self) -> int:
        if self._ptr is None:
            raise Error(f"the {self._what} is closed")
        return self._ptr

    def _release(self) -> None:
        raise NotImplementedError

    def __del__(self) -> None:
        if getattr(self, "_ptr", None) is not None and _lib is not None:
            self._release()

    def __enter__(self: "_H") -> "_H":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._release()


_H = TypeVar("_H", bound=_Handle)


class Context(_Handle):
    """A KV cache and its threads over a Model: one sequence at a time.

    Calls on one Context from several threads take turns; use one Context per
    thread to generate in parallel. Close it (or use `with`) to free it now."""

    def __init__(
        self,
        model: "Model",
        n_ctx: int = 0,
        n_threads: int = 0,
        n_batch: int = 256,
        cache_type_k: str = "f32",
        cache_type_v: str = "f32",
    ) -> None:
        params = _lib.rz_context_default_params()
        params.n_ctx = n_ctx
        params.n_threads = n_threads
        params.n_batch = n_batch
        params.type_k = _type_id(cache_type_k)
        params.type_v = _type_id(cache_type_v)
        handle = ctypes.c_void_p()
        _check(_lib.rz_context_create(model._handle(), ctypes.byref(params), ctypes.byref(handle)))
        self._ptr: Optional[int] = handle.value
        self._model = model
        self._lock = threading.Lock()
        self._owner: Optional[int] = None
        self._job: Optional[_Job] = None  # the generation this context runs
        self.last_result: Dict[str, Any] = {}
        model._contexts.add(self)

    _what = "context"

    @contextlib.contextmanager
    def _use(self) -> Iterator[int]:
        """The handle, for one call or one whole generation: other threads
        wait their turn; this thread may not re-enter (a stream it has not
        finished holds the context)."""
        if self._owner == threading.get_ident():
            raise Error("the context is busy with an unfinished generation in this thread: close that iterator first")
        with self._lock:
            self._owner = threading.get_ident()
            try:
                yield self._handle()
            finally:
                self._owner = None

    def close(self) -> None:
        """Free the KV cache. A second close raises Error."""
        with self._use() as ptr:
            self._ptr = None
            _lib.rz_context_free(ptr)

    def _release(self) -> None:
        if self._ptr is None:
            return
        if self._owner == threading.get_ident():
            # This thread's own unfinished stream: end it here, its iterator
            # then finds the context closed.
            if self._job is not None:
                self._job.end()
            ptr, self._ptr = self._ptr, None
            _lib.rz_context_free(ptr)
            return
        with self._lock:
            if self._ptr is not None:
                ptr, self._ptr = self._ptr, None
                _lib.rz_context_free(ptr)

    @property
    def model(self) -> "Model":
        return self._model

    @property
    def n_ctx(self) -> int:
        return int(_lib.rz_context_n_ctx(self._handle()))

    @property
    def n_threads(self) -> int:
        return int(_lib.rz_context_n_threads(self._handle()))

    @property
    def n_past(self) -> int:
        """Tokens the KV cache holds."""
        return int(_lib.rz_context_n_past(self._handle()))

    def reset(self) -> None:
        """Forget everything the KV cache holds."""
        with self._use() as ctx:
            _check(_lib.rz_context_truncate(ctx, 0))

    # -- evaluation ----------------------------------------------------
    def logits(self, ids: Sequence[int]) -> memoryview:
        """Evaluate `ids` from position 0 and return every position's logits:
        a float32 memoryview of shape (len(ids), n_vocab) over the context's
        own buffer, no copy (numpy.asarray(view) wraps it as an array). It is
        valid until this context evaluates again; copy it to keep it."""
        n = len(ids)
        if n == 0:
            raise Error("logits: no tokens")
        n_vocab = self._model.n_vocab
        tokens = (ctypes.c_int32 * n)(*ids)
        want = (ctypes.c_bool * n)(*([True] * n))
        with self._use() as ctx:
            _check(_lib.rz_context_truncate(ctx, 0))
            _check(_lib.rz_decode(ctx, tokens, n, want))
            first = _lib.rz_get_logits(ctx, 0)
            rows = (ctypes.c_float * (n * n_vocab)).from_address(ctypes.addressof(first.contents))
            return memoryview(rows).cast("B").cast("f", (n, n_vocab))

    def embed(
        self, texts: Union[str, Sequence[str]], *, normalize: bool = True, pooling: Optional[str] = None
    ) -> Union[List[float], List[List[float]]]:
        """Embedding of a text (a list of floats), or of each text in a list,
        as /v1/embeddings computes them: the model's pooling ("mean", "cls",
        "last" override it), unit length unless normalize=False."""
        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        params = _lib.rz_embed_default_params()
        params.normalize = normalize
        if pooling is not None:
            kinds = {"none": 0, "mean": 1, "cls": 2, "last": 3}
            if pooling not in kinds or pooling == "none":
                raise Error(f"pooling must be 'mean', 'cls' or 'last', not {pooling!r}")
            params.pooling = kinds[pooling]
        n_embd = self._model.n_embd
        out: List[List[float]] = []
        with self._use() as ctx:
            for text in items:
                ids = self._model.tokenize(text)
                tokens = (ctypes.c_int32 * len(ids))(*ids)
                vec = (ctypes.c_float * n_embd)()
                _check(_lib.rz_embed_ext(ctx, tokens, len(ids), ctypes.byref(params), vec))
                out.append(list(vec))
        return out[0] if single else out

    # -- generation ----------------------------------------------------
    def generate(
        self,
        prompt: Union[str, Sequence[int]],
        max_tokens: Optional[int] = 128,
        temperature: float = 0.8,
        top_p: float = 0.95,
        stop: Union[str, Sequence[str], None] = None,
        seed: Optional[int] = None,
        stream: bool = False,
        *,
        top_k: int = 40,
        min_p: float = 0.05,
        repeat_penalty: float = 1.0,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        ignore_eos: bool = False,
    ) -> Union[str, Iterator[str]]:
        """Continue `prompt` (text, BOS added as the model asks, or token ids)
        from an empty cache, as `rz run` does. Returns the text, or with
        stream=True an iterator of text pieces (complete UTF-8 characters;
        text that may begin a stop string is held until resolved).
        temperature 0 is greedy; max_tokens None runs until the context is
        full; seed None draws one. Statistics land in `last_result`."""
        ids = self._model.tokenize(prompt) if isinstance(prompt, str) else list(prompt)
        job = _Job(self, ids, max_tokens, stop, ignore_eos=ignore_eos)
        job.sampling(
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            min_p=min_p,
            repeat_penalty=repeat_penalty,
            frequency_penalty=frequency_penalty,
            presence_penalty=presence_penalty,
            seed=seed,
        )
        return job.stream() if stream else "".join(job.stream())

    def create_chat_completion(
        self,
        messages: Sequence[Dict[str, str]],
        max_tokens: Optional[int] = None,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Union[str, Sequence[str], None] = None,
        seed: Optional[int] = None,
        stream: bool = False,
        *,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        chat_template: Optional[str] = None,
    ) -> Union[Dict[str, Any], Iterator[Dict[str, Any]]]:
        """An OpenAI chat completion over the model's chat template (or the
        named family), rendered and sampled as rz serve does (its defaults:
        temperature 1, top_p 1, no top-k/min-p). Returns the
        `chat.completion` dict, or with stream=True an iterator of
        `chat.completion.chunk` dicts."""
        template = self._model._template(chat_template)
        text = _render(template, messages)
        ids = self._model.tokenize(text, parse_special=True)
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        eot = _lib.rz_chat_end_of_turn(template)
        i = 0
        while eot[i]:
            stops.append(eot[i].decode())
            i += 1
        job = _Job(self, ids, max_tokens, stops)
        job.sampling(
            temperature=temperature,
            top_k=0,
            top_p=top_p,
            min_p=0.0,
            repeat_penalty=1.0,
            frequency_penalty=frequency_penalty,
            presence_penalty=presence_penalty,
            seed=seed,
        )
        ident = "chatcmpl-" + uuid.uuid4().hex
        created = int(time.time())
        name = self._model.name
        if stream:
            return _chat_chunks(job, ident, created, name)
        content = "".join(job.stream())
        result = job.result
        return {
            "id": ident,
            "object": "chat.completion",
            "created": created,
            "model": name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": _FINISH.get(result["stop_reason"], "stop"),
                }
            ],
            "usage": {
                "prompt_tokens": result["n_prompt"],
                "completion_tokens": result["n_generated"],
                "total_tokens": result["n_prompt"] + result["n_generated"],
            },
        }


def _chat_chunks(job: "_Job", ident: str, created: int, name: str) -> Iterator[Dict[str, Any]]:
    def chunk(delta: Dict[str, str], finish: Optional[str] = None) -> Dict[str, Any]:
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    yield chunk({"role": "assistant", "content": ""})
    for piece in job.stream():
        yield chunk({"content": piece})
    yield chunk({}, _FINISH.get(job.result["stop_reason"], "stop"))


def _render(template: int, messages: Sequence[Dict[str, str]]) -> str:
    items = (_n.rz_chat_message * len(messages))()
    for i, m in enumerate(messages):
        role, content = m.get("role"), m.get("content")
        if not isinstance(role, str) or not isinstance(content, str):
            raise Error(f"messages[{i}] needs a string 'role' and 'content'")
        if role == "developer":
            role = "system"
        items[i].role = role.encode()
        items[i].content = content.encode()
    out = ctypes.c_void_p()
    fault = _n.rz_chat_fault()
    _check(_lib.rz_chat_render(template, items, len(messages), int(time.time()), ctypes.byref(out), fault))
    try:
        return ctypes.string_at(out.value).decode("utf-8")
    finally:
        _lib.rz_free(out)


class _Job:
    """One generation, pulled a token at a time (rz_generation_step; the GIL
    is free while the library computes). stream() yields the text pieces;
    closing the iterator early ends the generation there."""

    def __init__(
        self,
        ctx: Context,
        ids: List[int],
        max_tokens: Optional[int],
        stop: Union[str, Sequence[str], None],
        ignore_eos: bool = False,
    ) -> None:
        if not ids:
            raise Error("generate: the prompt has no tokens")
        self.ctx = ctx
        self.ids = ids
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        self.stops = [s.encode() for s in stops if s]
        self.params = _n.rz_generate_params()
        self.params.n_predict = -1 if max_tokens is None else max_tokens
        self.params.ignore_end_token = ignore_eos
        self.sampler = _lib.rz_sampler_default_params()
        self.result: Dict[str, Any] = {}

    def sampling(self, seed: Optional[int], **values: float) -> None:
        for key, value in values.items():
            setattr(self.sampler, key, value)
        self.sampler.seed = secrets.randbits(64) if seed is None else seed & (2**64 - 1)

    def stream(self) -> Iterator[str]:
        ctx = self.ctx
        pieces: List[bytes] = []

        def on_token(_user: Any, _token: int, text: Optional[int], length: int) -> bool:
            if length:
                pieces.append(ctypes.string_at(text, length))
            return True

        callback = _n.TOKEN_FN(on_token)
        stops = (ctypes.c_char_p * max(1, len(self.stops)))(*self.stops)
        self.params.stop_strings = stops
        self.params.n_stop_strings = len(self.stops)
        tokens = (ctypes.c_int32 * len(self.ids))(*self.ids)
        with ctx._use() as handle:
            self.sampler_handle = ctypes.c_void_p()
            self.generation = ctypes.c_void_p()
            ctx._job = self
            try:
                _check(
                    _lib.rz_sampler_create(
                        ctypes.byref(self.sampler), ctx.model.n_vocab, ctypes.byref(self.sampler_handle)
                    )
                )
                _check(_lib.rz_context_truncate(handle, 0))
                _check(
                    _lib.rz_generation_begin(
                        handle,
                        self.sampler_handle,
                        tokens,
                        len(self.ids),
                        ctypes.byref(self.params),
                        ctypes.byref(self.generation),
                    )
                )
                done = ctypes.c_bool(False)
                while not done.value:
                    if not self.generation:
                        raise Error("the context was closed during the generation")
                    _check(_lib.rz_generation_step(self.generation, callback, None, ctypes.byref(done)))
                    for piece in pieces:
                        yield piece.decode("utf-8", "replace")
                    pieces.clear()
            finally:
                ctx._job = None
                status = self.end()
            _check(status)

    def end(self) -> int:
        """Ends the generation (once) and frees the sampler; the status."""
        result = _n.rz_generate_result()
        status = _lib.rz_generation_end(self.generation, ctypes.byref(result)) if self.generation else _n.RZ_OK
        if self.generation:
            self.result = {name: getattr(result, name) for name, _ in result._fields_}
            self.ctx.last_result = self.result
        self.generation = ctypes.c_void_p()
        _lib.rz_sampler_free(self.sampler_handle)
        self.sampler_handle = ctypes.c_void_p()
        return status


class Model(_Handle):
    """A model file (GGUF or llama2.c checkpoint) with its tokenizer and a
    default Context; the generation methods run on that context.

    n_ctx 0 is the model's training context; n_threads 0 the physical cores;
    cache_type_k/v name the KV cache types ("f32", "f16", "q8_0", ...).
    tokenizer_path is a llama2.c tokenizer.bin for .bin checkpoints."""

    def __init__(
        self,
        path: str,
        n_ctx: int = 0,
        n_threads: int = 0,
        n_batch: int = 256,
        cache_type_k: str = "f32",
        cache_type_v: str = "f32",
        *,
        tokenizer_path: Optional[str] = None,
        no_repack: bool = False,
        lut: bool = False,
    ) -> None:
        self._ptr: Optional[int] = None
        self._contexts: "weakref.WeakSet[Context]" = weakref.WeakSet()
        params = _lib.rz_model_default_params()
        self._tokenizer_path = os.fsencode(tokenizer_path) if tokenizer_path else None
        params.tokenizer_path = self._tokenizer_path
        params.no_repack = no_repack
        params.lut = lut
        handle = ctypes.c_void_p()
        _check(_lib.rz_model_load(os.fsencode(path), ctypes.byref(params), ctypes.byref(handle)))
        self._ptr = handle.value
        self.path = path
        self.name = os.path.basename(os.path.normpath(path))
        self._ctx_args = dict(
            n_ctx=n_ctx, n_threads=n_threads, n_batch=n_batch, cache_type_k=cache_type_k, cache_type_v=cache_type_v
        )
        try:
            self._default = Context(self, **self._ctx_args)
        except BaseException:
            self._release()
            raise

    _what = "model"

    def close(self) -> None:
        """Free the model and its contexts. A second close raises Error."""
        self._handle()
        self._release()

    def _release(self) -> None:
        if self._ptr is None:
            return
        for ctx in list(self._contexts):
            ctx._release()
        ptr, self._ptr = self._ptr, None
        _lib.rz_model_free(ptr)

    def create_context(self, **overrides: Any) -> Context:
        """Another KV cache over the same weights (arguments as Model's:
        n_ctx, n_threads, n_batch, cache_type_k, cache_type_v)."""
        args = dict(self._ctx_args)
        unknown = set(overrides) - set(args)
        if unknown:
            raise TypeError(f"unknown context arguments: {sorted(unknown)}")
        args.update(overrides)
        return Context(self, **args)

    @property
    def context(self) -> Context:
        """The default context the generation methods use."""
        self._handle()
        return self._default

    # -- description ---------------------------------------------------
    @property
    def desc(self) -> Dict[str, Any]:
        """Architecture and hyperparameters (the fields of rz_model_desc)."""
        d = _lib.rz_model_describe(self._handle()).contents
        out = {}
        for name, _ in d._fields_:
            value = getattr(d, name)
            out[name] = value.decode() if isinstance(value, bytes) else value
        out["weight_type"] = _lib.rz_type_name(d.weight_type).decode()
        out["output_type"] = _lib.rz_type_name(d.output_type).decode()
        return out

    @property
    def n_vocab(self) -> int:
        return int(_lib.rz_model_describe(self._handle()).contents.n_vocab)

    @property
    def n_embd(self) -> int:
        return int(_lib.rz_model_describe(self._handle()).contents.n_embd)

    @property
    def n_ctx_train(self) -> int:
        return int(_lib.rz_model_describe(self._handle()).contents.n_ctx_train)

    def metadata(self, key: str) -> Optional[str]:
        """A string from the GGUF metadata, None if absent."""
        value = _n.rz_str()
        status = _lib.rz_model_meta_str(self._handle(), key.encode(), ctypes.byref(value))
        if status == _n.RZ_ERR_NOT_FOUND:
            return None
        _check(status)
        return ctypes.string_at(value.ptr, value.len).decode("utf-8", "replace")

    @property
    def chat_template(self) -> str:
        """The chat template family the model's template was recognized as
        ("chatml" when it declares none or an unknown one)."""
        return _lib.rz_chat_template_name(self._template(None)).decode()

    def _template(self, name: Optional[str]) -> int:
        out = ctypes.c_int()
        if name is not None:
            _check(_lib.rz_chat_template_from_name(name.encode(), ctypes.byref(out)))
        else:
            _lib.rz_model_chat_template(self._handle(), ctypes.byref(out))  # ChatML when unknown
        return out.value

    # -- tokens --------------------------------------------------------
    def tokenize(self, text: Union[str, bytes], add_special: bool = True, parse_special: bool = False) -> List[int]:
        """Token ids of `text`. add_special adds BOS/EOS as the vocabulary
        asks; parse_special matches control-token texts such as <|im_end|>."""
        data = _text(text)
        handle = self._handle()
        cap = len(data) + 8
        while True:
            out = (ctypes.c_int32 * cap)()
            n = ctypes.c_size_t()
            status = _lib.rz_tokenize(handle, data, len(data), add_special, parse_special, out, cap, ctypes.byref(n))
            if status == _n.RZ_ERR_RANGE and n.value > cap:  # the full count is in n
                cap = n.value
                continue
            _check(status)
            return list(out[: n.value])

    def detokenize(self, ids: Sequence[int]) -> str:
        """Text of the token ids (invalid UTF-8 becomes U+FFFD)."""
        handle = self._handle()
        tokens = (ctypes.c_int32 * len(ids))(*ids)
        cap = 16 * len(ids) + 16
        while True:
            buf = ctypes.create_string_buffer(cap)
            n = ctypes.c_size_t()
            status = _lib.rz_detokenize(handle, tokens, len(ids), buf, cap, ctypes.byref(n))
            if status == _n.RZ_ERR_RANGE and cap < (1 << 30):  # the buffer was too small
                cap *= 4
                continue
            _check(status)
            return buf.raw[: n.value].decode("utf-8", "replace")

    # -- on the default context ----------------------------------------
    def generate(self, *args: Any, **kwargs: Any) -> Union[str, Iterator[str]]:
        return self.context.generate(*args, **kwargs)

    def create_chat_completion(self, *args: Any, **kwargs: Any) -> Union[Dict[str, Any], Iterator[Dict[str, Any]]]:
        return self.context.create_chat_completion(*args, **kwargs)

    def embed(self, *args: Any, **kwargs: Any) -> Union[List[float], List[List[float]]]:
        return self.context.embed(*args, **kwargs)

    def logits(self, ids: Sequence[int]) -> memoryview:
        return self.context.logits(ids)

    @property
    def last_result(self) -> Dict[str, Any]:
        """Statistics of the default context's last generation: stop_reason,
        n_prompt, n_generated, prompt_seconds, generate_seconds."""
        return self.context.last_result

    generate.__doc__ = Context.generate.__doc__
    create_chat_completion.__doc__ = Context.create_chat_completion.__doc__
    embed.__doc__ = Context.embed.__doc__
    logits.__doc__ = Context.logits.__doc__
