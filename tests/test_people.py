"""People in the render: body UVs and eyes beside the model, hair/eye/shoe/skin choices from the
scene seed, the geometry that carries them, the Blender scene they build, and their seg labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import inspect_scenes
from PIL import Image

from synth.blender_scripts.common import srgb_decode
from synth.body.look import EYE_UV_CENTRES, load_body_look
from synth.errors import SynthError
from synth.paths import shared_assets_dir
from synth.scene import hair, people, run_render, sample_scene, write_render_job
from synth.scene.labels import BODY, EYES, HAIR, SHOES, seg_legend
from synth.scene.spec import FACIAL_HAIR, HAIR_STYLES, SHOE_TYPES


@pytest.fixture(scope="module")
def rig(body):
    return people.people_rig(body)


@pytest.fixture(scope="module")
def subject(body):
    from synth.scene.demo import demo_subject

    return demo_subject(body, "walk", [0, 12])


def test_people_choices_come_from_the_seed_and_cover_every_option():
    a, b = sample_scene(11), sample_scene(11)
    assert (a.skin, a.hair, a.eyes, a.shoes, a.ground) == (b.skin, b.hair, b.eyes, b.shoes, b.ground)
    specs = [sample_scene(s) for s in range(300)]
    assert {s.hair["style"] for s in specs} == set(HAIR_STYLES)
    assert {s.shoes["type"] for s in specs} == set(SHOE_TYPES)
    assert {s.hair["facial"] for s in specs} == set(FACIAL_HAIR)
    assert {int(np.sign(s.hair["parting"])) for s in specs} == {-1, 0, 1}
    assert all(0.5 < m["fold_shade"] < 0.8 and 0.3 <= m["rumple"] <= 0.6 for m in a.garment_materials)
    tones = np.array([s.skin["tone"] for s in specs])
    assert np.histogram(tones, bins=10, range=(0, 1))[0].min() >= 15  # continuous and balanced, not presets
    assert len({tuple(s.skin["color"]) for s in specs}) == len(specs)
    melanin = np.array([s.hair["melanin"] for s in specs])
    assert melanin.min() < 0.3 and melanin.max() > 0.9
    assert len({tuple(s.eyes["iris_major"]) for s in specs}) == len(specs)
    assert a.ground == {"shadow": True} and sample_scene(11, {"ground_shadow": False}).ground == {}  # on by default
    off = sample_scene(11, {"people": False, "ground_shadow": True})
    assert off.hair == off.eyes == off.shoes == off.ground == {} and off.skin == a.skin


def test_body_look_sidecar_uvs_and_eyes(body, rig, tmp_path):
    look = rig.look
    assert look.uv.shape == (len(body.faces), 3, 2) and look.uv.min() >= 0 and look.uv.max() <= 1
    assert look.has_eyes and set(np.unique(look.eye_side)) == {0, 1}
    for side in (0, 1):
        eye = look.eye_verts[look.eye_side == side]
        socket = body.v_template[look.eye_ring[side]].mean(0)
        assert np.linalg.norm(eye.mean(0) - socket) < 0.02  # in its socket
        assert np.sign(eye.mean(0)[0]) == (1 if side == 0 else -1)  # left eye on the body's left (+x)
        front = look.eye_uv[look.eye_side == side][np.argmax(eye[:, 2])]
        assert np.allclose(front, EYE_UV_CENTRES[side], atol=0.05)  # iris centre faces forward
    # a UV map given by path (as for a real SMPL file): OBJ f v/vt round trip, mismatch refused
    obj = tmp_path / "uv.obj"
    vt = look.uv.reshape(-1, 2)
    lines = [f"vt {u} {v}" for u, v in vt] + [
        f"f {a + 1}/{3 * k + 1} {b + 1}/{3 * k + 2} {c + 1}/{3 * k + 3}" for k, (a, b, c) in enumerate(body.faces)
    ]
    obj.write_text("\n".join(lines))
    assert np.allclose(load_body_look(body, obj).uv, look.uv, atol=1e-6)
    np.savez(tmp_path / "bad.npz", uv=look.uv[:10])
    with pytest.raises(SynthError, match="faces"):
        load_body_look(body, tmp_path / "bad.npz")


def test_head_transforms_are_rigid_and_follow_the_head(rig, subject):
    verts = subject[0]
    head = people.head_vertices(rig)
    M = people.head_transforms(verts, head)
    assert np.allclose(M[0], np.eye(4), atol=1e-9)
    R = M[1, :3, :3]
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(R), 1.0)
    moved = verts[0, head] @ R.T + M[1, :3, 3]
    assert np.median(np.linalg.norm(moved - verts[1, head], axis=1)) < 0.003  # rigid to within 3 mm


def test_hair_and_shoe_geometry(rig, subject):
    verts = subject[0]
    eye_y, _ = people.eye_level(rig)
    scalp = people.scalp_faces(rig)
    assert len(scalp) > 300 and rig.rest[np.unique(scalp), 1].min() > eye_y - 0.07
    axes = np.eye(3)  # SMPL world: right +x, up +y, forward +z (the demo body faces +z at frame 0)
    used, local = people.submesh(people.head_faces(rig))
    hv = verts[0, used]
    sv, sf = verts[0][np.unique(scalp)], people.submesh(scalp)[1]
    for style in hair.STYLES:
        strands = hair.grow_strands(sv, sf, hv, local, axes, hair.STYLES[style], seed=1)
        assert strands.shape[1] == hair.STYLES[style]["points"] and np.isfinite(strands).all()
        tip = np.linalg.norm(strands[:, -1] - strands[:, 0], axis=1)
        assert np.median(tip) < 1.2 * hair.STYLES[style]["length"]
    long = hair.grow_strands(sv, sf, hv, local, axes, hair.STYLES["long_straight"], seed=1)
    assert np.array_equal(long, hair.grow_strands(sv, sf, hv, local, axes, hair.STYLES["long_straight"], seed=1))
    assert np.median(long[:, -1, 1] - long[:, 0, 1]) < -0.15  # long hair falls
    for shoe in SHOE_TYPES[1:]:
        s = people.shoe_shell(rig, verts, shoe)
        body_feet = verts[:, s["used"]]
        assert s["verts"][..., 1].min() < body_feet[..., 1].min() - 0.005  # a sole under the foot
        assert s["sole"].any() and not s["sole"].all()


def test_long_hair_gathers_into_locks_towards_the_tips(rig, subject):
    """Long styles pull their strands into locks towards the tips (not stringy strands spread over the
    back), while the first centimetres, which cover the scalp, stay where they grew."""
    verts = subject[0]
    used, local = people.submesh(people.head_faces(rig))
    hv = verts[0, used]
    scalp = people.scalp_faces(rig)
    sv, sf = verts[0][np.unique(scalp)], people.submesh(scalp)[1]
    for style in ("long_straight", "long_wavy"):
        clumped = hair.STYLES[style]
        loose = {k: v for k, v in clumped.items() if k != "clump"}
        a, b = (hair.grow_strands(sv, sf, hv, local, np.eye(3), st, seed=1) for st in (clumped, loose))
        from scipy.spatial import cKDTree

        def neighbour_gap(points: np.ndarray) -> float:
            """Median distance from a strand's point to the 3rd nearest other strand's."""
            return float(np.median(cKDTree(points).query(points, k=4)[0][:, 3]))

        assert neighbour_gap(a[:, -1]) < 0.8 * neighbour_gap(b[:, -1]), style  # tips gathered (0.67 long_straight)
        assert neighbour_gap(a[:, 1]) > 0.8 * neighbour_gap(b[:, 1]), style  # roots as they grew


def test_parted_hair_covers_the_scalp(rig, subject):
    """No bald stripe: the back of the head has no parting and the front parts in a thin line."""
    verts = subject[0]
    used, local = people.submesh(people.head_faces(rig))
    hv = verts[0, used]
    scalp = people.scalp_faces(rig)
    sv, sf = verts[0][np.unique(scalp)], people.submesh(scalp)[1]
    points, normals = hair.sample_surface(sv, sf, 1500, np.random.default_rng(0))
    normals *= np.sign(np.sum(normals * (points - hv.mean(0)), axis=1))[:, None]  # outwards
    x, z = points[:, 0] - hv[:, 0].mean(), points[:, 2] - hv[:, 2].mean()  # SMPL: right +x, forward +z
    for style in ("short", "medium", "long_straight"):
        for parting in (0.0, 0.03):
            strands = hair.grow_strands(sv, sf, hv, local, np.eye(3), hair.STYLES[style], seed=1, parting=parting)
            bare = hair.bare_scalp(strands, points, normals)
            back_mid = (np.abs(x) < 0.012) & (z < -0.02)
            # before the parting was combed: 38-56 % bare, 61-83 % on the back's midline
            assert bare.mean() < 0.22, (style, parting, bare.mean())
            assert bare[back_mid].mean() < 1.4 * bare.mean() + 0.03, (style, parting, bare[back_mid].mean())
            if parting:  # the front parts where the scene says, not on the midline
                line, mirror = ((np.abs(x - k * parting) < 0.01) & (z > 0.02) for k in (1, -1))
                assert bare[line].mean() > bare[mirror].mean() + 0.1, (style, bare[line].mean(), bare[mirror].mean())


def test_facial_hair_patches_and_skin_tint(rig):
    eye_y, eye_z = people.eye_level(rig)
    x, y, z = rig.rest.T
    mou = people.facial_hair_vertices(rig, "moustache")
    beard = people.facial_hair_vertices(rig, "beard")
    assert not people.facial_hair_vertices(rig, "none").any() and mou.sum() > 10
    assert (y[mou] < eye_y - 0.045).all() and (y[mou] > eye_y - 0.07).all() and (np.abs(x[mou]) < 0.03).all()
    assert (mou & ~beard).sum() == 0 and beard.sum() > 3 * mou.sum()
    chin = (np.abs(x) < 0.01) & (np.abs(y - (eye_y - 0.095)) < 0.005) & (z > eye_z)
    lips = (np.abs(x) < 0.01) & (np.abs(y - (eye_y - 0.075)) < 0.004) & (z > eye_z)
    assert beard[chin].all() and not beard[lips].any()
    assert not people.hair_tint(rig, "bald", "none").any()
    tint = people.hair_tint(rig, "medium", "stubble")
    scalp = np.unique(people.scalp_faces(rig))
    assert np.allclose(tint[scalp], 0.85) and np.allclose(tint[beard], 0.45)
    assert tint[~np.isin(np.arange(len(tint)), scalp) & ~beard].max() == 0


def _job(tmp_path, name, subject, rig, seed=4, **over):
    verts, _, faces, garments = subject
    spec = sample_scene(
        seed, {"resolution": 64, "samples": 2, "num_cameras": 1, "passes": ["depth", "seg"], "ground_shadow": True}
    )
    for key, value in over.items():
        getattr(spec, key.split("_")[0]).update({key.split("_", 1)[1]: value})
    return write_render_job(
        tmp_path / name, spec, verts[:1], faces, [g.select_frames(slice(1)) for g in garments], rig=rig
    )


@pytest.mark.slow
def test_scene_builds_with_each_hair_style_and_shoe_type(tmp_path, subject, rig):
    """Kubric-style: build every style and shoe type in Blender without rendering, check the scene."""
    facial = [FACIAL_HAIR[k % len(FACIAL_HAIR)] for k in range(len(HAIR_STYLES))]
    jobs = [
        _job(
            tmp_path,
            style,
            subject,
            rig,
            hair_style=style,
            hair_facial=facial[k],
            shoes_type=SHOE_TYPES[k % len(SHOE_TYPES)],
        )
        for k, style in enumerate(HAIR_STYLES)
    ]
    scenes, _ = inspect_scenes(jobs, tmp_path / "scenes.json")
    for k, (job, style) in enumerate(zip(jobs, HAIR_STYLES)):
        objs = scenes[str(job)]["objects"]
        shoe = SHOE_TYPES[k % len(SHOE_TYPES)]
        assert objs["body"]["uv"] == 1 and objs["body"]["pass_index"] == BODY
        assert objs["eyes"]["pass_index"] == EYES and objs["eyes"]["materials"] == ["eyes"]
        assert objs["eyebrows"]["type"] == "CURVES" and objs["eyebrows"]["curves"] > 100
        if facial[k] in ("moustache", "beard"):  # strands down to the upper lip / the chin
            assert objs["hair"]["min"][2] < objs["eyes"]["min"][2] - (0.04 if facial[k] == "moustache" else 0.07)
        if style == "bald" and facial[k] in ("none", "stubble"):
            assert "hair" not in objs
        elif style != "bald":
            h = objs["hair"]
            assert h["type"] == "CURVES" and h["pass_index"] == HAIR and h["curves"] > 1000
            head_top = objs["body"]["max"][2]
            assert h["max"][2] < head_top + 0.15 and h["max"][2] > head_top - 0.02  # on the head
        assert ("shoes" in objs) == (shoe != "barefoot")
        if shoe != "barefoot":
            assert objs["shoes"]["pass_index"] == SHOES and objs["shoes"]["materials"] == ["shoe_upper", "shoe_sole"]
            assert objs["shoes"]["min"][2] <= objs["body"]["min"][2]
        g = objs["ground"]
        assert g["shadow_catcher"] and g["pass_index"] == 0
        assert abs(g["min"][2] - min(objs["body"]["min"][2], objs.get("shoes", objs["body"])["min"][2])) < 1e-4


@pytest.mark.slow
def test_frontal_render_labels_eyes_hair_and_shoes(tmp_path, subject, rig):
    """The seg legend names every rendered label; eye pixels differ from the skin around them."""
    job = _job(tmp_path, "front", subject, rig, seed=2, hair_style="short", hair_facial="beard", shoes_type="sneaker")
    spec = json.loads((job / "job.json").read_text())
    full = spec["job"]["cameras"][0]
    head = np.load(job / "people.npz")["eye_verts"].mean(0) + [0.0, 0.0, -0.02]
    # camera 0 frames the whole body from the front (south, -Y: the demo body faces -Y); camera 1
    # the face from 0.9 m (16 cm across: 6 cm above the eyes to the chin)
    close = {
        "name": "face",
        "distance": 0.9,
        "locations": [(head + [0.0, -0.9, 0.0]).tolist()],
        "targets": [head.tolist()],
    }
    south = np.asarray(full["targets"][0]) + [0.0, -full["distance"], 0.0]
    spec["job"]["cameras"] = [dict(full, locations=[south.tolist()]), close]
    spec["cameras"] = spec["cameras"] * 2
    spec["resolution"] = 96
    (job / "job.json").write_text(json.dumps(spec))
    run_render(job)
    legend = json.loads((job / "seg" / "legend.json").read_text())
    assert legend == seg_legend(["trousers", "tshirt"], hair=True, eyes=True, shoes=True)
    whole = np.asarray(Image.open(job / "seg" / "cam0" / "0000.png"))
    face = np.asarray(Image.open(job / "seg" / "cam1" / "0000.png"))
    assert {int(v) for v in np.unique(whole)} <= {int(k) for k in legend}
    assert {0, BODY, HAIR, SHOES} <= set(np.unique(whole).tolist())
    assert {BODY, HAIR, EYES} <= set(np.unique(face).tolist())
    img = np.asarray(Image.open(job / "frames" / "cam1" / "0000.png").convert("RGB")).astype(float)
    eyes, skin = img[face == EYES], img[face == BODY]
    assert len(eyes) >= 4
    eye_row = np.nonzero(face == EYES)[0].mean()
    assert (np.nonzero(face == HAIR)[0] > eye_row + 27).sum() >= 20  # the beard, 4.5+ cm below the eyes
    assert np.abs(eyes.mean(0) - skin.mean(0)).max() > 20, (eyes.mean(0), skin.mean(0))
    depth = np.load(job / "depth" / "cam0" / "0000.npy")
    assert np.isinf(depth[whole == 0]).all() and np.isfinite(depth[whole > 0]).all()  # ground is background


@pytest.mark.slow
def test_dark_and_light_skin_render_as_their_tone(tmp_path, subject, rig):
    """In a white dome the lightest tone renders very light and the darkest genuinely dark (ITA
    classes), not lifted to a mid-brown by the shader (benchmarks/skin_tones.py for the whole range)."""
    from synth.scene.reference import ita_degrees, rendered_skin_colour, srgb_to_lab

    verts, _, faces, _ = subject
    light_albedo, light = rendered_skin_colour(tmp_path / "light", 0.0, verts[:1], faces, rig, 64, 8)
    dark_albedo, dark = rendered_skin_colour(tmp_path / "dark", 1.0, verts[:1], faces, rig, 64, 8)
    # before: the darkest tone rendered as (0.46, 0.31, 0.29), L* 37, ITA -50 (MPFB's fixed red blush)
    assert ita_degrees(light) > 55 and ita_degrees(dark) < -55, (light, dark)
    assert srgb_to_lab(dark)[0] < 30, (dark, dark_albedo)  # the albedo's L* is 17; specular adds the rest
    assert abs(srgb_to_lab(light)[0] - srgb_to_lab(light_albedo)[0]) < 5


def test_dataset_card_people_distribution():
    from synth.shards.card import people_distribution

    scenes = [sample_scene(s).to_json() for s in range(40)] + [sample_scene(0, {"people": False}).to_json()]
    d = people_distribution(scenes)
    assert sum(d["hair style"].values()) == sum(d["shoes"].values()) == 40
    assert sum(d["skin tone"].values()) == 41 and sum(d["iris tone"].values()) == 40
    assert set(d["hair style"]) <= set(HAIR_STYLES) and len(d["skin tone"]) == 5
    assert sum(d["facial hair"].values()) == sum(d["hair parting"].values()) == 40
    assert set(d["facial hair"]) <= set(FACIAL_HAIR) and set(d["hair parting"]) <= {"centre", "left", "right"}


def test_dataset_card_background_and_exposure_distribution():
    """The card counts the background draw per sequence: kind, lighting HDRI, exposure and strength
    bins that hold every scene, the photos and plate grounds; and prints them as a table."""
    from synth.scene.sampling import EXPOSURE_STOPS
    from synth.shards.card import EXPOSURE_EDGES, background_distribution, card_markdown

    assets = shared_assets_dir()
    photos = {"photo_dir": str(assets / "backgrounds")} if assets else {}
    scenes = [sample_scene(s, {"background": "mixed" if assets else "hdri", **photos}).to_json() for s in range(40)]
    d = background_distribution(scenes)
    assert sum(d["background"].values()) == sum(d["lighting HDRI"].values()) == 40
    assert sum(d["exposure (stops)"].values()) == sum(d["HDRI strength"].values()) == 40
    assert (EXPOSURE_EDGES[0], EXPOSURE_EDGES[-1]) == EXPOSURE_STOPS and len(d["exposure (stops)"]) == 5
    exposures = sorted(
        sc["background"].get("exposure", sc["background"].get("light", {}).get("exposure")) for sc in scenes
    )
    assert d["exposure (stops)"]["-0.5 to -0.3"] == sum(e < -0.3 for e in exposures)
    if assets:
        assert set(d["background"]) == {"hdri", "photo plate", "photo backdrop"}
        assert sum(d["photo"].values()) == 40 - d["background"]["hdri"]
        assert sum(d["plate ground"].values()) == d["background"]["photo plate"]
    card = _minimal_card(backgrounds=d)
    md = card_markdown(card)
    assert "## Backgrounds and exposure" in md and "| exposure (stops) | -0.5 to -0.3: " in md


def test_dataset_card_lighting_distribution():
    """The card counts the lighting draw per sequence in bins that hold every scene: the drawn lights / HDRI
    ratio within lighting.LIGHT_RATIO, the HDRI's share, the exposure and the grey card (none over 200 for
    HDRI scenes, where balance holds the brightest card there); and prints them as a table."""
    from synth.scene.lighting import LIGHT_RATIO
    from synth.shards.card import card_markdown, lighting_distribution

    scenes = [sample_scene(s).to_json() for s in range(40)] + [sample_scene(0, {"people": False}).to_json()]
    d = lighting_distribution(scenes)
    lit = [sc["lighting"] for sc in scenes]
    assert all(sum(counts.values()) == len(scenes) for counts in d.values()), d
    ratios = d["lights / HDRI ratio"]
    assert list(ratios)[0].startswith(f"{LIGHT_RATIO[0]:.2f}") and list(ratios)[-1].endswith(f"{LIGHT_RATIO[1]:.2f}")
    assert ratios["0.30 to 0.60"] == sum(r["ratio"] < 0.6 for r in lit)
    assert d["grey card /255 (camera mean)"]["200 to 255"] == 0
    assert d["exposure applied (stops)"]["1.0 to inf"] == sum(r["scale_stops"] > 1.0 + 1e-6 for r in lit) == 0
    assert d["lights filled in (boost > 1)"].get("yes", 0) == sum(r["fill_boost"] > 1 for r in lit)
    md = card_markdown(_minimal_card(lighting=d))
    assert "## Lighting (per sequence)" in md and "| lights / HDRI ratio | 0.30 to 0.60: " in md


def _minimal_card(**fields) -> dict:
    """The fields card_markdown reads, empty, plus `fields`."""
    counts = {s: {k: 0 for k in ("sequences", "samples", "frames", "shards")} for s in ("train", "val", "test")}
    card = {
        "name": "x",
        "format": "f",
        "seed": 0,
        "config_digest": "d",
        "total": counts["train"],
        "planned_sequences": 0,
        "missing_sequences": [],
        "split_subjects": {s: [] for s in ("train", "val", "test")},
        "counts": counts,
        "code": {"synth": "0", "commit": None, "source": "s", "dirty": False},
        "sequences": [],
        "assets": [],
        "body_models": {},
        "units": "m",
    }
    return {**card, **fields}


def _linear(srgb8: np.ndarray) -> np.ndarray:
    """8-bit sRGB values -> linear light (the shadow is a factor on light, not on display values)."""
    return srgb_decode(np.asarray(srgb8, float) / 255.0)


def _ground_by_the_feet(person: np.ndarray) -> np.ndarray:
    """Background pixels within 4 px of the subject's lowest 3 rows (the soles), not touching the
    subject, from the soles' bottom row down (the ground in front of and under the feet)."""
    from scipy.ndimage import binary_dilation

    rows = np.nonzero(person.any(1))[0]
    soles = person.copy()
    soles[: rows.max() - 2] = False
    near = binary_dilation(soles, iterations=4) & ~binary_dilation(person, iterations=1)
    near[: rows.max() - 1] = False
    return near


