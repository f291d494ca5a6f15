"""Shards: deterministic atomic tars readable by `webdataset`, packing by split and size."""

import tarfile

import numpy as np
import pytest

from synth.errors import SynthError
from synth.shards.encode import load_npz_bytes, npz_bytes
from synth.shards.reader import find_sample, iter_samples
from synth.shards.sample import decode_sample, encode_sample, sample_key
from synth.shards.tario import group_samples, read_tar, write_tar
from synth.shards.writer import pack_shards, shard_paths


def fake_sample(seq: str, cam: int, T: int = 3, size: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in range(T)]
    smpl = {"poses": rng.normal(size=(T, 72)).astype(np.float32), "betas": np.zeros((T, 10), np.float32)}
    joints = {"j2d": rng.normal(size=(T, 24, 2)).astype(np.float32), "visibility": np.ones((T, 24), bool)}
    camera = {"K": np.eye(3).tolist(), "resolution": [size, size]}
    meta = {"sequence": seq, "camera": cam, "num_frames": T}
    return encode_sample(sample_key(seq, cam), frames, smpl, joints, camera, meta, image_format="png"), frames, smpl


def test_npz_bytes_are_deterministic_and_loadable():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b1 = npz_bytes(x=a, flag=np.ones(2, bool))
    import time

    time.sleep(1.1)  # np.savez would stamp a different time here
    assert npz_bytes(flag=np.ones(2, bool), x=a) == b1
    back = load_npz_bytes(b1)
    np.testing.assert_array_equal(back["x"], a)
    assert back["flag"].dtype == bool


def test_sample_round_trip_and_webdataset_reads_the_tar(tmp_path):
    import webdataset as wds

    members = []
    originals = {}
    for seq in ("seq000000", "seq000001"):
        for cam in range(2):
            m, frames, smpl = fake_sample(seq, cam, seed=cam)
            members += m
            originals[sample_key(seq, cam)] = (frames, smpl)
    path = tmp_path / "train-000000.tar"
    write_tar(path, members)
    # Deterministic headers: same members -> identical bytes.
    write_tar(tmp_path / "again.tar", members)
    assert path.read_bytes() == (tmp_path / "again.tar").read_bytes()
    with tarfile.open(path) as tf:
        assert all(i.mtime == 0 and i.uid == 0 for i in tf.getmembers())
    keys = []
    for s in wds.WebDataset(str(path), shardshuffle=False):
        keys.append(s["__key__"])
        frames, smpl = originals[s["__key__"]]
        assert s["0000.png"] and "smpl.npz" in s and "meta.json" in s and "0002.png" in s
        np.testing.assert_array_equal(load_npz_bytes(s["smpl.npz"])["poses"], smpl["poses"])
    assert keys == ["seq000000_c0", "seq000000_c1", "seq000001_c0", "seq000001_c1"]
    key, sample = find_sample(path, "seq000001_c1")
    np.testing.assert_array_equal(sample["frames"], np.stack(originals[key][0]))  # png is lossless
    assert sample["meta"]["camera"] == 1 and sample["joints"]["visibility"].dtype == bool
    with pytest.raises(SynthError, match="no sample"):
        find_sample(path, "nope")


def test_pack_shards_by_split_and_size(tmp_path):
    seqs = []
    for k in range(5):
        members = []
        for cam in range(4):
            members += fake_sample(f"seq{k:06d}", cam, seed=k)[0]
        tar = tmp_path / "work" / f"seq{k:06d}.tar"
        write_tar(tar, members)
        seqs.append((f"seq{k:06d}", "val" if k == 2 else "train", tar))
    out = tmp_path / "out"
    out.mkdir()
    (out / "train-000009.tar").write_bytes(b"stale")  # left from an earlier packing
    infos = pack_shards(out, seqs, samples_per_shard=9)
    # Shards hold whole sequences: 9 samples would cut the third sequence of four cameras
    assert [(i.name, i.samples) for i in infos] == [
        ("train-000000.tar", 8),
        ("train-000001.tar", 8),
        ("val-000000.tar", 4),
    ]
    assert [p.name for p in shard_paths(out)] == [i.name for i in infos]
    keys = [k for k, _ in iter_samples(out, decode=False)]
    assert len(keys) == 20 and len(set(keys)) == 20
    assert keys[:4] == ["seq000000_c0", "seq000000_c1", "seq000000_c2", "seq000000_c3"]
    # Size limits split shards too, between sequences; a sequence over the limits gets its own shard.
    infos = pack_shards(out, seqs, samples_per_shard=100, max_bytes=2000)
    assert all(i.samples == 4 for i in infos) and len(shard_paths(out)) == 5
    infos = pack_shards(out, seqs, samples_per_shard=3)
    assert all(i.samples == 4 for i in infos) and len(shard_paths(out)) == 5


