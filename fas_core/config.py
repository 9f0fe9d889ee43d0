"""Experiment configuration: one YAML file per experiment, everything else defaulted.

* Each method declares its defaults once, as a nested dict (its ``DEFAULTS``).
* A YAML experiment file overrides some of them. It may start from another file with
  ``_base_: other.yaml`` (path relative to the file), as mmengine configs do.
* ``key=value`` arguments on the command line override both (``optim.lr=3e-4``); the value is
  parsed as YAML, so ``true``, ``1e-4``, ``[1, 2]`` and ``null`` mean what they look like.
* A key that the defaults do not have is an error that names the valid keys at that level,
  and a value of the wrong type (text where a number belongs) is an error too.
* The resolved config is saved as ``config.yaml`` in every run directory.
"""

from __future__ import annotations

import argparse
import copy
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from easydict import EasyDict

from . import fileio

BASE_KEY = "_base_"


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``3_2`` as the integer 32; here digits joined by ``_`` stay text (fold names)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(0|[1-9][0-9]*)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$"),
    list("-+0123456789."))


def _yaml_load(text: str):
    return yaml.load(text, Loader=_Loader)


class ConfigError(ValueError):
    """A config file or override that does not fit the defaults."""


def _check_type(key: str, default: Any, value: Any, source: str) -> Any:
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: '{key}' must be true/false, got {value!r}")
        return value
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: '{key}' must be a number, got {value!r}")
        return float(value) if isinstance(default, float) else value
    if isinstance(default, str) and not isinstance(value, str):
        # Let numbers stand for strings where the default is text (e.g. protocol: 1 -> "1").
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{source}: '{key}' must be text, got {value!r}")
    if isinstance(default, Sequence) and not isinstance(default, str):
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise ConfigError(f"{source}: '{key}' must be a list, got {value!r}")
    return value


def merge(defaults: Mapping[str, Any], update: Mapping[str, Any], source: str, prefix: str = "") -> dict:
    """Return ``defaults`` updated by ``update``; unknown keys and wrong types raise ConfigError."""
    out = copy.deepcopy(dict(defaults))
    for key, value in update.items():
        full = f"{prefix}{key}"
        if key not in out:
            valid = ", ".join(sorted(out)) or "(none)"
            where = f" in section '{prefix[:-1]}'" if prefix else ""
            raise ConfigError(f"{source}: unknown config key '{full}'{where}. Valid keys: {valid}")
        if isinstance(out[key], Mapping):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: '{full}' is a section; give its keys ({', '.join(out[key])})")
            out[key] = merge(out[key], value, source, prefix=f"{full}.")
        else:
            out[key] = _check_type(full, out[key], value, source)
    return out


def read_yaml_with_bases(path: str | Path) -> dict:
    """Read a YAML experiment file, resolving ``_base_`` chains (later files win)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    with open(path, encoding="utf-8") as f:
        data = _yaml_load(f.read()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of keys to values")
    base = data.pop(BASE_KEY, None)
    if base is None:
        return data
    return deep_update(read_yaml_with_bases(path.parent / base), data)


def deep_update(base: dict, update: Mapping) -> dict:
    out = copy.deepcopy(base)
    for k, v in update.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_update(dict(out[k]), v)
        else:
            out[k] = v
    return out


def parse_override(text: str) -> dict:
    """``'optim.lr=1e-3'`` -> ``{'optim': {'lr': 0.001}}``."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key=value (e.g. train.max_iters=100)")
    key, raw = text.split("=", 1)
    value = _yaml_load(raw) if raw != "" else ""
    node: dict = {}
    parts = key.strip().split(".")
    cur = node
    for p in parts[:-1]:
        cur[p] = {}
        cur = cur[p]
    cur[parts[-1]] = value
    return node


def load_config(
    defaults: Mapping[str, Any], path: str | Path | None = None, overrides: Sequence[str] = ()
) -> EasyDict:
    """Defaults, then the experiment file, then command-line overrides; validated throughout."""
    cfg = copy.deepcopy(dict(defaults))
    if path:
        cfg = merge(cfg, read_yaml_with_bases(path), source=str(path))
    for text in overrides:
        cfg = merge(cfg, parse_override(text), source=f"command line '{text}'")
    return EasyDict(cfg)


def to_plain(obj: Any) -> Any:
    """EasyDict / tuples -> plain dicts and lists (for YAML and checkpoints)."""
    if isinstance(obj, Mapping):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


def save_config(cfg: Mapping[str, Any], path: str | Path) -> None:
    fileio.atomic_write_text(path, yaml.safe_dump(to_plain(cfg), sort_keys=False))


def describe_defaults(defaults: Mapping[str, Any], prefix: str = "") -> list[str]:
    lines = []
    for k, v in defaults.items():
        if isinstance(v, Mapping):
            lines.extend(describe_defaults(v, f"{prefix}{k}."))
        else:
            lines.append(f"  {prefix}{k} = {v!r}")
    return lines


def config_argparser(description: str, defaults: Mapping[str, Any]) -> argparse.ArgumentParser:
    """An argument parser with ``--config FILE`` and ``key=value`` overrides; --help lists keys."""
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config keys and defaults (override with key=value):\n" + "\n".join(describe_defaults(defaults)),
    )
    parser.add_argument("--config", "-c", default=None, help="YAML experiment file")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.max_iters=100")
    return parser


def config_from_cli(description: str, defaults: Mapping[str, Any], argv: Sequence[str] | None = None,
                    parser: argparse.ArgumentParser | None = None) -> tuple[EasyDict, argparse.Namespace]:
    parser = parser or config_argparser(description, defaults)
    args = parser.parse_args(argv)
    try:
        cfg = load_config(defaults, args.config, args.overrides)
    except ConfigError as e:
        parser.exit(2, f"config error: {e}\n")
    return cfg, args
