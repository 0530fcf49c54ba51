"""The room-temperature conductivity model ``obelix-rt`` (shipped in ``ionscreen/models/obelix-rt``):
log10 sigma (S/cm) at 300 K from
composition and cell, trained on OBELiX's measured conductivities and shipped with the package.

Why a separate model: the workflow's own predictor learns MD transport at 600-1200 K from a few
dozen simulated cells; OBELiX holds 449 measured room-temperature conductivities, half of them
without a CIF. A model that needs only a composition, a cell volume and a space group can learn
from all of them, and gives every screened candidate a figure grounded in experiment.

Descriptors (``DESCRIPTOR_NAMES``, 270 columns), matminer's maintained featurisers as
``composition`` computes them in numpy (equal to matminer's to 1e-12; no scikit-learn import):
Magpie element-property statistics (132), stoichiometry norms (6), valence-orbital fractions (8),
ionic character (3), element fractions (118), plus the cell: volume per atom (A^3), Li atoms per
A^3 and the space-group number. Partial occupancies count as fractional amounts, so a doped or
Li-disordered composition (non-integer Li, a strong sign of fast conduction) is seen as such.

Model: an extremely randomised tree ensemble (``RoomTempConfig``), exported to plain arrays
(``TreeEnsemble``): the checkpoint is an ``.npz`` that loads with numpy alone and predicts equal
to scikit-learn. The trees fit ln(-log10 sigma) (``TARGET_TRANSFORMS``), so the few very poor
conductors (sigma < 1e-10 S/cm, often extrapolated from high-temperature data) pull the splits
less; the prediction is -exp of the mean over trees. Uncertainty is the spread over trees (in
log10 sigma) times a factor calibrated on cross-validated errors so that 68 % of held-out entries
fall within one ``prediction_std``.

Upper bounds ("<1E-10") are not trained on: trees cannot take censored targets, and adding them as
values (at the bound, or one or two decades below it; a fold never trains on a bound whose
composition it tests) made the grouped CV error worse: 0.718-0.727 against 0.714 (measured while the groups were
OBELiX's composition texts).

Modules: ``descriptors`` (inputs, target transforms), ``composition`` (matminer's composition
features in numpy), ``fit`` (configuration, fitting, grouped CV,
learning curve), ``figures`` (the card's figures from held-out predictions), ``card`` (the model
card), ``train`` (the whole training run and the model folder), ``model`` (loading and
predicting), ``trees`` (the numpy tree ensemble).
"""
