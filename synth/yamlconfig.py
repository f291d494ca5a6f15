"""Strict YAML -> dataclass loading, shared by the pipeline config and the training config.

A file overrides any subset of a dataclass tree's defaults; an unknown key or a value of the wrong
type is a SynthError naming the file, the dotted key and the fix, so a typo never silently falls
back to a default.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from synth.errors import SynthError


def dotted(where: str, key: str) -> str:
    """The dotted name of `key` inside the section `where` ('' = top level)."""
    return f"{where}.{key}" if where else key


def find_config(name: str | Path, config_dir: Path) -> Path:
    """A file path, or the name of a config packaged in `config_dir` (NAME.yaml)."""
    p = Path(name)
    if p.is_file():
        return p
    packaged = config_dir / f"{name}.yaml"
    if packaged.is_file():
        return packaged
    known = ", ".join(sorted(q.stem for q in config_dir.glob("*.yaml")))
    raise SynthError("config file not found", path=p, fix=f"give a YAML path or a packaged config name ({known})")


def read_yaml(path: Path) -> Any:
    """The parsed YAML of `path`; unreadable, non-UTF-8 or malformed files are SynthErrors naming it."""
    import yaml

    try:
        return yaml.safe_load(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SynthError(
            f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})",
            path=path,
            fix="save the config as UTF-8",
        ) from exc
    except yaml.YAMLError as exc:
        raise SynthError(f"not valid YAML ({exc})", path=path, fix="fix the syntax") from exc
    except OSError as exc:
        raise SynthError(
            f"cannot read the config ({exc.strerror})", path=path, fix="check the path and its permissions"
        ) from exc


def merge_into(obj: Any, data: Any, where: str, path: Path | None, reference: str) -> None:
    """Override the dataclass `obj` in place with the mapping `data`. The defaults give the types
    (an int is taken for a float, a list for a tuple); `reference` names the file that lists every key."""
    if not isinstance(data, dict):
        raise SynthError(f"'{where or 'top level'}' must be a mapping", path=path, fix=f"see {reference}")
    names = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in data.items():
        if key not in names:
            raise SynthError(
                f"unknown setting '{dotted(where, key)}'", path=path, fix=f"valid keys here: {', '.join(names)}"
            )
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            merge_into(current, value or {}, dotted(where, key), path, reference)
            continue
        if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(current, tuple) and isinstance(value, list):
            value = tuple(value)
        if not isinstance(value, type(current)) or isinstance(value, bool) != isinstance(current, bool):
            rule = names[key].metadata.get("rule")
            hint = f" ({rule.allowed()})" if rule and rule.allowed() else ""
            raise SynthError(
                f"setting '{dotted(where, key)}' should be {type(current).__name__}{hint}, got {value!r}",
                path=path,
                fix="fix the value's type",
            )
        setattr(obj, key, value)
