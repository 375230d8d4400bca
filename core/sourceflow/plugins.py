"""The plugin manager: finds plugins through entry points and routes hooks to the right one.

Plugins are distributions that declare an entry point in the ``sourceflow`` group. Two
environment variables, each a comma-separated list of distribution names, choose among them:
``SOURCEFLOW_LOAD_PLUGINS`` loads only those listed (empty: none) and
``SOURCEFLOW_BLOCK_PLUGINS`` never loads those listed. A plugin left out by either is recorded in
:attr:`Registry.blocked` with the reason; a listed name that is not installed is warned about.
A plugin that fails to import or breaks a hook spec is reported with its distribution name and
left out; the others keep working.

Observer hooks (``sourceflow_before_step`` …) are ordinary pluggy hook calls, so ``tryfirst``,
``trylast`` and ``wrapper=True`` implementations behave as pluggy documents and hook-call
monitoring sees them; each implementation is isolated, so one that raises is logged and the
others (and the step) go on. ``SOURCEFLOW_TRACE_HOOKS=1`` prints every hook call to stderr,
arguments and results redacted.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import weakref
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import pluggy

from sourceflow import entrypoints, hookspecs, redact
from sourceflow.errors import PluginError, UnknownSource
from sourceflow.hooktypes import Source
from sourceflow.log import get_logger

if TYPE_CHECKING:
    from sourceflow.hooktypes import Step

GROUP = "sourceflow"
ALLOW_ENV = "SOURCEFLOW_LOAD_PLUGINS"
BLOCK_ENV = "SOURCEFLOW_BLOCK_PLUGINS"
TRACE_ENV = "SOURCEFLOW_TRACE_HOOKS"
OBSERVERS = frozenset(
    {"sourceflow_before_step", "sourceflow_after_step", "sourceflow_on_step_error"}
)


class LoadFailure(NamedTuple):
    """A plugin that was left out, and why."""

    distribution: str
    error: str


class Blocked(NamedTuple):
    """An installed plugin that was not loaded because a selection left it out, and why."""

    distribution: str
    reason: str


class NotInstalled(NamedTuple):
    """A distribution named in a selection (allow- or deny-list) that is not installed."""

    distribution: str
    listed_in: str


class PluginInfo(NamedTuple):
    """What ``sourceflow plugins`` shows for one plugin."""

    name: str
    version: str | None
    hooks: tuple[str, ...]
    sources: tuple[Source, ...]


class Registry:
    """Wraps pluggy's manager with sourceflow's rules: allow-list, failures, source ownership."""

    def __init__(self) -> None:
        self.pm: pluggy.PluginManager = _new_manager()
        self.failures: list[LoadFailure] = []
        """Plugins left out because they failed to load, and why."""
        self.blocked: list[Blocked] = []
        """Installed plugins a selection left out, and why."""
        self.not_installed: list[NotInstalled] = []
        """Distributions a selection names that are not installed."""
        self._deny: dict[str, str] = {}
        self._versions: dict[str, str | None] = {}
        self._sources: dict[str, tuple[Source, str]] = {}
        # Per (hook, owner): the owner-only hook caller, and whether the owner implements the
        # hook. The inlet asks both for every delivery; registering or dropping a plugin
        # clears it.
        self._routes: dict[tuple[str, str], tuple[Any, bool]] = {}

    # --- loading ------------------------------------------------------------------------------

    def load_entry_points(
        self, allow: Iterable[str] | None = None, block: Iterable[str] | None = None
    ) -> None:
        """Load plugins from the ``sourceflow`` entry point group.

        :param allow: distribution names to load; None reads ``SOURCEFLOW_LOAD_PLUGINS`` and,
            when it is unset, loads every installed plugin.
        :param block: distribution names never to load; None reads ``SOURCEFLOW_BLOCK_PLUGINS``.
            A name in both lists is blocked.

        Installed plugins left out are recorded in :attr:`blocked`; listed names that are not
        installed in :attr:`not_installed`, each with a logged warning.
        """
        allowed = _selection(allow, ALLOW_ENV, "the allow list")
        denied = _selection(block, BLOCK_ENV, "the block list")
        if denied is not None:
            for name in denied[0]:
                self._deny[name] = f"listed in {denied[1]}"
        installed: set[str] = set()
        for ep in entrypoints.entry_points(GROUP):
            dist = ep.dist_name or ep.module
            if _norm(dist) in installed:
                continue
            installed.add(_norm(dist))
            if allowed is not None and _norm(dist) not in allowed[0]:
                # Left out, not forbidden: a host may still register it by hand.
                self._record(dist, f"not listed in {allowed[1]}")
                continue
            if self._refused(dist) or self.pm.has_plugin(dist):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                self.failures.append(LoadFailure(distribution=dist, error=_describe(exc)))
                continue
            self.register(plugin, dist, version=ep.dist_version)
        for selection in (allowed, denied):
            if selection is None:
                continue
            for name in sorted(selection[0] - installed):
                self.not_installed.append(NotInstalled(distribution=name, listed_in=selection[1]))
                get_logger().warning(
                    "a listed plugin is not installed", plugin=name, listed_in=selection[1]
                )

    def block(self, name: str, reason: str = "blocked by the host application") -> None:
        """Never load or register the plugin ``name``; unregister it if it is loaded."""
        self._deny[_norm(name)] = reason
        if self.pm.get_plugin(name) is not None:
            self.unregister(name)
        self._refused(name)

    def _refused(self, name: str) -> bool:
        reason = self._deny.get(_norm(name))
        if reason is None:
            if not self.pm.is_blocked(name):
                return False
            reason = "blocked in the plugin manager (pm.set_blocked)"
        # pluggy's own block too, so a plugin registered on ``pm`` directly is refused as well.
        self.pm.set_blocked(name)
        self._record(name, reason)
        return True

    def _record(self, name: str, reason: str) -> None:
        if not any(b.distribution == name for b in self.blocked):
            self.blocked.append(Blocked(distribution=name, reason=reason))

    def register(self, plugin: object, name: str, *, version: str | None = None) -> None:
        """Register a plugin object under ``name`` (its distribution name).

        A plugin whose hooks do not match the specs, or whose ``sourceflow_sources`` fails,
        is reported in :attr:`failures` and not registered. A source claimed by two plugins
        raises :class:`PluginError` naming both.
        """
        if self._refused(name):
            return
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
        # Left out by an earlier selection, loaded now: no longer blocked.
        self.blocked = [b for b in self.blocked if b.distribution != name]

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
                        hint=f"uninstall one of them, or set {BLOCK_ENV}={name} to leave it out",
                    )
        # A new dict, not an update: a platform that looks again for plugins while serving
        # registers them while other threads iterate the sources.
        claimed = dict(self._sources)
        for s in provided:
            claimed[s.name] = (s, name)
            claimed[s.id] = (s, name)
        self._sources = claimed

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
        for name, plugin in sorted(self.pm.list_name_plugin(), key=lambda np: np[0]):
            if plugin is None:  # a name pluggy holds blocked
                continue
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

        A pluggy hook call like any other: ``tryfirst``/``trylast`` order it, ``wrapper=True``
        implementations wrap it and hook-call monitoring sees it. An observer that raises is
        logged as a warning and never stops the others or the lifecycle.
        """
        caller = getattr(self.pm.hook, f"sourceflow_{event}")
        for impl in caller.get_hookimpls():
            _isolate(impl, caller.name)
        caller(step=step, **kwargs)


