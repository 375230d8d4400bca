"""Keep secrets out of logs, errors and API answers.

Two nets: values under keys that name a secret (``clientSecret``, ``accessToken``,
``Authorization`` …) are masked wherever they appear in a structure, and any string that was
registered as a secret with :func:`register` is masked inside free text (an error message, a
URL). Token shapes that are secret by nature (``Bearer …``, Stripe and Shopify keys) are masked
even when nobody registered them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from functools import cache
from typing import Any

MASK = "***"


# Compiled on first use: compiling them is pure Python, and a command that never reports an
# error or a secret-bearing structure (``sourceflow plugins``) should not pay for it.
@cache
def _secret_key() -> re.Pattern[str]:
    return re.compile(
        r"(secret|token|password|passwd|authorization|api[-_]?key|access[-_]?key|credential|"
        r"private[-_]?key|signature|hmac|cookie)",
        re.IGNORECASE,
    )


@cache
def _shapes() -> re.Pattern[str]:
    return re.compile(
        r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]+"
        r"|\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]+"
        r"|\bwhsec_[A-Za-z0-9+/=]+"
        r"|\bshp(?:at|ca|pa|ss)_[A-Za-z0-9]+"
    )


_MIN_LEN = 6  # shorter registered values would mask ordinary words

_known: set[str] = set()
_keys: set[str] = set()  # names a loaded source's schema marks secret (format: password …)
_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None


def register(*values: str | None) -> None:
    """Remember secret values so they are masked in any text from now on."""
    global _pattern
    added = {v for v in values if isinstance(v, str) and len(v) >= _MIN_LEN}
    if not added - _known:
        return
    with _lock:
        _known.update(added)
        ordered = sorted(_known, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def register_keys(*names: str) -> None:
    """Remember field names that hold secrets (a schema's ``format: password`` or ``writeOnly``
    fields, registered when a plugin is loaded), so they are masked wherever they appear."""
    with _lock:
        _keys.update(n for n in names if n)


def is_secret_key(key: str) -> bool:
    """Whether a field called ``key`` holds a secret: a name a source's schema marks secret
    (:func:`register_keys`), or one that looks like a secret's."""
    return key in _keys or bool(_secret_key().search(key))


def scrub(text: str) -> str:
    """``text`` with registered secrets and secret-shaped tokens masked."""
    if _pattern is not None:
        text = _pattern.sub(MASK, text)
    return _shapes().sub(
        lambda m: m.group(0).split()[0] + " " + MASK if " " in m.group(0) else MASK, text
    )


def redact(value: Any) -> Any:
    """A copy of ``value`` with secret fields masked and free text scrubbed."""
    if isinstance(value, Mapping):
        return {
            k: (
                MASK
                if isinstance(k, str) and is_secret_key(k) and v not in (None, "", False, True)
                else redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return scrub(value)
    return value
