"""The README states the set-up that CI and users rely on."""
from dlcourse.chapters import CHAPTERS, ROOT


def test_readme_lists_every_chapter_and_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    for ch in CHAPTERS:
        assert f"`notebooks/{ch.id}.ipynb`" in readme and ch.title in readme
    assert "make example-class" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