@pytest.mark.slow
def test_ground_shadow_is_composited_onto_a_photo(tmp_path, subject, rig):
    """Over a photo the floor's shadow darkens the photo near the feet, smoothly; elsewhere the photo is
    exactly this camera's crop, and the floor stays background in seg."""
    import sys

    from synth.paths import shared_assets_dir
    from synth.scene.runner import RENDER_SCRIPT

    assets = shared_assets_dir()
    if assets is None:
        pytest.skip("../shared/assets not present")
    verts, _, faces, garments = subject
    settings = {"resolution": 96, "samples": 4, "num_cameras": 1, "passes": ["seg"]}  # the ground by default
    photo = {"background": "photo", "photo_dir": str(assets / "backgrounds"), "plate_prob": 0.0}
    spec = sample_scene(3, {**settings, **photo})
    job = write_render_job(
        tmp_path / "job", spec, verts[:1], faces, [g.select_frames(slice(1)) for g in garments], rig=rig
    )
    run_render(job)
    assert json.loads((job / "render_info.json").read_text())["denoised_by"] == "oidn"
    img = np.asarray(Image.open(job / "frames" / "cam0" / "0000.png").convert("L")).astype(float)
    seg = np.asarray(Image.open(job / "seg" / "cam0" / "0000.png"))
    sys.path.insert(0, str(RENDER_SCRIPT.parent))
    from backdrop import bilinear, crop_coordinates

    photo = np.asarray(Image.open(spec.background["path"]).convert("L")).astype(float)[..., None]
    expected = bilinear(photo, crop_coordinates(photo.shape[:2], spec.background["views"][0], 96, 96))[..., 0]
    ratio = (img + 1) / (expected + 1)
    person = seg > 0
    near_feet = _ground_by_the_feet(person)
    top = np.zeros_like(person)
    top[: np.nonzero(person.any(1))[0].min()] = True  # above the head: no floor there
    light = _linear(img) / np.maximum(_linear(expected), 1e-3)
    assert np.median(light[near_feet]) < 0.95, np.median(light[near_feet])  # the shadow takes light away
    assert np.abs(ratio[top] - 1).mean() < 0.02  # the photo untouched
    assert set(np.unique(seg[near_feet]).tolist()) == {0}  # the floor is background


