"""`qc-bot demo` as a newcomer runs it on a fresh clone: no configuration, no ../shared WSDL, no lxml."""

import re
import subprocess
import sys
from pathlib import Path

from bot.redaction import MASK
from tests.support.cli import clean_environment


def test_the_demo_runs_the_journey_and_leaves_nothing_behind(tmp_path):
    # A fresh clone: the WSDL is absent and lxml (a test-only dependency) cannot be imported.
    blocker = tmp_path / "no-lxml"
    (blocker / "lxml").mkdir(parents=True)
    (blocker / "lxml" / "__init__.py").write_text("raise ImportError('lxml is not installed')\n")
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / ".env").write_text("QC_PUBLIC_URL=not a url\nQC_ENCRYPTION_KEYS=nonsense\n")  # not read
    environment = clean_environment(QC_METADATA_WSDL=str(tmp_path / "absent.wsdl"))
    environment["PYTHONPATH"] = f"{blocker}:{environment['PYTHONPATH']}"

    result = subprocess.run([sys.executable, "-m", "bot.cli", "demo"], cwd=workdir, env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout

    steps = [out.index(marker) for marker in ("1. Ada Admin", "2. Ada Admin clicks", "3. As soon as the authorization",
                                             "4. Only Ada Admin", "5. Ada Admin clicks", "6. Quality Clouds signs in",
                                             "Expiry warnings")]
    assert steps == sorted(steps)
    assert "Authorized — you can return to Slack" in out
    channel = out[steps[2]:steps[3]]
    card_posted, set_up = channel.index("⏳ Setting up QualityClouds in Acme Corp…"), channel.index("is connected")
    assert card_posted < set_up and "edits the same card in place" in channel
    assert "Acme Corp is connected to Quality Clouds" in channel and "External Client App" in channel
    assert "⏳ Sign-in: proving" in channel and "edited in place" in channel
    assert "✅ Sign-in: Quality Clouds' credentials sign in to Acme Corp (runs as ada@acme.example)" in channel
    masked = re.findall(r"Consumer (?:key|secret): (\S+)", channel)
    assert len(masked) == 2 and all(value.startswith(MASK) for value in masked)
    revealed = out[steps[4]:steps[5]]
    assert "private window opens for her alone" in revealed
    hand_off = [line.split("│ ")[1] for line in revealed.splitlines() if "│ " in line]
    for label, value in (("Description", "Acme Corp (Production)"), ("Login URL", "Production"),
                         ("Environment", "Production")):
        assert hand_off[hand_off.index(label) + 1] == value, label
    assert {"Org URL", "Consumer Key", "Consumer Secret"} <= set(hand_off) and "allow-list" in revealed
    thread = out[steps[5]:steps[6]]
    assert "reply in the thread of Acme Corp's card" in thread and "expires in 30 days" in thread
    full_values = [line.split("│ ")[1] for line in revealed.splitlines()
                   if "│ " in line and len(line.split("│ ")[1]) >= 40 and " " not in line.split("│ ")[1]]
    assert len(full_values) == 2
    before_reveal = out[:steps[4]]
    assert all(value not in before_reveal and value[-4:] in channel for value in full_values)
    assert "?link=" + MASK in out and "code=" + MASK in out  # one-time values are masked in the transcript

    outlook_lines = re.findall(r"^   (\d{4}-\d{2}-\d{2})  (30 days before|7 days before|1 day before|on expiry)",
                               out[steps[6]:], flags=re.MULTILINE)
    assert [when for _, when in outlook_lines] == ["30 days before", "7 days before", "1 day before", "on expiry"]

    database_folder = Path(re.search(r"deleted (\S+) \(the demo's database\)", out).group(1))
    assert not database_folder.exists()
    assert sorted(path.name for path in workdir.iterdir()) == [".env"]
    assert "Traceback" not in result.stderr
