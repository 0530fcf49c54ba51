"""Measured rates kept between plans: ``rates.parquet``, one row per (device name, MLIP, batch size,
accelerator), so a plan for a cluster GPU can be made on a login node from a rate measured on
that GPU earlier (``ionscreen plan --rates``)."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ionscreen.md.engine import MDSettings
from ionscreen.md.probe import Rate, RateError

ADDED = ("check_start_s", "spread")  # Rate fields that rates files written before them lack


def read_rates(path: str | Path) -> list[Rate]:
    """Every rate of a rates.parquet (empty when the file does not exist)."""
    from ionscreen import schema

    if not Path(path).is_file():
        return []
    table = schema.read_table(path, "rates")
    fields = Rate.__dataclass_fields__

    def value(k: str, x: Any) -> Any:  # a column a file of an earlier version lacks: its default
        missing = x is None or (isinstance(x, float) and math.isnan(x))
        return fields[k].default if missing and k in ADDED else x

    return [Rate(**{k: value(k, row[k]) for k in fields}) for row in table.to_dict("records")]


def write_rate(path: str | Path, rate: Rate) -> None:
    """Add (or replace) this rate's row in a rates.parquet, one row per (device, MLIP, batch
    size, accelerator)."""
    from ionscreen import schema

    rates = {r.key(): r for r in read_rates(path)}
    rates[rate.key()] = rate
    schema.write_table([asdict(r) for r in rates.values()], path, "rates")


def find_rate(rates: list[Rate], settings: MDSettings, device_name: str | None = None) -> Rate:
    """The rate for this MLIP and batch size (on ``device_name``, when given; else the newest of
    any device), or ``RateError`` saying which rates there are."""
    fits = [
        r
        for r in rates
        if r.mlip == settings.mlip
        and r.batch_atoms == settings.batch_atoms
        and (device_name is None or r.device_name == device_name)
    ]
    if not fits:
        have = "; ".join(f"{r.device_name} / {r.mlip} / batch {r.batch_atoms}" for r in rates) or "none"
        raise RateError(
            f"no rate for {settings.mlip} at md.batch_atoms {settings.batch_atoms}"
            + (f" on {device_name}" if device_name else "")
            + f" (the file has: {have}); probe on that device first (ionscreen plan without --rates)"
        )
    return max(fits, key=lambda r: r.measured_at)
