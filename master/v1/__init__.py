"""Mesos's v1 HTTP APIs on the master: the scheduler API (and the operator API).

scheduler_endpoint   POST /api/v1/scheduler: checks calls, opens subscriptions
http_scheduler       HttpScheduler: one subscription as an actor scheduler, the adapter
scheduler_calls      v1 calls -> the master's v0 messages
"""

from master.v1.scheduler_endpoint import SchedulerApi

__all__ = ["SchedulerApi"]
