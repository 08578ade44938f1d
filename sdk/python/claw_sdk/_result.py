"""Results with attribute access: a dict whose keys read as attributes, snake_case for camelCase keys too."""
from __future__ import annotations

import re
from typing import Any, List

_CAMEL = re.compile(r"_([a-z0-9])")


def _camel(name: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), name)


class Result(dict):
    """The API's JSON object as a dict, whose keys are also attributes: ``r.message_id``, ``r.reply.text``.

    A camelCase key reads in snake_case as well (``r.duration_ms`` for ``durationMs``). A key that is
    also a dict method (``items``, ``keys`` …) reads as ``r["items"]``. An absent key raises AttributeError.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name in self:
            return self[name]
        camel = _camel(name)
        if camel != name and camel in self:
            return self[camel]
        raise AttributeError(f"no {name!r} in this result (keys: {', '.join(self.keys()) or 'none'})")

    def __dir__(self) -> List[str]:
        return sorted(set(dir(dict)) | {_snake(k) for k in self.keys() if isinstance(k, str) and k.isidentifier()})

    def __repr__(self) -> str:
        return f"Result({dict.__repr__(self)})"


def wrap(value: Any) -> Any:
    """JSON as decoded, with every object a Result."""
    if isinstance(value, dict):
        return Result((k, wrap(v)) for k, v in value.items())
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value
