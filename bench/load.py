"""Real users and a real load generator: sign in through the login form, then drive wrk."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests

LUA = Path(__file__).resolve().parent / "lua"
COOKIE = "tenantdesk_session"
_CSRF = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


@dataclass(frozen=True)
class SignedIn:
    email: str
    cookie: str  # the signed session token the login form set
    csrf: str  # the session's CSRF token, for POSTs


def sign_in(base: str, email: str, password: str, org_path: str | None = None) -> SignedIn:
    """Sign in through the form; with ``org_path`` (``/o/<slug>/``), make that org the active
    one (a deep link to another org goes through the switch and reissues the token)."""
    with requests.Session() as http:
        form = http.get(f"{base}/login", timeout=30)
        csrf = _CSRF.search(form.text)
        assert csrf, "login page has no CSRF token"
        answer = http.post(
            f"{base}/login",
            data={"csrf_token": csrf.group(1), "email": email, "password": password},
            allow_redirects=False, timeout=30,
        )
        if answer.status_code != 302:
            raise RuntimeError(f"sign-in of {email} answered {answer.status_code}")
        if org_path:
            landed = http.get(f"{base}{org_path}", timeout=30)  # follows the switch
            if landed.status_code != 200:
                raise RuntimeError(f"{email} could not open {org_path}: {landed.status_code}")
        page = http.get(f"{base}/switcher", timeout=30)  # any signed-in page has the token
        token = _CSRF.search(page.text)
        assert token, "signed-in page has no CSRF token"
        return SignedIn(email, http.cookies[COOKIE], token.group(1))


def get_status(base: str, path: str, user: SignedIn) -> int:
    answer = requests.get(base + path, cookies={COOKIE: user.cookie}, allow_redirects=False,
                          timeout=30)
    return answer.status_code


def ensure_wrk() -> str:
    """wrk from Debian; installed here when we are root (say how otherwise)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("  installing wrk (apt-get install wrk)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed: sudo apt-get install wrk (Debian/Ubuntu)")
    return found


def wrk_version() -> str:
    out = subprocess.run([ensure_wrk(), "-v"], capture_output=True, text=True)
    return (out.stdout or out.stderr).split("\n")[0].split(" [")[0].strip()


def wrk(base: str, script: str, args: list[str], *, seconds: float, connections: int,
        threads: int) -> dict:
    """One bounded wrk run; returns p50/p99 in ms, requests/s and error counts."""
    command = [
        ensure_wrk(), "--latency", "-t", str(threads), "-c", str(connections),
        "-d", f"{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(LUA / script), base,
        "--", *args,
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {out.stdout[-500:]} {out.stderr[-500:]}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    seconds_run = raw["duration_us"] / 1e6
    errors = sum(raw["errors"].values())
    return {
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds_run, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "errors": errors,
        "connections": connections,
        "seconds": round(seconds_run, 1),
        **raw["extra"],
    }
