"""Stage 6, screen (``rules/screen.smk``): predictions for new structures without MD.

- ``predict``: prediction tables, ranks, Arrhenius columns and ``predict_paths``;
- ``screener``: the ``Screener``, structures to predictions in one process;
- ``ranking``: which model ranks (validated skill first);
- ``report``: the HTML report with plots.
"""
