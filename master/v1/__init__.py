"""Mesos's v1 HTTP APIs on the master: the scheduler API and the operator API.

scheduler_endpoint   POST /api/v1/scheduler: checks calls, opens subscriptions
http_scheduler       HttpScheduler: one subscription as an actor scheduler, the adapter
scheduler_calls      v1 calls -> the master's v0 messages
operator_endpoint    POST /api/v1: the operator calls and SUBSCRIBE
operator_views       the master's state in Mesos's v1 shapes
"""

from master.v1.operator_endpoint import OperatorApi
from master.v1.scheduler_endpoint import SchedulerApi

__all__ = ["OperatorApi", "SchedulerApi"]
