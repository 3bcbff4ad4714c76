"""The notebooks' widgets in a real browser: JupyterLab driven by headless Chromium.

Used by the browser tests (``tests/browser/``) and by ``tools/bench_browser.py``. It does what a
student does: opens a notebook in JupyterLab, chooses *Run → Run All Cells*, waits until every
cell has run, then presses the arrow keys on each slider of each live figure
(:func:`distill_lib.widgets.live_figure`) and times how long the new picture takes to appear. A
live figure whose control is a text box (notebook 09's :func:`distill_lib.text.report.probability_widget`)
is typed into instead: click the box, type a definition, press Enter (:func:`type_text`).

**What is needed.** Debian's ``chromium`` (``apt-get install -y chromium``; another path through
the ``CHROMIUM`` environment variable) and Playwright for Python (``pip install playwright``, pinned
in requirements.txt; it carries its own driver). Playwright's browser download
(``playwright install``) is not used: Playwright drives the system Chromium through
``executable_path``. :func:`browser_unavailable` says what is missing.

**The server** (:func:`lab_server`): ``jupyter lab`` from this interpreter on a free local port,
with a random token, ``--no-browser``, ``--allow-root`` when run as root, the repository as
``ServerApp.root_dir``, and its own temporary settings and workspaces folders, so that

- nothing is saved into the repository: autosave is off (the notebooks are committed without
  outputs), the checkpoint JupyterLab makes when it opens a notebook goes to the temporary folder,
  not to ``notebooks/.ipynb_checkpoints``, and every notebook opens in a fresh workspace;
- every cell is in the page (``windowingMode: none``; by default JupyterLab leaves cells that are
  out of view out of the page);
- no news or update check goes out (the machines are offline).

The server runs in its own process group and is always stopped, kernels included, even when a
test fails. ``--LabApp.expose_app_in_browser`` gives the page a ``window.jupyterapp``, from which
the kernel's status and each cell's execution count are read.

**One latency** (:func:`move_slider`): a ``keydown`` listener and a ``load`` listener on the
figure's ``<img>`` take ``performance.now()`` in the page; the latency is from the key press to
the ``load`` of the new picture (its bytes received from the kernel and decoded), so it covers
the widget's message to the kernel, the redraw (``draw``), the PNG's way back and its decoding.
For a text box it is timed the same way from the Enter key (the typing before it is not counted: a
``Text`` with ``continuous_update=False`` sends its value on Enter).

From the command line, ``python tools/bench_browser.py [02 ...]`` runs the notebooks and times the
sliders (what ``make benchmark`` prints).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
WIDGET_CALL = "live_figure("  # a notebook whose code calls it has a widget
# ... or one of these, which build a live figure inside the library (notebooks 09 and 10: a text box)
WIDGET_CALLS = (WIDGET_CALL, "probability_widget(", "generation_widget(")
# latency goals in seconds by notebook (issue 8; notebook 10 generates 160 characters from three models); the others:
GOALS_S = {"02": 0.1, "03": 1.0, "10": 1.0}
DEFAULT_GOAL_S = 0.5
LATENCY_PROPERTY = "widget latency"  # the pytest user property the browser tests record each latency under

# Console messages that are not the workbook's errors (substring -> the reason). Anything else fails
# the test. Empty: JupyterLab 4.6 with ipywidgets 8.1 logged no console error on any notebook.
BENIGN_CONSOLE: dict[str, str] = {}

# Settings written into the server's temporary user-settings folder (JUPYTERLAB_SETTINGS_DIR).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}


# --- what is available ----------------------------------------------------------------------


def find_chromium() -> str | None:
    """The Chromium to drive: ``$CHROMIUM`` if set, else ``/usr/bin/chromium`` or one on ``PATH``; None if none."""
    configured = os.environ.get("CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() and os.access(configured, os.X_OK) else None
    for candidate in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here (a sentence saying what to install), or None if they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -r requirements.txt)"
    if find_chromium() is None:
        where = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
        return f"no Chromium at {where} (Debian/Ubuntu: apt-get install -y chromium; or set CHROMIUM=/path/to/chromium)"
    return None


def calls_widget(source: str) -> bool:
    """Whether a code cell's source calls ``live_figure(`` or another of :data:`WIDGET_CALLS`."""
    return any(call in source for call in WIDGET_CALLS)