@pytest.mark.slow
def test_default_scene_casts_a_contact_shadow_that_fades_inside_the_border(tmp_path, subject, rig):
    """The default scene stands on the shadow-catching ground: over an HDRI the ground by the feet is
    darker than in the same job without the ground, Cycles traced tiles (not the whole frame), the
    shadow fades out before their edges (elsewhere the frames agree), and the floor stays
    background in seg and depth."""
    from scipy.ndimage import binary_dilation

    from synth.scene.lighting import light_radiance_per_watt
    from synth.scene.placement import camera_direction

    verts, _, faces, garments = subject
    base = {"resolution": 96, "samples": 8, "num_cameras": 1, "background": "hdri", "passes": ["depth", "seg"]}
    specs = {"default": sample_scene(5, base), "bare": sample_scene(5, {**base, "ground_shadow": False})}
    assert specs["default"].ground == {"shadow": True} and specs["bare"].ground == {}
    # Seed 5 is lit by the studio HDRI's softboxes (88 % of the subject's light since the lights follow
    # the HDRI, synth.scene.lighting), whose soft shadow darkens the ground by the feet by ~4 %; turn
    # its key behind the subject at the top of the sampled ratio (as much light as the HDRI's), so the
    # shadow this test looks for falls towards the camera.
    for spec in specs.values():
        key = next(light for light in spec.lights if light["key"])
        key.update(azimuth=float(np.pi), elevation=0.6)
        subject_light = spec.background["strength"] * spec.background["luminance"]["subject"]
        key["power"] = subject_light / light_radiance_per_watt(key, camera_direction(np.pi, 0.6))
    out = {}
    for name, spec in specs.items():
        job = write_render_job(
            tmp_path / name, spec, verts[:1], faces, [g.select_frames(slice(1)) for g in garments], rig=rig
        )
        run_render(job)
        out[name] = (
            np.asarray(Image.open(job / "frames" / "cam0" / "0000.png").convert("RGB")).astype(float),
            np.asarray(Image.open(job / "seg" / "cam0" / "0000.png")),
            np.load(job / "depth" / "cam0" / "0000.npy"),
            json.loads((job / "render_info.json").read_text()),
        )
    (img, seg, depth, info), (bare, bare_seg, _, bare_info) = out["default"], out["bare"]
    assert json.loads((tmp_path / "default" / "job.json").read_text())["job"]["ground"]["radius"] > 0
    assert bare_info["traced_share"] < info["traced_share"] < 0.8  # the ground's tiles, not the whole frame
    assert np.array_equal(seg, bare_seg) and np.isinf(depth[seg == 0]).all()  # the floor is background
    person = seg > 0
    rows = np.nonzero(person.any(1))[0]
    light = _linear(img.mean(-1)) / np.maximum(_linear(bare.mean(-1)), 1e-3)
    near_feet = _ground_by_the_feet(person)
    assert np.median(light[near_feet]) < 0.95, np.median(light[near_feet])  # the contact shadow
    away = ~binary_dilation(person, iterations=12)
    away[rows.max() - 12 :] = False  # the ground within the shadow's reach
    diff = np.abs(img - bare).max(-1)[away]
    # no seam: the same background (path-traced or looked up: within the 8-bit level on average)
    assert diff.mean() < 1.0 and np.percentile(diff, 99) < 6, (diff.mean(), np.percentile(diff, 99))


