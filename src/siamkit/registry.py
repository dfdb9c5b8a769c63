"""A name -> entry table for each extension point (losses, miners, samplers, ...).

Modelled on timm's ``register_model`` and open-metric-learning's ``*_REGISTRY``: an entry is a
builder plus metadata that the rest of siamkit reads (config validation, CLI help, the training
step), so a new loss or sampler is one function and one ``register`` line, also from user code::

    from siamkit.losses import LOSSES

    @LOSSES.register("circle", default_margin=0.25, uses_margin=True)
    def circle(margin, embedding_dim, num_classes):
        return pytorch_metric_learning.losses.CircleLoss(m=margin)

This module is on the ground floor: it imports nothing of siamkit but the errors.
"""

from __future__ import annotations

import difflib
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping

from siamkit.errors import SiamkitError


class Registry:
    """Entries of one ``kind`` ("loss", "miner", "sampler") by name, in registration order.

    ``defaults`` lists the metadata every entry has; an entry may override them but not add
    keys of its own, so a typo such as ``uses_margn=True`` fails at registration instead of
    being ignored for a whole training run.
    """

    def __init__(self, kind: str, defaults: Mapping[str, Any] | None = None):
        self.kind = kind
        self._defaults = dict(defaults or {})
        self._entries: dict[str, Callable] = {}
        self._metadata: dict[str, Mapping[str, Any]] = {}

    # -- registering -------------------------------------------------------------------------
    def register(self, name: str, *, replace: bool = False, **metadata) -> Callable[[Callable], Callable]:
        """Decorator: ``@REGISTRY.register("name", key=value)`` over the builder function."""

        def add(builder: Callable) -> Callable:
            self.add(name, builder, replace=replace, **metadata)
            return builder

        return add

    def add(self, name: str, builder: Callable, *, replace: bool = False, **metadata) -> None:
        """The same as :meth:`register`, for a builder defined elsewhere."""
        if not isinstance(name, str) or not name.strip():
            raise SiamkitError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if not callable(builder):
            raise SiamkitError(f"{self.kind} '{name}': expected a callable builder, got {type(builder).__name__}")
        if name in self._entries and not replace:
            raise SiamkitError(f"{self.kind} '{name}' is already registered; pass replace=True to override it")
        if self._defaults:
            unknown = sorted(set(metadata) - set(self._defaults))
            if unknown:
                hint = _did_you_mean(unknown[0], self._defaults)
                raise SiamkitError(
                    f"{self.kind} '{name}': unknown metadata '{unknown[0]}'{hint} "
                    f"(known: {', '.join(self._defaults)})"
                )
        self._entries[name] = builder
        self._metadata[name] = MappingProxyType({**self._defaults, **metadata})

    def unregister(self, name: str) -> None:
        """Remove an entry (tests and notebooks that register a throw-away entry)."""
        self.get(name)
        del self._entries[name], self._metadata[name]

    # -- looking up --------------------------------------------------------------------------
    def get(self, name: str, *, option: str | None = None) -> Callable:
        """The builder registered as ``name``; an unknown name is a user error with a suggestion.

        ``option`` names the flag or config key the name came from (``--loss``), so the message
        points at what to change.
        """
        if name not in self._entries:
            raise SiamkitError(self.unknown_message(name, option))
        return self._entries[name]

    def metadata(self, name: str, *, option: str | None = None) -> Mapping[str, Any]:
        """Read-only metadata of ``name``, defaults filled in."""
        self.get(name, option=option)
        return self._metadata[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def unknown_message(self, name: str, option: str | None = None) -> str:
        if option:  # "--loss 'tripplet': unknown loss; did you mean 'triplet'? (choose one of ...)"
            where, separator = f"{option} '{name}': unknown {self.kind}", "; "
        else:  # "unknown loss 'tripplet': did you mean 'triplet'? (choose one of ...)"
            where, separator = f"unknown {self.kind} '{name}'", ": "
        return f"{where}{_did_you_mean(name, self._entries, separator)} (choose one of {', '.join(self._entries)})"

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={list(self._entries)})"


def _did_you_mean(name: str, known, separator: str = ": ") -> str:
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f"{separator}did you mean '{close[0]}'?" if close else ""
