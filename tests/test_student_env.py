"""The student environment: requirements and `dlcourse`, nothing of the instructor's, cached.

(The classroom test proves the same from a student's kernel on the hub, as root.)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from dlcourse.chapters import ROOT
from dlcourse_grading import student_env


def test_student_wheel_holds_dlcourse_only(tmp_path):
    wheel = student_env.build_student_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "dlcourse/__init__.py" in names and "dlcourse/chapters.py" in names
    assert all(n.startswith(("dlcourse/", "dlcourse-0.1.0.dist-info/")) for n in names), names


@pytest.mark.skipif(os.stat(sys.prefix).st_dev != os.stat("/tmp").st_dev,
                    reason="the venv is on another filesystem: the environment would be copied, not linked")
def test_student_env_is_clean_and_cached(tmp_path, monkeypatch):
    target = tmp_path / "student-env"
    env = student_env.build(target)
    assert not env.cached and env.linked
    site = env.site_packages
    assert (site / "dlcourse" / "__init__.py").is_file() and not (site / "dlcourse_grading").exists()
    assert not list(site.glob("__editable__*")) and not list(site.glob("dlcourse_grading*"))
    assert not [p for p in site.glob("*.pth") if str(ROOT) in p.read_text()]
    assert not (env.bin / "course").exists()
    assert (env.bin / "nbgrader").read_text().startswith(f"#!{env.bin}/python\n")
    assert (env.prefix / "etc" / "jupyter" / "jupyter_server_config.py").is_file()
    assert (env.prefix / "share" / "jupyter" / "labextensions" / "@jupyter" / "nbgrader").is_dir()
    probe = subprocess.run([str(env.python), "-c", "import dlcourse, importlib.util as u; "
                            "print(dlcourse.__file__, u.find_spec('dlcourse_grading'))"],
                           capture_output=True, text=True, cwd="/", check=True).stdout.split()
    assert probe == [str(site / "dlcourse" / "__init__.py"), "None"]

    assert student_env.build(target).cached  # nothing changed: reused
    requirements = tmp_path / "requirements.txt"
    shutil.copy(student_env.REQUIREMENTS, requirements)
    with requirements.open("a") as f:
        f.write("# changed\n")
    monkeypatch.setattr(student_env, "REQUIREMENTS", requirements)
    assert not student_env.build(target).cached  # requirements.txt changed: rebuilt
    assert student_env.build(target).cached
