"""ionscreen.md.integrators: the batched engine's two half steps against ASE's own integrators,
step by step, on a rattled 32-atom Li3N cell under Lennard-Jones (fast, element-agnostic forces)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

from ionscreen.md.engine import MDSettings
from ionscreen.md.integrators import first_half_step, nose_hoover_chain, reference_integrator, second_half_step
from tests.conftest import li3n


def _atoms():
    from pymatgen.io.ase import AseAtomsAdaptor

    from ionscreen.mlip import get_calculator

    atoms = AseAtomsAdaptor.get_atoms(li3n() * (2, 2, 2))
    atoms.rattle(0.05, seed=1)
    MaxwellBoltzmannDistribution(atoms, temperature_K=900.0, rng=np.random.default_rng(2))
    Stationary(atoms)
    atoms.calc = get_calculator("lj", device="cpu")
    return atoms


@pytest.mark.parametrize("thermostat", ["nose-hoover", "nve"])
def test_the_half_steps_are_ases_integrator(thermostat):
    """50 steps of first_half_step -> forces -> second_half_step give ASE's positions and momenta
    (NoseHooverChainNVT with the same chain, or VelocityVerlet) to float64 rounding."""
    s = MDSettings(temperature_K=900.0, timestep_fs=2.0, tdamp_fs=40.0, thermostat=thermostat, n_steps=50)
    ref = _atoms()
    dyn = reference_integrator(ref, s)
    dyn.run(50)

    atoms = _atoms()
    masses = atoms.get_masses()[:, None]
    chain = nose_hoover_chain(masses, s) if thermostat != "nve" else None
    dt = s.timestep_fs * units.fs
    p, positions, forces = atoms.get_momenta(), atoms.get_positions(), atoms.get_forces()
    for _ in range(50):
        p, positions = first_half_step(p, forces, positions, masses, dt, chain)
        atoms.set_positions(positions)
        forces = atoms.get_forces()
        p = second_half_step(p, forces, dt, chain)
    np.testing.assert_allclose(positions, ref.get_positions(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(p, ref.get_momenta(), rtol=0, atol=1e-10)
    assert np.abs(positions - atoms.get_positions()).max() == 0
    # The steps moved the atoms (a test that cannot pass by standing still).
    assert np.abs(positions - _atoms().get_positions()).max() > 0.05
