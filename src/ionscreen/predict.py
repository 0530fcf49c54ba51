"""Batch prediction for new structures (stage ``screen``): no MD, no trajectories.

Candidates go through the same reading, validation and disorder policy as training structures
(no supercell: embeddings are per-atom and periodic, so a supercell gives the same rows), then
SevenNet embeddings, then the trained ensemble. Each (candidate, temperature) row carries flags:

- ``disorder_resolved``: partial occupancies were ordered at random (seeded): one of many orderings.
- ``temperature_outside_training``: T lies outside the training temperatures (extrapolation).
- ``elements_unseen_in_training``: the candidate has elements no training material had.
- ``far_from_training``: hidden-space distance to the nearest training sample above the
  threshold set on validation data at training time.
- ``composition_approximate``: the disorder could only be ordered with a composition error above
  5 % within the atom budget (``ordering_error`` of the candidates table); the best ordering found
  was embedded.
- ``relaxation_not_converged``: the MLIP relaxation stopped with forces above its threshold.
- ``no_temperature_dependence``: the model was trained at one temperature, or its predictions do
  not change over the predicted temperatures: no activation energy is given (``add_arrhenius``).
- ``orientation_dependent``: the model was trained on embeddings that change with the cell's
  orientation (the ``full`` variant in the ``given`` frame, the default before embed stage
  version 2): the same crystal written in another orientation gets another prediction.
Inputs that cannot be predicted at all (unreadable, no Li, elements unknown to the MLIP,
overlapping atoms, too large) go to the rejected table with the reason.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ionscreen import schema
from ionscreen.embed import embeddings_by_material
from ionscreen.model import Predictor, load_predictor

log = logging.getLogger(__name__)

APPROXIMATE_ORDERING = 0.05  # composition error above which an ordering is flagged (the ordering tolerance)


def predict_table(
    predictor: Predictor,
    structures: pd.DataFrame,
    embeddings: pd.DataFrame,
    temperatures_K: Sequence[float],
    rank_temperature_K: float | None = None,
) -> pd.DataFrame:
    """Predictions rows (see the ``predictions`` table) for prepared, embedded candidates."""
    check_embeddings(predictor, embeddings)
    embs = embeddings_by_material(embeddings)
    info = structures[structures["material_id"].isin(embs)]
    temps, rank_T = temperatures_with_rank(temperatures_K, rank_temperature_K)
    df = prediction_rows(predictor, info, [embs[m] for m in info["material_id"]], temps)
    return rank_by_model(add_arrhenius(df, predictor.meta.temperature_range_K), rank_T, predictor)


def check_embeddings(predictor: Predictor, embeddings: pd.DataFrame) -> None:
    """Refuse candidate embeddings made with another model, layer, variant or frame than the
    training ones."""
    from ionscreen.embed import embedding_meta_of, embedding_settings

    emb_meta = predictor.meta.embedding
    if len(embeddings) and emb_meta:
        got, want = embedding_settings(embedding_meta_of(embeddings)), embedding_settings(emb_meta)
        if got != want:
            raise ValueError(f"candidate embeddings (model, layer, variant, frame) {got} differ from the model's "
                             f"training embeddings {want}: embed the candidates with the model's settings")


def temperatures_with_rank(temperatures_K: Sequence[float], rank_temperature_K: float | None) -> tuple[list[float], float]:
    """The temperatures to predict (K), the ranking one included, and the ranking temperature."""
    temps = [float(t) for t in temperatures_K]
    rank_T = float(rank_temperature_K if rank_temperature_K is not None else min(temps))
    if rank_T not in temps:
        temps.append(rank_T)
    return temps, rank_T


def prediction_rows(predictor: Predictor, info: pd.DataFrame, embs: Sequence[np.ndarray],
                    temperatures_K: Sequence[float]) -> pd.DataFrame:
    """Unranked ``predictions`` rows with flags: ``info`` holds one structures row per material
    (material_id, reduced_formula, ordering, ordering_error, relax_converged), ``embs`` its Li
    embeddings in the same order. The structure part of the encoder runs once per material
    (``Predictor.predict_materials``)."""
    from pymatgen.core import Composition

    from ionscreen.embed import embedding_settings, orientation_invariant

    meta = predictor.meta
    temps = [float(t) for t in temperatures_K]
    oriented = bool(meta.embedding) and not orientation_invariant(*embedding_settings(meta.embedding)[2:])
    mean, std, hidden = predictor.predict_materials(embs, temps)
    dist = predictor.nearest_training_distance(hidden).reshape(len(embs), len(temps))
    tmin, tmax = meta.temperature_range_K
    train_el = set(meta.training_elements)
    ids = info["material_id"].astype(str).to_numpy()
    formulas = info["reduced_formula"].astype(str).to_numpy()
    ordering = info["ordering"].astype(str).to_numpy() if "ordering" in info else np.full(len(ids), "none")
    err = pd.to_numeric(info["ordering_error"], errors="coerce").fillna(0.0).to_numpy() \
        if "ordering_error" in info else np.zeros(len(ids))
    conv = info["relax_converged"].to_numpy() if "relax_converged" in info else np.full(len(ids), None)
    rows = []
    for k, m in enumerate(ids):
        per_material = ["orientation_dependent"] if oriented else []
        if ordering[k] not in ("none", "", "nan"):
            per_material.append("disorder_resolved")
        if err[k] > APPROXIMATE_ORDERING:
            per_material.append("composition_approximate")
        if conv[k] is not None and not pd.isna(conv[k]) and not bool(conv[k]):
            per_material.append("relaxation_not_converged")
        unseen = bool({el.symbol for el in Composition(formulas[k]).elements} - train_el)
        for j, t in enumerate(temps):
            flags = list(per_material)
            if not tmin <= t <= tmax:
                flags.append("temperature_outside_training")
            if unseen:
                flags.append("elements_unseen_in_training")
            if math.isfinite(dist[k, j]) and dist[k, j] > meta.far_threshold:
                flags.append("far_from_training")
            rows.append({"material_id": m, "temperature_K": t, "target": meta.target,
                         "prediction": float(mean[k, j]), "prediction_std": float(std[k, j]), "flags": flags,
                         "formula": formulas[k], "nearest_training_distance": float(dist[k, j])})
    return pd.DataFrame(rows, columns=schema.spec("predictions").column_names)


def rank_by_model(df: pd.DataFrame, rank_temperature_K: float, predictor: Predictor) -> pd.DataFrame:
    """Rank by the workflow model's own predictions (``ionscreen.ranking``, rank_by 'workflow'):
    every row carries ``no_demonstrated_skill`` when the model has not shown skill on held-out data."""
    from ionscreen.ranking import rank

    if not len(df):
        return df
    return rank(df, rank_temperature_K, requested="workflow", workflow_meta=predictor.meta)[0]


def rank_predictions(df: pd.DataFrame, rank_temperature_K: float) -> pd.DataFrame:
    """Rank candidates by their prediction at ``rank_temperature_K`` (1 = fastest transport)."""
    if not len(df):
        return df
    at = df[df["temperature_K"] == float(rank_temperature_K)].sort_values(["prediction", "material_id"],
                                                                         ascending=[False, True], kind="stable")
    rank = {m: r + 1 for r, m in enumerate(at["material_id"])}
    df = df.copy()
    df["rank"] = df["material_id"].map(rank).astype("int32")
    return df.sort_values(["rank", "temperature_K"], kind="stable").reset_index(drop=True)


def merge_predictions(paths: Sequence[str | Path], out: str | Path, rank_temperature_K: float, *,
                      rank_by: str = "auto", model_dir: str | Path | None = None,
                      room_temperature_model: str | None = None) -> pd.DataFrame:
    """Workflow entry: the predictions of every candidate shard, ranked together as ``rank_by``
    says (``ionscreen.ranking``: by the workflow model ``model_dir`` where it has shown skill, else
    by ``room_temperature_model``), into ``out``; the provenance says what ranked and why."""
    from ionscreen.model import ModelMeta
    from ionscreen.ranking import rank

    frames = [schema.read_table(p, "predictions") for p in paths]
    provs = [schema.read_provenance(p) for p in paths]
    frames = [f for f in frames if len(f)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=schema.spec("predictions").column_names)
    meta = {k: provs[0].get(k) for k in ("model_dir", "target", "room_temperature_model")} if provs else {}
    model_dir = model_dir or meta.get("model_dir")
    rt = room_temperature_model if room_temperature_model is not None else meta.get("room_temperature_model")
    df, info, skills = rank(df, rank_temperature_K, requested=rank_by, room_temperature_model=rt or None,
                            workflow_meta=ModelMeta.from_json(model_dir) if model_dir else None)
    meta.update(model_dir=str(model_dir) if model_dir else None, room_temperature_model=rt)
    schema.write_table(df, out, "predictions", rank_temperature_K=rank_temperature_K, shards=len(paths),
                       ranking=info.to_dict(), skill=[asdict(s) for s in skills], **meta)
    log.info("ranked %d candidates from %d shards by %s: %s", info.n_candidates, len(paths), info.rank_by, info.reason)
    return df


def arrhenius_kind(target: str) -> str:
    """What an Arrhenius fit of predictions of ``target`` (a labels column) means.

    - ``activation (D)``: ln D against 1/T; Ea is the activation energy of diffusion.
    - ``activation (sigma T)``: Nernst-Einstein makes sigma ~ D / T, so ln(sigma T) against 1/T
      gives the same Ea (fitting ln sigma alone comes out k_B T too low).
    - ``apparent (MSD)``: an MSD over a fixed duration (or MSD / duration) includes the
      vibrational floor that does not activate, so its "Ea" is only an apparent one.
    """
    t = target.removeprefix("log10_")
    if t.startswith("D_"):
        return "activation (D)"
    if t.startswith("sigma"):
        return "activation (sigma T)"
    return "apparent (MSD)"


FLAT_IN_T = 1e-6  # log10 units: predictions that change less than this over the temperatures carry no Ea


def add_arrhenius(df: pd.DataFrame, training_range_K: Sequence[float] | None = None) -> pd.DataFrame:
    """Per candidate, an Arrhenius fit of its predictions (log10 target) over its temperatures
    (``transport.arrhenius_fit``; y = sigma T for a conductivity target), the kind of Ea that gives
    (``arrhenius_kind``) and the fit's value at 300 K (log10 target).

    Needs >= 2 temperatures. No physics the model cannot support: a model trained at one
    temperature (``training_range_K`` [lowest, highest] in K, equal ends), or predictions flat in
    T, give no Ea and the flag ``no_temperature_dependence``. 300 K is an extrapolation
    (``extrapolated_300K``) unless it lies within both the predicted and the training range.
    """
    from ionscreen.transport import K_B_EV, arrhenius_fit

    df = df.copy()
    df["Ea_eV"], df["prediction_300K"], df["extrapolated_300K"] = np.nan, np.nan, True
    df["Ea_kind"] = [arrhenius_kind(str(t)) for t in df["target"]] if len(df) else []
    lo, hi = (float(training_range_K[0]), float(training_range_K[1])) if training_range_K is not None else (-np.inf, np.inf)
    one_temperature = lo == hi
    fits: dict[str, tuple[float, float, bool]] = {}
    flat: set[str] = set()
    for mid, grp in df.groupby("material_id", sort=False):
        T = grp["temperature_K"].to_numpy(float)
        if len(np.unique(T)) < 2:
            continue
        if one_temperature or np.ptp(grp["prediction"].to_numpy(float)) < FLAT_IN_T:
            flat.add(mid)
            at = grp.loc[grp["temperature_K"] == 300.0, "prediction"]
            fits[mid] = (np.nan, float(at.iloc[0]) if len(at) else np.nan, not lo <= 300.0 <= hi)
            continue
        value = 10.0 ** grp["prediction"].to_numpy(float)  # predictions are log10 values
        sigma_like = grp["Ea_kind"].iloc[0] == "activation (sigma T)"
        fit = arrhenius_fit(T, value * T if sigma_like else value)
        at_300 = fit["log10_D0_cm2_s"] - fit["Ea_eV"] / (K_B_EV * 300.0 * math.log(10))  # log10 of the fitted quantity
        fits[mid] = (fit["Ea_eV"], at_300 - math.log10(300.0) if sigma_like else at_300,
                     not (T.min() <= 300.0 <= T.max() and lo <= 300.0 <= hi))
    if fits:  # one assignment per column (a per-material .loc is quadratic in the candidates)
        ids = df["material_id"]
        df["Ea_eV"] = ids.map({m: f[0] for m, f in fits.items()})
        df["prediction_300K"] = ids.map({m: f[1] for m, f in fits.items()})
        df["extrapolated_300K"] = ids.map({m: f[2] for m, f in fits.items()}).fillna(True).astype(bool)
    if flat:
        df["flags"] = [list(f) + ["no_temperature_dependence"] if m in flat else f
                       for m, f in zip(df["material_id"], df["flags"], strict=True)]
        df.loc[df["material_id"].isin(flat), "Ea_kind"] = None
    return df


def screen_tables(
    model_dir: str | Path,
    structures_path: str | Path,
    embeddings_path: str | Path,
    temperatures_K: Sequence[float],
    out: str | Path,
    rank_temperature_K: float | None = None,
    room_temperature_model: str | None = None,
) -> pd.DataFrame:
    """Workflow entry: predictions for prepared + embedded candidates, written to ``out``; with
    ``room_temperature_model`` (e.g. ``obelix-rt``) each row also carries that model's
    room-temperature sigma (``roomtemp.RoomTempModel.structure_table_columns``)."""
    predictor = load_predictor(model_dir)
    structures = schema.read_table(structures_path, "structures")
    df = predict_table(predictor, structures, schema.read_table(embeddings_path, "embeddings"), temperatures_K,
                       rank_temperature_K)
    if room_temperature_model:
        from ionscreen.roomtemp import RoomTempModel

        df = with_room_temperature(df, RoomTempModel.named(room_temperature_model).structure_table_columns(
            structures[structures["material_id"].isin(set(df["material_id"]))]))
    schema.write_table(df, out, "predictions", model_dir=str(model_dir), target=predictor.meta.target,
                       rank_temperature_K=rank_temperature_K, room_temperature_model=room_temperature_model,
                       temperatures_K=[float(t) for t in temperatures_K], inputs=[str(structures_path), str(embeddings_path)],
                       embedding=predictor.meta.embedding)
    return df


def with_room_temperature(df: pd.DataFrame, rt: pd.DataFrame) -> pd.DataFrame:
    """``df`` (predictions) with the room-temperature model's columns ``rt`` (material_id +
    ``RT_COLUMNS``, e.g. ``RoomTempModel.structure_table_columns``) in place of its own."""
    from ionscreen.roomtemp import RT_COLUMNS

    return df.drop(columns=list(RT_COLUMNS), errors="ignore").merge(rt, on="material_id", how="left")


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
    from ionscreen import roomtemp
    from ionscreen.sources import NothingPredicted

    if roomtemp.resolve(model) is not None:
        return _room_temperature_paths(model, paths, temperatures_K, out, rejected_out=rejected_out)
    model_dir = model
    screener = Screener(model_dir, device=device, threads=threads, workers=workers, relax_steps=relax_steps,
                        max_atoms=max_atoms)
    df, bad = screener.screen(paths, temperatures_K, rank_temperature_K, progress=progress)
    if not len(df):
        raise NothingPredicted(bad)
    if room_temperature_model:
        from ionscreen.roomtemp import RoomTempModel

        df = with_room_temperature(df, RoomTempModel.named(room_temperature_model).file_columns(paths))
    schema.write_table(df, out, "predictions", model_dir=str(model_dir), target=screener.predictor.meta.target,
                       rank_temperature_K=rank_temperature_K, temperatures_K=[float(t) for t in temperatures_K],
                       inputs=[str(p) for p in paths], embedding=screener.predictor.meta.embedding,
                       settings={"relax_steps": relax_steps, "max_atoms": max_atoms, "device": device},
                       room_temperature_model=room_temperature_model)
    if rejected_out is not None:
        schema.write_table(bad, rejected_out, "rejected")
    return df, bad



def _room_temperature_paths(model: str | Path, paths: Sequence[str | Path], temperatures_K: Sequence[float],
                            out: str | Path, *, rejected_out: str | Path | None = None
                            ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """``predict_paths`` with a room-temperature model: ranked predictions at its temperature."""
    from ionscreen.roomtemp import RT_COLUMNS, RoomTempModel, rt_columns
    from ionscreen.sources import NothingPredicted

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
    schema.write_table(df, out, "predictions", model_dir=str(rt.directory), target=rt.meta.target,
                       rank_temperature_K=rt.meta.temperature_K, temperatures_K=[rt.meta.temperature_K],
                       inputs=[str(p) for p in paths])
    if rejected_out is not None:
        schema.write_table(bad, rejected_out, "rejected")
    return df, bad


def _prepare_worker(args: tuple[str, str, str, Any, frozenset[str] | None, float, str]
                    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A reader process's job: read, check and order one file and build its SevenNet graph (no
    MLIP: no relaxation here). The graph goes back as numpy arrays (``_graph``), which pickle in
    a fraction of the time a Structure of thousands of Site objects takes."""
    from ionscreen.embed import graph_arrays
    from ionscreen.structures import prepare_item

    mid, source, path, settings, known, cutoff, frame = args
    row, rejected = prepare_item(mid, source, path, settings, None, known, symmetry=False, keep=True)
    if row is not None:
        row["_graph"] = graph_arrays(row.pop("_structure"), cutoff, frame)
    if _READ_COUNT is not None:
        with _READ_COUNT.get_lock():
            _READ_COUNT.value += 1
    return row, rejected


