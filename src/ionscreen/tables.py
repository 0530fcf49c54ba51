"""Every Parquet table of the pipeline, declared once: its columns, their Arrow types, units and
meaning. Column names carry their units (``_A`` angstrom, ``_eV``, ``_K``, ``_ps``, ``_cm2_s``,
``_S_cm``; ``unit_of``). Reading and writing them is ``ionscreen.schema``."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


class TableSchemaError(ValueError):
    """A table does not match its declared schema."""


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    doc: str
    nullable: bool = True
    unit: str | None = None  # None: from the name's suffix (``unit_of``)


# Unit suffixes of column names, longest first (the first that matches wins): the unit of the values.
UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_eV_atom", "eV/atom"), ("_seconds", "s"), ("_A2_ps", "A^2/ps"), ("_cm2_s", "cm^2/s"), ("_eV_A", "eV/A"),
    ("_S_cm", "S/cm"), ("_per_s", "1/s"), ("_A2", "A^2"), ("_A3", "A^3"), ("_eV", "eV"), ("_ps", "ps"),
    ("_fs", "fs"), ("_K", "K"), ("_A", "A"), ("_s", "s"),
)


# Columns whose unit the name cannot carry (contract names, or log10 of another column's unit).
UNITS: dict[str, str] = {
    "prediction": "log10 of the target column's unit (column target, e.g. log10_sigma_S_cm: log10 S/cm)",
    "prediction_std": "decades (same log10 units as prediction)",
    "prediction_300K": "log10 of the target column's unit, at 300 K",
    "sigma_rt_std": "decades (log10 S/cm)",
    "nearest_training_distance": "hidden-space distance (dimensionless, the model's standardised features)",
    "li_density_A3": "1/A^3",
    "log10_D0_cm2_s": "log10 cm^2/s",
    "log10_D0_std_cm2_s": "decades (log10 cm^2/s)",
    "cov_lnD0_Ea": "K (covariance of ln D0 and Ea/k_B)",
    "mae": "decades (log10 of the target's unit)",
    "mae_seed_mean": "decades (log10 of the target's unit)",
    "mae_seed_std": "decades (log10 of the target's unit)",
    "y_log10": "log10 of the target column's unit",
    "embedding": "SevenNet-0 feature units (dimensionless)",
    "positions_A": "A (unwrapped Cartesian, n_atoms x 3 flattened)",
}


def unit_of(col: Column) -> str:
    """The unit of a column's values: declared, from ``UNITS``, from its name's suffix, or '' (none)."""
    if col.unit is not None:
        return col.unit
    if col.name in UNITS:
        return UNITS[col.name]
    if col.name.startswith("log10_sigma") or col.name.endswith("log10_S_cm"):
        return "log10 S/cm"
    for suffix, unit in UNIT_SUFFIXES:
        if col.name.endswith(suffix):
            return unit
    return ""


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema; every field carries its doc and unit as field metadata, so a reader
        (pyarrow, DuckDB, polars) sees what each column means without this package."""
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable,
                                   metadata={"doc": c.doc, "unit": unit_of(c)}) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


F32_LIST = pa.list_(pa.float32())
STR_LIST = pa.list_(pa.string())


def _t(name: str, doc: str, *cols: Column) -> Table:
    return Table(name, doc, tuple(cols))


C = Column


TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        _t(
            "structures",
            "Structures ready for MD/embedding: ordered, supercell built, positions relaxed.",
            C("material_id", pa.string(), "file stem, Materials Project id or OBELiX ID", False),
            C("source", pa.string(), "where it came from (path, 'mp', 'obelix')"),
            C("formula", pa.string(), "formula of the prepared cell"),
            C("reduced_formula", pa.string(), "reduced composition (splits group by it)"),
            C("spacegroup", pa.string(), "space-group symbol of the input structure"),
            C("nsites", pa.int32(), "atoms in the prepared cell"),
            C("li_fraction", pa.float64(), "fraction of atoms that are Li"),
            C("ordering", pa.string(), "what was done to disorder ('none' when ordered)"),
            C("ordering_error", pa.float64(), "largest relative composition error of the ordering (0 when ordered)"),
            C("supercell", pa.string(), "supercell diagonal, e.g. '2x2x1'"),
            C("min_width_A", pa.float64(), "smallest perpendicular width of the prepared cell"),
            C("e_above_hull_eV_atom", pa.float64(), "energy above hull, where known"),
            C("band_gap_eV", pa.float64(), "band gap, where known"),
            C("relax_energy_eV", pa.float64(), "MLIP energy after position relaxation"),
            C("relax_max_force_eV_A", pa.float64(), "largest force after relaxation"),
            C("relax_steps", pa.int32(), "optimiser steps taken"),
            C("relax_converged", pa.bool_(), "largest force <= relax_fmax_eV_A; null when not relaxed"),
            C("structure_json", pa.string(), "pymatgen Structure.as_dict() as JSON", False),
        ),
        _t(
            "rejected",
            "Inputs that could not be used, with the reason; the rest of the batch went on.",
            C("material_id", pa.string(), "id of the input", False),
            C("source", pa.string(), "path or source name"),
            C("stage", pa.string(), "stage that rejected it (fetch, md, label, screen)"),
            C("code", pa.string(), "machine-readable reason: no_li, unknown_element, too_large, ..."),
            C("reason", pa.string(), "one sentence saying what is wrong", False),
        ),
        _t(
            "trajectory",
            "One MD run: one row per saved frame; metadata holds numbers, cell, dt, MLIP, seed.",
            C("frame", pa.int32(), "saved-frame index, 0-based", False),
            C("step", pa.int64(), "MD step of this frame"),
            C("time_ps", pa.float64(), "simulation time"),
            C("temperature_K", pa.float64(), "instantaneous kinetic temperature of this frame (not the thermostat's "
              "set point, which the file's metadata holds as temperature_K)"),
            C("potential_energy_eV", pa.float64(), "MLIP potential energy of the cell"),
            C("positions_A", F32_LIST, "unwrapped Cartesian positions, n_atoms x 3 flattened"),
        ),
        _t(
            "md_runs",
            "One row per MD run (material x temperature): status and cost.",
            C("material_id", pa.string(), "material", False),
            C("temperature_K", pa.float64(), "thermostat target", False),
            C("status", pa.string(), "'ok', 'failed' (diverged) or 'skipped' (input rejected)"),
            C("reason", pa.string(), "why it failed or was skipped; empty when ok"),
            C("n_atoms", pa.int32(), "atoms simulated"),
            C("n_steps", pa.int64(), "MD steps completed"),
            C("n_frames", pa.int32(), "frames saved"),
            C("timestep_fs", pa.float64(), "integrator time step"),
            C("interval_steps", pa.int32(), "steps between saved frames"),
            C("wall_s", pa.float64(), "wall-clock time of the MD loop"),
            C("steps_per_s", pa.float64(), "MD throughput"),
            C("device", pa.string(), "cpu or cuda"),
            C("mlip", pa.string(), "potential name or file"),
            C("thermostat", pa.string(), "integrator/thermostat"),
            C("seed", pa.int64(), "velocity seed"),
            C("resumed_at_frame", pa.int32(), "0, or the frame an interrupted run resumed from"),
            C("trajectory_path", pa.string(), "where the frames are"),
            C("stop_reason", pa.string(), "fixed (n_steps run), converged (D's 95 % interval narrow enough), max_length (n_steps reached first), failed, skipped"),
            C("length_ps", pa.float64(), "simulated time"),
            C("diffusive", pa.bool_(), "whether the label at the stop was diffusive (null: not computed, md.stop fixed without the ladder)"),
            C("D_rel_error", pa.float64(), "relative half-width of D's 95 % interval at the stop (NaN: not diffusive or not computed)"),
        ),
        _t(
            "labels",
            "Transport labels per material and temperature (kinisi Bayesian D, Nernst-Einstein).",
            C("material_id", pa.string(), "material", False),
            C("temperature_K", pa.float64(), "MD temperature", False),
            C("status", pa.string(), "'ok' or why no labels ('skipped', 'failed')"),
            C("reason", pa.string(), "explanation when status is not ok"),
            C("n_li", pa.int32(), "Li atoms in the cell"),
            C("n_frames", pa.int32(), "frames used"),
            C("duration_ps", pa.float64(), "trajectory length"),
            C("msd_final_A2", pa.float64(), "mean over Li of |r(t_end)-r(0)|^2, one time origin"),
            C("msd_per_time_A2_ps", pa.float64(), "msd_final_A2 / duration (LiFlow's msd_t_Li)"),
            C("D_cm2_s", pa.float64(), "kinisi posterior mean of D* (NaN when not diffusive)"),
            C("D_std_cm2_s", pa.float64(), "posterior standard deviation of D*"),
            C("D_ci95_low_cm2_s", pa.float64(), "2.5 % posterior quantile"),
            C("D_ci95_high_cm2_s", pa.float64(), "97.5 % posterior quantile"),
            C("start_dt_ps", pa.float64(), "start of the fitted diffusive window"),
            C("msd_slope", pa.float64(), "log-log MSD slope in the fitted window (not diffusive: 5-50 % of the run)"),
            C("diffusive", pa.bool_(), "slope settled near 1 (D is meaningful)"),
            C("sigma_S_cm", pa.float64(), "Nernst-Einstein conductivity, Haven ratio 1"),
            C("D_upper_cm2_s", pa.float64(), "upper confidence limit of D (95 %: label.upper_confidence): hop count, running MSD coefficient, kinisi posterior (labels/bounds.py); every MD run; a ladder-skipped run takes the limit of the run above it"),
            C("sigma_upper_S_cm", pa.float64(), "upper bound on sigma (Nernst-Einstein of D_upper; measured bounds such as OBELiX '<1E-10')"),
            C("n_hops", pa.int32(), "Li hops counted for the upper limit (labels/bounds.py)"),
            C("li_density_A3", pa.float64(), "Li number density used for sigma (1/A^3)"),
            C("split", pa.string(), "ingested data sets: the split they come with (train/test)"),
            C("reference_msd_per_time_A2_ps", pa.float64(), "ingested LiFlow data: its own msd_t_Li"),
        ),
        _t(
            "arrhenius",
            "Per material: Arrhenius fit of D across temperatures.",
            C("material_id", pa.string(), "material", False),
            C("status", pa.string(), "'ok' or why there is no fit"),
            C("n_temperatures", pa.int32(), "diffusive temperatures used"),
            C("Ea_eV", pa.float64(), "activation energy"),
            C("Ea_std_eV", pa.float64(), "its standard error"),
            C("Ea_ci95_low_eV", pa.float64(), "Ea - t(0.975, n-2) std (Student t: the variance is scaled by chi^2/dof)"),
            C("Ea_ci95_high_eV", pa.float64(), "Ea + t(0.975, n-2) std"),
            C("log10_D0_std_cm2_s", pa.float64(), "standard error of log10 D0"),
            C("cov_lnD0_Ea", pa.float64(), "covariance of ln D0 and Ea/k_B (K), for bands"),
            C("t95", pa.float64(), "the Student-t quantile the 95 % interval and bands use"),
            C("log10_D0_cm2_s", pa.float64(), "prefactor"),
            C("D_300K_cm2_s", pa.float64(), "extrapolated to 300 K (an extrapolation)"),
            C("sigma_300K_S_cm", pa.float64(), "Nernst-Einstein at 300 K from D_300K"),
            C("extrapolated", pa.bool_(), "True: 300 K lies outside the fitted range"),
        ),
        _t(
            "embeddings",
            "SevenNet structure embeddings, one row per Li atom.",
            C("material_id", pa.string(), "material", False),
            C("atom_index", pa.int32(), "index of the atom in the structure", False),
            C("species", pa.string(), "element symbol"),
            C("embedding", F32_LIST, "node_i, mean over edges of node_j, mean edge features"),
            C("model", pa.string(), "MLIP whose layer was read"),
            C("layer", pa.int32(), "module index the forward pass stopped at"),
            C("variant", pa.string(), "'invariant' (default, 456 values) or 'full' (the paper's 977)"),
            C("frame", pa.string(), "Cartesian frame embedded: 'given' (as written) or 'standard' (from the lattice "
              "parameters); missing in tables written before embed stage version 2 (= given)"),
        ),
        _t(
            "trajectory_embeddings",
            "Per Li atom and temperature: embedding of its displacement spectrum (training only).",
            C("material_id", pa.string(), "material", False),
            C("temperature_K", pa.float64(), "MD temperature", False),
            C("atom_index", pa.int32(), "index of the atom in the structure", False),
            C("embedder", pa.string(), "'moment:<weights dir>' or 'fourier-only' (fallback)", False),
            C("mode", pa.string(), "window512, full, or resample512 (fourier-only)"),
            C("embedding", F32_LIST, "512 values (MOMENT-1-small d_model, or resampled spectrum)"),
        ),
        _t(
            "predictions",
            "Predicted transport per candidate and temperature, ranked, with flags.",
            C("material_id", pa.string(), "candidate", False),
            C("temperature_K", pa.float64(), "temperature of the prediction", False),
            C("target", pa.string(), "what is predicted, e.g. log10_msd_final_A2"),
            C("prediction", pa.float64(), "ensemble mean of the log10 target"),
            C("prediction_std", pa.float64(), "ensemble spread (std over seeds)"),
            C("rank", pa.int32(), "1 = fastest transport at the ranking temperature"),
            C("flags", STR_LIST, "reasons for caution; empty when none"),
            C("rank_by", pa.string(), "the model the rank follows: 'workflow' (prediction) or 'room_temperature' "
              "(sigma_rt_log10_S_cm); ionscreen.screen.ranking"),
            C("formula", pa.string(), "reduced formula"),
            C("nearest_training_distance", pa.float64(), "hidden-space distance to training"),
            C("Ea_eV", pa.float64(), "Arrhenius fit of the predictions over the predicted temperatures"),
            C("Ea_kind", pa.string(), "activation (D), activation (sigma T) or apparent (MSD: includes the vibrational floor)"),
            C("prediction_300K", pa.float64(), "that fit at 300 K (log10 target)"),
            C("extrapolated_300K", pa.bool_(), "True: 300 K lies outside the predicted temperatures"),
            C("sigma_rt_log10_S_cm", pa.float64(),
              "the shipped room-temperature model (obelix-rt): log10 sigma at 300 K, S/cm; null when not run"),
            C("sigma_rt_std", pa.float64(), "its calibrated uncertainty (log10 units, one std)"),
            C("sigma_rt_flags", STR_LIST, "its flags: elements_unseen_in_training, far_from_training, in_training_data (OBELiX), spacegroup_unknown (symmetry search failed: P1 used)"),
        ),
        _t(
            "training_predictions",
            "The trained ensemble's predictions on its own data set, with the split of each row.",
            C("material_id", pa.string(), "material", False),
            C("temperature_K", pa.float64(), "temperature", False),
            C("split", pa.string(), "train, validation or test"),
            C("y_log10", pa.float64(), "log10 of the label"),
            C("prediction", pa.float64(), "ensemble mean, log10"),
            C("prediction_std", pa.float64(), "ensemble spread"),
            C("censored", pa.bool_(), "True: y_log10 is an upper bound (trained as a censored target)"),
        ),
        _t(
            "metrics",
            "Model quality per split and temperature.",
            C("split", pa.string(), "train, validation or test", False),
            C("temperature_K", pa.float64(), "NaN = all temperatures"),
            C("target", pa.string(), "log10 target"),
            C("n", pa.int32(), "samples"),
            C("mae", pa.float64(), "mean absolute error, log10 units"),
            C("spearman", pa.float64(), "rank correlation"),
            C("r2", pa.float64(), "coefficient of determination"),
            C("model", pa.string(), "f1 (AML), f2 (transfer), structure-only, or g (with trajectories)"),
            C("seed", pa.int32(), "ensemble member; null = the ensemble mean"),
            C("mae_seed_mean", pa.float64(), "ensemble rows: mean of the members' MAE"),
            C("mae_seed_std", pa.float64(), "ensemble rows: std of the members' MAE"),
        ),
        _t(
            "ablations",
            "The AML paper's ablations on one grouped split: ensemble metrics per variant and split.",
            C("variant", pa.string(), "full, no_aml, gradient_distillation, ...", False),
            C("description", pa.string(), "what the variant changes"),
            C("route", pa.string(), "aml or structure-only"),
            C("trajectory_embedder", pa.string(), "moment:<dir> or fourier-only; null without AML"),
            C("split", pa.string(), "train, validation or test", False),
            C("n", pa.int32(), "samples"),
            C("mae", pa.float64(), "ensemble MAE, log10 units"),
            C("mae_seed_mean", pa.float64(), "mean of the members' MAE"),
            C("mae_seed_std", pa.float64(), "std of the members' MAE"),
            C("spearman", pa.float64(), "rank correlation of the ensemble"),
            C("r2", pa.float64(), "coefficient of determination of the ensemble"),
            C("train_seconds", pa.float64(), "wall time of the variant's training"),
        ),
        _t(
            "cross_validation",
            "k-fold composition-grouped cross-validation: the predictor, a random forest and the training mean, same folds.",
            C("model", pa.string(), "predictor (route), random forest (composition) or training mean", False),
            C("fold", pa.int32(), "fold index", False),
            C("n_train", pa.int32(), "samples in the training folds"),
            C("n_test", pa.int32(), "samples in the held-out fold"),
            C("mae", pa.float64(), "MAE on the held-out fold, log10 units"),
            C("spearman", pa.float64(), "rank correlation on the held-out fold"),
            C("r2", pa.float64(), "coefficient of determination on the held-out fold"),
            C("train_seconds", pa.float64(), "predictor training wall time"),
        ),
        _t(
            "paper_table",
            "MAE of the log10 target per temperature on a data set's test split, next to the AML paper's figures.",
            C("method", pa.string(), "this run, or a published method", False),
            C("temperature_K", pa.float64(), "temperature", False),
            C("mae", pa.float64(), "mean absolute error, log10 units"),
            C("n_test", pa.int32(), "test samples (published: 419 materials)"),
            C("inference_s", pa.float64(), "wall time to predict the test materials from structure alone"),
            C("source", pa.string(), "where the number comes from"),
            C("target", pa.string(), "log10 target"),
        ),
        _t(
            "external_labels",
            "Measured labels without MD (e.g. OBELiX room-temperature conductivity), one row per material.",
            C("material_id", pa.string(), "material (structure file stem)", False),
            C("temperature_K", pa.float64(), "measurement temperature", False),
            C("status", pa.string(), "ok, or why the row cannot train (bound, missing)", False),
            C("sigma_S_cm", pa.float64(), "ionic conductivity, S/cm; NaN for bounds"),
            C("sigma_bound", pa.string(), "the raw bound, e.g. '<1E-10'"),
            C("formula", pa.string(), "nominal reduced composition (groups the splits)"),
            C("source", pa.string(), "data set"),
        ),
    ]
}


TABLES["trainset_labels"] = _t(
    "trainset_labels",
    "The training set's labels, whatever their source (own MD, LiFlow archive, OBELiX measurements).",
    *TABLES["labels"].columns,
    C("group", pa.string(), "composition that grouped splits keep together (reduced formula)"),
    C("source", pa.string(), "md, liflow or obelix"),
)
