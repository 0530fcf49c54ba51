"""The batched-model interface the MD engine drives, and its implementations.

The engine (``ionscreen.md.batch``) knows nothing of the potential: it hands a list of
:class:`System` (atomic numbers, positions in A, cell, neighbour list) to
:meth:`BatchedPotential.evaluate` and gets back each system's energy (eV) and forces (eV/A).
Implementations:

- :class:`SevenNetPotential`: SevenNet models, many systems in one batched graph per call
  (one model call per step on a GPU); on a CPU the convolutions are swapped for
  ``fasttp.DenseConvolution``, which gives the same energies and forces about 1.7x faster.
- :class:`CalculatorPotential`: any ASE calculator, one system at a time (Lennard-Jones for
  tests, MACE until it implements the interface itself).

Neighbour lists are Verlet lists (:class:`VerletList`): pairs within cutoff + skin, rebuilt only
when an atom has moved more than half the skin since the last build, so between rebuilds no pair
within the cutoff can be missing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)


def neighbour_pairs(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float) -> tuple[np.ndarray, ...]:
    """(i, j, integer cell shifts S) of every pair closer than ``cutoff`` (A), with
    r_ij = positions[j] - positions[i] + S @ cell; no atom paired with itself in the same image.
    matscipy's list where it is installed (what sevenn uses), else ASE's."""
    try:
        from matscipy.neighbours import neighbour_list

        i, j, s = neighbour_list("ijS", pbc=pbc, cell=cell, positions=positions, cutoff=cutoff)
    except ImportError:  # pragma: no cover - matscipy ships with sevenn
        from ase.neighborlist import primitive_neighbor_list

        i, j, s = primitive_neighbor_list("ijS", pbc, cell, positions, cutoff, self_interaction=False)
    return i.astype(np.int64), j.astype(np.int64), np.asarray(s, dtype=float)


@dataclass
class VerletList:
    """Pairs within ``cutoff + skin`` (A), reused until an atom has moved more than skin / 2."""

    cutoff: float
    skin: float
    cell: np.ndarray
    pbc: np.ndarray
    builds: int = 0
    _ref: np.ndarray | None = field(default=None, repr=False)
    _pairs: tuple[np.ndarray, ...] = field(default=(), repr=False)

    def edges(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(i, j, r_ij) of the pairs closer than the cutoff at ``positions`` (A)."""
        if (
            self._ref is None
            or self.skin <= 0
            or (np.max(np.sum((positions - self._ref) ** 2, axis=1)) > (self.skin / 2) ** 2)
        ):
            i, j, s = neighbour_pairs(positions, self.cell, self.pbc, self.cutoff + max(self.skin, 0.0))
            self._pairs, self._ref, self.builds = (i, j, s @ self.cell), positions.copy(), self.builds + 1
        i, j, shift = self._pairs
        vec = positions[j] - positions[i] + shift
        keep = np.einsum("ij,ij->i", vec, vec) < self.cutoff**2
        return i[keep], j[keep], vec[keep]


@dataclass
class System:
    """One structure as the engine holds it: positions in A (unwrapped), cell rows in A."""

    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    neighbours: VerletList | None = None


class BatchedPotential(Protocol):
    """What the MD engine needs of a potential."""

    name: str
    device: str
    cutoff_A: float  # the neighbour lists the engine keeps are built for this cutoff
    atoms_per_call: int  # systems are packed into one call up to this many atoms (at least one system)
    accelerator: str  # SevenNet's tensor-product accelerator ('none' for every other potential)

    def evaluate(self, systems: list[System]) -> list[tuple[float, np.ndarray]]:
        """(energy in eV, forces in eV/A of shape (n_atoms, 3)) of each system."""
        ...


class CalculatorPotential:
    """Any ASE calculator behind the batched interface, one system per call (no neighbour list
    is kept: the calculator builds its own)."""

    def __init__(self, calc: Any, name: str, device: str = "cpu") -> None:
        self.calc, self.name, self.device = calc, name, device
        self.accelerator = "none"  # SevenNet's tensor-product accelerators only
        self.cutoff_A, self.atoms_per_call = 0.0, 0

    def evaluate(self, systems: list[System]) -> list[tuple[float, np.ndarray]]:
        from ase import Atoms

        out = []
        for s in systems:
            atoms = Atoms(numbers=s.numbers, positions=s.positions, cell=s.cell, pbc=s.pbc)
            atoms.calc = self.calc
            out.append((float(atoms.get_potential_energy()), np.asarray(atoms.get_forces(), dtype=float)))
        return out


# Atoms per model call where none is given: one system at a time on a CPU (sevenn's batched
# graph gave 0.57-0.69x the throughput of separate calls there), thousands on a GPU.
CPU_ATOMS_PER_CALL = 1
GPU_ATOMS_PER_CALL = 8192


