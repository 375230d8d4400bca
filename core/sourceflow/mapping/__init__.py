"""Data Prep mapping sets compiled to fast record transforms.

::

    from sourceflow.mapping import compile_mapping

    compiled = compile_mapping(mapping_set)  # MappingError lists every bad rule
    row = compiled(record)                   # RecordError names the rule that failed

A mapping set is parsed and compiled once into one generated Python function; nothing is
parsed or interpreted per record. See ``docs/mapping.md`` for the path syntax, the supported
Data Prep functions and how errors read.
"""

from __future__ import annotations

from sourceflow.mapping.compile import CompiledMapping, compile_mapping
from sourceflow.mapping.errors import MappingError, RecordError
from sourceflow.mapping.functions import FUNCTIONS

__all__ = ["FUNCTIONS", "CompiledMapping", "MappingError", "RecordError", "compile_mapping"]
