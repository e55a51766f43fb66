"""Faulty build: the window limits (scans a minute, model calls a day, logins a minute) count
nothing and refuse nothing, as a release that lost its limit middleware would; an abusive
client is served without end."""

from types import ModuleType

from patch_on_import import after_import


def _patch(limits: ModuleType) -> None:
    def hit_nothing(*args: object, **kwargs: object) -> None:
        return None

    limits.hit = hit_nothing


after_import("reference.common.limits", _patch)
