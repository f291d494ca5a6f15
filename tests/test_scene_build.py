"""Kubric-style scene tests: build render jobs' Blender scenes without rendering (inspect_scene.py
runs render.py's build_scene and pose_frame) and check what the engine, passes, world, lights and
cameras were set to, as Blender reports it. A few seconds in all; the renders are in test_render.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import inspect_scenes

from synth.paths import shared_assets_dir
from synth.scene import people, sample_scene, write_render_job

BASE = {"resolution": 40, "samples": 3, "num_cameras": 2, "background": "hdri"}


@pytest.fixture(scope="module")
def subject(body):
    from synth.scene.demo import demo_subject

    return demo_subject(body, "walk", [0, 12])


def _write(root, name, subject, rig=None, seed=1, **settings):
    verts, _, faces, garments = subject
    spec = sample_scene(seed, {**BASE, **settings})
    return write_render_job(root / name, spec, verts, faces, garments, rig=rig)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory, subject, body):
    """Four jobs built in one Blender process with the render threads pinned to 1."""
    root = tmp_path_factory.mktemp("scenes")
    jobs = {
        "cycles": _write(
            root,
            "cycles",
            subject,
            people.people_rig(body),
            device="cpu",
            passes=["depth", "normals"],
            ground_shadow=True,
        ),
        "gpu": _write(root, "gpu", subject, device="gpu", denoise=False, passes=[], ground_shadow=False),
        "eevee": _write(root, "eevee", subject, engine="eevee", samples=5, passes=["depth"]),
        "flow": _write(root, "flow", subject, passes=["seg", "flow"]),
    }
    built, log = inspect_scenes(jobs.values(), root / "scenes.json", env={"SYNTH_RENDER_THREADS": "1"})
    return {name: built[str(job)] | {"job": job} for name, job in jobs.items()}, log


def _spec(job):
    return json.loads((job / "job.json").read_text())


def test_cycles_settings_for_reproducible_images(scenes):
    s = scenes[0]["cycles"]["settings"]
    assert s["engine"] == "CYCLES" and s["device"] == "cpu" and s["cycles_device"] == "CPU"
    assert s["resolution"] == [40, 40, 100] and s["samples"] == 3 and not s["adaptive_sampling"]
    # no tone curve and no dither: the same job gives the same 8-bit pixels
    assert s["view_transform"] == "Standard" and s["dither"] == 0.0 and not s["film_transparent"]
    assert s["threads"] == ["FIXED", 1]  # $SYNTH_RENDER_THREADS
    assert s["denoise"] and s["denoiser"] == "OPENIMAGEDENOISE" and s["denoising_prefilter"] == "FAST"
    # the tiles are denoised by render.py's own OIDN filter from Cycles' guide passes; a whole
    # frame (the flow pass) by Cycles in the render
    assert s["denoised_by"] == "oidn" and scenes[0]["flow"]["settings"]["denoised_by"] == "cycles"
    assert not s["light_tree"]
    assert s["persistent_data"] and s["bounces"] == [4, 2, 2, 2] and s["curves"] == ["RIBBONS", 2]
    assert s["world"] == "world" and s["frame_range"] == [1, 250]  # not keyframed without flow
    # depth and normals asked for; the object index too, because the ground's depth is cleared by label
    assert s["layer_passes"] == {
        "use_pass_material_index": False,
        "use_pass_normal": True,
        "use_pass_object_index": True,
        "use_pass_vector": False,
        "use_pass_z": True,
    }


def test_cameras_and_lights_follow_the_job(scenes):
    built, job = scenes[0]["cycles"]["objects"], scenes[0]["cycles"]["job"]
    spec = _spec(job)
    for track in spec["job"]["cameras"]:
        cam = built[track["name"]]
        assert cam["type"] == "CAMERA" and cam["lens"] == pytest.approx(spec["focal_mm"])
        assert cam["sensor_width"] == pytest.approx(spec["sensor_mm"])
        assert cam["clip_end"] == pytest.approx(10.0 * track["distance"] + 100.0, rel=1e-6)
        assert np.allclose(cam["location"], track["locations"][0], atol=1e-5)  # posed at frame 0
    lights = sorted(name for name, o in built.items() if o["type"] == "LIGHT")
    assert lights == [f"area{k}" for k in range(len(spec["lights"]))] and lights
    for k, light in enumerate(spec["lights"]):
        assert built[f"area{k}"]["energy"] == pytest.approx(light["power"])
        assert np.allclose(built[f"area{k}"]["location"], spec["job"]["lights"][k]["location"], atol=1e-5)
    assert built["ground"]["shadow_catcher"]
    # seen by the camera and casting nothing: no bounce light from a white floor onto the legs
    assert built["ground"]["ray_visibility"] == {"camera": True, "diffuse": False, "glossy": False, "shadow": True}


def test_gpu_request_without_a_gpu_and_no_denoising(scenes):
    built, log = scenes
    s = built["gpu"]["settings"]
    assert not s["denoise"] and s["denoised_by"] is None and not any(s["layer_passes"].values())
    if s["device"] == "cpu":  # no GPU here: the CPU renders, with a warning
        assert s["cycles_device"] == "CPU" and "no GPU found" in log
    else:
        assert s["device"].startswith("gpu:") and s["cycles_device"] == "GPU"


def test_eevee_settings(scenes):
    s = scenes[0]["eevee"]["settings"]
    assert s["engine"] in ("BLENDER_EEVEE", "BLENDER_EEVEE_NEXT") and s["device"] == "eevee"
    assert s["samples"] == 5 and s["resolution"] == [40, 40, 100] and s["view_transform"] == "Standard"
    assert s["layer_passes"]["use_pass_z"] and not s["layer_passes"]["use_pass_object_index"]


def test_flow_keyframes_the_scene_and_poses_frame_zero(scenes, subject):
    flow, still = scenes[0]["flow"], scenes[0]["gpu"]
    s = flow["settings"]
    assert s["frame_range"] == [0, 1] and s["layer_passes"]["use_pass_vector"]
    assert s["layer_passes"]["use_pass_object_index"]  # seg
    # frame_set(0) on the keyframed scene and set_verts(frame 0) put the body in the same place
    for key in ("min", "max"):
        assert np.allclose(flow["objects"]["body"][key], still["objects"]["body"][key], atol=1e-5)
    spec = _spec(flow["job"])
    cam = spec["job"]["cameras"][1]
    assert np.allclose(flow["objects"][cam["name"]]["location"], cam["locations"][0], atol=1e-4)


def test_photo_background_makes_the_film_transparent(tmp_path, subject):
    assets = shared_assets_dir()
    if assets is None:
        pytest.skip("../shared/assets not present")
    job = _write(tmp_path, "photo", subject, background="photo", photo_dir=str(assets / "backgrounds"), passes=[])
    built, _ = inspect_scenes([job], tmp_path / "scenes.json", env={"SYNTH_RENDER_THREADS": ""})
    s = built[str(job)]["settings"]
    assert s["film_transparent"] and s["world"] == "world"  # the HDRI still lights the subject
    assert s["threads"][0] == "AUTO"  # $SYNTH_RENDER_THREADS unset: Blender's own count
