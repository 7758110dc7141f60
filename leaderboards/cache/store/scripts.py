"""The Lua scripts of the store, read once from leaderboards/cache/lua/ (each file says what
KEYS and ARGV it takes and what it returns)."""

from __future__ import annotations

import importlib.resources


def load_script(*names: str) -> bytes:
    """The Lua source of leaderboards/cache/lua/<name>..., joined (a library such as
    apply_units.lua goes first)."""
    folder = importlib.resources.files("leaderboards.cache").joinpath("lua")
    return b"\n".join(folder.joinpath(name).read_bytes() for name in names)


APPLY = load_script("apply_units.lua", "apply.lua")
BEGIN_BUILD = load_script("begin_build.lua")
FINISH_BUILD = load_script("apply_units.lua", "finish_build.lua")
ABANDON_BUILD = load_script("apply_units.lua", "abandon_build.lua")
TOP = load_script("names.lua", "top.lua")
AROUND = load_script("names.lua", "around.lua")
RANKS = load_script("names.lua", "ranks.lua")
NAMES_LOAD = load_script("names_load.lua")
NAMES_GET = load_script("names.lua", "names_get.lua")
CATALOG_FILL = load_script("catalog_fill.lua")
