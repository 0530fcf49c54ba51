"""Stage 6, screen (``rules/screen.smk``): predictions for new structures without MD.

- ``predict``: prediction tables, flags, ranks and Arrhenius columns;
- ``screener``: ``predict_paths`` (``ionscreen predict``) and the ``Screener``, files to predictions;
- ``ranking``: which model ranks (validated skill first);
- ``report``: the HTML report; ``plots``: its figures.
"""
