"""Stage 2, md (``rules/md.smk``): machine-learned-potential molecular dynamics.

- ``engine``: ``MDSettings`` and one run with ASE's loop (``run_md``);
- ``potentials``: the batched-potential interface, SevenNet's batched graph, Verlet lists;
- ``fasttp``: SevenNet's convolutions regrouped for speed (also used by ``embed``);
- ``resume``: the store of an unfinished run's chunks and integrator states;
- ``batch``: many runs advancing together, one potential call per step (``run_batch``);
- ``stopping``: when a run stops because its label is known (``check_trajectory``), and the
  framework check the ladder needs (``framework_intact``);
- ``stage``: the temperature ladder and the workflow's batch job.

The trajectory table every run writes is ``ionscreen.trajectory``; which potential (SevenNet-0,
MACE from a file), on which device, is ``ionscreen.mlip`` (relaxation and embeddings use it too).
"""
