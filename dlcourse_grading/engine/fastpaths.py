"""Work a grading worker would otherwise repeat for every submission, done once per worker.

Caches in front of libraries, with the libraries' own results: nbconvert compiles its Jinja
templates again for every feedback page (about 0.13 s each); nbgrader checks its own metadata
JSON schema again for every cell of every notebook (about 0.1 s per notebook), before validating
the cell against it, and validates the same locked cells' metadata in every submission (0.014 ->
0.002 s a chapter 1 notebook, :class:`_SchemaValidators`); Pygments highlights the same locked
and test cells in every student's feedback (0.09 s of chapter 1's 0.13 s of template rendering),
and mistune renders the same markdown cells (:class:`_MarkdownCache`); nbconvert's accessibility
pass parses every feedback page again, also those it cannot change (:class:`_LazySoup`).
Measured with cProfile and timers on a worker grading chapter 1 (benchmarks/worker_profile.py).

And a lighter private gradebook (:func:`private_gradebook`): nbgrader opens its gradebook about
eleven times per submission, each time with a new SQLAlchemy engine that inspects the schema and
creates any missing table, and commits once per cell.
"""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager

import jinja2
import jsonschema


class _MemoryBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates, keyed by template and checked against its source by Jinja itself."""

    def __init__(self):
        self._store: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        if bucket.key in self._store:
            bucket.bytecode_from_string(self._store[bucket.key])

    def dump_bytecode(self, bucket) -> None:
        self._store[bucket.key] = bucket.bytecode_to_string()


class _SchemaValidators:
    """Stands in for the `jsonschema` module inside nbgrader's metadata validator: the same
    check and the same error (jsonschema.validate's best match), with each schema checked once
    and each valid instance validated once. nbgrader loads its schema again for every validator
    (two a notebook), and validates every cell's metadata (86 a chapter 1 notebook), which is the
    same in every submission. Schemas and valid instances are known by their JSON text, so a
    changed one is checked again; invalid instances always are, each raising its own error.
    Bounded: cleared when full."""

    LIMIT = 20000

    def __init__(self):
        self._by_id: dict[int, tuple[dict, str]] = {}  # the schema object last seen at an id -> its text
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        self._valid: set[tuple[str, str]] = set()
        self.ValidationError = jsonschema.ValidationError

    def validate(self, instance, schema) -> None:
        seen = self._by_id.get(id(schema))
        if seen is None or seen[0] is not schema:
            if len(self._by_id) >= 64:  # it keeps the schemas alive (their ids unused by others)
                self._by_id.clear()
            seen = self._by_id[id(schema)] = (schema, json.dumps(schema, sort_keys=True, default=repr))
        text = seen[1]
        validator = self._validators.get(text)
        if validator is None:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            validator = self._validators[text] = cls(schema)
        key = (text, json.dumps(instance, sort_keys=True, default=repr))
        if key in self._valid:
            return
        error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
        if error is not None:
            raise error
        if len(self._valid) >= self.LIMIT:
            self._valid.clear()
        self._valid.add(key)

    def __getattr__(self, name):
        return getattr(jsonschema, name)


class _HighlightCache:
    """Highlighted HTML by everything nbconvert's Highlight2HTML reads: its lexer and formatter
    options, the source, the language and, of the cell's metadata, ``magics_language`` (nbconvert
    7's _pygments_highlight reads nothing else; the rest, e.g. execution timestamps, differs in
    every run). Bounded: cleared when full."""

    LIMIT = 20000

    def __init__(self, highlight):
        self.highlight, self.store = highlight, {}

    def __call__(self, filt, source, language=None, metadata=None):
        magics = metadata.get("magics_language") if metadata else None
        key = (filt.pygments_lexer, json.dumps(filt.extra_formatter_options, sort_keys=True, default=repr),
               source, language, magics)
        html = self.store.get(key)
        if html is None:
            if len(self.store) >= self.LIMIT:
                self.store.clear()
            html = self.store[key] = self.highlight(filt, source, language, metadata)
        return html


class _MarkdownCache:
    """HTML of a markdown cell by everything nbconvert's HTMLExporter.markdown2html reads: the
    source, the cell's attachments and the exporter's renderer options. Pages whose images are
    embedded (files read from disk) are never cached. A course's markdown cells are the same in
    every student's feedback (chapter 1: ~20 a page, 0.016 s). Bounded: cleared when full."""

    LIMIT = 20000

    def __init__(self, markdown2html):
        self.markdown2html, self.store = markdown2html, {}

    def __call__(self, exporter, context, source):
        if exporter.embed_images:
            return self.markdown2html(exporter, context, source)
        attachments = context.get("cell", {}).get("attachments", {})
        key = (source, json.dumps(attachments, sort_keys=True, default=repr), exporter.anchor_link_text,
               exporter.exclude_anchor_links, json.dumps(exporter.lexer_options, sort_keys=True, default=repr))
        html = self.store.get(key)
        if html is None:
            if len(self.store) >= self.LIMIT:
                self.store.clear()
            html = self.store[key] = self.markdown2html(exporter, context, source)
        return html


