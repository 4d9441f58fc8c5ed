"""Offline token estimates with OpenAI's o200k_base encoding, shipped inside the package.

tiktoken downloads its BPE files at run time, which fails offline; the file ships here instead
(gzip of the 3,613,922-byte original, taken from the bpe-openai 0.1.4 wheel) and is checked
against OpenAI's published SHA-256 before use. Estimates only reserve budget: what is billed
always comes from the provider's reported usage.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from functools import cache
from importlib import resources

import tiktoken

O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
# o200k_base's published pre-tokenisation pattern and special tokens (needed to rebuild it offline).
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
O200K_SPECIAL = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}


class EncodingCorrupt(RuntimeError):
    """The shipped BPE file does not match its published hash; the installation is damaged."""


@cache
def o200k() -> tiktoken.Encoding:
    raw = gzip.decompress(
        resources.files("autopack.llm.data").joinpath("o200k_base.tiktoken.gz").read_bytes()
    )
    if hashlib.sha256(raw).hexdigest() != O200K_SHA256:
        raise EncodingCorrupt(
            "autopack/llm/data/o200k_base.tiktoken.gz does not match o200k_base's SHA-256"
        )
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in raw.splitlines() if line)
    }
    return tiktoken.Encoding(
        name="o200k_base",
        pat_str=O200K_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=O200K_SPECIAL,
    )


def count_tokens(text: str) -> int:
    return len(o200k().encode(text, disallowed_special=()))


# Chat formats add a few tokens per message for roles and separators.
PER_MESSAGE_OVERHEAD = 4


def estimate_input_tokens(messages: list[str], safety_margin: float = 1.2) -> int:
    """A generous estimate of a request's input tokens, for reserving budget before the call."""
    exact = sum(count_tokens(message) + PER_MESSAGE_OVERHEAD for message in messages)
    return int(exact * safety_margin) + 16
