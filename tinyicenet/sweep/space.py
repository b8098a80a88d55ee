"""The configuration space of a precision sweep: bit widths per group, skips or not.

A *group* is a named set of tensors that share one bit width (e.g. ``weight`` and ``activation``
for a uniform model, or one name per layer and tensor kind for a mixed-precision model). The
search only sees a mapping group -> bits; turning it into a model is the model builder's job
(:mod:`tinyicenet.sweep.models`), so the search can be tested with an injected evaluate function.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from tinyicenet.errors import ConfigError

#: bit widths the models support (``tinyicenet.models``: 2 <= W, A <= 8)
MIN_BITS, MAX_BITS = 2, 8


@dataclass(frozen=True, order=True)
class Configuration:
    """One point of the space: ``bits`` (group, bits) pairs sorted by group, and ``skips``."""

    bits: tuple[tuple[str, int], ...]
    skips: bool = True

    @classmethod
    def of(cls, bits: Mapping[str, int], skips: bool = True) -> "Configuration":
        return cls(tuple(sorted((str(g), int(b)) for g, b in bits.items())), bool(skips))

    def as_dict(self) -> dict[str, int]:
        return dict(self.bits)

    def with_bits(self, group: str, bits: int) -> "Configuration":
        return Configuration.of({**self.as_dict(), group: bits}, self.skips)

    @property
    def key(self) -> str:
        """A stable text key: ``group=bits,...`` plus ``|noskip`` without skips."""
        text = ",".join(f"{g}={b}" for g, b in self.bits)
        return text + ("" if self.skips else "|noskip")

    def to_dict(self) -> dict[str, object]:
        return {"bits": self.as_dict(), "skips": self.skips, "key": self.key}


@dataclass(frozen=True)
class Space:
    """Allowed bit widths per group (ascending), for a model with or without skips."""

    choices: tuple[tuple[str, tuple[int, ...]], ...]
    skips: bool = True

    @classmethod
    def of(cls, choices: Mapping[str, Iterable[int]], skips: bool = True) -> "Space":
        if not choices:
            raise ConfigError("sweep space: no groups to choose bit widths for")
        out = []
        for group, bits in sorted(choices.items()):
            widths = tuple(sorted({int(b) for b in bits}))
            if not widths:
                raise ConfigError(f"sweep space: group {group!r} has no bit widths")
            bad = [b for b in widths if not MIN_BITS <= b <= MAX_BITS]
            if bad:
                raise ConfigError(f"sweep space: group {group!r} bit widths {bad} outside "
                                  f"{MIN_BITS}..{MAX_BITS}")
            out.append((str(group), widths))
        return cls(tuple(out), bool(skips))

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(g for g, _ in self.choices)

    def widths(self, group: str) -> tuple[int, ...]:
        for g, w in self.choices:
            if g == group:
                return w
        raise ConfigError(f"sweep space: unknown group {group!r} (known: "
                          f"{', '.join(self.groups)})")

    def size(self) -> int:
        n = 1
        for _, w in self.choices:
            n *= len(w)
        return n

    def lowest(self) -> Configuration:
        return Configuration.of({g: w[0] for g, w in self.choices}, self.skips)

    def highest(self) -> Configuration:
        return Configuration.of({g: w[-1] for g, w in self.choices}, self.skips)

    def contains(self, config: Configuration) -> bool:
        bits = config.as_dict()
        return (config.skips == self.skips and set(bits) == set(self.groups)
                and all(bits[g] in w for g, w in self.choices))

    def check(self, config: Configuration) -> Configuration:
        if not self.contains(config):
            raise ConfigError(f"sweep: configuration {config.key} is not in the space "
                              f"({self.describe()})")
        return config

    def step_up(self, config: Configuration, group: str) -> Configuration | None:
        """``config`` with ``group`` at its next wider bit width (None at the widest)."""
        widths = self.widths(group)
        now = config.as_dict()[group]
        wider = [b for b in widths if b > now]
        return config.with_bits(group, wider[0]) if wider else None

    def neighbours_up(self, config: Configuration) -> Iterator[tuple[str, Configuration]]:
        for group in self.groups:
            nxt = self.step_up(config, group)
            if nxt is not None:
                yield group, nxt

    def describe(self) -> str:
        groups = "; ".join(f"{g}: {','.join(map(str, w))}" for g, w in self.choices)
        return f"{groups}; skips {'yes' if self.skips else 'no'}"

    def to_dict(self) -> dict[str, object]:
        return {"groups": {g: list(w) for g, w in self.choices}, "skips": self.skips}


def parse_bits(text: str) -> tuple[int, ...]:
    """``"2,3,4,8"`` -> (2, 3, 4, 8); ConfigError naming the bad item."""
    out = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(int(item))
        except ValueError:
            raise ConfigError(f"bit widths {text!r}: {item!r} is not an integer") from None
    if not out:
        raise ConfigError(f"bit widths {text!r}: none given")
    return tuple(out)
