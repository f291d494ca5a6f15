"""Cloth stage: garments built on the body at rest, simulated with an implicit mass-spring solver.

from synth.cloth import simulate_sequence
caches = simulate_sequence(seq, body, ["tshirt", "trousers"], ["cotton", "denim"], seed)

Names are imported on first use (synth.lazy): the solver's numba and trimesh only with it.
"""

from synth.lazy import lazy_exports

_API = {
    "GARMENT_TYPES": "synth.cloth.garments",
    "MATERIALS": "synth.cloth.materials",
    "GarmentCache": "synth.cloth.cache",
    "Material": "synth.cloth.materials",
    "build_garment": "synth.cloth.garments",
    "get_material": "synth.cloth.materials",
    "simulate_garments": "synth.cloth.simulate",
    "simulate_sequence": "synth.cloth.simulate",
}
__all__ = list(_API)
__getattr__, __dir__ = lazy_exports(__name__, _API)
