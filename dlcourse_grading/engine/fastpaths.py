"""Work a grading worker would otherwise repeat for every submission, done once per worker.

Both are caches in front of libraries, with the libraries' own results: nbconvert compiles its
Jinja templates again for every feedback page (about 0.13 s each), and nbgrader checks its own
metadata JSON schema again for every cell of every notebook (about 0.1 s per notebook), before
validating the cell against it. Measured with cProfile on a worker grading chapter 1.
"""
from __future__ import annotations

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
    check and the same error (jsonschema.validate's best match), with each schema checked once."""

    def __init__(self):
        self._validators: dict[int, tuple[dict, jsonschema.protocols.Validator]] = {}
        self.ValidationError = jsonschema.ValidationError

    def validate(self, instance, schema) -> None:
        entry = self._validators.get(id(schema))
        if entry is None or entry[0] is not schema:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            entry = self._validators[id(schema)] = (schema, cls(schema))
        error = jsonschema.exceptions.best_match(entry[1].iter_errors(instance))
        if error is not None:
            raise error

    def __getattr__(self, name):
        return getattr(jsonschema, name)


def install() -> None:
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbgrader.nbgraderformat import common

    cache = _MemoryBytecodeCache()
    create = TemplateExporter._create_environment

    def create_environment(self):
        environment = create(self)
        environment.bytecode_cache = cache
        return environment

    TemplateExporter._create_environment = create_environment
    common.jsonschema = _SchemaValidators()
