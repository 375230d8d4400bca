"""Comparing secrets and signatures: constant time, and a verdict for any input, never an error.

Whatever a sender puts in a header (non-ASCII text, lone surrogates, kilobytes of noise) reaches
these comparisons, so they must answer False rather than raise: :func:`hmac.compare_digest`
raises ``TypeError`` for a ``str`` that is not ASCII, which an inlet would turn into a 500 and
a provider into hours of retries. Every comparison of a secret or a signature in sourceflow and
its plugins goes through :func:`same`.
"""

from __future__ import annotations

import hmac


def _bytes(value: str | bytes) -> bytes:
    # surrogatepass: a lone surrogate becomes bytes that match nothing, instead of an error.
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def same(given: str | bytes | None, expected: str | bytes) -> bool:
    """Whether ``given`` equals ``expected``, in time that does not depend on where they differ.

    None, and any text at all, gives a verdict; an empty ``expected`` matches nothing, so an
    unset secret can never be satisfied.
    """
    if given is None or not expected:
        return False
    return hmac.compare_digest(_bytes(given), _bytes(expected))
