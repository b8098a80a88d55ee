"""Jetson power-rail families and which rails make the module's total.

The INA3221 monitors on Jetson modules measure named rails; tegrastats prints the same names.
A family with a total input rail (``VDD_IN``, ``POM_5V_IN``) is measured by that rail alone
(the others are parts of it); a family without one (AGX Xavier, AGX Orin) is measured by the sum
of its rails. Rails labelled ``NC`` are not connected. Module sensors do not include the carrier
board.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: family -> (rails, total rail or None when the rails are summed)
FAMILIES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "agx_xavier": (("GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"), None),
    "agx_orin": (("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"), None),
    "nx_orin_nano": (("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"), "VDD_IN"),
    "nano": (("POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"), "POM_5V_IN"),
    "tx2": (("VDD_IN", "VDD_SYS_GPU", "VDD_SYS_SOC", "VDD_SYS_CPU", "VDD_SYS_DDR",
             "VDD_4V0_WIFI"), "VDD_IN"),
}
TOTAL_RAILS = ("VDD_IN", "POM_5V_IN")
NOT_CONNECTED = {"NC", ""}


def family(rails: Iterable[str]) -> str:
    """Best-matching family name for a set of rail names, or 'unknown'."""
    names = set(rails) - NOT_CONNECTED
    best, best_score = "unknown", 0
    for name, (members, _total) in FAMILIES.items():
        score = len(names & set(members))
        if score > best_score:
            best, best_score = name, score
    return best


def counted_rails(rails: Iterable[str]) -> list[str]:
    """The rails whose power makes the total: the input rail if present, else all connected."""
    names = [r for r in rails if r not in NOT_CONNECTED]
    for total in TOTAL_RAILS:
        if total in names:
            return [total]
    return names


def total_power(powers: Mapping[str, float]) -> float:
    """Module power (W) of one sample of rail powers."""
    return float(sum(powers[r] for r in counted_rails(powers)))