class SevenNetPotential:
    """A SevenNet model evaluating many systems in one batched graph (node features and edges
    concatenated, one energy per system).

    ``fast``: swap the convolutions for ``fasttp.DenseConvolution`` (default: on a CPU, where it
    is measured; e3nn's own on a GPU). Energies and forces equal sevenn's calculator to float32
    rounding (tests/md/test_batch.py).
    """

    def __init__(
        self,
        name: str = "7net-0",
        device: str = "auto",
        *,
        fast: bool | None = None,
        atoms_per_call: int | None = None,
        accelerator: str = "auto",
    ) -> None:
        import torch

        from ionscreen import mlip

        mlip.require("sevenn")
        import sevenn._keys as key

        self.key = key
        self.name, self.device = name, mlip.resolve_device(device)
        cp = mlip.sevennet_model(name)
        self.accelerator = mlip.resolve_accelerator(accelerator, self.device)
        model = cp.build_model(**mlip.accelerator_flags(self.accelerator))
        if self.device != "cpu" and self.accelerator == "none":
            from sevenn.util import warn_no_tp_accelerator

            warn_no_tp_accelerator(f"ionscreen's batched SevenNet on {self.device}")
        log.info("SevenNet %s on %s, tensor-product accelerator: %s", name, self.device, self.accelerator)
        self.type_map = cp.config[key.TYPE_MAP]
        self.cutoff_A = float(cp.config[key.CUTOFF])
        if (fast if fast is not None else self.device == "cpu") and self.accelerator == "none":
            from ionscreen.sevennet.fasttp import DenseConvolution

            for mname, mod in list(model._modules.items()):
                if type(mod).__name__ == "IrrepsConvolution":
                    model._modules[mname] = DenseConvolution.from_sevenn(mod)
        self.model = model.to(self.device).eval()
        self.atoms_per_call = atoms_per_call or (CPU_ATOMS_PER_CALL if self.device == "cpu" else GPU_ATOMS_PER_CALL)
        self._torch = torch

    def evaluate(self, systems: list[System]) -> list[tuple[float, np.ndarray]]:
        torch, key = self._torch, self.key
        if not systems:
            return []
        pos, src, dst, vecs, batch, vols, counts = [], [], [], [], [], [], []
        offset = 0
        for b, s in enumerate(systems):
            if s.neighbours is None:
                s.neighbours = VerletList(self.cutoff_A, 0.0, s.cell, s.pbc)
            i, j, vec = s.neighbours.edges(s.positions)
            unknown = set(np.unique(s.numbers).tolist()) - self.type_map.keys()
            if unknown:
                raise ValueError(f"{self.name} has no parameters for the elements Z={sorted(unknown)}")
            pos.append(s.positions)
            src.append(i + offset)
            dst.append(j + offset)
            vecs.append(vec)
            batch.append(np.full(len(s.numbers), b, dtype=np.int64))
            vols.append(abs(float(np.linalg.det(s.cell))))
            counts.append(len(s.numbers))
            offset += len(s.numbers)
        dev, f32 = self.device, torch.get_default_dtype()
        z = torch.from_numpy(np.concatenate([s.numbers for s in systems]).astype(np.int64)).to(dev)
        data = {
            key.NODE_FEATURE: z,
            key.ATOMIC_NUMBERS: z,  # the model maps atomic numbers to its types
            key.POS: torch.from_numpy(np.concatenate(pos)).to(dev, f32),
            key.EDGE_IDX: torch.from_numpy(np.stack([np.concatenate(src), np.concatenate(dst)])).to(dev),
            key.EDGE_VEC: torch.from_numpy(np.concatenate(vecs)).to(dev, f32),
            key.CELL_VOLUME: torch.tensor(vols, dtype=f32, device=dev),
            key.NUM_ATOMS: torch.tensor(counts, dtype=torch.long, device=dev),
            key.BATCH: torch.from_numpy(np.concatenate(batch)).to(dev),
        }
        single = len(systems) == 1
        if single:  # as sevenn's calculator calls it: scalar volume and atom count
            data[key.CELL_VOLUME], data[key.NUM_ATOMS] = data[key.CELL_VOLUME][0], data[key.NUM_ATOMS][0]
        self.model.set_is_batch_data(not single)
        out = self.model(data)
        energy = out[key.PRED_TOTAL_ENERGY].detach().reshape(-1).cpu().numpy().astype(float)
        forces = out[key.PRED_FORCE].detach().cpu().numpy().astype(float)
        bounds = np.cumsum([0, *counts])
        return [(float(energy[b]), forces[bounds[b] : bounds[b + 1]]) for b in range(len(systems))]


def get_potential(
    name: str = "7net-0", device: str = "auto", *, batch_atoms: int | None = None, accelerator: str = "auto"
) -> BatchedPotential:
    """The batched potential for an MLIP name (``ionscreen.mlip``'s names): SevenNet natively
    (with ``accelerator``: ``mlip.resolve_accelerator``), anything else through its ASE
    calculator. ``batch_atoms``: atoms per model call on a GPU (``md.batch_atoms``; a CPU
    evaluates one system per call)."""
    from ionscreen import mlip
    from ionscreen.sevennet.checkpoint import is_sevennet

    if is_sevennet(name):
        gpu = mlip.resolve_device(device) != "cpu"
        return SevenNetPotential(name, device, atoms_per_call=batch_atoms if gpu else None, accelerator=accelerator)
    device = "cpu" if name == mlip.LJ_NAME else mlip.resolve_device(device)
    return CalculatorPotential(mlip.get_calculator(name, device), name, device)