def _verts_sequence(seq: str, cameras: int = 3, T: int = 3) -> list:
    """Members of one sequence whose camera-0 sample holds verts.npz (as the pipeline writes it)."""
    members = []
    verts = {"origin": np.zeros((T, 3), np.float32), "cloth_tshirt": np.ones((T, 5, 3), np.float16)}
    for cam in range(cameras):
        meta = {"sequence": seq, "camera": cam, "num_frames": T, "verts_in": sample_key(seq, 0)}
        frames = [np.zeros((8, 8, 3), np.uint8)] * T
        members += encode_sample(
            sample_key(seq, cam), frames, {}, {}, {}, meta, verts if cam == 0 else None, image_format="png"
        )
    return members


def test_every_sample_gets_its_sequence_verts_and_a_cut_sequence_is_named(tmp_path):
    """verts.npz is stored once per sequence (camera 0); reading a shard in order gives it to every
    camera's sample, also through a webdataset pipeline that shuffles samples afterwards. A shard
    that cuts a sequence (an older packing) is named by the reader (by `synth validate`:
    tests/test_pipeline.py)."""

    from synth.shards.reader import webdataset_samples

    seqs = []
    for k in range(3):
        tar = tmp_path / "work" / f"seq{k:06d}.tar"
        write_tar(tar, _verts_sequence(f"seq{k:06d}"))
        seqs.append((f"seq{k:06d}", "train", tar))
    out = tmp_path / "out"
    out.mkdir()
    pack_shards(out, seqs, samples_per_shard=4)  # 4 would cut every second sequence of 3 cameras
    assert len(shard_paths(out)) == 3
    got = {k: s for k, s in iter_samples(out, verts=True)}
    assert len(got) == 9 and all(s["verts"]["cloth_tshirt"].shape == (3, 5, 3) for s in got.values())
    assert "verts" not in dict(iter_samples(out))["seq000001_c2"]  # only camera 0 stores it

    urls = [str(p) for p in shard_paths(out)]
    ds = webdataset_samples(urls, shuffle=6, seed=3)
    order = [(s["meta"]["sequence"], s["meta"]["camera"]) for s in ds if "verts" in s]
    assert len(order) == 9 and order != sorted(order)  # shuffled per sample, every one with its verts

    # An older packing cut seq000001 after its camera 1: the next shard starts with camera 2.
    old = tmp_path / "old"
    old.mkdir()
    members = [m for _, _, tar in seqs for m in read_tar(tar)]
    cut = next(i for i, (name, _) in enumerate(members) if name.startswith("seq000001_c2"))
    write_tar(old / "train-000000.tar", members[:cut])
    write_tar(old / "train-000001.tar", members[cut:])
    with pytest.raises(SynthError, match="seq000001_c2 keeps its sequence's vertices in seq000001_c0"):
        list(iter_samples(old, verts=True))


def test_resumed_packing_writes_the_same_bytes(tmp_path):
    """The resume guarantee at the byte level: per-sequence tars written at other times, in another
    order and after a packing that was cut short pack into shards identical to an uninterrupted run's."""
    import time

    samples = {
        f"seq{k:06d}": [m for cam in range(2) for m in fake_sample(f"seq{k:06d}", cam, seed=k)[0]] for k in range(3)
    }

    def run(root, order, interrupted=False):
        seqs = [(s, "train", root / "work" / f"{s}.tar") for s in samples]
        for s in order:
            write_tar(root / "work" / f"{s}.tar", samples[s])
            if interrupted and s == order[0]:
                pack_shards(root, [q for q in seqs if q[0] == s], samples_per_shard=4)  # partial
                time.sleep(1.1)  # a clock stamped into a header would now differ
        return pack_shards(root, seqs, samples_per_shard=4)

    a, b = tmp_path / "straight", tmp_path / "resumed"
    infos = run(a, list(samples))
    assert run(b, ["seq000002", "seq000000", "seq000001"], interrupted=True) == infos
    assert [p.name for p in shard_paths(b)] == ["train-000000.tar", "train-000001.tar"]
    for p in shard_paths(a):
        assert p.read_bytes() == (b / p.name).read_bytes(), p.name
    with tarfile.open(shard_paths(b)[0]) as tf:
        assert {(i.mtime, i.uid, i.gid, i.uname, i.gname, i.mode) for i in tf} == {(0, 0, 0, "", "", 0o644)}


def test_webdataset_reads_the_samples_group_samples_reads(tmp_path):
    """The light stdlib reader (no torch import) and webdataset's reader give the same samples."""
    from webdataset.tariterators import group_by_keys, tar_file_iterator

    from synth.shards.passes import pass_members

    members = fake_sample("seq000004", 0)[0] + pass_members(sample_key("seq000004", 0), _passes(H=16, W=16))
    members += [m for cam in (1, 2) for m in fake_sample("seq000004", cam, seed=cam)[0]]
    path = tmp_path / "train-000000.tar"
    write_tar(path, members)
    ours = list(group_samples(read_tar(path)))
    with open(path, "rb") as fh:
        files = ({**f, "__url__": path.name} for f in tar_file_iterator(fh))
        theirs = [(s["__key__"], {e: d for e, d in s.items() if not e.startswith("__")}) for s in group_by_keys(files)]
    assert ours == theirs and [k for k, _ in ours] == ["seq000004_c0", "seq000004_c1", "seq000004_c2"]
    assert sorted(f for _, s in ours for f in s) == sorted(n.split(".", 1)[1] for n, _ in members)
    with pytest.raises(ValueError, match="twice"):
        write_tar(tmp_path / "dup.tar", members[:2] + members[:1])
    with pytest.raises(ValueError, match="no extension"):
        write_tar(tmp_path / "bare.tar", [("README", b"x")])


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    def members():
        yield "a.txt", b"x"
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_tar(tmp_path / "train-000000.tar", members())
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "broken.tar").write_bytes(b"garbage" * 100)
    with pytest.raises(SynthError, match="broken.tar"):
        list(read_tar(tmp_path / "broken.tar"))


