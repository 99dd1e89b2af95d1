# nbgrader looks for this file in the directory it runs in; the course's settings live in grading_config.py.
load_subconfig("grading_config.py")  # noqa: F821 - provided by traitlets
