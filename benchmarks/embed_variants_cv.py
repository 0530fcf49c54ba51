"""Which structure embedding should the workflow's model learn from? The options, on the same folds:

- ``full / given``: the AML paper's 977 values on the cell exactly as written (changes with the
  cell's orientation: kept as an opt-in);
- ``full / standard``: the same 977 values with the cell rotated first to the orientation its
  lattice parameters define (independent of a rigid rotation, not of the choice of basis);
- ``invariant / given``: scalars, one norm per l > 0 channel and the radial edge part, 456 values
  (independent of rotation, translation, atom order and basis by construction).

For each: grouped 5-fold CV (groups: reduced composition) of the structure-only predictor that
``config/obelix.yaml`` trains, on OBELiX's entries with a CIF, over fold seeds, next to a random
forest on composition features on the same folds (``evaluate.cross_validate``), mean +- std over
the fold seeds' mean MAE; and how far the embedding of a rotated, translated and re-ordered copy
of each cell lies from the original's (max |difference| of the mean Li embedding).

    python benchmarks/embed_variants_cv.py [--fold-seeds 0 1 2] [--widths 64 64 64]
        [--md-labels results-test/trainset]    # the same comparison on an MD training set

``--md-labels DIR`` reads a workflow trainset folder (labels, structures; e.g. from
``snakemake --configfile .test/config.yaml trainset``) and embeds its structures per variant.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
OPTIONS = (("full", "given"), ("full", "standard"), ("invariant", "given"))


def rotated_copy(s, seed: int):  # noqa: ANN001, ANN201 - pymatgen Structure in and out
    """A generic rigid rotation, translation and atom permutation of structure ``s``."""
    from pymatgen.core import Lattice, Structure
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    rot = Rotation.random(random_state=seed).as_matrix()
    lat = Lattice(s.lattice.matrix @ rot.T)
    moved = Structure(lat, s.species, s.frac_coords + rng.random(3))
    return Structure.from_sites([moved[i] for i in rng.permutation(len(moved))])


def orientation_spread(structures: pd.DataFrame, variant: str, frame: str, n: int = 40) -> float:
    """Max |difference| of the mean Li embedding between ``n`` structures and rotated copies."""
    from ionscreen.embed.structure import SevenNetEmbedder
    from ionscreen.structures.prepare import structure_from_row

    emb = SevenNetEmbedder(variant=variant, frame=frame, device="cpu")
    worst = 0.0
    for k, row in enumerate(structures.head(n).to_dict("records")):
        s = structure_from_row(row)
        a, b = emb.atom_embeddings([s, rotated_copy(s, k)], specie="Li")
        worst = max(worst, float(np.abs(a.mean(0) - b.mean(0)).max()))
    return worst


def md_trainset(folder: Path, variant: str, frame: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    from ionscreen import schema
    from ionscreen.embed.structure import SevenNetEmbedder
    from ionscreen.structures.prepare import structure_from_row

    labels = schema.read_table(folder / "labels.parquet", "trainset_labels")
    structures = schema.read_table(folder / "structures.parquet", "structures")
    rows = SevenNetEmbedder(variant=variant, frame=frame, device="cpu")(
        [(r["material_id"], structure_from_row(r)) for r in structures.to_dict("records")], progress=False
    )
    return labels, structures, pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fold-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--widths", type=int, nargs="+", default=[64, 64, 64], help="decoder widths")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--cache", type=Path, default=REPO / "results/obelix-cv-cache")
    ap.add_argument("--md-labels", type=Path, default=None, help="a workflow trainset folder instead of OBELiX")
    ap.add_argument("--target", default=None, help="with --md-labels: the label column (default msd_final_A2)")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import yaml

    from ionscreen import mlip
    from ionscreen.learn.config import TrainConfig
    from ionscreen.learn.evaluate import cross_validate

    mlip.set_threads(2)
    if a.md_labels is None:
        settings = yaml.safe_load((REPO / "config/obelix.yaml").read_text())["train"]
        settings = {k: v for k, v in settings.items() if k not in ("labels",)}
    else:
        settings = {"target": a.target or "msd_final_A2", "aml": False, "seeds": [0, 1, 2]}
    tcfg = TrainConfig(**{**settings, "decoder_widths": a.widths, "device": "cpu"})
    print(
        f"data: {'OBELiX entries with a CIF' if a.md_labels is None else a.md_labels}; target log10 "
        f"{tcfg.target}; decoder {tcfg.decoder_widths}; {a.folds}-fold grouped CV, fold seeds {a.fold_seeds}"
    )
    print(
        f"{'variant / frame':22s} {'dim':>4s} {'rotation spread':>16s} {'predictor MAE':>16s} "
        f"{'forest MAE':>16s} {'ratio':>6s} {'time':>6s}"
    )
    for variant, frame in OPTIONS:
        t0 = time.perf_counter()
        if a.md_labels is None:
            from obelix_rt_cv import obelix_trainset

            labels, structures, embeddings = obelix_trainset(a.cache, variant, frame)
        else:
            labels, structures, embeddings = md_trainset(a.md_labels, variant, frame)
        spread = orientation_spread(structures, variant, frame)
        per_seed = []
        for fs in a.fold_seeds:
            cv = cross_validate(labels, embeddings, structures, tcfg, None, n_folds=a.folds, seed=fs)
            per_seed.append(cv.groupby(cv["model"].str.startswith("predictor"))["mae"].mean())
        tab = pd.DataFrame(per_seed)
        pred, forest = tab[True], tab[False]
        dim = len(embeddings["embedding"].iloc[0])
        print(
            f"{variant + ' / ' + frame:22s} {dim:4d} {spread:16.2e} {pred.mean():8.3f} +- {pred.std():.3f} "
            f"{forest.mean():8.3f} +- {forest.std():.3f} {pred.mean() / forest.mean():6.3f} "
            f"{time.perf_counter() - t0:5.0f}s   per seed: " + " ".join(f"{v:.3f}" for v in pred)
        )


if __name__ == "__main__":
    main()