_MARKDOWN: _MarkdownCache | None = None


class _LazySoup:
    """What nbconvert's HTMLExporter gets for ``BeautifulSoup(html, features=...)``: the page is
    parsed only when one of its accessibility selectors could match. nbgrader's feedback uses the
    classic template, which has no ``.jp-Notebook``, so on a page without ``<img`` the pass
    changes nothing but BeautifulSoup's re-serialization (0.22 s of a chapter 1 page: 7,500
    tags through html.parser), and the page is returned as the template rendered it: the same
    document (tests/test_engine.py parses both). Any other selector, or a page where one could
    match, gets nbconvert's own pass."""

    #: Selector -> text (lower case) that a page must hold for it to match anything.
    NEEDS = {"img:not([alt])": "<img",
             ".jp-Notebook div.jp-Cell-inputWrapper": "jp-notebook",
             ".jp-Notebook div.jp-OutputArea-output": "jp-notebook"}

    def __init__(self, markup, *args, **kwargs):
        self._markup, self._args, self._kwargs = markup, args, kwargs
        self._lower = markup.lower() if isinstance(markup, str) else None
        self._soup = None

    def _parsed(self):
        if self._soup is None:
            import bs4

            self._soup = bs4.BeautifulSoup(self._markup, *self._args, **self._kwargs)
        return self._soup

    def select(self, selector, *args, **kwargs):
        needs = self.NEEDS.get(selector)
        if self._soup is None and self._lower is not None and needs is not None and needs not in self._lower:
            return []
        return self._parsed().select(selector, *args, **kwargs)

    def __str__(self):
        return self._markup if self._soup is None else str(self._soup)

    def __getattr__(self, name):
        return getattr(self._parsed(), name)


#: Engines of the private gradebooks being graded, by URL (see private_gradebook).
_PRIVATE: dict[str, object] = {}
#: The one engine every private gradebook of this process uses in turn, and the file it opens.
_SHARED: dict[str, object] = {}
_SHARED_LOCK = threading.Lock()
#: The course ids nbgrader's check_course found (or made) in each private gradebook.
_CHECKED: dict[str, set] = {}


