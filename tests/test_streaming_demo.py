"""`sourceflow demo`'s streaming part: Chatlio events and signed Shopify deliveries land as
rows, the retried delivery once, the forged one refused; everything is torn down."""

from __future__ import annotations

import subprocess
import sys


def test_demo_shows_chatlio_rows_and_shopify_deduplication_and_refusal(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "sourceflow.cli", "demo", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "webhook URL to paste into Chatlio: http://127.0.0.1:" in text
    assert "?x-adobe-flow-id=" in text
    assert "Does the pro plan include exports?" in text
    lines = {line.split(" 2")[0].strip(): line for line in text.splitlines() if "order #" in line}
    first = lines["order #1001"].split("xactionId=")[1]
    assert lines["order #1001 again (Shopify retried)"].endswith(f"200 xactionId={first}")
    (forged,) = [line for line in text.splitlines() if "a forged delivery" in line]
    assert " 401 " in forged and "X-Shopify-Hmac-Sha256 does not match" in forged
    assert "2 rows for 3 accepted deliveries" in text
    assert "#1002  amara.okafor@example.com   48.00  USD" in text
    assert "shpss_sourceflow_demo_secret" not in text + out.stderr
    assert text.rstrip().endswith("done.")
