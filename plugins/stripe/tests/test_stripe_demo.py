"""`sourceflow demo` runs a Stripe flow against the bundled sample Stripe API (no ../shared,
no Stripe account): the first scheduled run pulls every sample charge, and teardown removes it."""

from __future__ import annotations

import re
import subprocess
import sys

from sourceflow_stripe import sample


def test_the_demo_pulls_the_sample_charges_and_tears_them_down(tmp_path):
    done = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "sourceflow.cli", "demo", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    section = out.split("Stripe: a scheduled flow", 1)[1].split("Tear down", 1)[0]
    assert "SAMPLE DATA" in out
    charges = len(sample.objects("charges"))
    assert re.search(rf"\bsuccess +{charges} +{charges} +0\b", section)
    assert "Ada Lovelace" in section and f"{charges} row(s) in the dataset" in section
    assert "done." in out
