"""Sentence vectors from a static embedding model that ships inside a wheel.

The model is WordLlama's `l2_supercat` token table (package `wordllama`, MIT licence,
16 MB of weights in the wheel), cut to its first DIM dimensions: a vector per token, so a text's
vector is a weighted mean of table rows — no network, no GPU, well under a millisecond of
CPU for a ticket. We read its two files ourselves (tokenizer JSON and safetensors table)
rather than through `WordLlama.load`, which looks for the tokenizer in the wrong folder
and would then try to download it.

Weights are the tenant's inverse document frequencies over the same tokens, fitted on the
whole history at once (`fit`): on the Hadoop duplicate links, IDF weighting lifts
recall@10 of embeddings alone from 0.67 to 0.80 (tests/bench/bench_retrieval.py). A ticket
is represented by its subject and its whole text, each normalised, summed: the subject
says what the ticket is about, the text carries the error and the host.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from safetensors import safe_open
from tokenizers import Tokenizer

MODEL = "wordllama l2_supercat_256, first 128 dimensions"
# WordLlama is trained Matryoshka-style, so a prefix of its dimensions is a smaller model
# of the same kind: on the Hadoop links the first 128 of 256 find as many duplicates
# (recall@10 0.865 against 0.857) at half the memory and half the CPU of a query's scan.
DIM = 128
# Tokens past this are cut: the start of a ticket says what it is; a pasted log's tail
# adds CPU, not meaning.
MAX_TOKENS = 512
_TENSOR = "embedding.weight"
NO_WEIGHTS = np.zeros(0, dtype=np.float32)  # for an index with no tickets: never read

_lock = threading.Lock()
_loaded: StaticModel | None = None


@dataclass(frozen=True)
class StaticModel:
    tokenizer: Tokenizer
    table: np.ndarray  # (vocab, DIM) float32

    @property
    def vocab_size(self) -> int:
        return int(self.table.shape[0])

    def token_ids(self, texts: Sequence[str]) -> list[np.ndarray]:
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.int64) for e in encodings]


def _files() -> tuple[Path, Path]:
    root = Path(str(resources.files("wordllama")))
    return (
        root / "tokenizers" / "l2_supercat_tokenizer_config.json",
        root / "weights" / "l2_supercat_256.safetensors",
    )


def model() -> StaticModel:
    """The packaged model, read once per process on first use (about 0.3 s, 33 MB)."""
    global _loaded
    with _lock:
        if _loaded is None:
            tokenizer_file, weights_file = _files()
            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            tokenizer.no_padding()
            tokenizer.enable_truncation(MAX_TOKENS)
            with safe_open(str(weights_file), framework="np") as tensors:
                table = tensors.get_tensor(_TENSOR)[:, :DIM]
            table = np.ascontiguousarray(table, dtype=np.float32)
            _loaded = StaticModel(tokenizer, table)
        return _loaded


def fit(docs: Sequence[tuple[str, str]]) -> np.ndarray:
    """Per-token weights (smoothed IDF) from a whole corpus of (subject, text) pairs."""
    m = model()
    frequencies = np.zeros(m.vocab_size, dtype=np.float64)
    for ids in m.token_ids([text for _, text in docs]):
        frequencies[np.unique(ids)] += 1
    idf = np.log((len(docs) + 1) / (frequencies + 1)) + 1
    return idf.astype(np.float32)


def _pooled(m: StaticModel, texts: Sequence[str], weights: np.ndarray) -> np.ndarray:
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for row, ids in enumerate(m.token_ids(texts)):
        if ids.size:
            w = weights[ids]
            out[row] = w @ m.table[ids]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


def embed(docs: Sequence[tuple[str, str]], weights: np.ndarray) -> np.ndarray:
    """Unit vectors (len(docs), DIM) for (subject, text) pairs; zero for an empty one."""
    if not docs:
        return np.zeros((0, DIM), dtype=np.float32)
    m = model()
    both = _pooled(m, [s for s, _ in docs], weights) + _pooled(m, [t for _, t in docs], weights)
    norms = np.linalg.norm(both, axis=1, keepdims=True)
    return both / np.where(norms == 0, 1, norms)


def split_query(query: str) -> tuple[str, str]:
    """(subject, text) of a query written as Ticket.text: the subject is its first line."""
    return query.split("\n", 1)[0], query
