"""The grading engine: nbgrader's own pipeline, made robust, fast and isolated.

- :mod:`.preprocessors`: nbgrader preprocessors that repair a submission's structure, survive a
  dying or hanging kernel, refuse partial credit read from a test cell's output, and keep hidden
  tests out of feedback. ``grading_config.py`` puts them into nbgrader's pipeline, so plain
  ``nbgrader autograde`` uses them too.
- :mod:`.zygote` and :mod:`.provisioner`: kernels forked from a process that has already
  imported TensorFlow (a jupyter_client kernel provisioner), each in a fresh process with limits.
- :mod:`.sandbox`: the limits and the unprivileged user.
- :mod:`.protocol`: what travels between coordinator and workers (a submission with what grading
  needs; the outcome nbgrader computed), plain data.
- :mod:`.worker`: grades one submission in a private course directory and gradebook.
- :mod:`.pool`: local worker processes; a worker that dies costs only its submission.
- :mod:`.cluster`: the same workers as tasks on a Dask cluster (and a loopback cluster).
- :mod:`.converters`: nbgrader's converters with the course's configuration, in-process.
- :mod:`.recorder`: the gradebook's one writer (one transaction per submission).
- :mod:`.classgrader`: grade a whole class in parallel with a progress bar.
"""
