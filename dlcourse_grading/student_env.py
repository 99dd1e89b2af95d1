"""The students' Python environment: the requirements and the student distribution, nothing else.

A student's JupyterLab and kernels must not run from the instructor's environment (this checkout's
`.venv`, where `dlcourse_grading` and its hidden checks are importable). `build(target)` makes a
virtual environment outside the repository holding the third-party packages of requirements.txt and
the student distribution `dlcourse` (student/pyproject.toml), with no `dlcourse_grading`, no editable
finder and no `.pth` file pointing into the repository. It needs no network:

- the venv is made with the world-readable interpreter the instructor's venv was made from
  (`/usr/bin/python3.11` with the Makefile), so every account can run it;
- its site-packages, `share/` (JupyterLab and nbgrader labextensions, the kernelspec) and `etc/`
  (server-extension switches) are filled from the instructor's venv, hard-linked when on the same
  filesystem (seconds, no extra space) and copied otherwise, leaving out the course's own
  distributions (`dlcourse`, `dlcourse-grading`: their dist-info, `__editable__` finders, `.pth`
  files and console scripts);
- console scripts (`jupyter`, `nbgrader`, `jupyterhub-singleuser`, ...) are rewritten to start
  the new venv's interpreter instead of the instructor's;
- `dlcourse` is built into a wheel from a clean copy of `dlcourse/` and installed with
  `pip install --no-deps --no-index`;
- `classroom/server/jupyter_server_config.py` goes to `etc/jupyter/`, so the student servers need
  nothing from the repository at run time.

A stamp holds a hash of what the environment is made from (requirements.txt, the student package
and its pyproject, the server settings, the instructor venv's distributions, the interpreter); an
environment whose stamp matches is reused as it is.

    python -m dlcourse_grading.student_env build DIR     # the environment (cached)
    python -m dlcourse_grading.student_env wheel DIR     # only the student wheel, for an image
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from dlcourse.chapters import ROOT

#: Bump when the way an environment is built changes: every stamp becomes stale.
BUILDER_VERSION = 1
STUDENT_PROJECT = ROOT / "student" / "pyproject.toml"
STUDENT_PACKAGE = ROOT / "dlcourse"
REQUIREMENTS = ROOT / "requirements.txt"
SERVER_CONFIG = ROOT / "classroom" / "server" / "jupyter_server_config.py"
#: The course's own distributions (normalized names): never copied into a student environment.
COURSE_DISTRIBUTIONS = {"dlcourse", "dlcourse-grading"}
COURSE_PACKAGES = {"dlcourse", "dlcourse_grading"}
STAMP = ".student-env.json"
PY = f"python{sys.version_info.major}.{sys.version_info.minor}"


@dataclass
class StudentEnv:
    prefix: Path
    cached: bool = False
    seconds: float = 0.0
    linked: bool = True

    @property
    def bin(self) -> Path:
        return self.prefix / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    @property
    def site_packages(self) -> Path:
        return self.prefix / "lib" / PY / "site-packages"

    @property
    def stamp(self) -> Path:
        return self.prefix / STAMP


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dist_name(dist_info: Path) -> str:
    metadata = dist_info / "METADATA"
    if metadata.exists():
        for line in metadata.read_text(errors="replace").splitlines():
            if line.startswith("Name:"):
                return _normalize(line.split(":", 1)[1].strip())
            if not line:
                break
    return _normalize(dist_info.name.rsplit("-", 1)[0])


def _points_into_repository(dist_info: Path) -> bool:
    direct = dist_info / "direct_url.json"
    if not direct.exists():
        return False
    info = json.loads(direct.read_text())
    url = info.get("url", "")
    return bool(info.get("dir_info", {}).get("editable")) or url.startswith(f"file://{ROOT}")


def _site_packages(venv: Path) -> Path:
    return venv / "lib" / PY / "site-packages"


def course_files(venv: Path) -> tuple[set[str], set[str]]:
    """What of `venv` belongs to the course itself: site-packages paths (relative) and bin scripts.

    The course's distributions (by name, or any installed editable / from this checkout), every
    file their RECORD lists, editable finders, `.pth` files naming the repository, and the course's
    packages should they be installed for real."""
    site = _site_packages(venv)
    skipped, scripts = set(), set()
    for dist_info in site.glob("*.dist-info"):
        if _dist_name(dist_info) not in COURSE_DISTRIBUTIONS and not _points_into_repository(dist_info):
            continue
        skipped.add(dist_info.name)
        record = dist_info / "RECORD"
        for line in (record.read_text().splitlines() if record.exists() else []):
            path = os.path.normpath(line.rsplit(",", 2)[0])
            if path.startswith(os.path.join("..", "..", "..", "bin") + os.sep):
                scripts.add(Path(path).name)
            elif not path.startswith(".."):
                skipped.add(path)
    for entry in site.iterdir():
        if entry.name.startswith("__editable__") or entry.suffix == ".egg-link" or entry.name in COURSE_PACKAGES:
            skipped.add(entry.name)
        elif entry.suffix == ".pth" and (str(ROOT) in entry.read_text(errors="replace") or "__editable__" in entry.read_text(errors="replace")):
            skipped.add(entry.name)
    for pyc in (site / "__pycache__").glob("__editable__*"):
        skipped.add(os.path.join("__pycache__", pyc.name))
    return skipped, scripts


def base_python(venv: Path) -> Path:
    """The interpreter `venv` was made from; every account must be able to run it."""
    config = dict(line.split("=", 1) for line in (venv / "pyvenv.cfg").read_text().splitlines() if "=" in line)
    config = {k.strip(): v.strip() for k, v in config.items()}
    python = Path(config.get("executable") or Path(config["home"]) / PY)
    probe = subprocess.run([str(python), "-c", "import os, sys; print(sys.version_info[:2] == (%d, %d), os.__file__)"
                            % sys.version_info[:2]], capture_output=True, text=True, check=True).stdout.split()
    if probe[0] != "True":
        raise RuntimeError(f"{python} is not Python {sys.version_info.major}.{sys.version_info.minor}, which {venv} runs")
    for path in (python.resolve(), Path(probe[1]).resolve()):
        for part in [path, *path.parents]:
            mode = part.stat().st_mode
            if not mode & (stat.S_IROTH if part == path else stat.S_IXOTH):
                raise RuntimeError(f"{part} is not readable by other users, so students could not run {python}; "
                                   "make the course's venv with a system Python (the Makefile prefers /usr/bin/python3.11)")
    return python


def fingerprint(venv: Path) -> str:
    """A hash of everything the student environment is made from."""
    h = hashlib.sha256(f"builder {BUILDER_VERSION}\n{base_python(venv)}\n".encode())
    for label, path in (("requirements", REQUIREMENTS), ("project", STUDENT_PROJECT), ("server", SERVER_CONFIG)):
        h.update(f"{label}\n".encode() + path.read_bytes())
    for path in sorted(STUDENT_PACKAGE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            h.update(f"dlcourse/{path.relative_to(STUDENT_PACKAGE)}\n".encode() + path.read_bytes())
    skipped, _ = course_files(venv)
    h.update("\n".join(sorted(p.name for p in _site_packages(venv).glob("*.dist-info") if p.name not in skipped)).encode())
    return h.hexdigest()


def build_student_wheel(out_dir: Path) -> Path:
    """The student distribution as a wheel (only `dlcourse/`), built offline from a clean copy."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dlcourse-wheel-") as stage:
        stage = Path(stage)
        shutil.copytree(STUDENT_PACKAGE, stage / "dlcourse", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (stage / "student").mkdir()
        shutil.copy(STUDENT_PROJECT, stage / "student" / "pyproject.toml")
        built = stage / "wheel"
        _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
              "--disable-pip-version-check", "--wheel-dir", str(built), str(stage / "student")])
        (wheel,) = built.glob("dlcourse-*.whl")
        names = zipfile.ZipFile(wheel).namelist()
        strays = [n for n in names if not (n.startswith("dlcourse/") or n.startswith("dlcourse-"))]
        if strays:
            raise RuntimeError(f"the student wheel holds more than dlcourse/: {strays}")
        target = out_dir / wheel.name
        shutil.copy(wheel, target)
    return target


