"""libprocess: a libprocess-style actor runtime over ZeroMQ. Knows nothing of Mesos."""

from libprocess.clock import Clock, Timer, clock
from libprocess.errors import LibprocessError, NodeError, ProcessTerminated
from libprocess.logging import configure as configure_logging
from libprocess.message import Message
from libprocess.node import Node
from libprocess.pid import PID
from libprocess.process import Process

__all__ = [
    "PID",
    "Clock",
    "LibprocessError",
    "Message",
    "Node",
    "NodeError",
    "Process",
    "ProcessTerminated",
    "Timer",
    "clock",
    "configure_logging",
]
