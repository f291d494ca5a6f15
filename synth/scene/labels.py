"""The seg pass's label legend: the one definition every writer and reader of seg maps uses.

Labels are object pass indices written by blender_scripts/render.py as exact 8-bit values:
0 background (the HDRI, the photo and the ground plane with its shadow), 1 the body's skin,
2 .. 2 + GARMENT_SLOTS - 1 the garments in job order, then hair (scalp hair and eyebrows), eyes
(the render-only eyeballs) and shoes at fixed values after the garment range.
"""

from __future__ import annotations

BACKGROUND = 0
BODY = 1
FIRST_GARMENT = 2
GARMENT_SLOTS = 6  # garment materials drawn per scene (job order); their labels are 2..7
HAIR = FIRST_GARMENT + GARMENT_SLOTS  # 8
EYES = HAIR + 1  # 9
SHOES = HAIR + 2  # 10


def garment_label(k: int) -> int:
    """Seg label of the k-th garment of a render job (job order)."""
    if not 0 <= k < GARMENT_SLOTS:
        raise ValueError(f"garment index {k} outside 0..{GARMENT_SLOTS - 1}")
    return FIRST_GARMENT + k


def seg_legend(garment_types: list[str], hair: bool = False, eyes: bool = False, shoes: bool = False) -> dict[str, str]:
    """{label (as a JSON key string): name} for one render job; names garments as 'garment:TYPE'."""
    legend = {str(BACKGROUND): "background", str(BODY): "body"}
    for k, kind in enumerate(garment_types):
        legend[str(garment_label(k))] = f"garment:{kind}"
    for flag, label, name in ((hair, HAIR, "hair"), (eyes, EYES, "eyes"), (shoes, SHOES, "shoes")):
        if flag:
            legend[str(label)] = name
    return legend


def part_legend() -> dict[str, str]:
    """{label: name} of the parts pass: 0 where no skin is visible, 1 + the SMPL joint index of the part."""
    from synth.body.joints import JOINT_NAMES as SMPL_JOINT_NAMES

    return {"0": "none"} | {str(k + 1): n for k, n in enumerate(SMPL_JOINT_NAMES)}
