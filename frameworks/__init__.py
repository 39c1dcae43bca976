"""Framework APIs: the scheduler driver (and, beside it, the executor API and command executor)."""

from frameworks.executor import Executor, ExecutorDriver, ExecutorEnvironment, run_executor
from frameworks.scheduler import DriverStatus, Scheduler, SchedulerDriver

__all__ = [
    "DriverStatus",
    "Executor",
    "ExecutorDriver",
    "ExecutorEnvironment",
    "Scheduler",
    "SchedulerDriver",
    "run_executor",
]