_ISOLATED: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()


def _isolate(impl: pluggy.HookImpl, hook: str) -> None:
    """Make an observer implementation log its own errors instead of raising them.

    pluggy ends a hook call at the first implementation that raises and offers no handler
    per implementation; an observer is a host's audit or metrics and must not stop the others
    or the step. Wrapping the function keeps the call a single pluggy call, so the order and
    the wrappers stay pluggy's. Done on first notify rather than at registration, so a plugin
    registered on ``pm`` directly is isolated too.
    """
    function: Callable[..., Any] = impl.function
    if function in _ISOLATED:
        return
    plugin = impl.plugin_name
    guarded: Callable[..., Any]
    if impl.wrapper or impl.hookwrapper:

        def guarded(*args: Any) -> Generator[Any, Any, Any]:
            try:
                teardown = function(*args)
                next(teardown)
            except Exception as exc:  # StopIteration too: a wrapper that never yields
                _observer_failed(plugin, hook, exc)
                return (yield)
            try:
                outcome = yield
            except BaseException as exc:
                # Not an observer's error (those are logged where they happen): an interrupt
                # on its way out, which the wrapper sees as pluggy would show it.
                try:
                    teardown.throw(exc)
                except StopIteration as stop:
                    return stop.value
                raise
            try:
                teardown.send(outcome)
            except StopIteration as stop:
                return stop.value
            except Exception as exc:
                _observer_failed(plugin, hook, exc)
                return outcome
            teardown.close()
            _observer_failed(plugin, hook, RuntimeError("the wrapper yielded more than once"))
            return outcome

    else:

        def guarded(*args: Any) -> Any:
            try:
                return function(*args)
            except Exception as exc:
                _observer_failed(plugin, hook, exc)
                return None

    _ISOLATED.add(guarded)
    impl.function = guarded  # type: ignore[misc]  # Final to pluggy's users; see above