_READ_COUNT: Any = None  # in a reader process: the shared count of files it and its siblings have read


def _init_reader(count: Any) -> None:
    global _READ_COUNT
    _READ_COUNT = count


class Screener:
    """Structure files in, ranked predictions out, with the models loaded once per process.

    What makes it fast, each checked equal to the plain path (tests/test_predict.py,
    benchmarks/screen_throughput.py): every file is parsed once and no JSON round trip follows;
    no space-group search (screening does not report it); the disorder is ordered on arrays
    (``ordering.supercell_arrays``); reading, ordering and SevenNet's neighbour graph run in
    ``workers`` reader processes (CIFs through ``ionscreen.cif``), which send numpy arrays back,
    while this process embeds; on CPUs the embedding is ``ionscreen.firstblock`` (SevenNet-0 to
    the embedding layer in plain torch, no sevenn or e3nn model built; ``embed.default_engine``);
    only the Li rows of the embedding are aggregated; the encoder's structure part runs once per
    material and the decoder once over all (material, T) rows (``Predictor.predict_materials``).
    The readers start first and the embedder is built meanwhile (``load`` builds it at once).
    The readers stay at most ``prefetch`` files ahead, refilled in bursts; torch uses their cores
    while they wait and keeps to ``threads`` while they read (``default_workers``: on 2 cores, two
    readers and one torch thread). Files stream in chunks of ``chunk``, so memory is bounded by
    the window and a chunk whatever the number of candidates. A progress bar (rate, ETA) shows on
    a terminal and stays quiet in logs and CI.
    """

    def __init__(self, model_dir: str | Path, *, device: str = "auto", threads: int | None = None, workers: int | None = None,
                 relax_steps: int = 0, max_atoms: int | None = None, batch_atoms: int | None = None,
                 chunk: int = 256) -> None:
        from ionscreen import mlip
        from ionscreen.embed import default_batch_atoms, default_engine, embedding_settings
        from ionscreen.structures import candidate_settings

        self.predictor = load_predictor(model_dir)
        emb_meta = self.predictor.meta.embedding
        model, layer, _, self.frame = embedding_settings(emb_meta)  # the readers build graphs in the model's frame
        self.settings = candidate_settings(mlip=model, device=device, relax_steps=relax_steps,
                                           **({} if max_atoms is None else {"max_atoms": max_atoms}))
        self._embedding, self._device, self._embedder = emb_meta, device, None
        self.known = mlip.known_elements(self.settings.mlip)
        self.cutoff = mlip.cutoff_A(self.settings.mlip)
        # Relaxation needs the MLIP: then everything runs in this process.
        self.calc = mlip.get_calculator(self.settings.mlip, device) if relax_steps > 0 else None
        cores = os.cpu_count() or 1
        self.engine = default_engine(model, layer, mlip.resolve_device(device))
        self.workers = self.default_workers(cores, self.engine) if workers is None else workers
        if self.calc is not None:
            self.workers = 0
        # Torch gets the cores the readers leave (at least one thread; all of them while the readers
        # wait for the window to empty, see ``_readers_idle``).
        self.threads = max(1, cores - self.workers) if threads is None else threads
        self.threads_given = threads
        mlip.set_threads(self.threads)
        self.batch_atoms = batch_atoms or default_batch_atoms(mlip.resolve_device(device))
        self.chunk = chunk
        self.prefetch = 2 * chunk  # files read ahead of the embedding at most (bounds memory)
        self._reader: dict[str, Any] | None = None  # the running readers' counts (``_prepared``)
        self.timings: dict[str, float] = {}  # seconds per stage of the last screen (read = waiting for readers)

    @staticmethod
    def default_workers(cores: int, engine: str) -> int:
        """Reader processes beside the embedding. With the ``firstblock`` engine a file costs the
        embedding about half what it costs a reader (parse, order, neighbour graph), so readers go
        on every core and the embedding runs in their gaps: on 2 cores, 254 OBELiX CIFs screen in
        5.8 s with 2 readers against 7.9 s with 1. With SevenNet's own modules the embedding is
        the larger cost: one reader (on 2 cores: 22.7 s for the same set, against 24.7 s for 2
        torch threads fighting the reader for a core)."""
        if cores < 2:
            return 0
        return cores if engine == "firstblock" else 1

    @property
    def embedder(self) -> Any:
        """The SevenNet embedder the model needs, built on first use."""
        if self._embedder is None:
            from ionscreen.embed import embedder_for

            self._embedder = embedder_for(self._embedding, self._device)
        return self._embedder

    def load(self) -> Screener:
        """Build every model now (a benchmark that times screening alone calls this first)."""
        _ = self.embedder
        return self

    def _prepared(self, items: list[tuple[str, str, Path]]
                  ) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any] | None] | None]:
        """(row, rejected) per item, in order, after one None that says the readers have started."""
        from ionscreen.structures import prepare_item

        if self.workers < 1:
            yield None
            for mid, source, path in items:
                yield prepare_item(mid, source, path, self.settings, self.calc, self.known, symmetry=False, keep=True)
            return
        import multiprocessing as mp
        import threading

        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        # At most ``prefetch`` files are read ahead of the embedding, so memory stays bounded when
        # reading is faster than embedding. The window refills in bursts (the feeder waits until
        # half of it is free): between bursts the readers are idle and torch takes their cores
        # (``_readers_idle``), rather than both fighting for them file by file.
        state = {"submitted": 0, "taken": 0, "stop": False, "done": ctx.Value("q", 0)}
        turn = threading.Condition()
        self._reader = state

        def feed() -> Iterator[tuple[Any, ...]]:
            for mid, source, path in items:
                with turn:
                    if state["submitted"] - state["taken"] >= self.prefetch:
                        turn.wait_for(lambda: state["stop"] or state["submitted"] - state["taken"] <= self.prefetch // 2)
                    if state["stop"]:
                        return
                    state["submitted"] += 1
                yield (mid, source, str(path), self.settings, self.known, self.cutoff, self.frame)

        with ctx.Pool(self.workers, initializer=_init_reader, initargs=(state["done"],)) as pool:
            try:
                results = pool.imap(_prepare_worker, feed())  # one file per task: every fed file is in work
                yield None  # the readers are at work
                for out in results:
                    with turn:
                        state["taken"] += 1
                        turn.notify()
                    yield out
            finally:
                with turn:
                    state["stop"] = True  # a feeder still waiting returns
                    turn.notify()
                self._reader = None

    def _readers_idle(self) -> bool:
        """True when the reader processes have read every file handed to them (all files, or as
        many as the prefetch window allows): torch may then use their cores too."""
        r = self._reader
        return r is not None and r["done"].value >= r["submitted"]

    def screen(self, paths: Sequence[str | Path], temperatures_K: Sequence[float],
               rank_temperature_K: float | None = None, *, progress: bool | None = None
               ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
        """(ranked predictions, rejected rows) for structure files or directories of them."""
        from tqdm.auto import tqdm

        from ionscreen.sources import files_by_id

        temps, rank_T = temperatures_with_rank(temperatures_K, rank_temperature_K)
        items = [(mid, str(f), f) for mid, f in files_by_id(paths).items()]
        bad: list[dict[str, Any]] = []
        frames: list[pd.DataFrame] = []
        infos: list[dict[str, Any]] = []
        embs: list[np.ndarray] = []
        pending: list[dict[str, Any]] = []
        pending_atoms = 0

        clock = {"read": 0.0, "embed": 0.0, "predict": 0.0}
        from ionscreen import mlip

        def embed_pending() -> None:
            if pending:
                t0 = time.perf_counter()
                if self.threads_given is None and self.workers > 0:  # readers idle: their cores too
                    mlip.set_threads(self.threads + self.workers if self._readers_idle() else self.threads)
                out = self.embedder.atom_embeddings([r.pop("_graph", None) or r.pop("_structure") for r in pending],
                                                    specie="Li")
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

        bar = tqdm(total=len(items), desc="screen", unit="structure", disable=(not progress) if progress is not None else None)
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
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=schema.spec("predictions").column_names)
        df = rank_by_model(add_arrhenius(df, self.predictor.meta.temperature_range_K), rank_T, self.predictor)
        clock["predict"] += time.perf_counter() - t0
        self.timings = clock
        return df, bad
