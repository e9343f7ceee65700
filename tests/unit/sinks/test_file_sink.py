import io
import json

import fastavro

from producer.observability.stats import RunStats
from producer.sinks.avro_container import ContainerWriter
from producer.sinks.base import Record, TopicInfo
from producer.sinks.file import FileSink

SCHEMA = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}, {"name": "b", "type": "string"}]}


def body(record):
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(SCHEMA), record)
    return buffer.getvalue()


def test_container_writer_output_reads_back_with_fastavro():
    out = io.BytesIO()
    writer = ContainerWriter(out, SCHEMA, block_records=128)
    writer.write([body({"a": i, "b": f"x{i}"}) for i in range(300)])
    writer.write([body({"a": -7, "b": ""})])
    writer.flush()
    records = list(fastavro.reader(io.BytesIO(out.getvalue())))
    assert len(records) == 301
    assert records[0] == {"a": 0, "b": "x0"} and records[-1] == {"a": -7, "b": ""}


def test_file_sink_writes_one_file_per_topic_and_counts_deliveries(tmp_path):
    stats = RunStats()
    sink = FileSink(stats, tmp_path / "out", "jsonl")
    sink.open([TopicInfo("a.x"), TopicInfo("b.y")])
    sink.write(
        [Record("a.x", b"k", b'{"n":1}', 0), Record("b.y", b"k", b'{"n":2}', 0), Record("a.x", b"k", b'{"n":3}', 0)]
    )
    sink.flush(1)
    sink.close()
    lines = (tmp_path / "out" / "a.x.jsonl").read_text().splitlines()
    assert [json.loads(line)["n"] for line in lines] == [1, 3]
    assert stats.topics["a.x"].delivered == 2 and stats.topics["b.y"].delivered == 1
    assert stats.topics["a.x"].delivered_bytes == 14


def test_file_sink_avro_container_per_topic(tmp_path):
    sink = FileSink(RunStats(), tmp_path, "avro")
    sink.open([TopicInfo("t", json.dumps(SCHEMA))])
    sink.write([Record("t", b"", body({"a": 1, "b": "z"}), 0)])
    sink.close()
    with open(tmp_path / "t.avro", "rb") as handle:
        assert list(fastavro.reader(handle)) == [{"a": 1, "b": "z"}]


def test_container_bytes_do_not_depend_on_write_batching():
    bodies = [body({"a": i, "b": "y"}) for i in range(2500)]
    one, many = io.BytesIO(), io.BytesIO()
    a, b = ContainerWriter(one, SCHEMA), ContainerWriter(many, SCHEMA)
    a.write(bodies)
    for start in range(0, 2500, 37):
        b.write(bodies[start : start + 37])
    a.flush()
    b.flush()
    assert one.getvalue() == many.getvalue()


def test_what_the_file_sink_counts_delivered_has_reached_the_file(tmp_path):
    # a worker killed by SIGKILL loses its Python buffers: the count it last reported must be on disk
    stats = RunStats()
    sink = FileSink(stats, tmp_path, "jsonl")
    sink.open([TopicInfo("t")])
    sink.write([Record("t", b"", b'{"n":%d}' % i, 0) for i in range(5)])
    on_disk = (tmp_path / "t.jsonl").read_bytes().splitlines()
    assert len(on_disk) == stats.topics["t"].delivered == 5
    sink.close()


def test_avro_file_records_count_delivered_once_their_block_is_written(tmp_path):
    stats = RunStats()
    sink = FileSink(stats, tmp_path, "avro")
    sink.open([TopicInfo("t", json.dumps(SCHEMA))])
    sink.write([Record("t", b"", body({"a": i, "b": "z"}), 0) for i in range(1500)])
    assert stats.topics["t"].delivered == 1000 and sink.queue_depth() == 500  # one full block written
    with open(tmp_path / "t.avro", "rb") as handle:
        assert len(list(fastavro.reader(handle))) == 1000
    assert sink.flush(1) == 0
    assert stats.topics["t"].delivered == 1500 and sink.queue_depth() == 0
    sink.close()
    assert stats.topics["t"].delivered == 1500
    with open(tmp_path / "t.avro", "rb") as handle:
        assert len(list(fastavro.reader(handle))) == 1500
