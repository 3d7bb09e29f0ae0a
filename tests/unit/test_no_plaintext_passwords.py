"""No password, key or token is written in plain text anywhere in the repository:
credentials are generated at run time and handed over as Docker secrets or files."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO

# key = "literal" / key: literal, in any file type
ASSIGNMENT = re.compile(
    r"""(?ix)\b([a-z_]*(password|passwd|secret[_-]?key|access[_-]?key|api[_-]?key|auth[_-]?token|secret))
        ["']?\s*[:=]\s*["']([^"'\s]{4,})["']""")
# YAML / env style without quotes: password: hunter22
BARE = re.compile(r"(?im)^\s*[-\w]*(password|passwd|secret_key|access_key)\s*[:=]\s*([^\s#'\"{}$]{4,})\s*$")
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----\s*\n\s*([A-Za-z0-9+/=]{20,})")
AWS_KEY_ID = re.compile(r"\bAKIA[0-9A-Z]{16}\b")
PLACEHOLDER = re.compile(r"(?i)replace|example|changeme|<|\$\{|\{\{|/run/secrets|xxx|\.\.\.|dummy|test|fake")


def repo_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if (REPO / f).is_file()]


def findings(text: str) -> list[str]:
    found = []
    for pattern in (ASSIGNMENT, BARE):
        for match in pattern.finditer(text):
            value = match.groups()[-1]
            if not PLACEHOLDER.search(value) and not re.fullmatch(r"[\w.]+\(.*|[A-Z_]+", value):
                found.append(match.group(0).strip())
    found += [m.group(0)[:40] for m in PRIVATE_KEY.finditer(text) if not PLACEHOLDER.search(m.group(1))]
    found += AWS_KEY_ID.findall(text)
    return found


def test_the_scanner_finds_planted_secrets():
    planted = 'db:\n  password: hunter22x\nPASSWORD="s3cr3t-value"\nkey = "AKIAABCDEFGHIJKLMNOP"\n'
    assert len(findings(planted)) >= 3
    assert findings('password: "${FEDN_PW}"\ntoken = secrets.read("ray_token")\n') == []


def test_no_plaintext_credentials_in_the_repo():
    hits = []
    for name in repo_files():
        if name.startswith("tests/unit/test_no_plaintext_passwords"):
            continue
        try:
            text = (REPO / name).read_text()
        except (UnicodeDecodeError, OSError):
            continue
        hits += [f"{name}: {hit}" for hit in findings(text)]
    assert not hits, "plaintext credentials:\n" + "\n".join(hits)
