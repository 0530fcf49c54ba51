"""The integrators' shared physics: the degrees of freedom of a run without centre-of-mass
momentum, its kinetic temperature, the Nose-Hoover chain coupled to them (the batched engine's and
the ASE reference loop's alike), the batched engine's time step as two named halves around the
force call (``first_half_step``, ``second_half_step``: velocity Verlet, inside half steps of the
chain for NVT), and the ASE reference integrator of a single run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms, units

if TYPE_CHECKING:
    from ionscreen.md.engine import MDSettings


def internal_dof(n_atoms: int) -> int:
    """Degrees of freedom of ``n_atoms`` whose centre-of-mass momentum is removed (every run starts
    with ``Stationary`` and neither integrator changes the total momentum): 3N - 3 (3 for one atom)."""
    return 3 * n_atoms - 3 if n_atoms > 1 else 3


def kinetic_temperature(atoms: Atoms) -> float:
    """Instantaneous temperature (K) over the internal degrees of freedom, 2 E_kin / (k_B (3N - 3))."""
    return float(2.0 * atoms.get_kinetic_energy() / (internal_dof(len(atoms)) * units.kB))


def nose_hoover_chain(masses: np.ndarray, s: MDSettings) -> Any:
    """ASE's Nose-Hoover chain (3 thermostats, 1 loop, 4th-order Suzuki-Yoshida) for a run of
    ``len(masses)`` atoms, coupled to its 3N - 3 internal degrees of freedom. ASE counts 3N, which
    holds a system without a conserved total momentum 3N / (3N - 3) too hot (+3.2 % at 32 atoms);
    its chain only ever uses the count as 3 x num_atoms_global, so N - 1 atoms give 3N - 3."""
    from ase.md.nose_hoover_chain import NoseHooverChainThermostat

    return NoseHooverChainThermostat(
        num_atoms_global=internal_dof(len(masses)) / 3,
        masses=masses,
        temperature_K=s.temperature_K,
        tdamp=s.tdamp_fs * units.fs,
    )


def first_half_step(
    p: np.ndarray, forces: np.ndarray, positions: np.ndarray, masses: np.ndarray, dt: float, thermostat: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The step before the force call: the chain's half step (when ``thermostat`` is a
    ``nose_hoover_chain``; None for nve), a half kick with the current forces, a full drift.
    Returns (momenta, positions); ASE units (momenta amu A / fs_ase, forces eV/A, dt in ASE time,
    masses [n, 1] amu). The order is ``NoseHooverChainNVT.step``'s and ``VelocityVerlet.step``'s
    (``tests/md/test_engine_physics.py`` checks both, step by step)."""
    if thermostat is not None:
        p = thermostat.integrate_nhc(p, dt / 2)
    p = p + (dt / 2) * forces
    return p, positions + dt * p / masses


def second_half_step(p: np.ndarray, forces: np.ndarray, dt: float, thermostat: Any) -> np.ndarray:
    """The step after the force call: a half kick with the new forces, then the chain's half step."""
    p = p + (dt / 2) * forces
    if thermostat is not None:
        p = thermostat.integrate_nhc(p, dt / 2)
    return p


def reference_integrator(atoms: Atoms, s: MDSettings) -> Any:
    """ASE's own integrator for a single run (``ionscreen md --engine ase``, the reference the
    batched engine is tested against): velocity Verlet for nve, else ``NoseHooverChainNVT`` with
    its chain on the 3N - 3 internal degrees of freedom."""
    if s.thermostat == "nve":  # MDSettings.check() has refused unknown names and lower-cased this one
        from ase.md.verlet import VelocityVerlet

        return VelocityVerlet(atoms, timestep=s.timestep_fs * units.fs)
    from ase.md.nose_hoover_chain import NoseHooverChainNVT

    dyn = NoseHooverChainNVT(
        atoms,
        timestep=s.timestep_fs * units.fs,
        temperature_K=s.temperature_K,
        tdamp=s.tdamp_fs * units.fs,
    )
    dyn._thermostat = nose_hoover_chain(dyn.masses, s)  # the reference loop integrates 3N - 3 too
    return dyn
