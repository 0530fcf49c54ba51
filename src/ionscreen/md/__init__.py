"""Stage 2, md (``rules/md.smk``): machine-learned-potential molecular dynamics.

- ``engine``: ``MDSettings`` and one run with ASE's loop (``run_md``);
- ``integrators``: 3N - 3 degrees of freedom, the Nose-Hoover chain, the batched step's two halves
  (``first_half_step``, ``second_half_step``), the ASE reference integrator;
- ``recorder``: a run's trajectory table and ``md_runs`` row (also for runs that did not run);
- ``potentials``: the batched-potential interface, SevenNet's batched graph, Verlet lists;
- ``resume``: the store of an unfinished run's chunks and integrator states;
- ``batch``: many runs advancing together, one potential call per step (``run_batch``);
- ``stopping``: when a run stops because its label is known (``check_trajectory``), and the
  framework check the ladder needs (``framework_intact``);
- ``stage``: the temperature ladder and the workflow's batch job;
- ``plan``, ``probe``, ``rates``: what a campaign's MD costs before it runs, from a rate the probe
  measures on the campaign's own structures; rates kept in ``rates.parquet``.

The trajectory table every run writes is ``ionscreen.trajectory``; which potential (SevenNet-0,
MACE from a file), on which device, is ``ionscreen.mlip`` (relaxation and embeddings use it too);
SevenNet's fast convolution on CPUs is ``ionscreen.sevennet.fasttp``.
"""
