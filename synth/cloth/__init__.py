"""Cloth stage: garments built on the body at rest, simulated with an implicit mass-spring solver.

from synth.cloth import simulate_sequence
caches = simulate_sequence(seq, body, ["tshirt", "trousers"], ["cotton", "denim"], seed)
"""

from synth.cloth.cache import GarmentCache
from synth.cloth.garments import GARMENT_TYPES, build_garment
from synth.cloth.materials import MATERIALS, Material, get_material
from synth.cloth.simulate import simulate_garments, simulate_sequence

__all__ = [
    "GARMENT_TYPES",
    "MATERIALS",
    "GarmentCache",
    "Material",
    "build_garment",
    "get_material",
    "simulate_garments",
    "simulate_sequence",
]
