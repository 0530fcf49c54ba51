"""The Screener's reader processes: each file read, checked and ordered once, its SevenNet graph
built (numpy arrays, cheap to send back), and, when a room-temperature model is asked for, that
model's inputs of the file as given computed from the same parse."""

from __future__ import annotations

from collections.abc import Iterator
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
    from ionscreen.sevennet.graph import graph_arrays

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
    if rt:  # the element tables of obelix-rt's descriptors, once per reader
        from ionscreen.roomtemp.composition import element_tables

        element_tables()


class ReadAhead:
    """``workers`` reader processes that read files in order, at most ``prefetch`` ahead of what
    has been taken, so memory stays bounded when reading is faster than embedding. The window
    refills in bursts (the feeder waits until half of it is free): between bursts the readers
    are idle (``idle``) and torch takes their cores, rather than both fighting for them file by
    file. Processes fork where the platform can (the parent's imports come along)."""

    def __init__(self, workers: int, prefetch: int) -> None:
        import multiprocessing as mp

        self.workers, self.prefetch = workers, prefetch
        self.ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        self.submitted = self.taken = 0
        self.stop = False
        self.done = self.ctx.Value("q", 0)  # files read, counted by the readers

    def idle(self) -> bool:
        """True when the readers have read every file handed to them."""
        return self.done.value >= self.submitted

    def stream(
        self, items: list[tuple[str, str, Path]], task: tuple[Any, ...]
    ) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any] | None] | None]:
        """(row, rejected) per item, in order, after one None that says the readers have started.
        ``task`` is (settings, known elements, cutoff A, frame, rt) of ``prepare_worker``."""
        import threading

        turn = threading.Condition()
        settings, known, cutoff, frame, rt = task

        def feed() -> Iterator[tuple[Any, ...]]:
            for mid, source, path in items:
                with turn:
                    if self.submitted - self.taken >= self.prefetch:
                        turn.wait_for(lambda: self.stop or self.submitted - self.taken <= self.prefetch // 2)
                    if self.stop:
                        return
                    self.submitted += 1
                yield (mid, source, str(path), settings, known, cutoff, frame, rt)

        with self.ctx.Pool(self.workers, initializer=init_reader, initargs=(self.done, rt)) as pool:
            try:
                results = pool.imap(prepare_worker, feed())  # one file per task: every fed file is in work
                yield None  # the readers are at work
                for out in results:
                    with turn:
                        self.taken += 1
                        turn.notify()
                    yield out
            finally:
                with turn:
                    self.stop = True  # a feeder still waiting returns
                    turn.notify()
