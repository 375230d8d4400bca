"""The reconcile engine: what a source declares → a plan → the platform made to match.

``connect`` (one source, :class:`sourceflow.lifecycle.Lifecycle`) and the project file
(``sourceflow.toml``, :mod:`sourceflow.engine.project`) drive the one :class:`Engine`:

- :mod:`~sourceflow.engine.reconcile`: the walk over a source's resources, plan and apply;
- :mod:`~sourceflow.engine.diff`: what is compared, secrets as salted hashes;
- :mod:`~sourceflow.engine.lock`: one writer per name, platform and sandbox on a machine;
- :mod:`~sourceflow.engine.project`: the project file, its schema, plan/apply/export/destroy.
"""

from __future__ import annotations

from sourceflow.engine.reconcile import Change, ChangeRefused, Engine, SourcePlan

__all__ = ["Change", "ChangeRefused", "Engine", "SourcePlan"]
