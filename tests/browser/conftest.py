"""Fixtures of the browser tests: one JupyterLab server and one headless Chromium for the session.

Where no browser is available (Playwright not installed, no Chromium), every browser test is
*skipped* with the reason, which ``-ra`` prints in the summary. ``DISTILL_REQUIRE_BROWSER=1``
(set by ``.ci/run``) turns that skip into a failure, so that CI cannot pass without them.
The latencies the tests record are printed at the end of the run (``pytest_terminal_summary``;
under ``pytest -n`` only when ``tests/browser`` is named on the command line, as ``make
browser-test`` does: a worker's output is not shown otherwise).
"""

from __future__ import annotations

import os

import pytest

from tools.lab_browser import LATENCY_PROPERTY, browser_unavailable, chromium, lab_server


@pytest.fixture(scope="session")
def browser_available() -> None:
    reason = browser_unavailable()
    if reason is None:
        return
    if os.environ.get("DISTILL_REQUIRE_BROWSER") == "1":
        pytest.fail(f"DISTILL_REQUIRE_BROWSER=1, but the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"no browser for the widget tests: {reason}")


@pytest.fixture(scope="session")
def lab(browser_available):
    """A JupyterLab serving the repository on a free local port; stopped (kernels too) after the session."""
    with lab_server() as server:
        yield server


@pytest.fixture(scope="session")
def browser(browser_available):
    """The system's headless Chromium, driven by Playwright."""
    with chromium() as launched:
        yield launched


def pytest_terminal_summary(terminalreporter) -> None:
    lines = [value for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
             if report.when == "call" for name, value in getattr(report, "user_properties", ()) if name == LATENCY_PROPERTY]
    if lines:
        terminalreporter.section("widget latency in JupyterLab (key press to new picture)")
        for line in lines:
            terminalreporter.write_line(line)
        terminalreporter.write_line("(printed, not asserted: shared machines are noisy; `make benchmark` repeats them)")
