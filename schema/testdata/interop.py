"""Avro interop with tradetop, through fastavro.

read SCHEMA:  stdin has one hex-encoded Avro body a line, written with
              SCHEMA (a file); prints each as a JSON object, time in
              microseconds since the epoch.
write SCHEMA: stdin has one JSON object a line, the fields of SCHEMA (time
              in microseconds); prints each encoded, in hex.
"""
import datetime
import io
import json
import sys

import fastavro

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def main():
    mode, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        schema = fastavro.parse_schema(json.load(f))
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        if mode == "read":
            rec = fastavro.schemaless_reader(io.BytesIO(bytes.fromhex(line)), schema, schema)
            t = rec["time"]
            if isinstance(t, datetime.datetime):
                rec["time"] = (t - EPOCH) // datetime.timedelta(microseconds=1)
            print(json.dumps(rec))
        else:
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, schema, json.loads(line))
            print(buf.getvalue().hex())


main()
