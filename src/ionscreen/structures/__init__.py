"""Stage 1, fetch (``rules/fetch.smk``): where structures come from and how they are made ready.

- ``sources``: material ids, local CIF folders, shards of a candidate list;
- ``mp``: the Materials Project client (mp-api), offline-safe;
- ``obelix``: the vendored OBELiX data set (conductivities and CIFs);
- ``cif``: CIF reading with partial occupancies kept;
- ``ordering``: disorder resolved into an ordered supercell;
- ``cells``: cell geometry and ``StructureError``;
- ``prepare``: supercell, relaxation and the ``structures`` table row.
"""
