"""The OBELiX data set (CC BY 4.0, vendored under resources/obelix/ with its licence notice).

``read_table`` parses ``train.csv`` (room-temperature ionic conductivity, S/cm) without turning
upper bounds into numbers: "<1E-10" gives ``sigma_S_cm`` NaN and ``sigma_bound`` "<1E-10".
``formula`` is the normalised reduced formula of OBELiX's ``Reduced Composition`` text
(``normalised_formula``): the same phase written two ways ("Li1.4Al0.4Ti1.6(PO4)3" and
"Li1.4Al0.4Ti1.6 (PO4)3", or with a trailing space) is one group in every split and one phase in
the repeated-measurement figures. ``cif_files`` extracts the CIFs once (into ``resources/obelix/cifs/``, git-ignored) and maps
entry IDs to files: the ``obelix`` structure source.
"""

from __future__ import annotations

import functools
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd

SIGMA_COLUMN = "Ionic conductivity (S cm-1)"


@functools.cache
def normalised_formula(text: str) -> str:
    """pymatgen's reduced formula of a composition written as text ("Li1.4Al0.4Ti1.6 (PO4)3 " ->
    "Li1.4Ti1.6Al0.4P3O12"): spaces, brackets and element order no longer tell two writings of
    one composition apart. Raises ``ValueError`` for text that is no composition."""
    from pymatgen.core import Composition

    return Composition(text.strip()).reduced_formula


def read_table(csv_path: str | Path) -> pd.DataFrame:
    """OBELiX entries with ``sigma_S_cm`` (float; NaN for bounds), ``sigma_bound``,
    ``log10_sigma_S_cm`` and ``formula`` (``normalised_formula`` of the reduced composition, the
    group of every split); other columns as in the CSV."""
    df = pd.read_csv(csv_path, dtype={"ID": str})
    raw = df[SIGMA_COLUMN].astype(str).str.strip()
    sigma = pd.to_numeric(raw, errors="coerce")
    bound = raw.where(sigma.isna() & raw.str.match(r"^[<>]"), None)
    if (sigma.isna() & bound.isna()).any():
        bad = raw[sigma.isna() & bound.isna()].unique()[:5]
        raise ValueError(f"unparseable conductivities in {csv_path}: {list(bad)}")
    df["sigma_S_cm"] = sigma
    df["sigma_bound"] = bound
    df["log10_sigma_S_cm"] = np.log10(sigma.where(sigma > 0))
    df["formula"] = df["Reduced Composition"].astype(str).map(normalised_formula)
    return df


def cif_files(folder: str | Path) -> dict[str, Path]:
    """{OBELiX ID: CIF path}, extracting ``train_cifs.tar.gz`` into ``cifs/`` on first use."""
    folder = Path(folder)
    out = folder / "cifs"
    archive = folder / "train_cifs.tar.gz"
    if not out.is_dir() or not any(out.iterdir()):
        tmp = folder / ".cifs.partial"
        tmp.mkdir(exist_ok=True)
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.endswith(".cif"):
                    member.name = Path(member.name).name
                    tar.extract(member, tmp, filter="data")
        tmp.rename(out)
    return {p.stem: p for p in sorted(out.glob("*.cif"))}


ROOM_TEMPERATURE_K = 300.0  # OBELiX conductivities are room-temperature measurements


def training_labels(folder: str | Path, out: str | Path | None = None) -> pd.DataFrame:
    """The ``external_labels`` table of the OBELiX training split: one row per entry that has a
    CIF (the structure model needs one), ``status`` 'ok' for a measured conductivity and 'bound'
    for an upper bound such as "<1E-10" (kept, not trained on). ``formula`` is OBELiX's reduced
    composition, normalised (``normalised_formula``): it groups the splits."""
    from ionscreen import schema

    folder = Path(folder)
    df = read_table(folder / "train.csv")
    cifs = cif_files(folder)
    df = df[df["ID"].isin(cifs)]
    ok = df["sigma_S_cm"].notna() & (df["sigma_S_cm"] > 0)
    labels = pd.DataFrame(
        {
            "material_id": df["ID"].astype(str),
            "temperature_K": ROOM_TEMPERATURE_K,
            "status": np.where(ok, "ok", np.where(df["sigma_bound"].notna(), "bound", "missing")),
            "sigma_S_cm": df["sigma_S_cm"].astype(float),
            "sigma_bound": df["sigma_bound"],
            "formula": df["formula"],
            "source": "OBELiX train",
        }
    )
    if out is not None:
        schema.write_table(labels, out, "external_labels", dataset="OBELiX", licence="CC BY 4.0")
    return labels
