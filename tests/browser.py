"""Playwright driving Debian's Chromium (headless) through the classroom's JupyterHub and the book.

Each step that a person would see is saved as a numbered screenshot, the classroom's under OUTPUT
and the book's pages under test-output/book/; the lists are printed at the end of the test run.
"""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from dlcourse.chapters import ROOT

CHROMIUM = "/usr/bin/chromium"
OUTPUT = ROOT / "test-output" / "browser"
# Headless, and nothing that reaches for Google's servers (this machine has no network).
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 120_000  # JupyterLab's first load and a validation run can take a while on 2 cores


class Screenshots:
    """Numbered screenshots of one test's pages in one folder, listed at the end of the run."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.paths: list[Path] = []

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.paths.clear()

    def take(self, page: Page, name: str) -> Path:
        path = self.folder / f"{len(self.paths) + 1:02d}_{name}.png"
        page.screenshot(path=str(path))
        self.paths.append(path)
        return path

    def saved(self) -> list[Path]:
        """The screenshots in the folder (taken by whichever test process ran the test)."""
        return sorted(self.folder.glob("*.png"))


CLASSROOM = Screenshots(OUTPUT)
BOOK = Screenshots(ROOT / "test-output" / "book")  # tests/test_book.py
SCREENSHOTS = CLASSROOM.paths


@contextlib.contextmanager
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def clear_output() -> None:
    CLASSROOM.clear()


def shot(page: Page, name: str) -> Path:
    return CLASSROOM.take(page, name)


@contextlib.contextmanager
def session(chromium, hub_url: str, user: str, password: str):
    """A logged-in JupyterLab page for `user`; a screenshot of the page if a step fails."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(f"{hub_url}/hub/login")
        page.fill("#username_input", user)
        page.fill("#password_input", password)
        shot(page, f"{user}_login")
        page.click("#login_submit")
        page.wait_for_selector("#jp-main-dock-panel")
        yield page
    except BaseException:
        shot(page, f"{user}_FAILED_here")
        raise
    finally:
        context.close()


def open_from_nbgrader_menu(page: Page, item: str) -> None:
    page.locator(".lm-MenuBar").get_by_text("Nbgrader", exact=True).click()
    page.locator("#jp-mainmenu-nbgrader").get_by_text(item, exact=True).click()


def replace_cell_text(page: Page, cell, text: str) -> None:
    """Select everything in a cell's editor and type `text` (no auto-indent: inserted as is)."""
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)
