"""Cloth stage: garments built on the body at rest, simulated with an implicit mass-spring solver.

from synth.cloth import simulate_sequence
caches = simulate_sequence(seq, body, ["tshirt", "trousers"], ["cotton", "denim"], seed)

Names are imported on first use (synth.lazy): the solver's numba and trimesh only with it.
"""

from synth.lazy import lazy_exports

_API, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "synth.cloth.cache": ("GarmentCache",),
        "synth.cloth.garments": ("GARMENT_TYPES", "build_garment"),
        "synth.cloth.materials": ("MATERIALS", "Material", "get_material"),
        "synth.cloth.simulate": ("simulate_garments", "simulate_sequence"),
    },
)
__all__ = list(_API)