def _throwaway(dbapi_connection, _record) -> None:
    """The file is thrown away after its submission: no sync to disk on every commit."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.execute("PRAGMA journal_mode=MEMORY")
    cursor.close()


def _shared_engine():
    """SQLAlchemy caches each statement's compiled SQL per engine (and dialect): one engine for
    all of a worker's private gradebooks compiles nbgrader's ~30 statements once, not once per
    submission (~40 ms each time, cProfile of a chapter 1 worker). Its connections open the file
    of the submission being graded, and are closed when that submission is done (dispose() keeps
    the compiled SQL: it lives on the engine, not on its pool)."""
    import sqlite3

    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import QueuePool

    if "engine" not in _SHARED:
        # check_same_thread=False as SQLAlchemy's own pysqlite file engines: a connection may be
        # closed by the thread that did not open it
        engine = create_engine("sqlite://", future=True, poolclass=QueuePool,
                               creator=lambda: sqlite3.connect(_SHARED["path"], check_same_thread=False))
        event.listen(engine, "connect", _throwaway)
        _SHARED["engine"] = engine
    return _SHARED["engine"]


@contextmanager
def private_gradebook(db_url: str):
    """While inside, every nbgrader Gradebook opened on `db_url` (a worker's private SQLite copy
    of a gradebook nbgrader made) shares one engine: nbgrader's schema inspection and table
    creation are skipped (the tables are nbgrader's own, made when the copy's original was), and
    SQLite does not sync to disk on every commit (the file is thrown away after this
    submission). Nothing is shared between submissions but compiled SQL: each has its own file,
    and its connections are closed when it is done. One submission at a time uses the
    shared engine; another at the same time in the process gets an engine of its own."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url

    with _SHARED_LOCK:
        shared = "path" not in _SHARED
        if shared:
            engine = _shared_engine()
            _SHARED["path"] = make_url(db_url).database
    if not shared:
        engine = create_engine(db_url, future=True)
        event.listen(engine, "connect", _throwaway)
    _PRIVATE[db_url] = engine
    try:
        yield engine
    finally:
        del _PRIVATE[db_url]
        _CHECKED.pop(db_url, None)
        engine.dispose()
        if shared:
            with _SHARED_LOCK:
                del _SHARED["path"]


def _install_gradebook() -> None:
    from nbgrader import api
    from sqlalchemy.orm import scoped_session, sessionmaker

    if getattr(api.Gradebook, "_course_private", False):
        return
    init, close = api.Gradebook.__init__, api.Gradebook.close

    def __init__(self, db_url, course_id="default_course", authenticator=None):
        engine = _PRIVATE.get(db_url)
        if engine is None:
            return init(self, db_url, course_id, authenticator)
        # nbgrader 0.9's __init__ without the engine, the inspection and create_all
        self.engine = engine
        keep = getattr(_KEEP_LOADED, "active", False)
        self.db = scoped_session(sessionmaker(autoflush=True, bind=engine, future=True, expire_on_commit=not keep))
        checked = _CHECKED.setdefault(db_url, set())
        if course_id not in checked:  # a query each time (11 a submission); the row stays
            self.check_course(course_id=course_id)
            checked.add(course_id)
        self.course_id = course_id
        self.authenticator = authenticator
        self._shared_engine = True

    def close_(self):
        if getattr(self, "_shared_engine", False):
            self.db.remove()  # the engine stays for the submission's next Gradebook
        else:
            close(self)

    api.Gradebook.__init__, api.Gradebook.close = __init__, close_
    for name, load in _CELL_ROWS.items():
        setattr(api.Gradebook, name, _looked_up_once(getattr(api.Gradebook, name), load))
    api.Gradebook._course_private = True

    from nbgrader.preprocessors import SaveAutoGrades

    save = SaveAutoGrades.preprocess

    def preprocess(self, nb, resources):
        # SaveAutoGrades commits after every cell, and a commit expires every row its session
        # holds, so each next cell loaded its row again (~35 ms a notebook). It reads back nothing
        # it wrote and no score SQL computes, and closes its Gradebook when done: its private
        # session keeps its rows loaded across commits.
        _KEEP_LOADED.active = True
        try:
            return save(self, nb, resources)
        finally:
            _KEEP_LOADED.active = False

    SaveAutoGrades.preprocess = preprocess


#: Set while SaveAutoGrades runs (see _install_gradebook).
_KEEP_LOADED = threading.local()


