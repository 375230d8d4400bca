"""The plugin manager: finds plugins through entry points and routes hooks to the right one.

Plugins are distributions that declare an entry point in the ``sourceflow`` group. The
``SOURCEFLOW_LOAD_PLUGINS`` environment variable, a comma-separated list of distribution names,
restricts which are loaded (empty: none). A plugin that fails to import or breaks a hook spec is
reported with its distribution name and left out; the others keep working.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pluggy
from attrs import define, field

from sourceflow import hookspecs, redact
from sourceflow.errors import PluginError, UnknownSource
from sourceflow.hooktypes import Source

if TYPE_CHECKING:
    from sourceflow.hooktypes import Step

GROUP = "sourceflow"
ALLOW_ENV = "SOURCEFLOW_LOAD_PLUGINS"


@define(kw_only=True, frozen=True)
class LoadFailure:
    """A plugin that was left out, and why."""

    distribution: str
    error: str


@define(kw_only=True, frozen=True)
class PluginInfo:
    """What ``sourceflow plugins`` shows for one plugin."""

    name: str
    version: str | None
    hooks: tuple[str, ...]
    sources: tuple[Source, ...]


@define
class Registry:
    """Wraps pluggy's manager with sourceflow's rules: allow-list, failures, source ownership."""

    pm: pluggy.PluginManager = field(factory=lambda: _new_manager())
    failures: list[LoadFailure] = field(factory=list)
    _versions: dict[str, str | None] = field(factory=dict)
    _sources: dict[str, tuple[Source, str]] = field(factory=dict)
    # Per (hook, owner): the owner-only hook caller, and whether the owner implements the
    # hook. The inlet asks both for every delivery; registering or dropping a plugin clears it.
    _routes: dict[tuple[str, str], tuple[Any, bool]] = field(factory=dict)

    # --- loading ------------------------------------------------------------------------------

    def load_entry_points(self, allow: Iterable[str] | None = None) -> None:
        """Load plugins from the ``sourceflow`` entry point group.

        :param allow: distribution names to load; None reads ``SOURCEFLOW_LOAD_PLUGINS`` and,
            when it is unset, loads every installed plugin.
        """
        allowed = _allowed(allow)
        for ep in metadata.entry_points(group=GROUP):
            # Read once: each of ``dist.name`` and ``dist.version`` parses the METADATA file.
            meta = ep.dist.metadata if ep.dist else None
            dist = meta["Name"] if meta is not None else ep.module
            if allowed is not None and _norm(dist) not in allowed:
                continue
            if self.pm.has_plugin(dist):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                self.failures.append(LoadFailure(distribution=dist, error=_describe(exc)))
                continue
            self.register(plugin, dist, version=meta["Version"] if meta is not None else None)

    def register(self, plugin: object, name: str, *, version: str | None = None) -> None:
        """Register a plugin object under ``name`` (its distribution name).

        A plugin whose hooks do not match the specs, or whose ``sourceflow_sources`` fails,
        is reported in :attr:`failures` and not registered. A source claimed by two plugins
        raises :class:`PluginError` naming both.
        """
        self._routes.clear()
        try:
            self.pm.register(plugin, name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self._drop(plugin)
            self.failures.append(LoadFailure(distribution=name, error=_describe(exc)))
            return
        try:
            provided = self._collect(plugin, name)
        except Exception as exc:
            self._drop(plugin)
            self.failures.append(
                LoadFailure(distribution=name, error="sourceflow_sources: " + _describe(exc))
            )
            return
        self._claim(provided, name, plugin)
        self._versions[name] = version

    def unregister(self, name: str) -> None:
        """Remove the plugin registered as ``name`` and the sources it provided."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self._drop(plugin)
        self._versions.pop(name, None)
        self._sources = {k: v for k, v in self._sources.items() if v[1] != name}

    def _drop(self, plugin: object) -> None:
        self._routes.clear()
        if self.pm.is_registered(plugin):
            self.pm.unregister(plugin)

    def _collect(self, plugin: object, name: str) -> list[Source]:
        impl = getattr(plugin, "sourceflow_sources", None)
        if impl is None:
            return []
        provided = list(impl() or [])
        for s in provided:
            if not isinstance(s, Source):
                raise TypeError(f"returned {type(s).__name__}, expected sourceflow.Source")
        return provided

    def _claim(self, provided: list[Source], name: str, plugin: object) -> None:
        for s in provided:
            redact.register_keys(*s.secret_params)
            for key in (s.name, s.id):
                if key in self._sources and self._sources[key][1] != name:
                    other = self._sources[key][1]
                    self._drop(plugin)
                    raise PluginError(
                        f"plugins {other!r} and {name!r} both provide {key!r}",
                        hint=f"uninstall one of them, or set {ALLOW_ENV} to load only one",
                    )
        for s in provided:
            self._sources[s.name] = (s, name)
            self._sources[s.id] = (s, name)

    # --- lookups ------------------------------------------------------------------------------

    def sources(self) -> list[Source]:
        """Every source of every loaded plugin, by name."""
        seen = {id(s): s for s, _ in self._sources.values()}
        return sorted(seen.values(), key=lambda s: s.name)

    def source(self, key: str) -> Source:
        """The source with this name or connection spec id; :class:`UnknownSource` if none."""
        try:
            return self._sources[key][0]
        except KeyError:
            raise UnknownSource(key, [s.name for s in self.sources()]) from None

    def owner(self, source: Source) -> str:
        """The distribution name of the plugin that provides ``source``."""
        return self._sources[source.id][1]

    def plugins(self) -> list[PluginInfo]:
        """The loaded plugins with their versions, hooks and sources."""
        infos = []
        for name, plugin in sorted(self.pm.list_name_plugin()):
            callers = self.pm.get_hookcallers(plugin) or []
            infos.append(
                PluginInfo(
                    name=name,
                    version=self._versions.get(name),
                    hooks=tuple(sorted(c.name for c in callers)),
                    sources=tuple(s for s in self.sources() if self.owner(s) == name),
                )
            )
        return infos

    # --- calling ------------------------------------------------------------------------------

    def call(self, hook: str, source: Source, **kwargs: Any) -> Any:
        """Call a per-source hook on the plugin that provides ``source`` only.

        :return: that plugin's answer, or None when it does not implement the hook.
        """
        caller, _ = self._route(hook, source)
        return caller(source=source, **kwargs)

    def implements(self, hook: str, source: Source) -> bool:
        """Whether the plugin providing ``source`` implements ``hook``."""
        return self._route(hook, source)[1]

    def _route(self, hook: str, source: Source) -> tuple[Any, bool]:
        name = self.owner(source)
        route = self._routes.get((hook, name))
        if route is None:
            owner = self.pm.get_plugin(name)
            others = [p for p in self.pm.get_plugins() if p is not owner]
            impls = getattr(self.pm.hook, hook).get_hookimpls()
            route = (
                self.pm.subset_hook_caller(hook, remove_plugins=others),
                any(impl.plugin is owner for impl in impls),
            )
            self._routes[(hook, name)] = route
        return route

    def notify(self, event: str, step: Step, **kwargs: Any) -> None:
        """Call an observer hook (``before_step``, ``after_step``, ``on_step_error``).

        An observer that raises is reported as a warning and never stops the lifecycle.
        """
        caller = getattr(self.pm.hook, f"sourceflow_{event}")
        given = {"step": step, **kwargs}
        for impl in caller.get_hookimpls():
            try:
                impl.function(**{k: given[k] for k in impl.argnames})
            except Exception as exc:
                from sourceflow.log import get_logger

                get_logger().warning(
                    "observer failed", plugin=impl.plugin_name, hook=caller.name, error=str(exc)
                )


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _allowed(allow: Iterable[str] | None) -> set[str] | None:
    if allow is None:
        raw = os.environ.get(ALLOW_ENV)
        if raw is None:
            return None
        allow = raw.split(",")
    return {_norm(a) for a in allow if a.strip()}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def load(allow: Iterable[str] | None = None, extra: Mapping[str, object] | None = None) -> Registry:
    """A registry with the installed plugins loaded (and ``extra`` objects, by name)."""
    registry = Registry()
    registry.load_entry_points(allow)
    for name, plugin in (extra or {}).items():
        registry.register(plugin, name)
    return registry
