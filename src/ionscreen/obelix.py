"""The OBELiX data set (CC BY 4.0, vendored under resources/obelix/ with its licence notice).

``read_table`` parses ``train.csv`` (room-temperature ionic conductivity, S/cm) without turning
upper bounds into numbers: "<1E-10" gives ``sigma_S_cm`` NaN and ``sigma_bound`` "<1E-10".
``cif_files`` extracts the CIFs once (into ``resources/obelix/cifs/``, git-ignored) and maps
entry IDs to files: the ``obelix`` structure source.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pandas as pd

SIGMA_COLUMN = "Ionic conductivity (S cm-1)"


def read_table(csv_path: str | Path) -> pd.DataFrame:
    """OBELiX entries with ``sigma_S_cm`` (float; NaN for bounds), ``sigma_bound`` and
    ``log10_sigma_S_cm``; other columns as in the CSV."""
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