def _observer_failed(plugin: str, hook: str, exc: BaseException) -> None:
    get_logger().warning("observer failed", plugin=plugin, hook=hook, error=str(exc))


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if os.environ.get(TRACE_ENV, "").strip() not in ("", "0"):
        trace_hooks(pm, sys.stderr.write)
    return pm


def trace_hooks(pm: pluggy.PluginManager, write: Callable[[str], object]) -> Callable[[], None]:
    """Write every hook call of ``pm`` (its arguments, its result) through pluggy's tracer.

    pluggy's ``enable_tracing`` prints arguments as they are, and hooks receive credentials;
    these monitors print them redacted. :return: a function that stops the tracing.
    """
    trace = pm.trace.root.get("hook")
    pm.trace.root.setwriter(write)

    def before(name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        trace.root.indent += 1
        trace(name, f"[{', '.join(i.plugin_name for i in impls)}]", _shown(dict(kwargs)))

    def after(
        outcome: pluggy.Result[Any],
        name: str,
        impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, Any],
    ) -> None:
        if outcome.exception is None:
            trace("finish", name, "-->", _shown(outcome.get_result()))
        else:
            trace("raised", name, "-->", type(outcome.exception).__name__)
        trace.root.indent -= 1

    return pm.add_hookcall_monitoring(before, after)


def _shown(value: Any, limit: int = 400) -> str:
    # Hook arguments are hook records (dataclasses) or Flow Service models (attrs); attrs is
    # imported here, when tracing, so that listing plugins never loads it.
    import attrs

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return plain({f.name: getattr(v, f.name) for f in dataclasses.fields(v)})
        if attrs.has(type(v)):
            return plain(attrs.asdict(v, recurse=False))
        if isinstance(v, Mapping):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        if isinstance(v, bytes | bytearray):
            return f"<{len(v)} bytes>"
        return v

    text = repr(redact.redact(plain(value)))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _selection(given: Iterable[str] | None, env: str, label: str) -> tuple[set[str], str] | None:
    """Normalized names, and where they came from; None when nothing was given or set."""
    if given is None:
        raw = os.environ.get(env)
        if raw is None:
            return None
        given, label = raw.split(","), env
    return {_norm(a) for a in given if a.strip()}, label


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def load(
    allow: Iterable[str] | None = None,
    extra: Mapping[str, object] | None = None,
    *,
    block: Iterable[str] | None = None,
) -> Registry:
    """A registry with the installed plugins loaded (and ``extra`` objects, by name).

    ``allow`` and ``block`` are as in :meth:`Registry.load_entry_points`; a blocked name is
    refused among ``extra`` too.
    """
    registry = Registry()
    registry.load_entry_points(allow, block)
    for name, plugin in (extra or {}).items():
        registry.register(plugin, name)
    return registry
