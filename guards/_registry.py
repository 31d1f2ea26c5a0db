"""Guard type name -> guard class, filled by ``@register``.

Built-in guard modules are imported only when a spec of their type is built, so importing
``clauseguard.guards`` stays light and a guard needing an extra (presidio, onnxruntime) costs nothing
until it is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from clauseguard._extras import missing_extra_message
from clauseguard.errors import GuardConfigError
from clauseguard.guards._base import Guard
from clauseguard.guards._params import PARAMS, GuardSpec

__all__ = ["BUILTIN_MODULES", "REGISTRY", "create", "known_types", "register"]

REGISTRY: dict[str, type[Guard]] = {}

# Where the runtime of each built-in type lives; imported on first use.
BUILTIN_MODULES: dict[str, str] = {
    "keyword": "clauseguard.guards.keyword",
    "regex": "clauseguard.guards.regex_guard",
    "pii": "clauseguard.guards.pii",
    "ai_disclosure": "clauseguard.guards.disclosure",
    "disclaimer": "clauseguard.guards.disclaimer",
    "support": "clauseguard.guards.support",
    "rate_limit": "clauseguard.guards.rate_limit",
    "classifier": "clauseguard.guards.classifier",
    "topic": "clauseguard.guards.topic",
    "image_nsfw": "clauseguard.guards.image_nsfw",
    "image_mark": "clauseguard.guards.image_mark",
}


def register(type_name: str) -> Callable[[type[Guard]], type[Guard]]:
    """Class decorator: make ``type_name`` in guards.yaml build this class."""

    def decorate(cls: type[Guard]) -> type[Guard]:
        if type_name in REGISTRY and REGISTRY[type_name] is not cls:
            raise GuardConfigError(f"guard type {type_name!r} is registered twice "
                                   f"({REGISTRY[type_name].__qualname__} and {cls.__qualname__})")
        cls.type_name = type_name
        REGISTRY[type_name] = cls
        return cls

    return decorate


def known_types() -> list[str]:
    """Every type name a guards.yaml may use (declared schemas and registered runtimes)."""
    return sorted(set(PARAMS) | set(REGISTRY))


def _load_runtime(type_name: str, guard_id: str) -> type[Guard]:
    if type_name in REGISTRY:
        return REGISTRY[type_name]
    if type_name not in PARAMS:
        raise GuardConfigError(f"unknown guard type {type_name!r}; known: {known_types()}",
                               where=f"guard {guard_id!r} type")
    module = BUILTIN_MODULES.get(type_name)
    if module is not None:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name == module:
                raise GuardConfigError(
                    f"guard type {type_name!r} is declared but has no runtime in this installation; "
                    f"it needs the module {module} (a later release or extra)", where=f"guard {guard_id!r} type",
                ) from err
            raise GuardConfigError(
                missing_extra_message(err) or f"guard type {type_name!r} needs the package {err.name!r}, "
                "which is not installed", where=f"guard {guard_id!r} type",
            ) from err
    if type_name not in REGISTRY:
        raise GuardConfigError(f"guard type {type_name!r} is declared but has no runtime registered; "
                               "it needs a later extra or module", where=f"guard {guard_id!r} type")
    return REGISTRY[type_name]


def create(spec: GuardSpec) -> Guard:
    """Build the guard ``spec`` describes. Raises :class:`GuardConfigError` naming the guard id."""
    cls = _load_runtime(spec.type, spec.id)
    try:
        return cls(spec)
    except ModuleNotFoundError as err:  # an optional dependency the guard imports as it loads (numpy)
        message = missing_extra_message(err)
        if message is None:
            raise
        raise GuardConfigError(message, where=f"guard {spec.id!r}") from err
    except GuardConfigError as err:
        if err.where:
            raise
        raise GuardConfigError(err.message, where=f"guard {spec.id!r}") from err
    except ValueError as err:
        raise GuardConfigError(str(err), where=f"guard {spec.id!r} params") from err
