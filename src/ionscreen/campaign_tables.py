"""The tables of a campaign as a whole, declared as ``ionscreen.tables`` declares the rest (it
merges these into ``TABLES``): what MD costs on a device and what a campaign will cost (the plan,
``ionscreen.md.plan``), and the rounds of an active campaign (``ionscreen.campaign``)."""

from __future__ import annotations

import pyarrow as pa

from ionscreen.columns import C, Table, declare

CAMPAIGN_TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        declare(
            "rates",
            "What the batched MD engine costs on one device, measured by the plan's probe (ionscreen.md.probe): "
            "one row per device name, MLIP, batch size and accelerator.",
            C("device_name", pa.string(), "the GPU's name, or the CPU's model and torch threads", False),
            C("device", pa.string(), "cpu or cuda"),
            C("mlip", pa.string(), "potential name or file", False),
            C("batch_atoms", pa.int64(), "md.batch_atoms the probe ran at (atoms in flight)", False),
            C("accelerator", pa.string(), "SevenNet tensor-product accelerator (none on a CPU)"),
            C("call_s", pa.float64(), "cost of one model call per MD step"),
            C(
                "run_step_s",
                pa.float64(),
                "cost of one run in flight per MD step (integrator, frames, checks of divergence)",
            ),
            C("edge_step_s", pa.float64(), "cost of one atom pair within the cutoff, in flight, per MD step"),
            C("atoms_per_call", pa.int64(), "atoms the engine packs into one model call on this device"),
            C("cutoff_A", pa.float64(), "the MLIP's cutoff: pairs within it are the edges"),
            C("start_s", pa.float64(), "loading the model, once per batch job"),
            C("check_s", pa.float64(), "labelling one full-length run (a stop-rule check, or the label job's share)"),
            C("probe_s", pa.float64(), "what the probe itself took"),
            C("sample", pa.string(), "what was timed: runs x atoms x steps, ms per step"),
            C("measured_at", pa.string(), "ISO date and time of the probe"),
            C(
                "check_start_s",
                pa.float64(),
                "the first label check in a job: kinisi's import and warm-up, once per batch job",
                added=True,
            ),
            C(
                "spread",
                pa.float64(),
                "how steady the device was: half the range of one configuration's timed slices / their median (the largest)",
                added=True,
            ),
        ),
        declare(
            "plan",
            "What a campaign costs before it runs (ionscreen.md.plan): one row per stage and a total. Range: "
            "min = the most the stop rule and the ladder can save, expected = their saving in the replay against "
            "known D (docs/md.md), max = every run to md.n_steps at every temperature.",
            C(
                "stage",
                pa.string(),
                "md, label (the stop rule's checks inside md jobs, then the label jobs), total",
                False,
            ),
            C("jobs", pa.int64(), "batch jobs (md) or runs (label)"),
            C("runs", pa.int64(), "MD runs (materials x temperatures)"),
            C("atoms", pa.int64(), "atoms over all runs"),
            C("steps_max", pa.int64(), "MD steps over all runs, every run to md.n_steps"),
            C("steps_expected", pa.int64(), "MD steps expected under md.stop and md.ladder"),
            C("steps_min", pa.int64(), "MD steps if the stop rule and the ladder save all they can"),
            C("device_name", pa.string(), "the device of the rate"),
            C("atom_steps_per_s", pa.float64(), "measured throughput of a full batch, atom-steps/s"),
            C("min_hours", pa.float64(), "device-hours, least"),
            C("expected_hours", pa.float64(), "device-hours expected"),
            C("max_hours", pa.float64(), "device-hours, most"),
            C("devices", pa.int64(), "devices sharing the batch jobs (plan.devices)"),
            C("wall_expected_hours", pa.float64(), "wall-clock hours on those devices, expected"),
            C("wall_max_hours", pa.float64(), "wall-clock hours on those devices, most"),
            C("actual_hours", pa.float64(), "device-hours the finished runs took (from md_runs; NaN before)"),
            C("actual_over_max", pa.float64(), "actual_hours / max_hours (how the next plan is calibrated)"),
        ),
        declare(
            "plan_batches",
            "Each MD batch job's planned cost and the time limit a cluster job gets from it (ionscreen.md.plan).",
            C("batch", pa.string(), "batch name <T>K-<n> (md/batches-<T>K.json)", False),
            C("temperature_K", pa.float64(), "the batch's temperature"),
            C("runs", pa.int64(), "runs in the batch job"),
            C("atoms", pa.int64(), "atoms over its runs"),
            C("min_hours", pa.float64(), "least device-hours (MD loop and label checks)"),
            C("expected_hours", pa.float64(), "expected device-hours"),
            C("max_hours", pa.float64(), "device-hours, every run to md.n_steps"),
            C("runtime_min", pa.int64(), "the job's time limit: max x (1 + plan.margin) + model loading, rounded up"),
        ),
        declare(
            "campaign_picks",
            "One campaign round's picks (ionscreen.campaign): what the surrogate predicted for each and the "
            "acquisition value that chose it, before it was labelled.",
            C("round", pa.int64(), "campaign round, from 1", False),
            C("rank", pa.int64(), "order of the pick within the round, from 1", False),
            C("material_id", pa.string(), "the picked candidate", False),
            C("group", pa.string(), "reduced formula"),
            C("element_set", pa.string(), "its elements, sorted (the diversity step's key)"),
            C("predicted", pa.float64(), "the surrogate's label (log10 of the campaign's target)"),
            C("predicted_std", pa.float64(), "its calibrated standard deviation"),
            C("acquisition", pa.string(), "campaign.acquisition that chose it"),
            C("acquisition_value", pa.float64(), "the acquisition's value (larger: picked first)"),
        ),
        declare(
            "campaign_pool",
            "One round's prediction of the whole pool (the candidates not labelled before the round).",
            C("round", pa.int64(), "campaign round", False),
            C("material_id", pa.string(), "candidate", False),
            C("predicted", pa.float64(), "the surrogate's label"),
            C("predicted_std", pa.float64(), "calibrated standard deviation"),
            C("acquisition_value", pa.float64(), "the acquisition's value"),
            C("picked", pa.bool_(), "picked this round"),
        ),
        declare(
            "campaign_labels",
            "One round's picks labelled by the oracle (MD and the label stage, or a table), with the MD they cost.",
            C("round", pa.int64(), "campaign round", False),
            C("material_id", pa.string(), "the pick", False),
            C("label", pa.float64(), "log10 of the campaign's target (NaN: no label; reason says why)"),
            C("status", pa.string(), "ok or failed"),
            C("reason", pa.string(), "why there is no label"),
            C("predicted", pa.float64(), "what the surrogate predicted before the label was known"),
            C("predicted_std", pa.float64(), "its calibrated standard deviation"),
            C("md_runs", pa.int64(), "MD runs the label took (0 for a table oracle)"),
            C("md_simulated_ps", pa.float64(), "picoseconds simulated over those runs"),
            C("md_wall_s", pa.float64(), "MD wall time: the longest run of each of the pick's batch jobs"),
        ),
        declare(
            "campaign_summary",
            "The campaign round by round (round 0: the initial training set).",
            C("round", pa.int64(), "campaign round", False),
            C("labels", pa.int64(), "labels so far (initial set and every round up to this one)"),
            C("best_label", pa.float64(), "the best label so far"),
            C("best_material_id", pa.string(), "whose it is"),
            C("top_decile_found", pa.int64(), "the pool's top-decile materials labelled so far (table oracle only)"),
            C("top_decile_total", pa.int64(), "materials in the pool's top decile (table oracle only)"),
            C(
                "picks_mae",
                pa.float64(),
                "the surrogate's mean |error| on this round's picks before they were labelled",
            ),
            C(
                "picks_coverage",
                pa.float64(),
                "share of this round's picks within one predicted std (0.68: calibrated)",
            ),
            C("cv_mae", pa.float64(), "the surrogate's grouped-CV error on the labels it trained on"),
            C("md_runs", pa.int64(), "MD runs of this round"),
            C("md_simulated_ps", pa.float64(), "picoseconds simulated this round"),
            C("md_wall_hours", pa.float64(), "MD wall time of this round's batch jobs"),
        ),
    ]
}
