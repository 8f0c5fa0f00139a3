"""Run every benchmark, then gather their tables into docs/benchmarks.md.

Each ``bench_*.py`` writes its own table to ``benchmarks/results/<name>.md``; this script
runs them one after the other (never in parallel: they time themselves) and concatenates
the tables. ``--collect`` only gathers the existing tables.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
DOC = HERE.parent / "docs" / "benchmarks.md"
INTRO = """# Benchmarks

Every number below comes from a script in `benchmarks/` (`make bench` runs them all and
rewrites this page). Each table names the machine it ran on; speed targets are checked as
ratios against a baseline measured in the same run wherever a baseline exists, because
these machines are noisy. Medians of several runs unless a table says otherwise.
"""


def main() -> int:
    failed = []
    if "--collect" not in sys.argv:
        for script in sorted(HERE.glob("bench_*.py")):
            print(f"== {script.name}", flush=True)
            if subprocess.run([sys.executable, str(script)], cwd=HERE).returncode:
                failed.append(script.name)
    tables = [p.read_text().strip() for p in sorted((HERE / "results").glob("*.md"))]
    # Each table's headings move one level down under this page's title.
    demoted = [
        "\n".join("#" + ln if ln.startswith("#") else ln for ln in t.splitlines()) for t in tables
    ]
    body = "\n\n".join(demoted)
    DOC.write_text(INTRO + "\n" + body + "\n")
    print(f"wrote {DOC}")
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