def test_garment_colours_are_neutral_or_muted_never_neon():
    """Clothing colours: a share of near-greys, every hue among the rest, no saturated-and-bright (neon) tone."""
    import colorsys

    from synth.scene.sampling import MAX_CHROMA, NEUTRAL_SHARE, garment_color

    rng = np.random.default_rng(0)
    hsv = np.array([colorsys.rgb_to_hsv(*garment_color(rng)) for _ in range(4000)])
    assert (hsv[:, 1] * hsv[:, 2]).max() <= MAX_CHROMA + 1e-3
    assert abs(np.mean(hsv[:, 1] < 0.16) - NEUTRAL_SHARE) < 0.03
    assert hsv[:, 2].min() < 0.1 and hsv[:, 2].max() > 0.85  # near-black and near-white both occur
    hues = np.histogram(hsv[hsv[:, 1] > 0.3, 0], bins=6, range=(0, 1))[0]
    assert hues.min() > 0.5 * hues.mean()
    plain = [
        m
        for s in range(60)
        for m in sample_scene(s).garment_materials
        if m["kind"] == "procedural" and m["pattern"] != "denim"
    ]
    assert plain and all(
        colorsys.rgb_to_hsv(*c)[1] * colorsys.rgb_to_hsv(*c)[2] <= MAX_CHROMA + 1e-3 for m in plain for c in m["colors"]
    )


