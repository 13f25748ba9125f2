"""A short, human name for a User-Agent ("Firefox 128 on Linux"), via ua-parser."""

from __future__ import annotations

from functools import lru_cache

from ua_parser import parse

UNKNOWN = "Unknown device"


@lru_cache(maxsize=512)
def describe_device(user_agent: str | None) -> str:
    if not user_agent:
        return UNKNOWN
    result = parse(user_agent[:500])
    browser = result.user_agent
    system = result.os
    name = None
    if browser and browser.family != "Other":
        name = f"{browser.family} {browser.major}" if browser.major else browser.family
    where = system.family if system and system.family != "Other" else None
    if name and where:
        return f"{name} on {where}"
    if name or where:
        return name or where or UNKNOWN
    return user_agent[:60]  # scripts and tools: their own name is the best description
