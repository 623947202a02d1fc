"""Partitions to the executors as Arrow, and back: the one ``mapInArrow`` wrapper."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

Frames = Iterator[pl.DataFrame]
Batches = Iterator[pa.RecordBatch]


def ident(name: str) -> str:
    """A column name as a Spark SQL identifier (dots are part of the name)."""
    return "`" + name.replace("`", "``") + "`"


def map_frames(frame: DataFrame, columns: Sequence[str], job: Callable[[Frames], Batches],
               schema: pa.Schema) -> DataFrame:
    """``frame[columns].mapInArrow``: ``job`` gets each partition's batches as Polars tables
    and yields record batches of ``schema``.

    Spark resolves dotted names as struct fields, so the columns travel as c0, c1, ... and
    get their names back on the executor.
    """
    from pyspark.sql.pandas.types import from_arrow_schema

    names = {f"c{i}": c for i, c in enumerate(columns)}
    safe = frame.select(*[frame[ident(c)].alias(i) for i, c in names.items()])

    def run(batches: Batches) -> Batches:
        return job(_polars(b).rename(names) for b in batches)

    return safe.mapInArrow(run, from_arrow_schema(schema))


def _polars(batch: pa.RecordBatch) -> pl.DataFrame:
    frame = pl.from_arrow(pa.Table.from_batches([batch]))
    assert isinstance(frame, pl.DataFrame)
    return frame


def spark_to_arrow(kind: Any) -> pa.DataType:
    """The Arrow type of a Spark data type."""
    from pyspark.sql.pandas.types import to_arrow_type

    return to_arrow_type(kind)