def widget_cells(notebook: Path) -> int:
    """How many code cells of ``notebook`` build a live figure (:func:`calls_widget`)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return sum(c["cell_type"] == "code" and calls_widget("".join(c["source"])) for c in cells)


def widget_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The notebooks whose code calls ``live_figure(``, ``probability_widget(`` or ``generation_widget(``, in order (found, not listed)."""
    return [path for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")) if widget_cells(path)]


def goal_s(notebook: str) -> float:
    """The latency goal of a notebook's widget (by its two-digit number), in seconds."""
    return GOALS_S.get(notebook[:2], DEFAULT_GOAL_S)


# --- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    """A running ``jupyter lab``: its base URL, token, process and the folder it serves (see :func:`lab_server`)."""

    url: str
    token: str
    process: subprocess.Popen
    log: Path
    root: Path = ROOT

    def notebook_url(self, notebook: Path, workspace: str) -> str:
        """The page that opens ``notebook`` (a path under the served ``root``) alone, in a fresh workspace."""
        relative = notebook.resolve().relative_to(self.root.resolve()).as_posix()
        return f"{self.url}/lab/workspaces/{workspace}/tree/{relative}?token={self.token}"

    def api(self, method: str, path: str) -> object:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Shut down every kernel session (frees the memory and CPU of a notebook that is done)."""
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@contextmanager
def lab_server(root: Path = ROOT, timeout: float = 120.0) -> Iterator[LabServer]:
    """Start JupyterLab on a free local port; stop it (process group and kernels) on exit, even on error.

    Raises:
        RuntimeError: the server did not answer within ``timeout`` seconds (its log's tail in the message).
    """
    home = Path(tempfile.mkdtemp(prefix="lab-browser-"))
    for name, values in LAB_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    port, token = free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               f"--FileCheckpoints.checkpoint_dir={home / 'checkpoints'}",  # absolute: not next to the notebooks
               "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if _running_as_root():
        command.append("--allow-root")
    log = home / "lab.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = LabServer(f"http://127.0.0.1:{port}", token, process, log, Path(root))
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {process.returncode}:\n{server.log_tail()}")
            try:
                server.api("GET", "/api/status")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not answer within {timeout:.0f} s:\n{server.log_tail()}")
                time.sleep(0.25)
        yield server
    finally:
        _stop(server)
        shutil.rmtree(home, ignore_errors=True)


def _stop(server: LabServer) -> None:
    """Shut the server down through its API (it stops its kernels), then its process group if need be."""
    process = server.process
    if process.poll() is None:
        try:
            server.api("POST", "/api/shutdown")
            process.wait(timeout=20)
        except Exception:  # noqa: BLE001 -- whatever went wrong, the signals below end it
            pass
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


# --- the browser ------------------------------------------------------------------------------


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium (the system's, through Playwright's ``executable_path``); closed on exit."""
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    if executable is None:
        raise RuntimeError(browser_unavailable() or "no Chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Move:
    """One key press on one slider (or Enter in a text box): the value before and after, the time to the new picture."""

    slider: str
    key: str
    before: str
    after: str
    latency_s: float
    changed: bool  # the picture's bytes differ from the previous picture's
    typed: str | None = None  # a text box's: what was typed before Enter (None for a slider)


@dataclass
class NotebookPage:
    """A notebook open in its own browser page, with what the page logged."""

    name: str
    page: object
    console_errors: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.page.context.close()


# JavaScript run in the page. The notebook panel is the shell's current widget.
_JS_STATE = """() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.sessionContext || !panel.content || !panel.content.model) return {ready: false};
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = [];
  for (const cell of panel.content.model.cells) {
    if (cell.type !== 'code') continue;
    cells.push({count: cell.executionCount, blank: cell.sharedModel.getSource().trim() === ''});
  }
  const errors = [];
  for (const cell of panel.content.model.cells) {
    if (cell.type !== 'code') continue;
    for (let i = 0; i < cell.outputs.length; i++) {
      const out = cell.outputs.get(i).toJSON();
      if (out.output_type === 'error') errors.push(out.ename + ': ' + out.evalue);
    }
  }
  const pending = [...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'));
  return {ready: true, kernel: kernel ? kernel.status : null, cells, errors, pending,
          dialog: !!document.querySelector('.jp-Dialog')};
}"""

# Arms the timing of one move: the key press and the new picture's load are stamped with performance.now().
_JS_ARM = """async (img) => {
  const hash = async (src) => {  // FNV-1a over the picture's bytes (its src is a blob: or data: URL)
    const bytes = new Uint8Array(await (await fetch(src)).arrayBuffer());
    let h = 0x811c9dc5;
    for (let i = 0; i < bytes.length; i++) { h ^= bytes[i]; h = Math.imul(h, 0x01000193) >>> 0; }
    return h.toString(16) + ':' + bytes.length;
  };
  window.__labBrowserHash = hash;
  const move = {src: img.src, hash: await hash(img.src), pressed: null, loaded: null};
  window.__labBrowserMove = move;
  if (!window.__labBrowserKeys) {
    window.__labBrowserKeys = true;
    document.addEventListener('keydown', () => {
      const m = window.__labBrowserMove;
      if (m && m.pressed === null) m.pressed = performance.now();
    }, true);
  }
  img.addEventListener('load', () => {
    if (move.loaded === null && img.src !== move.src) { move.loaded = performance.now(); move.newSrc = img.src; }
  });
  return move.hash;
}"""

_JS_DONE = "() => { const m = window.__labBrowserMove; return m && m.pressed !== null && m.loaded !== null; }"

_JS_RESULT = """async () => {
  const m = window.__labBrowserMove;
  const hash = await window.__labBrowserHash(m.newSrc);
  return {latency_ms: m.loaded - m.pressed, changed: hash !== m.hash};
}"""


def open_notebook(browser, server: LabServer, notebook: Path, timeout: float = 120.0) -> NotebookPage:
    """Open ``notebook`` in a new page (fresh browser context, fresh workspace); wait for its idle kernel."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    opened = NotebookPage(notebook.stem, page)

    def on_console(message) -> None:
        if message.type == "error" and not any(b in message.text for b in BENIGN_CONSOLE):
            opened.console_errors.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: opened.console_errors.append(f"page error: {error}"))
    try:
        page.goto(server.notebook_url(notebook, f"browser-{secrets.token_hex(4)}"), timeout=timeout * 1e3)
        page.wait_for_function("""() => { const s = (%s)(); return s.ready && s.kernel === 'idle'; }""" % _JS_STATE,
                               timeout=timeout * 1e3, polling=250)
        watch_kernel(page)
    except Exception:
        opened.close()
        raise
    return opened


_JS_WATCH_KERNEL = """() => {
  // What the kernel reports outside the cells' outputs: a widget callback that raises or warns
  // (its traceback goes to JupyterLab's log console, not to a cell).
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  window.__labBrowserKernel = [];
  kernel.iopubMessage.connect((_, msg) => {
    const type = msg.header.msg_type, content = msg.content;
    if (type === 'error') window.__labBrowserKernel.push(['error', content.ename + ': ' + content.evalue]);
    if (type === 'stream' && content.name === 'stderr' && msg.parent_header.msg_type === 'comm_msg')
      window.__labBrowserKernel.push(['stderr', content.text]);
  });
}"""


def watch_kernel(page) -> None:
    """Start collecting the kernel's errors, and the stderr of widget callbacks (see :func:`kernel_messages`)."""
    page.evaluate(_JS_WATCH_KERNEL)


def kernel_messages(page) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` the kernel sent since :func:`watch_kernel`: any traceback, and widget callbacks' stderr."""
    messages = page.evaluate("() => window.__labBrowserKernel || []")
    return [m for kind, m in messages if kind == "error"], [m for kind, m in messages if kind == "stderr"]


def state(page) -> dict:
    """The notebook's state: kernel status, each code cell's execution count, error outputs, open dialogs."""
    return page.evaluate(_JS_STATE)


def run_all(opened: NotebookPage, timeout: float = 300.0) -> float:
    """*Run → Run All Cells* from the menu; wait until every cell has run (or one failed). Returns seconds.

    Raises:
        RuntimeError: a cell raised (its error named), or the run took over ``timeout`` seconds.
    """
    page = opened.page
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    start = time.perf_counter()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    deadline = start + timeout
    while True:
        now = state(page)
        if now["errors"]:
            raise RuntimeError(f"{opened.name}: a cell raised: " + "; ".join(now["errors"]))
        done = [c["count"] is not None for c in now["cells"] if not c["blank"]]
        if all(done) and not now["pending"] and now["kernel"] == "idle":
            return time.perf_counter() - start
        if now["kernel"] == "dead":
            raise RuntimeError(f"{opened.name}: the kernel died after {sum(done)} of {len(done)} cells")
        if now["dialog"]:
            raise RuntimeError(f"{opened.name}: a dialog opened: {page.locator('.jp-Dialog').inner_text()[:300]}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{opened.name}: not done after {timeout:.0f} s: "
                               f"{sum(done)} of {len(done)} cells run, kernel {now['kernel']}")
        page.wait_for_timeout(250)


_JS_KERNEL_CPU = """async () => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const code = "import resource as _r; _u = _r.getrusage(_r.RUSAGE_SELF); print(_u.ru_utime + _u.ru_stime); del _r, _u";
  const future = kernel.requestExecute({code, silent: false, store_history: false});
  let text = '';
  future.onIOPub = (msg) => { if (msg.header.msg_type === 'stream') text += msg.content.text; };
  await future.done;
  return parseFloat(text);
}"""


def kernel_cpu_seconds(page) -> float:
    """The CPU seconds (user + sys) the notebook's kernel has used so far (asked of the kernel, outside any cell)."""
    return page.evaluate(_JS_KERNEL_CPU)


def stderr_outputs(page) -> list[str]:
    """The text of every stderr output (warnings: reported, not failures)."""
    return page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()


def widget_problems(page) -> list[str]:
    """Outputs that say a widget did not render ("Loading widget…" left over, "Error displaying widget")."""
    texts = page.locator(".jp-OutputArea-output").all_inner_texts()
    return [t.strip()[:200] for t in texts if "Loading widget" in t or "Error displaying widget" in t]


def wait_for_widgets(page, expected: int, timeout: float = 60.0) -> None:
    """Wait until ``expected`` live figures are in the page and no output still says "Loading widget…".

    Returns at the timeout without raising: the checks that follow say what is missing.
    """
    try:
        page.wait_for_function(
            """(expected) => {
              const outputs = [...document.querySelectorAll('.jp-OutputArea-output')];
              const loading = outputs.some(o => o.textContent.includes('Loading widget'));
              const figures = document.querySelectorAll('.jp-OutputArea-output .widget-vbox > img.widget-image').length;
              return !loading && figures >= expected;
            }""", arg=expected, timeout=timeout * 1e3, polling=250)
    except Exception:  # noqa: BLE001 -- playwright's TimeoutError; the caller's checks report it
        pass


def live_figures(page):
    """Each live figure's box (the ``VBox`` holding the controls and the ``<img>``), in page order."""
    return page.locator(".jp-OutputArea-output .widget-vbox:has(> img.widget-image)")


def sliders(figure):
    """The sliders of one live figure (``IntSlider``, ``FloatSlider``, ``SelectionSlider``, ...)."""
    return figure.locator(".widget-slider")


def slider_name(slider) -> str:
    label = slider.locator(".widget-label").first
    return (label.inner_text().strip() if label.count() else "") or "(no description)"


def move_slider(figure, slider, timeout: float = 30.0, key: str | None = None) -> Move:
    """Focus the slider's handle, press an arrow key, wait for the new picture; the time between, in the page.

    ``key`` None: ArrowRight, or ArrowLeft when the slider is at its maximum.

    Raises:
        playwright TimeoutError: no new picture within ``timeout`` seconds.
    """
    page = figure.page
    handle = slider.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    value, maximum = handle.get_attribute("aria-valuenow"), handle.get_attribute("aria-valuemax")
    readout = slider.locator(".widget-readout").first
    before = readout.inner_text() if readout.count() else str(value)
    if key is None:
        key = "ArrowLeft" if value is not None and maximum is not None and float(value) >= float(maximum) else "ArrowRight"
    img = figure.locator("> img.widget-image").first
    img.evaluate(_JS_ARM)
    handle.focus()
    page.keyboard.press(key)
    page.wait_for_function(_JS_DONE, timeout=timeout * 1e3, polling="raf")
    result = page.evaluate(_JS_RESULT)
    after = readout.inner_text() if readout.count() else str(handle.get_attribute("aria-valuenow"))
    return Move(slider_name(slider), key, before, after, result["latency_ms"] / 1e3, result["changed"])


def move_repeatedly(figure, slider, repeats: int, timeout: float = 60.0) -> list[Move]:
    """``repeats`` key presses on one slider: away from its end first, then back and forth."""
    first = move_slider(figure, slider, timeout=timeout)
    back = "ArrowLeft" if first.key == "ArrowRight" else "ArrowRight"
    moves = [first]
    for i in range(1, repeats):
        moves.append(move_slider(figure, slider, timeout=timeout, key=back if i % 2 else first.key))
    return moves


def text_boxes(figure):
    """The text boxes of one live figure (``ipywidgets.Text``, e.g. notebook 09's definition)."""
    return figure.locator(".widget-text")


def control_name(control) -> str:
    """A slider's or a text box's description (its label), or "(no description)"."""
    return slider_name(control)


#: What the browser test and :func:`type_repeatedly` type into a text box, in turn: two definitions (the first differs from
#: notebook 09's default, the second is it), then an empty box (a student who clears it: the picture
#: must say so, not raise).
TEXTS = ("a tool for cutting wood", "a large cat of the grasslands", "")


def type_text(figure, box, text: str, timeout: float = 30.0) -> Move:
    """Click the text box, type ``text`` in place of its value, press Enter; time Enter to the new picture.

    The keys typed before Enter are not timed (the box sends its value on Enter). ``text`` must
    differ from the box's value: Enter would send nothing otherwise.

    Raises:
        ValueError: ``text`` is the box's value already.
        playwright TimeoutError: no new picture within ``timeout`` seconds.
    """
    page = figure.page
    field = box.locator("input").first
    field.scroll_into_view_if_needed()
    before = field.input_value()
    if text == before:
        raise ValueError(f"text {text!r} is the box's value already: pressing Enter would send nothing")
    field.click()
    field.fill("")  # clear the box, as select-all and Delete would
    if text:
        field.press_sequentially(text)
    img = figure.locator("> img.widget-image").first
    img.evaluate(_JS_ARM)  # armed after the typing: the next key, Enter, starts the clock
    field.press("Enter")
    page.wait_for_function(_JS_DONE, timeout=timeout * 1e3, polling="raf")
    result = page.evaluate(_JS_RESULT)
    return Move(control_name(box), "Enter", before, field.input_value(), result["latency_ms"] / 1e3, result["changed"],
                typed=text)


def type_repeatedly(figure, box, texts: tuple[str, ...] = TEXTS, timeout: float = 60.0) -> list[Move]:
    """:func:`type_text` each of ``texts`` in turn, skipping one equal to the box's value at that moment."""
    moves = []
    for text in texts:
        if text != box.locator("input").first.input_value():
            moves.append(type_text(figure, box, text, timeout=timeout))
    return moves


def summary(values: list[float]) -> str:
    """``median (min-max over n)`` in milliseconds."""
    ms = [1e3 * v for v in values]
    return f"{statistics.median(ms):.0f} ms ({min(ms):.0f}-{max(ms):.0f} over {len(ms)})"
