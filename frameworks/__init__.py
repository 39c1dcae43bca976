"""Framework APIs: the scheduler driver (and, beside it, the executor API and command executor)."""

from frameworks.scheduler import DriverStatus, Scheduler, SchedulerDriver

__all__ = ["DriverStatus", "Scheduler", "SchedulerDriver"]
