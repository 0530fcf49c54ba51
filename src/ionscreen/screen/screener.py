"""Structure files in, ranked predictions out: ``predict_paths`` (``ionscreen predict``) for either kind
of model, and the ``Screener`` that runs a workflow model over many files fast."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ionscreen import schema
from ionscreen.screen.predict import (
    NothingPredicted,
    add_arrhenius,
    prediction_rows,
    rank_by_model,
    rank_predictions,
    temperatures_with_rank,
    with_room_temperature,
)
from ionscreen.screen.readers import ReadAhead, read_and_prepare


def predict_paths(
    model: str | Path,
    paths: Sequence[str | Path],
    temperatures_K: Sequence[float],
    out: str | Path,
    *,
    rejected_out: str | Path | None = None,
    rank_temperature_K: float | None = None,
    relax_steps: int = 0,
    max_atoms: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    room_temperature_model: str | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """``ionscreen predict``: structure files in, ranked predictions out, for either kind of model.

    - A room-temperature model (``obelix-rt`` by name, or a folder with ``trees.npz``) predicts
      log10 sigma at its temperature from descriptors of the files as given (partial occupancies
      count as fractional atoms; nothing is ordered or relaxed): ``_room_temperature_paths``.
    - A workflow model folder (``model.pt``) screens them with ``Screener``; with
      ``room_temperature_model`` (e.g. ``obelix-rt``) every row also gets that model's 300 K sigma
      (``RT_COLUMNS``, from the files as given), as the workflow's rows do.

    Unreadable files and structures that cannot be predicted go to the rejected rows."""
    from ionscreen.roomtemp.model import resolve

    if resolve(model) is not None:
        return _room_temperature_paths(model, paths, temperatures_K, out, rejected_out=rejected_out)
    model_dir = model
    screener = Screener(
        model_dir,
        device=device,
        threads=threads,
        workers=workers,
        relax_steps=relax_steps,
        max_atoms=max_atoms,
        room_temperature_model=room_temperature_model,
    )
    df, bad = screener.screen(paths, temperatures_K, rank_temperature_K, progress=progress)
    if not len(df):
        raise NothingPredicted(bad)
    schema.write_table(
        df,
        out,
        "predictions",
        model_dir=str(model_dir),
        target=screener.predictor.meta.target,
        rank_temperature_K=rank_temperature_K,
        temperatures_K=[float(t) for t in temperatures_K],
        inputs=[str(p) for p in paths],
        embedding=screener.predictor.meta.embedding,
        settings={"relax_steps": relax_steps, "max_atoms": max_atoms, "device": device},
        room_temperature_model=room_temperature_model,
    )
    if rejected_out is not None:
        schema.write_table(bad, rejected_out, "rejected")
    return df, bad


def _room_temperature_paths(
    model: str | Path,
    paths: Sequence[str | Path],
    temperatures_K: Sequence[float],
    out: str | Path,
    *,
    rejected_out: str | Path | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """``predict_paths`` with a room-temperature model: ranked predictions at its temperature."""
    from ionscreen.roomtemp.model import RT_COLUMNS, RoomTempModel, rt_columns

    rt = RoomTempModel.named(model)
    temps = {float(t) for t in temperatures_K}
    if temps != {rt.meta.temperature_K}:
        raise ValueError(f"{rt.meta.name} predicts room temperature only: use --temperature {rt.meta.temperature_K:g}")
    rows, bad = rt.file_rows(paths)
    if not len(rows):
        raise NothingPredicted(bad)
    rows["Ea_eV"] = np.nan
    rows["Ea_kind"], rows["extrapolated_300K"] = None, False
    rows["prediction_300K"] = rows["prediction"]
    rows[list(RT_COLUMNS)] = rt_columns(rows)[list(RT_COLUMNS)]
    df = rank_predictions(rows, rt.meta.temperature_K)
    schema.write_table(
        df,
        out,
        "predictions",
        model_dir=str(rt.directory),
        target=rt.meta.target,
        rank_temperature_K=rt.meta.temperature_K,
        temperatures_K=[rt.meta.temperature_K],
        inputs=[str(p) for p in paths],
    )
    if rejected_out is not None:
        schema.write_table(bad, rejected_out, "rejected")
    return df, bad


class Screener:
    """Structure files in, ranked predictions out, with the models loaded once per process.

    What makes it fast, each checked equal to the plain path (tests/screen/test_predict.py,
    benchmarks/screen_throughput.py): every file is parsed once and no JSON round trip follows;
    no space-group search (screening does not report it); the disorder is ordered on arrays
    (``ordering.supercell_arrays``); reading, ordering and SevenNet's neighbour graph run in
    ``workers`` reader processes (CIFs through ``ionscreen.structures.cif``), which send numpy arrays back,
    while this process embeds; on CPUs the embedding is ``ionscreen.sevennet.firstblock`` (SevenNet-0 to
    the embedding layer in plain torch, no sevenn or e3nn model built; ``embed.graph.default_engine``);
    only the Li rows of the embedding are aggregated; the encoder's structure part runs once per
    material and the decoder once over all (material, T) rows (``Predictor.predict_materials``).
    The readers start first and the embedder is built meanwhile (``load`` builds it at once).
    The readers stay at most ``prefetch`` files ahead, refilled in bursts; torch uses their cores
    while they wait and keeps to ``threads`` while they read (``default_workers``: on 2 cores, two
    readers and one torch thread). Files stream in chunks of ``chunk``, so memory is bounded by
    the window and a chunk whatever the number of candidates. A progress bar (rate, ETA) shows on
    a terminal and stays quiet in logs and CI.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        device: str = "auto",
        threads: int | None = None,
        workers: int | None = None,
        relax_steps: int = 0,
        max_atoms: int | None = None,
        batch_atoms: int | None = None,
        chunk: int = 256,
        room_temperature_model: str | None = None,
    ) -> None:
        from ionscreen import mlip
        from ionscreen.embed.structure import embedding_settings
        from ionscreen.learn.meta import ModelMeta
        from ionscreen.structures.prepare import candidate_settings

        # Everything the readers need comes without torch (model.json, the SevenNet checkpoint's
        # configuration read as a plain pickle), so that ``screen`` forks them before this
        # process imports torch and loads the models (``load``): 1-2 s that the readers now use.
        self.model_dir = Path(model_dir)
        self.meta = ModelMeta.of_model(self.model_dir)
        self._predictor: Any = None
        if self.meta is None:  # no model.json beside model.pt: the checkpoint holds the metadata
            self.meta = self.predictor.meta
        emb_meta = self.meta.embedding
        model, layer, _, self.frame = embedding_settings(emb_meta)  # the readers build graphs in the model's frame
        self.settings = candidate_settings(
            mlip=model,
            device=device,
            relax_steps=relax_steps,
            **({} if max_atoms is None else {"max_atoms": max_atoms}),
        )
        self._embedding, self._device, self._embedder = emb_meta, device, None
        self.known = mlip.known_elements(self.settings.mlip)
        self.cutoff = mlip.cutoff_A(self.settings.mlip)
        # Relaxation needs the MLIP: then everything runs in this process.
        self.calc = mlip.get_calculator(self.settings.mlip, device) if relax_steps > 0 else None
        self.cores = os.cpu_count() or 1
        self.workers = self.default_workers(self.cores, model, layer, device) if workers is None else workers
        if self.calc is not None:
            self.workers = 0
        # Torch gets the cores the readers leave (at least one thread; all of them while the readers
        # wait for the window to empty, see ``_readers_idle``); set when the models load.
        self.threads = max(1, self.cores - self.workers) if threads is None else threads
        self.threads_given = threads
        self.batch_atoms_given = batch_atoms
        self.engine = ""  # the embedding engine, known once the models load (``load``)
        self.batch_atoms = batch_atoms or 0
        self.chunk = chunk
        self.prefetch = 2 * chunk  # files read ahead of the embedding at most (bounds memory)
        self._reader: ReadAhead | None = None  # the running readers (``_prepared``)
        self.timings: dict[str, float] = {}  # seconds per stage of the last screen (read = waiting for readers)
        # The room-temperature model (e.g. obelix-rt) whose 300 K sigma every row gets: its inputs
        # come from the readers, which parse each file once for both models.
        self.room_temperature_model = room_temperature_model or None

    @staticmethod
    def default_workers(cores: int, model: str, layer: int, device: str) -> int:
        """Reader processes beside the embedding. With the ``firstblock`` engine (SevenNet-0's
        embedding layer on a CPU) a file costs the embedding about half what it costs a reader
        (parse, order, neighbour graph), so readers go on every core and the embedding runs in
        their gaps: on 2 cores, 254 OBELiX CIFs screen in 5.8 s with 2 readers against 7.9 s with
        1. On a GPU the embedding costs the CPU little: readers on every core too. With SevenNet's
        own modules on a CPU (another layer, or a checkpoint ``firstblock`` does not take) the
        embedding is the larger cost: one reader (on 2 cores: 22.7 s for the same set, against
        24.7 s for 2 torch threads fighting the reader for a core). Decided without importing
        torch where it can be: a checkpoint file at ``firstblock``'s layer counts as
        ``firstblock`` on a CPU."""
        from ionscreen import mlip
        from ionscreen.sevennet import FIRST_BLOCK_LAYER
        from ionscreen.sevennet.checkpoint import checkpoint_file, is_sevennet

        if cores < 2:
            return 0
        if layer == FIRST_BLOCK_LAYER and is_sevennet(model) and checkpoint_file(model):
            return cores
        from ionscreen.embed.graph import default_engine

        dev = mlip.resolve_device(device)
        return cores if dev != "cpu" or default_engine(model, layer, dev) == "firstblock" else 1

    @property
    def predictor(self) -> Any:
        """The workflow model (``ionscreen.learn.model.Predictor``), loaded on first use."""
        if self._predictor is None:
            from ionscreen.learn.model import load_predictor

            self._predictor = load_predictor(self.model_dir)
        return self._predictor

    @property
    def embedder(self) -> Any:
        """The SevenNet embedder the model needs, built on first use."""
        if self._embedder is None:
            from ionscreen.embed.structure import embedder_for

            self._embedder = embedder_for(self._embedding, self._device)
        return self._embedder

    def load(self) -> Screener:
        """Load the workflow model and build the embedder now, with torch's threads and the
        embedding's batch size for the device (``screen`` calls it once its readers are at work;
        a benchmark that times screening alone calls it first)."""
        from ionscreen import mlip
        from ionscreen.embed.graph import default_batch_atoms

        _ = self.predictor, self.embedder
        if not self.engine:
            mlip.set_threads(self.threads)
            self.engine = self.embedder.engine
            self.batch_atoms = self.batch_atoms_given or default_batch_atoms(self.embedder.device)
        return self

    def _prepared(
        self, items: list[tuple[str, str, Path]]
    ) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any] | None] | None]:
        """(row, rejected) per item, in order, after one None that says the readers have started."""
        rt = self.room_temperature_model is not None
        if self.workers < 1:
            yield None
            for mid, source, path in items:
                yield read_and_prepare(mid, source, path, self.settings, self.calc, self.known, rt)
            return
        self._reader = ReadAhead(self.workers, self.prefetch)
        try:
            yield from self._reader.stream(items, (self.settings, self.known, self.cutoff, self.frame, rt))
        finally:
            self._reader = None

    def _rt_columns(self, rt_in: list[tuple[str, tuple[str, np.ndarray, list[str]]]]) -> pd.DataFrame:
        """``RT_COLUMNS`` per material from the readers' ``rt_inputs``: the trees once over all."""
        from ionscreen.roomtemp.model import RoomTempModel, rt_columns

        rt = RoomTempModel.named(self.room_temperature_model)
        if not rt_in:
            return rt_columns(rt.rows([], [], np.zeros((0, 0))))
        ids = [m for m, _ in rt_in]
        return rt_columns(
            rt.rows(ids, [x[0] for _, x in rt_in], np.stack([x[1] for _, x in rt_in]), [x[2] for _, x in rt_in])
        )

    def _readers_idle(self) -> bool:
        """True when the reader processes have read every file handed to them (all files, or as
        many as the prefetch window allows): torch may then use their cores too."""
        return self._reader is not None and self._reader.idle()

    def screen(
        self,
        paths: Sequence[str | Path],
        temperatures_K: Sequence[float],
        rank_temperature_K: float | None = None,
        *,
        progress: bool | None = None,
    ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
        """(ranked predictions, rejected rows) for structure files or directories of them."""
        from tqdm.auto import tqdm

        from ionscreen.structures.sources import files_by_id

        temps, rank_T = temperatures_with_rank(temperatures_K, rank_temperature_K)
        items = [(mid, str(f), f) for mid, f in files_by_id(paths).items()]
        bad: list[dict[str, Any]] = []
        frames: list[pd.DataFrame] = []
        infos: list[dict[str, Any]] = []
        embs: list[np.ndarray] = []
        pending: list[dict[str, Any]] = []
        pending_atoms = 0
        rt_in: list[tuple[str, tuple[str, np.ndarray, list[str]]]] = []  # (material, rt_inputs)

        clock = {"read": 0.0, "embed": 0.0, "predict": 0.0}
        from ionscreen import mlip

        def embed_pending() -> None:
            if pending:
                t0 = time.perf_counter()
                if self.threads_given is None and self.workers > 0:  # readers idle: their cores too
                    mlip.set_threads(self.threads + self.workers if self._readers_idle() else self.threads)
                out = self.embedder.atom_embeddings(
                    [r.pop("_graph", None) or r.pop("_structure") for r in pending], specie="Li"
                )
                infos.extend(pending)
                embs.extend(out)
                pending.clear()
                clock["embed"] += time.perf_counter() - t0

        def predict_chunk() -> None:
            embed_pending()
            if infos:
                t0 = time.perf_counter()
                frames.append(prediction_rows(self.predictor, pd.DataFrame(infos), embs, temps))
                infos.clear()
                embs.clear()
                clock["predict"] += time.perf_counter() - t0

        bar = tqdm(
            total=len(items), desc="screen", unit="structure", disable=(not progress) if progress is not None else None
        )
        stream = self._prepared(items)
        next(stream)  # the readers have started (their imports, the first files): build SevenNet meanwhile
        self.load()
        while True:
            t0 = time.perf_counter()
            item = next(stream, None)
            clock["read"] += time.perf_counter() - t0
            if item is None:
                break
            row, rejected = item
            bar.update(1)
            if rejected is not None:
                rejected["stage"] = "screen"
                bad.append(rejected)
                continue
            if "_rt" in row:
                rt_in.append((row["material_id"], row.pop("_rt")))
            pending.append(row)
            pending_atoms += row["nsites"]
            if pending_atoms >= self.batch_atoms:
                embed_pending()
                pending_atoms = 0
            if len(infos) >= self.chunk:
                predict_chunk()
        # The readers are done: what is left (the last embeddings, the last chunk's decoder) gets
        # every core this process may use.
        if self.threads_given is None and self.workers > 0:
            mlip.set_threads(self.threads + self.workers)
        try:
            predict_chunk()
        finally:
            mlip.set_threads(self.threads)
        bar.close()
        t0 = time.perf_counter()
        df = (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame(columns=schema.spec("predictions").column_names)
        )
        df = rank_by_model(add_arrhenius(df, self.predictor.meta.temperature_range_K), rank_T, self.predictor)
        if self.room_temperature_model is not None and len(df):
            df = with_room_temperature(df, self._rt_columns(rt_in))
        clock["predict"] += time.perf_counter() - t0
        self.timings = clock
        return df, bad
