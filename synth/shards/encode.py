"""Byte-exact encoding of shard members: the same sample always gives the same bytes.

np.savez stamps the current time into its zip headers, and tarfile stamps mtimes and owners; both
are pinned here so that a resumed run produces shards identical to an uninterrupted one.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """A compressed .npz (readable by np.load) with fixed timestamps, members in sorted order."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            arr = io.BytesIO()
            np.lib.format.write_array(arr, np.asarray(arrays[name]), allow_pickle=False)
            zf.writestr(info, arr.getvalue())
    return buf.getvalue()


def load_npz_bytes(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, indent=1, default=_json_default).encode()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def image_bytes(rgb: np.ndarray, fmt: str = "jpg", quality: int = 92) -> bytes:
    from PIL import Image

    img = Image.fromarray(np.asarray(rgb, np.uint8)[..., :3])
    buf = io.BytesIO()
    if fmt == "jpg":
        img.save(buf, format="JPEG", quality=int(quality), subsampling=0)
    elif fmt == "png":
        img.save(buf, format="PNG", optimize=False)
    else:
        raise ValueError(f"image format must be 'jpg' or 'png', not {fmt!r}")
    return buf.getvalue()


def decode_image(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
