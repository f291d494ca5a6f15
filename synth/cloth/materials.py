"""Cloth material presets. Every solver parameter lives here (and can be overridden by name).

Stiffnesses are per spring in N/m: on a roughly uniform triangle mesh a spring's effective width is
about its length, so a membrane stiffness in N/m maps onto springs independently of resolution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from synth.errors import SynthError


@dataclass(frozen=True)
class Material:
    density: float = 0.15  # kg/m^2 areal density
    stretch: float = 800.0  # N/m, springs along mesh edges
    shear: float = 40.0  # N/m, springs across an edge (opposite vertices of the two triangles)
    bend: float = 2.0  # N/m, springs over two nearly collinear edges
    damping: float = 0.3  # fraction of critical damping along each spring
    drag: float = 0.8  # kg/(m^2 s), linear air drag per unit area
    friction: float = 0.4  # Coulomb coefficient against the body
    thickness: float = 0.004  # m, collision distance kept from the body surface

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


MATERIALS: dict[str, Material] = {
    "cotton": Material(),
    "denim": Material(density=0.35, stretch=1500.0, shear=120.0, bend=12.0, damping=0.4, friction=0.5),
    "silk": Material(density=0.08, stretch=400.0, shear=10.0, bend=0.3, damping=0.2, drag=1.0, friction=0.2),
    "jersey": Material(density=0.18, stretch=250.0, shear=15.0, bend=1.0, damping=0.3, friction=0.45),
    "wool": Material(density=0.28, stretch=900.0, shear=60.0, bend=5.0, damping=0.5, friction=0.6),
}


def get_material(name: str | Material, **overrides: Any) -> Material:
    """A preset by name (or a Material), with any field overridden, e.g. stretch=1200."""
    if isinstance(name, Material):
        mat = name
    elif name in MATERIALS:
        mat = MATERIALS[name]
    else:
        raise SynthError(f"unknown cloth material {name!r}", fix=f"choose one of {', '.join(MATERIALS)}")
    known = {f.name for f in fields(Material)}
    bad = set(overrides) - known
    if bad:
        raise SynthError(f"unknown material setting(s) {sorted(bad)}", fix=f"use some of {sorted(known)}")
    return replace(mat, **{k: float(v) for k, v in overrides.items()})
