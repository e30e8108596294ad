"""Environment registry: ``env_id -> factory``.

Every id is a PettingZoo ``ParallelEnv`` factory given as a string entry point (``"module.path:attr"``), so an
optional dependency (MuJoCo, StarCraft II) is imported only when its environment is built. Each id registered here
is also registered with PettingZoo's own registry, so ``pettingzoo.make("parallel", env_id)`` works too (where the
installed PettingZoo has one).

Example:
    >>> import trmarl
    >>> env = trmarl.make("MatrixGame-QTRAN")
    >>> sorted(trmarl.list_envs())[:2]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EnvSpec", "list_envs", "make", "register", "registry", "resolve_entry_point", "spec"]

_ID_RE = re.compile(r"^[A-Za-z0-9_.]+(?:-[A-Za-z0-9_.]+)*$")


@dataclass(frozen=True)
class EnvSpec:
    """What the registry knows about one environment id.

    Attributes:
        id: The environment id, e.g. ``"MaMuJoCo-HalfCheetah-2x3"``.
        entry_point: ``"module:attr"`` string or a callable returning a PettingZoo ``ParallelEnv``.
        kwargs: Keyword arguments passed to the entry point; ``make``'s own keyword arguments override them.
        vec_entry_point: Optional ``"module:attr"`` of a natively batched ``MultiAgentVecEnv`` class taking
            ``(n_envs, seed, **kwargs)``; ``make_vec_env(..., backend="auto")`` uses it when present.
        family: A short family name (``"mamujoco"``, ``"smacsim"``, ``"toy"``, ``"user"``) used by listings and docs.
    """

    id: str
    entry_point: str | Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    vec_entry_point: str | None = None
    family: str = "user"

    def make(self, **kwargs: Any) -> Any:
        """Build the environment, ``kwargs`` overriding the registered ones."""
        factory = resolve_entry_point(self.entry_point)
        merged = {**self.kwargs, **kwargs}
        try:
            return factory(**merged)
        except TypeError as exc:
            if "unexpected keyword argument" in str(exc) or "got an unexpected" in str(exc):
                raise TypeError(f"{self.id}: {exc}") from exc
            raise


registry: dict[str, EnvSpec] = {}


def resolve_entry_point(entry_point: str | Callable[..., Any]) -> Callable[..., Any]:
    """Import ``"module.path:attr"`` and return the attribute (a callable passes through)."""
    if callable(entry_point):
        return entry_point
    module_name, sep, attr = entry_point.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"entry point {entry_point!r} must look like 'package.module:attr'")
    module = importlib.import_module(module_name)
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as exc:
        raise ImportError(f"entry point {entry_point!r}: module {module_name!r} has no attribute {attr!r}") from exc
    return obj  # type: ignore[return-value]


def register(
    env_id: str,
    entry_point: str | Callable[..., Any],
    kwargs: dict[str, Any] | None = None,
    *,
    vec_entry_point: str | None = None,
    family: str = "user",
    override: bool = False,
) -> EnvSpec:
    """Register an environment id.

    Args:
        env_id: Letters, digits, ``_`` and ``.``, in parts joined by ``-`` (``"MyGame-5x5"``).
        entry_point: ``"module:attr"`` (imported lazily) or a callable returning a PettingZoo ``ParallelEnv``.
        kwargs: Default keyword arguments for the entry point.
        vec_entry_point: Optional natively batched vectorized env class (see :class:`EnvSpec`).
        family: Family name shown by :func:`list_envs` and in the docs.
        override: Replace an existing registration instead of raising.

    Returns:
        The stored :class:`EnvSpec`.

    Raises:
        ValueError: On a malformed id or entry point, or an id already registered (unless ``override``).
    """
    if not isinstance(env_id, str) or not _ID_RE.match(env_id):
        raise ValueError(f"invalid env id {env_id!r}: use letters, digits, '_' and '.', in parts joined by '-'")
    if not (callable(entry_point) or (isinstance(entry_point, str) and ":" in entry_point)):
        raise ValueError(f"entry point for {env_id!r} must be a callable or a 'module:attr' string, got {entry_point!r}")
    if env_id in registry and not override:
        raise ValueError(f"env id {env_id!r} is already registered; pass override=True to replace it")
    env_spec = EnvSpec(env_id, entry_point, dict(kwargs or {}), vec_entry_point, family)
    registry[env_id] = env_spec
    _register_with_pettingzoo(env_spec)
    return env_spec


def _register_with_pettingzoo(env_spec: EnvSpec) -> None:
    """Mirror the id into PettingZoo's registry (``pettingzoo.make("parallel", env_id)``), keeping the entry point lazy."""
    try:
        import pettingzoo
    except ImportError:  # pragma: no cover - pettingzoo is a hard dependency
        return
    pz_register = getattr(pettingzoo, "register", None)
    if pz_register is None:  # pragma: no cover - PettingZoo < 1.26 has no registry
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.suppress(Exception):  # the registry's signature depends on the PettingZoo version
            pz_register("parallel", env_spec.id, env_spec.entry_point, kwargs=dict(env_spec.kwargs))


def spec(env_id: str) -> EnvSpec:
    """Return the :class:`EnvSpec` of ``env_id``.

    Raises:
        KeyError: For an unknown id; the message lists the closest registered ids.
    """
    _ensure_builtins()
    try:
        return registry[env_id]
    except (KeyError, TypeError):
        pass
    if not isinstance(env_id, str):
        raise KeyError(f"env id must be a string, got {type(env_id).__name__}")
    close = difflib.get_close_matches(env_id, list(registry), n=5, cutoff=0.5)
    if not close:
        lowered = env_id.lower()
        close = [k for k in registry if lowered in k.lower()][:5]
    hint = f" Did you mean: {', '.join(close)}?" if close else " See trmarl.list_envs() for all ids."
    raise KeyError(f"unknown env id {env_id!r}.{hint}")


def make(env_id: str, **kwargs: Any) -> Any:
    """Build a registered environment (a PettingZoo ``ParallelEnv``).

    Args:
        env_id: A registered id such as ``"MaMuJoCo-HalfCheetah-2x3"``, ``"SMACSim-3m"`` or ``"MatrixGame-QTRAN"``.
        **kwargs: Overrides for the registered keyword arguments (``render_mode``, ``obs_mode``, ...).

    Raises:
        KeyError: Unknown id (the message lists close matches).
        TypeError: A keyword argument the environment does not accept.
    """
    return spec(env_id).make(**kwargs)


def list_envs(family: str | None = None) -> list[str]:
    """All registered ids, sorted; ``family`` (``"mamujoco"``, ``"smacsim"``, ``"smac"``, ``"toy"``) filters them."""
    _ensure_builtins()
    return sorted(k for k, v in registry.items() if family is None or v.family == family)


_builtins_loaded = False


def _ensure_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        from trmarl.envs import catalog

        catalog.register_builtin_envs()
