"""User-Agents as the real clients sent them (captured from pip 26.3, uv 0.13.9, poetry
2.5.1 and pdm 2.29.4 asking a local server for a project), and a few older shapes."""

from __future__ import annotations

PIP = (
    'pip/26.3 {"ci":null,"cpu":"x86_64","distro":{"id":"bookworm","libc":{"lib":"glibc",'
    '"version":"2.36"},"name":"Debian GNU/Linux","version":"12"},"implementation":{"name":'
    '"CPython","version":"3.11.7"},"installer":{"name":"pip","version":"26.3"},'
    '"openssl_version":"OpenSSL 3.0.19 27 Jan 2026","python":"3.11.7","rustc_version":"1.95.0",'
    '"setuptools_version":"65.5.0","system":{"name":"Linux","release":"6.18.44-fc-v669"}}'
)
UV = (
    'uv/0.13.9 {"installer":{"name":"uv","version":"0.13.9","subcommand":["pip","install"]},'
    '"python":"3.11.7","implementation":{"name":"CPython","version":"3.11.7"},"distro":{"name":'
    '"Debian GNU/Linux","version":"12","id":"bookworm","libc":{"lib":"glibc","version":"2.36"}},'
    '"system":{"name":"Linux","release":"6.18.44-fc-v669"},"cpu":"x86_64","openssl_version":'
    'null,"setuptools_version":null,"rustc_version":null,"ci":null}'
)
POETRY = "poetry/2.5.1 CPython/3.11.7 Linux/6.18.44-fc-v669"
PDM = "pdm/2.29.4 CPython/3.11.7 Linux/6.18.44-fc-v669"
# pip 1.4 to 5 (linehaul still reads these); pdm before it named the system.
OLD_PIP = "pip/1.5.6 CPython/2.7.6 Darwin/13.4.0"
OLD_PDM = "pdm/2.10.0 CPython/3.12.1"
