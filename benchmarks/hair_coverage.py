"""How much scalp each hair style leaves visible, and whether it shows as a stripe.

Strands grown on the demo body's head (SMPL rest frame: right +x, up +y, forward +z) for each style
and parting; 1500 area-weighted scalp points; a point is bare when a ray out along the scalp's
normal meets no strand within 2.5 cm (synth.scene.hair.bare_scalp). Columns: bare share of the whole
scalp, of the back's midline (|x| < 1.2 cm, behind the head's centre: the stripe of a split at
the back) and of the front at the parting line and at its mirror image (|x -+ parting| < 1 cm).
Usage: python benchmarks/hair_coverage.py [--styles short,medium,long_straight]
"""

from __future__ import annotations

import argparse

import numpy as np

from synth.scene import hair, people
from synth.scene.demo import demo_subject


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--styles", default="short,medium,long_straight,long_wavy,curly")
    args = ap.parse_args()
    from synth.body import load_body_model

    body = load_body_model()
    rig = people.people_rig(body)
    verts = demo_subject(body, "walk", [0])[0]
    used, local = people.submesh(people.head_faces(rig))
    hv = verts[0, used]
    scalp = people.scalp_faces(rig)
    sv, sf = verts[0][np.unique(scalp)], people.submesh(scalp)[1]
    points, normals = hair.sample_surface(sv, sf, 1500, np.random.default_rng(0))
    normals *= np.sign(np.sum(normals * (points - hv.mean(0)), axis=1))[:, None]
    x, z = points[:, 0] - hv[:, 0].mean(), points[:, 2] - hv[:, 2].mean()
    print(f"{'style':<14}{'parting m':>10}{'bare':>7}{'back midline':>14}{'at parting':>12}{'mirror':>8}")
    for style in args.styles.split(","):
        for parting in (0.0, 0.03):
            strands = hair.grow_strands(sv, sf, hv, local, np.eye(3), hair.STYLES[style], seed=1, parting=parting)
            bare = hair.bare_scalp(strands, points, normals)
            back = bare[(np.abs(x) < 0.012) & (z < -0.02)].mean()
            line, mirror = (bare[(np.abs(x - k * parting) < 0.01) & (z > 0.02)].mean() for k in (1, -1))
            print(f"{style:<14}{parting:>10.2f}{bare.mean():>7.2f}{back:>14.2f}{line:>12.2f}{mirror:>8.2f}")


if __name__ == "__main__":
    main()
