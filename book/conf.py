"""Sphinx settings of the course book (`course book`, `make book`; dlcourse_grading/book.py).

The pages themselves (the landing page with the chapter index, the executed lectures, the
student versions of the assignments) are laid out by dlcourse_grading/book.py from the chapter
list; only what does not depend on the chapters lives here.
"""
from dlcourse.chapters import COURSE_ID

project = "Deep learning foundations in Keras 3"
html_title = project
author = "the course's instructors"
copyright = f"{author} ({COURSE_ID})"

extensions = ["myst_nb"]  # brings myst_parser along
# The course executes the lectures itself (its kernel, its timeouts, its stderr rules) and the
# assignments must show the student's starting point: myst-nb only renders what it is given.
nb_execution_mode = "off"
# No widget pages here; the default would add require.js and the widget manager from CDNs.
nb_ipywidgets_js = {}
# `$...$`, `$$...$$` and bare `\begin{...}` environments, as in the notebooks' markdown cells.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
# `$$ ... $$` inside a paragraph is display maths in Jupyter: the same here (myst wants it on its own)
myst_dmath_double_inline = True
# Notebooks are lecture notes, not API docs: their ### headings may follow a # directly.
suppress_warnings = ["myst.header"]

# MathJax 3 from the npm registry, copied into _static/mathjax/ by the build: nothing from a CDN
# (Sphinx's default would load it from one). A relative path is taken relative to _static/.
mathjax_path = "mathjax/tex-mml-chtml.js"

html_theme = "sphinx_book_theme"
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": True,  # a learner can take the .ipynb away
    "use_fullscreen_button": False,
    "launch_buttons": {},
    "use_repository_button": False,
}
html_copy_source = False  # the download button serves the notebooks themselves
html_show_sourcelink = False
exclude_patterns = ["**.ipynb_checkpoints"]
