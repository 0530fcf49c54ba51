"""The Screener's reader processes: each file read, checked and ordered once, its SevenNet graph
built (numpy arrays, cheap to send back), and, when a room-temperature model is asked for, that
model's inputs of the file as given computed from the same parse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def prepare_worker(
    args: tuple[str, str, str, Any, frozenset[str] | None, float, str, bool],
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A reader process's job: read, check and order one file and build its SevenNet graph (no
    MLIP: no relaxation here). The graph goes back as numpy arrays (``_graph``), which pickle in
    a fraction of the time a Structure of thousands of Site objects takes. With ``rt`` the
    room-temperature model's inputs of the file as given go back too (``_rt``: ``rt_inputs``)."""
    from ionscreen.embed.graph import graph_arrays

    mid, source, path, settings, known, cutoff, frame, rt = args
    row, rejected = read_and_prepare(mid, source, path, settings, None, known, rt)
    if row is not None:
        row["_graph"] = graph_arrays(row.pop("_structure"), cutoff, frame)
    if _READ_COUNT is not None:
        with _READ_COUNT.get_lock():
            _READ_COUNT.value += 1
    return row, rejected


def read_and_prepare(
    mid: str, source: str, path: str | Path, settings: Any, calc: Any, known: frozenset[str] | None, rt: bool
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``prepare_item`` of one file, parsed once; with ``rt`` the row also carries ``_rt``, the
    room-temperature model's inputs of the structure as given (before ordering)."""
    from ionscreen.structures.prepare import StructureError, prepare_item, read_structure

    if not rt:
        return prepare_item(mid, source, path, settings, calc, known, symmetry=False, keep=True)
    try:
        s = read_structure(path)
    except StructureError:  # prepare_item says why, as it always has
        return prepare_item(mid, source, path, settings, calc, known, symmetry=False, keep=True)
    inputs = rt_inputs(s)
    row, rejected = prepare_item(mid, source, s, settings, calc, known, symmetry=False, keep=True)
    if row is not None:
        row["_rt"] = inputs
    return row, rejected


def rt_inputs(structure: Any) -> tuple[str, np.ndarray, list[str]]:
    """(reduced formula, descriptor row, flags) of a structure as given, as
    ``RoomTempModel.file_rows`` computes them: partial occupancies count as fractional atoms, the
    space group is searched (P1 and a flag when the search fails)."""
    from ionscreen.roomtemp.descriptors import spacegroup_flags, spacegroup_number, structure_descriptors

    sg = spacegroup_number(structure)
    return (
        structure.composition.reduced_formula,
        structure_descriptors([structure], [sg])[0],
        spacegroup_flags([sg])[0],
    )


_READ_COUNT: Any = None  # in a reader process: the shared count of files it and its siblings have read


def init_reader(count: Any, rt: bool = False) -> None:
    global _READ_COUNT
    _READ_COUNT = count
    if rt:  # matminer's featurisers load while the main process builds its models
        from ionscreen.roomtemp.descriptors import _featurisers

        _featurisers()
