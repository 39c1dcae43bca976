"""Mesos's v1 HTTP APIs on the agent: the executor API and the agent's operator calls.

executor_endpoint   POST /api/v1/executor: SUBSCRIBE, UPDATE, MESSAGE
http_executor       HttpExecutor: one subscription as an actor executor, the adapter
operator_endpoint   POST /api/v1: GET_HEALTH, GET_VERSION, GET_FLAGS, GET_STATE,
                    GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS, GET_CONTAINERS,
                    LIST_FILES, READ_FILE
"""

from agent.v1.executor_endpoint import ExecutorApi
from agent.v1.operator_endpoint import AgentOperatorApi

__all__ = ["AgentOperatorApi", "ExecutorApi"]
