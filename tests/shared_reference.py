"""Where the tests find ``../shared`` (Adobe's contract, the seed documents, Stripe's sample
objects), and the one plain skip when it is absent.

``../shared`` sits beside the repository in CI and on developers' machines, never in a user's
clone; ``SOURCEFLOW_SHARED`` names another place.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(
    os.environ.get("SOURCEFLOW_SHARED") or Path(__file__).resolve().parents[1].parent / "shared"
)


def reference(*parts: str, needed_for: str, module: bool = False) -> Path:
    """``../shared/reference/<parts>``, or a skip that says what it was needed for.

    :param module: skip the whole calling module (call it at import time).
    """
    path = SHARED.joinpath("reference", *parts)
    if not path.exists():
        pytest.skip(
            f"../shared/reference/{'/'.join(parts)} is absent: {needed_for}",
            allow_module_level=module,
        )
    return path
