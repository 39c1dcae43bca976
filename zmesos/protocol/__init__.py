"""The messages master, agents, schedulers and executors speak, grouped by conversation."""

from zmesos.protocol.agent import *  # noqa: F403
from zmesos.protocol.authentication import *  # noqa: F403
from zmesos.protocol.checks import *  # noqa: F403
from zmesos.protocol.common import *  # noqa: F403
from zmesos.protocol.executor import *  # noqa: F403
from zmesos.protocol.scheduler import *  # noqa: F403