def build(target: Path, venv: Path | None = None, force: bool = False) -> StudentEnv:
    """Make (or reuse, when its stamp matches) the student environment at `target`."""
    venv = Path(venv or sys.prefix).resolve()
    target = Path(target).resolve()
    if target == ROOT or ROOT in target.parents:
        raise ValueError(f"the student environment must live outside the repository ({ROOT}), not at {target}")
    env = StudentEnv(target)
    digest = fingerprint(venv)
    if not force and env.stamp.exists():
        stamp = json.loads(env.stamp.read_text())
        if stamp.get("fingerprint") == digest and env.python.exists():
            return StudentEnv(target, cached=True, seconds=stamp.get("seconds", 0.0), linked=stamp.get("linked", True))
    started = time.perf_counter()
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _run([str(base_python(venv)), "-m", "venv", "--without-pip", str(target)])
    env.linked = os.stat(venv).st_dev == os.stat(target).st_dev
    skipped, course_scripts = course_files(venv)
    _link_tree(_site_packages(venv), env.site_packages, skipped, env.linked)
    for folder in ("share", "etc"):
        if (venv / folder).is_dir():
            _link_tree(venv / folder, target / folder, set(), env.linked)
    _rewrite_scripts(venv, env, course_scripts)
    config = target / "etc" / "jupyter" / "jupyter_server_config.py"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.unlink(missing_ok=True)  # a copy of its own, never a link to the repository's file
    shutil.copyfile(SERVER_CONFIG, config)
    with tempfile.TemporaryDirectory(prefix="dlcourse-wheel-") as out:
        wheel = build_student_wheel(Path(out))
        _run([str(env.python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
              "--disable-pip-version-check", "--no-warn-script-location", str(wheel)])
    _make_readable(target)
    check(env, venv)
    env.seconds = time.perf_counter() - started
    env.stamp.write_text(json.dumps({"fingerprint": digest, "seconds": round(env.seconds, 2), "linked": env.linked,
                                     "built": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
    env.stamp.chmod(0o644)
    return env


def check(env: StudentEnv, venv: Path | None = None) -> None:
    """Raise unless `env` holds nothing of the instructor's and imports `dlcourse` from itself."""
    venv = Path(venv or sys.prefix).resolve()
    problems = []
    for entry in env.site_packages.iterdir():
        if entry.name.startswith("__editable__") or entry.name == "dlcourse_grading" or entry.suffix == ".egg-link" \
                or (entry.name.endswith(".dist-info") and _dist_name(entry) == "dlcourse-grading"):
            problems.append(str(entry))
        elif entry.suffix == ".pth" and str(ROOT) in entry.read_text(errors="replace"):
            problems.append(f"{entry} names {ROOT}")
    for script in env.bin.iterdir():
        if script.is_file() and not script.is_symlink() and str(venv).encode() in script.read_bytes():
            problems.append(f"{script} names {venv}")
    probe = ("import importlib.util, json, sys, dlcourse; print(json.dumps({'grading': importlib.util.find_spec("
             "'dlcourse_grading') is not None, 'dlcourse': dlcourse.__file__, 'path': sys.path}))")
    seen = json.loads(_run([str(env.python), "-I", "-c", probe], cwd="/").stdout)
    if seen["grading"]:
        problems.append("dlcourse_grading is importable")
    if not Path(seen["dlcourse"]).resolve().is_relative_to(env.prefix):
        problems.append(f"dlcourse comes from {seen['dlcourse']}")
    problems += [f"{p} on sys.path" for p in seen["path"] if p and Path(p).resolve().is_relative_to(ROOT)]
    if problems:
        raise RuntimeError(f"student environment {env.prefix} is not clean:\n  " + "\n  ".join(problems))


def _link_tree(src: Path, dst: Path, skipped: set[str], linked: bool) -> None:
    """Mirror `src` into `dst` (hard links, or copies across filesystems), leaving out `skipped`."""
    for folder, dirs, files in os.walk(src):
        rel = os.path.relpath(folder, src)
        rel = "" if rel == "." else rel
        dirs[:] = [d for d in dirs if os.path.join(rel, d) not in skipped]
        out = os.path.join(dst, rel)
        os.makedirs(out, exist_ok=True)
        for name in dirs:  # symlinks to folders are listed here and not walked into
            if os.path.islink(os.path.join(folder, name)):
                os.symlink(os.readlink(os.path.join(folder, name)), os.path.join(out, name))
        for name in files:
            if os.path.join(rel, name) in skipped:
                continue
            source, copy = os.path.join(folder, name), os.path.join(out, name)
            if os.path.islink(source):
                os.symlink(os.readlink(source), copy)
                continue
            try:
                if not linked:
                    raise OSError
                os.link(source, copy)
            except OSError:
                shutil.copy2(source, copy)


def _rewrite_scripts(venv: Path, env: StudentEnv, course_scripts: set[str]) -> None:
    """The instructor venv's console scripts, starting the student venv's Python instead."""
    old, new = f"{venv}/bin/".encode(), f"{env.prefix}/bin/".encode()
    for script in (venv / "bin").iterdir():
        name = script.name
        if name in course_scripts or name.startswith(("python", "activate", "Activate")) or (env.bin / name).exists():
            continue
        data = script.read_bytes()
        if not data.startswith(b"#!"):
            shutil.copy2(script, env.bin / name)
            continue
        (env.bin / name).write_bytes(data.replace(old, new))
        (env.bin / name).chmod(0o755)


def _make_readable(prefix: Path) -> None:
    """Every account may read (and run what is executable in) the environment."""
    for folder, dirs, files in os.walk(prefix):
        for path in [folder] + [os.path.join(folder, f) for f in files]:
            if os.path.islink(path):
                continue
            mode = os.stat(path).st_mode
            want = mode | 0o444 | (0o111 if stat.S_ISDIR(mode) or mode & stat.S_IXUSR else 0)
            if want != mode:
                os.chmod(path, stat.S_IMODE(want))


def _run(cmd: list[str], cwd: str | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
           "PIP_NO_INPUT": "1", "PYTHONNOUSERSITE": "1"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlcourse_grading.student_env", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="make (or reuse) a student environment in DIR")
    p.add_argument("dir")
    p.add_argument("--force", action="store_true", help="rebuild even if the stamp matches")
    p = sub.add_parser("wheel", help="build only the student wheel (dlcourse) into DIR")
    p.add_argument("dir")
    args = parser.parse_args(argv)
    if args.command == "wheel":
        print(build_student_wheel(Path(args.dir)))
        return 0
    env = build(Path(args.dir), force=args.force)
    how = "reused (stamp matches)" if env.cached else f"built in {env.seconds:.1f} s ({'hard links' if env.linked else 'copies'})"
    print(f"student environment {env.prefix}: {how}\n  python: {env.python}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
