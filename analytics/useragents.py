"""Which installer sent a request, read from its User-Agent the way PyPI's linehaul does.

pip (6 and later) and uv send `<name>/<version> <JSON>`, the JSON naming the installer, the
Python, its implementation, the system and the CPU; poetry and pdm send
`<name>/<version> <implementation>/<python> <system>/<release>` (older pips the same). What
the client does not say stays empty; anything else is "other". Parsed by hand: the `linehaul`
package on PyPI installs a top-level `tests` package beside ours and its pdm pattern does not
match what pdm 2.29 sends (it has the system too).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from analytics.models import Installer

KNOWN = frozenset(Installer.values) - {Installer.OTHER}
# pip/25.0 {"installer": ...}; uv/0.5.0 {...}
WITH_JSON = re.compile(r"^(?P<name>[A-Za-z][\w.-]*)/(?P<version>\S+) (?P<data>\{.*\})\s*$")
# poetry/2.0.1 CPython/3.12.1 Linux/6.1.0; pdm/2.29.4 CPython/3.11.7 Linux/6.18
PLAIN = re.compile(
    r"^(?P<name>[A-Za-z][\w.-]*)/(?P<version>\S+)"
    r"(?: (?P<impl>[A-Za-z]\w*)/(?P<python>\d[\w.+]*))?"
    r"(?: (?P<system>[A-Za-z][\w.-]*)/\S+)?"
)
TOKEN = re.compile(r"^[\w.+!-]+$")


@dataclass(frozen=True)
class Client:
    installer: str
    installer_version: str = ""
    python: str = ""
    implementation: str = ""
    system: str = ""
    cpu: str = ""


OTHER = Client(Installer.OTHER)


def _token(value: Any, limit: int) -> str:
    """A short, plain value the client said, or "" (never markup or a paragraph)."""
    text = str(value) if isinstance(value, str | int | float) else ""
    return text[:limit] if text and TOKEN.match(text) else ""


def _installer(name: str) -> str:
    name = name.lower()
    return name if name in KNOWN else Installer.OTHER


@functools.lru_cache(maxsize=1024)
def parse(user_agent: str) -> Client:
    """The client a User-Agent names (cached: a fleet sends few distinct ones)."""
    found = WITH_JSON.match(user_agent)
    if found:
        try:
            data = json.loads(found["data"])
        except ValueError:
            data = None
        if isinstance(data, dict):
            return _from_json(found["name"], found["version"], data)
    found = PLAIN.match(user_agent)
    if found is None:
        return OTHER
    installer = _installer(found["name"])
    if installer == Installer.OTHER:
        return OTHER
    return Client(
        installer=installer,
        installer_version=_token(found["version"], 32),
        python=_token(found["python"], 16),
        implementation=_token(found["impl"], 16),
        system=_token(found["system"], 16),
    )


def _from_json(name: str, version: str, data: dict[str, Any]) -> Client:
    said = data.get("installer")
    said = said if isinstance(said, dict) else {}
    installer = _installer(str(said.get("name") or name))
    if installer == Installer.OTHER:
        return OTHER
    implementation = data.get("implementation")
    implementation = implementation if isinstance(implementation, dict) else {}
    system = data.get("system")
    system = system if isinstance(system, dict) else {}
    return Client(
        installer=installer,
        installer_version=_token(said.get("version") or version, 32),
        python=_token(data.get("python") or implementation.get("version"), 16),
        implementation=_token(implementation.get("name"), 16),
        system=_token(system.get("name"), 16),
        cpu=_token(data.get("cpu"), 16),
    )