# nbgrader's preprocessors look up one row per cell, each a query of up to six joins (OverwriteCells:
# a source and a graded cell; SaveAutoGrades and GetGrades: a grade and a comment): ~90 queries
# a chapter 1 notebook. In a private gradebook each kind is loaded once per Gradebook, with
# nbgrader's own joins; what is not found there (a task cell, a missing row) is asked of nbgrader's
# own method, so every answer and every MissingEntry is nbgrader's.

def _submitted(row: str, cell: str):
    """Loads a submitted notebook's rows of one kind (Grade, Comment) by their cell's name."""
    def load(gb, notebook, assignment, student):
        from nbgrader import api

        rows, cells = getattr(api, row), getattr(api, cell)
        return gb.db.query(cells.name, rows).join(cells, cells.id == rows.cell_id) \
            .join(api.SubmittedNotebook, api.SubmittedNotebook.id == rows.notebook_id) \
            .join(api.Notebook, api.Notebook.id == api.SubmittedNotebook.notebook_id) \
            .join(api.SubmittedAssignment, api.SubmittedAssignment.id == api.SubmittedNotebook.assignment_id) \
            .join(api.Assignment, api.Assignment.id == api.SubmittedAssignment.assignment_id) \
            .join(api.Student, api.Student.id == api.SubmittedAssignment.student_id) \
            .filter(api.Notebook.name == notebook, api.Assignment.name == assignment,
                    api.Student.id == student).all()
    return load


def _cells(kind: str):
    """Loads an assignment notebook's cells of one kind (SourceCell, GradeCell) by name."""
    def load(gb, notebook, assignment):
        from nbgrader import api

        cell = getattr(api, kind)
        return gb.db.query(cell.name, cell).join(api.Notebook, api.Notebook.id == cell.notebook_id) \
            .join(api.Assignment, api.Assignment.id == api.Notebook.assignment_id) \
            .filter(api.Notebook.name == notebook, api.Assignment.name == assignment).all()
    return load


_CELL_ROWS = {"find_grade": _submitted("Grade", "GradeCell"), "find_comment": _submitted("Comment", "SolutionCell"),
              "find_source_cell": _cells("SourceCell"), "find_graded_cell": _cells("GradeCell")}


def _looked_up_once(original, load):
    import functools

    from sqlalchemy import inspect

    @functools.wraps(original)
    def find(self, name, *where):
        if not getattr(self, "_shared_engine", False):
            return original(self, name, *where)
        memo = self.__dict__.setdefault("_course_rows", {})
        key = (load, *where)
        if key not in memo:
            memo[key] = dict(load(self, *where))
        row = memo[key].get(name)
        if row is None or not inspect(row).persistent:  # not there, or deleted since: nbgrader's own answer
            return original(self, name, *where)
        return row
    return find


def install() -> None:
    from nbconvert.exporters import html as html_exporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbgrader.nbgraderformat import common

    _install_gradebook()
    if getattr(TemplateExporter, "_course_caches", False):
        return  # a second Worker in this process (a Dask worker): installed once
    TemplateExporter._course_caches = True
    html_exporter.BeautifulSoup = _LazySoup
    global _MARKDOWN
    _MARKDOWN = _MarkdownCache(html_exporter.HTMLExporter.markdown2html)

    @jinja2.pass_context
    def markdown2html(self, context, source):
        return _MARKDOWN(self, context, source)

    html_exporter.HTMLExporter.markdown2html = markdown2html
    cache_highlight = _HighlightCache(Highlight2HTML.__call__)

    def highlight(self, source, language=None, metadata=None):
        return cache_highlight(self, source, language, metadata)

    Highlight2HTML.__call__ = highlight

    cache = _MemoryBytecodeCache()
    create = TemplateExporter._create_environment

    def create_environment(self):
        environment = create(self)
        environment.bytecode_cache = cache
        return environment

    TemplateExporter._create_environment = create_environment
    common.jsonschema = _SchemaValidators()
