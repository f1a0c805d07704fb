"""``yaml.safe_load``, through libyaml when PyYAML was built with it (about 10x faster)."""

from __future__ import annotations

import yaml

_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> object:
    """Parse one YAML document with the safe (no arbitrary objects) loader; raises yaml.YAMLError."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # a safe loader, never the full one
