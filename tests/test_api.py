"""The public API: every name `synth` exports resolves to its one home, and `import synth` stays cheap."""

import subprocess
import sys

import synth


def test_every_public_name_resolves_to_its_defining_module():
    for name in synth.__all__:
        if name == "__version__":
            continue
        obj = getattr(synth, name)
        assert obj.__module__ == synth._API[name] or obj.__module__.startswith(synth._API[name] + "."), name
    assert sorted(dir(synth)) == sorted(synth.__all__)


def test_unknown_attribute_is_an_attribute_error():
    try:
        synth.no_such_function  # noqa: B018
    except AttributeError as exc:
        assert "no_such_function" in str(exc)
    else:
        raise AssertionError("synth.no_such_function resolved")


def test_import_synth_loads_no_heavy_dependency():
    code = "import sys, synth; print(sorted(m for m in ('torch', 'numba', 'bpy', 'warp') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