@pytest.mark.slow
def test_people_sheet_drapes_the_pipelines_cloth(body):
    """The people contact sheet dresses each person as the dataset does: an outfit of the pipeline's, simulated
    from the lead-in's rest pose into the shown pose, not an offset shell of the skin (whose gap to the skin is
    one number everywhere); the cloth ends on the body, outside it."""
    from synth.cloth.collision import MeshCollider
    from synth.pipeline.config import PipelineConfig
    from synth.scene.contact import draped_person

    betas = np.random.default_rng(0).normal(0.0, 1.0, 10)
    verts, faces, garments = draped_person(body, betas, seed=1, hold=2, lead_in=6)
    assert verts.shape == (1, len(body.v_template), 3)
    assert [g.garment_type for g in garments] in [list(o) for o in PipelineConfig().cloth.outfits]
    collider = MeshCollider(faces, verts.shape[1])
    for g in garments:
        assert g.verts.shape == (1, len(g.rest), 3) and g.stats["frames"] == 8
        d = collider.query(g.verts[0].astype(np.float64), verts[0]).signed
        assert np.percentile(d, 5) > -0.002 and np.percentile(d, 95) < 0.12
        assert np.percentile(d, 90) - np.percentile(d, 10) > 0.008  # hangs and folds: not a shell
