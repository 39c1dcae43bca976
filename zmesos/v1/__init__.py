"""Mesos's v1 HTTP APIs, the parts master and agent share: JSON shapes, RecordIO, calls, streams.

objects     frameworks, tasks, statuses, offers: v1 JSON <-> zmesos structs
resources   Resource objects <-> Resources
reader      typed reads of JSON fields, ApiError naming the field
recordio    Mesos's RecordIO framing
http        reading a call (415/406/413/400), EventStream (bounded, RecordIO)
"""