def test_group_samples_follows_webdataset_key_rule():
    members = [("a_c0.0000.jpg", b"1"), ("a_c0.smpl.npz", b"2"), ("dir/b_c1.0000.jpg", b"3")]
    assert [(k, sorted(f)) for k, f in group_samples(members)] == [
        ("a_c0", ["0000.jpg", "smpl.npz"]),
        ("dir/b_c1", ["0000.jpg"]),
    ]
    assert decode_sample({"meta.json": b'{"x": 1}'}) == {"frames": None, "meta": {"x": 1}}


def _passes(T: int = 3, H: int = 8, W: int = 10, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    seg = rng.integers(0, 4, (T, H, W)).astype(np.uint8)
    depth = np.where(seg > 0, rng.uniform(0.5, 20.0, (T, H, W)), np.inf).astype(np.float32)
    normals = rng.normal(size=(T, H, W, 3))
    normals = (normals / np.linalg.norm(normals, axis=-1, keepdims=True) * (seg > 0)[..., None]).astype(np.float16)
    return {
        "seg": seg,
        "depth": depth,
        "parts": (seg * 5).astype(np.uint8),
        "normals": normals,
        "flow": rng.normal(0, 3, (T - 1, H, W, 2)).astype(np.float16),
    }


def test_passes_round_trip_and_encodings():
    from synth.shards.passes import DEPTH_BACKGROUND, decode_passes, encode_depth, pass_members

    p = _passes()
    members = pass_members("s_c0", p)
    names = [m[0] for m in members]
    assert "s_c0.seg.0002.png" in names and "s_c0.depth.0000.png" in names and "s_c0.flow.npz" in names
    files = {n.split(".", 1)[1]: d for n, d in members}
    back = decode_passes(files, 3)
    np.testing.assert_array_equal(back["seg"], p["seg"])
    np.testing.assert_array_equal(back["parts"], p["parts"])
    np.testing.assert_array_equal(back["normals"], p["normals"])
    np.testing.assert_array_equal(back["flow"], p["flow"])
    fg = np.isfinite(p["depth"])
    assert (np.isinf(back["depth"]) == ~fg).all()  # background survives exactly
    assert np.abs(back["depth"][fg] - p["depth"][fg]).max() <= 0.0005 + 1e-6  # millimetres, rounded
    mm = encode_depth(np.array([np.inf, 0.0004, 1.2344, 99.0]))
    assert mm.dtype == np.uint16 and mm.tolist() == [DEPTH_BACKGROUND, 1, 1234, 65535]  # no surface -> 0 only
    assert set(decode_sample(files, passes="all")["passes"]) == set(p)


def test_check_passes_names_missing_corrupt_and_inconsistent_passes():
    from synth.shards.passes import PASS_ENCODING, check_passes, pass_members

    p = _passes()
    meta = {
        "passes": {k: PASS_ENCODING[k] for k in p},
        "seg_legend": {"0": "background", "1": "body", "2": "a", "3": "b"},
    }
    files = {n.split(".", 1)[1]: d for n, d in pass_members("s_c0", p)}
    assert check_passes("s_c0", files, 3, 10, 8, meta) == []
    bad = dict(files)
    del bad["depth.0001.png"]
    bad["seg.0002.png"] = b"not a png"
    errs = check_passes("s_c0", bad, 3, 10, 8, meta)
    assert any("s_c0.depth.0001.png" in e and "missing" in e for e in errs), errs
    assert any("s_c0.seg.0002.png" in e and "unreadable" in e for e in errs), errs
    # seg says person where depth says background
    q = dict(p, depth=np.where(np.arange(10) < 5, np.inf, p["depth"]).astype(np.float32))
    errs = check_passes("s_c0", {n.split(".", 1)[1]: d for n, d in pass_members("s_c0", q)}, 3, 10, 8, meta)
    assert any("background" in e and "depth" in e for e in errs), errs
    errs = check_passes("s_c0", files, 3, 10, 8, dict(meta, seg_legend={"0": "background", "1": "body"}))
    assert any("seg labels [2, 3]" in e for e in errs), errs
    errs = check_passes("s_c0", files, 3, 12, 8, meta)  # wrong size
    assert any("expected (8, 12)" in e for e in errs), errs
    wrong = dict(files, **{"flow.npz": npz_bytes(flow=np.zeros((3, 8, 10, 2), np.float32))})
    assert any("flow.npz" in e and "float16" in e for e in check_passes("s_c0", wrong, 3, 10, 8, meta))
