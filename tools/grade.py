"""Autograding a class: run every submitted notebook headless and report each exercise's check.

``make grade SUBMISSIONS=dir`` (or ``python tools/grade.py dir [--out DIR] [--timeout S] [--jobs N]``)
grades a folder laid out as **one folder per student**, holding that student's filled-in copies of
the student release (``make student``) under their release names::

    dir/alice/02_temperature_softmax.ipynb
    dir/alice/05_pruning.ipynb
    dir/bob/02_temperature_softmax.ipynb

and writes ``grades.csv`` and ``report.html`` / ``report.md`` (default ``build/grades/``), with
one row per student, notebook and exercise (the nbgrader ``grade_id`` of each check cell):
``pass``, ``fail`` (the check's assertion message) or ``error`` (anything else: the exception,
a time-out, a dead kernel, a deleted check cell, a refused file access), and each executed copy
in ``executed/<student>/``, so students can see their own tracebacks.

How each submission runs, so that none can make another fail:

- The **check cells are the instructor's**: each check cell (nbgrader ``"grade": true``) is
  overwritten by the cell of the same ``grade_id`` in ``notebooks/`` (``--source``), so editing
  an ``assert`` away does not help; a deleted check cell is an ``error``.
- It runs in **its own temporary folder** holding only its own copy, in a fresh kernel started by
  its own worker process, with a **time limit for the whole notebook** (``--timeout``, default
  300 s; a cell still running then is stopped and the rest is "not run"), a memory limit
  (``--memory-gb``, default 4, as ``RLIMIT_AS``), and every cell executed even after an error
  (``allow_errors``), so each exercise is graded on its own.
- A kernel that dies (``os._exit``, a segfault, the memory limit) is recorded as such; the worker
  reports what ran before it.
- A **sandbox** (a Python audit hook, ``sys.addaudithook``, installed by an IPython startup file
  before the first cell) refuses, with a ``PermissionError``, to open or list a path outside the
  allowed roots (the submission's folder; Python, the venv, the system's ``/usr/lib`` and ``/usr/share``;
  the repository's ``data/`` and ``distill_lib/``; ``/dev``, and this process's own ``/proc`` entry),
  to write outside the submission's folder, to start programs (``subprocess``, ``os.system``,
  ``fork``, ``exec``, ``!cmd``), to signal other processes, and to load native libraries from
  elsewhere. Every refusal is logged, and the submission's exercises are then graded ``error``
  ("refused: ...").

What the sandbox does **not** stop: native code that calls the operating system directly (a C
extension, or ``ctypes`` on an already loaded library), ``os.stat`` / ``os.path.exists`` (they
reveal that a path exists, not its content), and a student who writes Python to find and patch
the hook's own objects, or who patches what a check calls (``torch.allclose = ...``). Grading a
hostile class calls for an operating-system sandbox as well (a container per submission with only
its folder mounted, no network): run this command inside it.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
__all__ = ["Exercise", "Submission", "grade", "find_submissions", "write_reports", "main"]

RESULTS = ("pass", "fail", "error")
KEPT_ENVIRONMENT = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TERM", "SHELL", "VIRTUAL_ENV",
                    "PYTHONPATH", "CUDA_VISIBLE_DEVICES"}

# The kernel's first code, from an IPython startup file: the audit hook. It reads its
# configuration from an environment variable and keeps everything in a closure.
SANDBOX = r'''
def _grading_sandbox():
    import json, os, sys
    config = json.loads(os.environ.pop("GRADE_SANDBOX"))
    pid = str(os.getpid())
    read_roots = tuple(config["read"]) + ("/proc/" + pid,)
    read_files = tuple(config["read_files"])
    write_roots = tuple(config["write"])
    log = open(config["log"], "a", buffering=1)
    realpath, fsdecode, fspath, sep = os.path.realpath, os.fsdecode, os.fspath, os.sep
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    programs = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                "os.forkpty", "pty.spawn", "os.startfile"}
    changes = {"os.remove", "os.rmdir", "os.mkdir", "os.rename", "os.symlink", "os.link", "os.truncate",
               "os.chmod", "os.chown", "os.utime", "os.chflags", "os.lchflags", "shutil.rmtree",
               "os.setxattr", "os.removexattr"}

    def inside(path, roots):
        return any(path == root or path.startswith(root + sep) for root in roots)

    def refuse(event, what, why):
        log.write(json.dumps({"event": event, "path": str(what)[:300], "why": why}) + "\n")
        raise PermissionError(f"grading sandbox: {why} {what!r} is not allowed (outside this submission's folder)")

    def resolve(path):
        if path is None or isinstance(path, int):
            return None
        return realpath(fsdecode(fspath(path)))

    def process_table(p):
        # psutil (ipykernel, at shutdown) lists /proc and reads each process's stat line
        parts = p.split(sep)
        return p == "/proc" or (len(parts) == 4 and parts[1] == "proc" and parts[2].isdigit()
                                and parts[3] in ("stat", "status"))

    def check_read(event, path):
        p = resolve(path)
        if p is not None and not (inside(p, read_roots) or p in read_files or process_table(p)):
            refuse(event, p, "reading")

    def check_write(event, path):
        p = resolve(path)
        if p is not None and not (inside(p, write_roots) or p == "/dev/null"):
            refuse(event, p, "writing")

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if isinstance(mode, str):
                writing = any(c in mode for c in "wax+")
            else:
                writing = bool((flags or 0) & write_flags)
            (check_write if writing else check_read)(event, path)
        elif event in ("os.listdir", "os.scandir", "glob.glob", "os.chdir"):
            check_read(event, args[0] if args[0] not in (None, "") else ".")
        elif event in changes:
            for path in args[:2]:
                if isinstance(path, (str, bytes, os.PathLike)):
                    check_write(event, path)
        elif event in programs:
            refuse(event, args[0] if args else event, "running a program:")
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill") and str(args[0]) != pid:
            refuse(event, args[0], "signalling another process:")
        elif event == "ctypes.dlopen":
            name = args[0]
            if name is None or not isinstance(name, (str, bytes)) or not os.path.isabs(fsdecode(name)):
                refuse(event, name, "loading the native library")
            check_read(event, name)

    sys.addaudithook(hook)


_grading_sandbox()
del _grading_sandbox
'''


@dataclass
class Exercise:
    """The outcome of one check cell (nbgrader ``grade_id``) of one submission."""

    grade_id: str
    points: float
    result: str  # "pass", "fail" or "error"
    message: str = ""

    @property
    def score(self) -> float:
        return self.points if self.result == "pass" else 0.0


@dataclass
class Submission:
    """One graded notebook of one student."""

    student: str
    notebook: str
    path: Path
    status: str = "ok"  # ok / timeout / kernel died / refused / unreadable / grader error
    detail: str = ""
    seconds: float = 0.0
    exercises: list[Exercise] = field(default_factory=list)
    other_errors: list[str] = field(default_factory=list)  # errors in cells that are not checks
    refused: list[str] = field(default_factory=list)
    executed: Path | None = None

    @property
    def score(self) -> float:
        return sum(e.score for e in self.exercises)

    @property
    def points(self) -> float:
        return sum(e.points for e in self.exercises)


# --------------------------------------------------------------------------------------------
# Finding and preparing submissions
# --------------------------------------------------------------------------------------------

def find_submissions(folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """``([(student, notebook_path), ...], [ignored paths])`` for ``folder/<student>/*.ipynb``."""
    found, ignored = [], []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            notebooks = sorted(p for p in entry.glob("*.ipynb") if not p.name.startswith("."))
            found += [(entry.name, p) for p in notebooks]
            if not notebooks:
                ignored.append(f"{entry.name}/ (no .ipynb inside)")
        else:
            ignored.append(f"{entry.name} (not in a student's folder)")
    return found, ignored


def _meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _checks(nb: dict) -> list[tuple[int, dict]]:
    return [(i, c) for i, c in enumerate(nb["cells"]) if _meta(c).get("grade") and _meta(c).get("grade_id")]


def _prepare(submitted: dict, reference: dict | None) -> tuple[dict, list[Exercise], list[str]]:
    """Outputs cleared, check cells replaced by the instructor's; the exercises graded as missing, and notes."""
    notes: list[str] = []
    for cell in submitted["cells"]:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    missing: list[Exercise] = []
    if reference is None:
        notes.append("no instructor notebook of this name: graded with the submission's own check cells")
        return submitted, missing, notes
    by_id = {_meta(c)["grade_id"]: c for _, c in _checks(submitted)}
    for _, check in _checks(reference):
        grade_id = _meta(check)["grade_id"]
        if grade_id in by_id:
            by_id[grade_id]["source"] = check["source"]
            by_id[grade_id]["metadata"] = json.loads(json.dumps(check["metadata"]))
            by_id[grade_id]["cell_type"] = "code"
        else:
            missing.append(Exercise(grade_id, float(_meta(check).get("points", 0)), "error",
                                    "the check cell was deleted from the submission"))
    return submitted, missing, notes


# --------------------------------------------------------------------------------------------
# The worker: one submission, one kernel (run as `python tools/grade.py --worker spec.json`)
# --------------------------------------------------------------------------------------------

def _worker(spec_path: str) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    spec = json.loads(Path(spec_path).read_text())
    notebook, progress_path = Path(spec["notebook"]), Path(spec["progress"])
    nb = nbformat.read(notebook, as_version=4)
    if spec["parameters"]:  # papermill's injection, after the cell tagged "parameters"
        from papermill.iorw import load_notebook_node
        from papermill.parameterize import parameterize_notebook

        nb = parameterize_notebook(load_notebook_node(str(notebook)), spec["parameters"],
                                   kernel_name="python3", language="python")
    progress: dict[str, Any] = {"status": "starting", "executed": [], "current": None, "kernel_pid": None}

    def save(status: str | None = None) -> None:
        if status:
            progress["status"] = status
        nbformat.write(nb, spec["output"])
        tmp = progress_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(progress))
        tmp.replace(progress_path)

    deadline = time.monotonic() + spec["timeout"]

    def on_start(cell, cell_index):
        progress["current"] = cell_index
        if progress["kernel_pid"] is None and client.km is not None:
            try:
                progress["kernel_pid"] = client.km.provisioner.process.pid
            except AttributeError:
                pass
        tmp = progress_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(progress))
        tmp.replace(progress_path)

    def on_executed(cell, cell_index, execute_reply):
        progress["executed"].append(cell_index)
        progress["current"] = None
        save()

    client = NotebookClient(
        nb, kernel_name="python3", allow_errors=True, startup_timeout=60,
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic()) + 1),
        resources={"metadata": {"path": str(notebook.parent)}},
        on_cell_start=on_start, on_cell_executed=on_executed,
    )
    try:
        client.execute()
        save("finished")
    except CellTimeoutError:
        save("timeout")
    except DeadKernelError:
        save("kernel died")
    except Exception as error:  # the kernel did not start, the notebook is malformed, ...
        progress["detail"] = f"{type(error).__name__}: {error}"[:500]
        save("grader error")
    return 0


# --------------------------------------------------------------------------------------------
# Grading one submission
# --------------------------------------------------------------------------------------------

def _limit_memory(gigabytes: float):
    def apply() -> None:
        limit = int(gigabytes * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def _roots() -> tuple[list[str], list[str]]:
    """Read roots and single readable files for the sandbox (real paths)."""
    import site
    import sysconfig

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             *site.getsitepackages(), *sysconfig.get_paths().values(),
             str(ROOT / "data"), str(ROOT / "distill_lib"), str(ROOT / "distill_lib.egg-info"),
             "/usr/lib", "/usr/lib64", "/usr/share", "/usr/local/lib", "/usr/local/share", "/lib", "/lib64",
             "/dev", "/sys/devices/system/cpu", "/etc/ssl", "/etc/fonts", "/etc/matplotlibrc"}
    files = ["/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/filesystems", "/proc/self",
             "/etc/localtime", "/etc/ld.so.cache", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/hosts",
             "/etc/resolv.conf", "/etc/mime.types"]
    return (sorted({os.path.realpath(r) for r in roots if r}),
            sorted({os.path.realpath(f) for f in files}))


def _under(path: Path, roots: list[str]) -> str | None:
    p = os.path.realpath(path)
    return next((r for r in roots if p == r or p.startswith(r + os.sep)), None)


def _message(output: dict) -> tuple[str, str]:
    """(result, message) for an error output of a check cell."""
    name, value = output.get("ename", "Error"), str(output.get("evalue", "")).strip()
    if name == "AssertionError":
        return "fail", value or "an assertion failed (the check gives no message)"
    if name == "NotImplementedError":
        return "fail", value or "the exercise still raises NotImplementedError: write your answer in its place"
    return "error", f"{name}: {value}" if value else name


def _grade_one(student: str, path: Path, opts: dict) -> Submission:
    start = time.perf_counter()
    sub = Submission(student, path.name, path)
    try:
        submitted = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(submitted.get("cells"), list):
            raise ValueError("no list of cells")
    except (OSError, ValueError, UnicodeDecodeError) as error:
        sub.status, sub.detail = "unreadable", f"not a notebook: {error}"[:300]
        reference = opts["references"].get(path.name)
        sub.exercises = [Exercise(_meta(c)["grade_id"], float(_meta(c).get("points", 0)), "error",
                                  "the notebook file could not be read") for _, c in _checks(reference or {"cells": []})]
        sub.seconds = time.perf_counter() - start
        return sub
    reference = opts["references"].get(path.name)
    prepared, missing, notes = _prepare(submitted, reference)
    sub.detail = "; ".join(notes)
    graded = reference if reference is not None else prepared
    points = {_meta(c)["grade_id"]: float(_meta(c).get("points", 0)) for _, c in _checks(graded)}

    work = Path(tempfile.mkdtemp(prefix="grade-"))
    try:
        folder, aux = work / "submission", work / "aux"
        for d in (folder, aux / "ipython" / "profile_default" / "startup", aux / "tmp", aux / "runtime"):
            d.mkdir(parents=True)
        notebook = folder / path.name
        notebook.write_text(json.dumps(prepared, indent=1, ensure_ascii=False), encoding="utf-8")
        (aux / "ipython" / "profile_default" / "startup" / "00-grading-sandbox.py").write_text(SANDBOX)
        if opts["mpl_cache"]:
            shutil.copytree(opts["mpl_cache"], aux / "mpl")
        executed, progress_path, log = aux / "executed.ipynb", aux / "progress.json", aux / "refused.jsonl"
        log.touch()
        spec = {"notebook": str(notebook), "output": str(executed), "progress": str(progress_path),
                "timeout": opts["timeout"], "parameters": opts["parameters"]}
        (aux / "spec.json").write_text(json.dumps(spec))
        read_roots, read_files = opts["roots"]
        # The grader's environment may hold secrets (tokens): the kernel gets only what it needs.
        env = {k: v for k, v in os.environ.items() if k in KEPT_ENVIRONMENT or k.startswith("LC_")}
        env.update({
            "IPYTHONDIR": str(aux / "ipython"), "MPLCONFIGDIR": str(aux / "mpl"), "TMPDIR": str(aux / "tmp"),
            "DISTILL_LIB_BUILD_DIR": str(aux / "build"),  # the library's caches (notebook 09's int8 teacher)
            "JUPYTER_RUNTIME_DIR": str(aux / "runtime"), "DISTILL_LIB_QUIET": "1", "OMP_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "GRADE_SANDBOX": json.dumps({
                "read": [os.path.realpath(folder), os.path.realpath(aux)] + read_roots, "read_files": read_files,
                "write": [os.path.realpath(folder), os.path.realpath(aux)], "log": str(log)}),
        })
        with open(aux / "worker.log", "wb") as worker_log:
            worker = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker", str(aux / "spec.json")],
                cwd=str(folder), env=env, stdout=worker_log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_limit_memory(opts["memory_gb"]),
            )
            backstop = False
            try:  # the worker enforces the time limit itself; this is the backstop
                worker.wait(timeout=opts["timeout"] + 90)
            except subprocess.TimeoutExpired:
                backstop = True
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        progress = json.loads(progress_path.read_text()) if progress_path.exists() else {"status": "grader error"}
        if backstop:
            if progress.get("kernel_pid"):  # the kernel runs in its own session: make sure it is gone
                try:
                    os.killpg(progress["kernel_pid"], signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            progress["status"] = "timeout"
        status = progress.get("status", "grader error")
        if status in ("starting", "finished") and worker.returncode not in (0, None):
            status = "grader error"
        sub.status = {"finished": "ok", "starting": "grader error"}.get(status, status)
        if progress.get("detail"):
            sub.detail = "; ".join(filter(None, [sub.detail, progress["detail"]]))
        if sub.status == "grader error" and not progress.get("detail"):
            tail = (aux / "worker.log").read_text(errors="replace").strip().splitlines()[-3:]
            sub.detail = "; ".join(filter(None, [sub.detail, " | ".join(tail)[:400]]))
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            sub.refused.append(f"{entry['why']} {entry['path']}")
        _read_outcomes(sub, executed if executed.exists() else None, progress, points, missing)
        if executed.exists():
            target = opts["out"] / "executed" / student / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(executed, target)
            sub.executed = target
    finally:
        if not opts["keep"]:
            shutil.rmtree(work, ignore_errors=True)
    sub.seconds = time.perf_counter() - start
    return sub


def _read_outcomes(sub: Submission, executed: Path | None, progress: dict, points: dict[str, float],
                   missing: list[Exercise]) -> None:
    nb = json.loads(executed.read_text(encoding="utf-8")) if executed else {"cells": []}
    ran = set(progress.get("executed", []))
    current = progress.get("current")
    why = {"timeout": "the time limit was reached", "kernel died": "the kernel died"}.get(sub.status,
                                                                                       "the notebook did not run")
    by_id: dict[str, Exercise] = {}
    solution_error: dict[int, str] = {}
    for index, cell in enumerate(nb["cells"]):
        meta = _meta(cell)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if meta.get("grade") and meta.get("grade_id") in points:
            grade_id = meta["grade_id"]
            if index == current and sub.status in ("timeout", "kernel died"):
                result, message = "error", f"{why} while this check ran"
            elif index in ran and not errors:
                result, message = "pass", ""
            elif errors:
                result, message = _message(errors[0])
            else:
                result, message = "error", f"not run: {why} before this check"
            before = [m for i, m in solution_error.items() if i < index]
            if result != "pass" and before:
                message += f" (your exercise cell: {before[-1]})"
            by_id[grade_id] = Exercise(grade_id, points[grade_id], result, message)
            continue
        stopped_here = index == current and sub.status in ("timeout", "kernel died")
        if stopped_here:
            sub.detail = "; ".join(filter(None, [sub.detail, f"{sub.status} in cell {index}"]))
        if stopped_here and meta.get("solution"):
            solution_error[index] = f"{why} in it"
        elif errors and not stopped_here:  # (a time-out shows as a KeyboardInterrupt in the cell it stopped)
            text = f"{errors[0].get('ename')}: {str(errors[0].get('evalue', ''))[:200]}"
            if meta.get("solution"):
                solution_error[index] = f"it raised {text}"
            else:
                sub.other_errors.append(f"cell {index}: {text}")
    for exercise in missing:
        by_id[exercise.grade_id] = exercise
    for grade_id, pts in points.items():
        if grade_id not in by_id:
            by_id[grade_id] = Exercise(grade_id, pts, "error", f"not run: {why}")
    sub.exercises = [by_id[g] for g in points]
    if sub.refused:
        sub.status = "refused" if sub.status == "ok" else f"{sub.status}, refused"
        for exercise in sub.exercises:
            was = {"pass": "the check passed", "fail": "the check failed", "error": "the check errored"}[exercise.result]
            exercise.result, exercise.message = "error", f"refused: the submission tried {sub.refused[0]} ({was})"


# --------------------------------------------------------------------------------------------
# The class
# --------------------------------------------------------------------------------------------

def _mpl_cache(where: Path) -> Path | None:
    """Build matplotlib's font cache once, so that each sandboxed kernel only reads a copy of it."""
    env = dict(os.environ, MPLCONFIGDIR=str(where))
    done = subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env,
                          capture_output=True, timeout=300)
    return where if done.returncode == 0 else None


def grade(submissions: str | os.PathLike, out: str | os.PathLike = ROOT / "build" / "grades", *,
          source: str | os.PathLike = ROOT / "notebooks", timeout: int = 300, jobs: int = 1,
          memory_gb: float = 4.0, parameters: dict[str, Any] | None = None, keep: bool = False,
          echo: bool = True) -> list[Submission]:
    """Grade every ``submissions/<student>/<NN_topic>.ipynb``; write grades.csv, report.html and report.md.

    Args:
        submissions: the folder of student folders.
        out: where the reports and executed copies go (created).
        source: the instructor notebooks whose check cells are authoritative.
        timeout: seconds allowed per notebook (whole notebook, kernel start included).
        jobs: submissions graded at the same time (one kernel each).
        memory_gb: address-space limit per submission (worker and kernel).
        parameters: values injected after each notebook's ``parameters`` cell (papermill-style).
        keep: keep each submission's temporary folder (for debugging the grader).
        echo: print one line per submission and a summary.

    Returns:
        One :class:`Submission` per notebook graded, in (student, notebook) order.

    Raises:
        FileNotFoundError: ``submissions`` or ``source`` is not a folder.
        ValueError: a bad ``timeout``/``jobs``/``memory_gb``, or ``submissions`` lies inside a folder
            the sandbox lets every submission read (it would expose the class to each student).
    """
    submissions, out, source = Path(submissions), Path(out), Path(source)
    for name, value in (("timeout", timeout), ("jobs", jobs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"grade: {name}={value!r} must be a positive integer")
    if not (isinstance(memory_gb, (int, float)) and memory_gb >= 1):
        raise ValueError(f"grade: memory_gb={memory_gb!r} must be a number >= 1")
    if not submissions.is_dir():
        raise FileNotFoundError(f"grade: submissions={str(submissions)!r} is not a folder")
    if not source.is_dir():
        raise FileNotFoundError(f"grade: source={str(source)!r} is not a folder")
    if _under(out, [os.path.realpath(submissions)]):
        raise ValueError(f"grade: out={str(out)!r} is inside the submissions folder; it would be graded next time")
    roots = _roots()
    exposed = _under(submissions, roots[0])
    if exposed:
        raise ValueError(f"grade: submissions={str(submissions)!r} lies inside {exposed!r}, which every "
                         "submission may read; move the submissions elsewhere")
    references = {}
    for p in source.glob("*.ipynb"):
        try:
            references[p.name] = json.loads(p.read_text(encoding="utf-8"))
        except ValueError:
            pass
    found, ignored = find_submissions(submissions)
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(tempfile.mkdtemp(prefix="grade-mpl-"))
    lock = threading.Lock()
    try:
        opts = {"timeout": timeout, "parameters": parameters or {}, "keep": keep, "memory_gb": memory_gb,
                "references": references, "roots": roots, "out": out, "mpl_cache": _mpl_cache(cache_dir)}
        if echo:
            for item in ignored:
                print(f"ignored: {item}")
            print(f"grading {len(found)} notebook(s) from {submissions}, {jobs} at a time, {timeout} s each at most")
        started = time.perf_counter()

        def run(item):
            student, path = item
            try:
                result = _grade_one(student, path, opts)
            except Exception as error:  # a grader bug must not stop the class
                result = Submission(student, path.name, path, status="grader error",
                                    detail=f"{type(error).__name__}: {error}"[:300])
            if echo:
                with lock:
                    print(f"{student:<16} {path.name:<30} {result.seconds:6.1f} s  {result.status:<12} "
                          f"{result.score:g}/{result.points:g}", flush=True)
            return result

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(run, found))
        wall = time.perf_counter() - started
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    write_reports(results, out)
    if echo and results:
        times = [r.seconds for r in results]
        print(f"graded {len(results)} notebook(s) in {wall:.1f} s: per submission median "
              f"{statistics.median(times):.1f} s (min {min(times):.1f}, max {max(times):.1f})")
        print(f"wrote {out / 'grades.csv'}, {out / 'report.html'} and {out / 'report.md'}")
    return results


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------

def write_reports(results: list[Submission], out: Path) -> None:
    """grades.csv (one row per student, notebook and exercise), report.html and report.md."""
    out = Path(out)
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "notebook", "exercise", "result", "score", "points", "message",
                         "submission_status", "seconds", "detail"])
        for r in results:
            detail = "; ".join(filter(None, [r.detail, *r.refused, *r.other_errors]))
            for e in r.exercises or [Exercise("", 0, "error", "no check cell found")]:
                writer.writerow([r.student, r.notebook, e.grade_id, e.result, e.score, e.points, e.message,
                                 r.status, f"{r.seconds:.1f}", detail])
    (out / "report.md").write_text(_markdown(results), encoding="utf-8")
    (out / "report.html").write_text(_html(results), encoding="utf-8")


def _by_notebook(results: list[Submission]) -> dict[str, list[Submission]]:
    groups: dict[str, list[Submission]] = {}
    for r in results:
        groups.setdefault(r.notebook, []).append(r)
    return groups


def _ids(group: list[Submission]) -> list[str]:
    ids: list[str] = []
    for r in group:
        ids += [e.grade_id for e in r.exercises if e.grade_id not in ids]
    return ids


def _markdown(results: list[Submission]) -> str:
    lines = ["# Grades", ""]
    if not results:
        return "# Grades\n\nNo submissions found.\n"
    for notebook, group in _by_notebook(results).items():
        ids = _ids(group)
        lines += [f"## {notebook}", "", "| student | status | score | seconds | " + " | ".join(ids) + " |",
                  "|---|---|---|---|" + "---|" * len(ids)]
        for r in group:
            cells = {e.grade_id: e.result for e in r.exercises}
            lines.append(f"| {r.student} | {r.status} | {r.score:g}/{r.points:g} | {r.seconds:.1f} | "
                         + " | ".join(cells.get(g, "") for g in ids) + " |")
        lines += [""]
        for r in group:
            notes = [f"- `{e.grade_id}`: **{e.result}**: {e.message}" for e in r.exercises if e.result != "pass"]
            notes += [f"- {text}" for text in filter(None, [r.detail, *r.refused, *r.other_errors])]
            if notes:
                lines += [f"**{r.student}**", ""] + [n.replace("\n", " ") for n in notes] + [""]
    return "\n".join(lines) + "\n"


def _html(results: list[Submission]) -> str:
    e = html.escape
    colour = {"pass": "#d7f5d7", "fail": "#ffe3b3", "error": "#ffc9c9"}
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Grades</title><style>",
             "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}"
             "td,th{border:1px solid #bbb;padding:4px 8px;vertical-align:top;text-align:left}"
             "td.msg{font-size:90%;max-width:40em}small{color:#555}",
             "</style></head><body><h1>Grades</h1>"]
    if not results:
        parts.append("<p>No submissions found.</p>")
    for notebook, group in _by_notebook(results).items():
        ids = _ids(group)
        parts.append(f"<h2>{e(notebook)}</h2><table><tr><th>student</th><th>status</th><th>score</th>"
                     f"<th>seconds</th>" + "".join(f"<th>{e(g)}</th>" for g in ids) + "<th>notes</th></tr>")
        for r in group:
            row = [f"<td>{e(r.student)}</td><td>{e(r.status)}</td><td>{r.score:g}/{r.points:g}</td>"
                   f"<td>{r.seconds:.1f}</td>"]
            got = {x.grade_id: x for x in r.exercises}
            for g in ids:
                x = got.get(g)
                if x is None:
                    row.append("<td></td>")
                else:
                    row.append(f"<td class='msg' style='background:{colour[x.result]}'><b>{x.result}</b>"
                               + (f"<br>{e(x.message)}" if x.message else "") + "</td>")
            notes = "<br>".join(e(t) for t in filter(None, [r.detail, *r.refused, *r.other_errors]))
            row.append(f"<td class='msg'><small>{notes}</small></td>")
            parts.append("<tr>" + "".join(row) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return _worker(argv[1])
    parser = argparse.ArgumentParser(description="Grade a folder of submitted notebooks: SUBMISSIONS/<student>/NN_topic.ipynb.")
    parser.add_argument("submissions", help="folder with one folder per student")
    parser.add_argument("--out", default=str(ROOT / "build" / "grades"), help="reports folder (default build/grades)")
    parser.add_argument("--source", default=str(ROOT / "notebooks"), help="instructor notebooks (default notebooks/)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per notebook (default 300)")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    parser.add_argument("--memory-gb", type=float, default=4.0, help="memory limit per submission (default 4)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="inject a parameter into every notebook (e.g. -p student_epochs 100)")
    parser.add_argument("--keep", action="store_true", help="keep each submission's temporary folder")
    args = parser.parse_args(argv)
    try:
        grade(args.submissions, args.out, source=args.source, timeout=args.timeout, jobs=args.jobs,
              memory_gb=args.memory_gb, parameters={k: _value(v) for k, v in args.parameter}, keep=args.keep)
    except (FileNotFoundError, ValueError) as error:
        print(f"grade: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
