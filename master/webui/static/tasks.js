// Views of the work: frameworks, a framework, tasks, a task (with its state history).

import {
  definitions, free, h, healthBadge, idLink, link, missing, row, section, shortIdLink, stateBadge, table,
} from "./dom.js";
import { formatAmount, formatResources, formatTime } from "./format.js";
import { dominantShare, firstUpdate, frameworksOf, lastUpdate, taskHealth, tasksOf, totals } from "./model.js";
import { sandboxSection } from "./sandbox.js";

export const TASKS_SHOWN = 200; // completed tasks listed per table

export function frameworksView(state) {
  const total = totals(state).total;
  const frameworks = frameworksOf(state);
  const rows = (completed) =>
    frameworks.filter((entry) => entry.completed === completed).map(({ framework }) =>
      row(framework.id, [
        idLink(["frameworks", framework.id], framework.id),
        free(framework.name),
        free(framework.user),
        (framework.roles || [framework.role]).join(", "),
        free(framework.principal),
        (framework.tasks || []).length,
        formatAmount("cpus", framework.used_resources?.cpus),
        formatAmount("mem", framework.used_resources?.mem),
        formatAmount("disk", framework.used_resources?.disk),
        formatAmount("gpus", framework.used_resources?.gpus),
        `${(100 * dominantShare(framework, total)).toFixed(1)}%`,
        formatTime(framework.registered_time),
        completed ? "completed" : framework.active ? "active" : "inactive",
      ]),
    );
  const headers = ["ID", "Name", "User", "Roles", "Principal", "Active tasks", "CPUs", "Mem", "Disk", "GPUs",
    "Dominant share", "Registered", "Status"];
  return h(
    "div",
    { "data-view": "frameworks" },
    section("Active frameworks", table("frameworks", headers, rows(false), "no frameworks registered")),
    section("Completed frameworks", table("completed-frameworks", headers, rows(true), "none")),
  );
}

export function frameworkView(state, id) {
  const entry = frameworksOf(state).find(({ framework }) => framework.id === id);
  if (!entry) return missing("framework", id);
  const { framework } = entry;
  const total = totals(state).total;
  const tasks = tasksOf(state).filter((item) => item.framework.id === id);
  return h(
    "div",
    { "data-view": "framework" },
    h("h1", {}, `Framework ${framework.name}`),
    definitions([
      ["ID", framework.id],
      ["User", framework.user],
      ["Roles", (framework.roles || [framework.role]).join(", ")],
      ["Principal", framework.principal],
      ["Hostname", framework.hostname],
      ["PID", framework.pid],
      ["Web UI", /^https?:\/\//i.test(framework.webui_url || "")
        ? h("a", { href: framework.webui_url, rel: "noopener noreferrer" }, framework.webui_url) : ""],
      ["Capabilities", (framework.capabilities || []).join(", ")],
      ["Checkpoint", framework.checkpoint ? "yes" : "no"],
      ["Failover timeout", `${framework.failover_timeout} s`],
      ["Registered", formatTime(framework.registered_time)],
      ["Status", entry.completed ? "completed" : framework.active ? "active" : "inactive"],
      ["Allocated", formatResources(framework.used_resources)],
      ["Offered", formatResources(framework.offered_resources)],
      ["Dominant share", `${(100 * dominantShare(framework, total)).toFixed(1)}%`],
    ]),
    section("Active tasks", tasksTable("framework-tasks", tasks.filter((t) => t.live), "no active tasks")),
    section("Completed tasks", tasksTable("framework-completed-tasks", tasks.filter((t) => !t.live),
      "no completed tasks")),
  );
}

export function tasksTable(name, items, empty) {
  const shown = items.slice(0, TASKS_SHOWN);
  const rows = shown.map(({ task, framework }) =>
    row(task.id, [
      idLink(["tasks", framework.id, task.id], task.id),
      free(task.name),
      [stateBadge(task.state), " ", healthBadge(taskHealth(task))],
      link(["frameworks", framework.id], framework.name || framework.id),
      shortIdLink(["agents", task.slave_id], task.slave_id),
      formatTime(firstUpdate(task)),
      formatTime(lastUpdate(task)),
      logLinks(framework, task),
    ]),
  );
  return [
    table(name, ["ID", "Name", "State", "Framework", "Agent", "Started", "Updated", "Sandbox"], rows, empty),
    items.length > shown.length ? h("p", { class: "more" }, `showing ${shown.length} of ${items.length}`) : null,
  ];
}

export function logLinks(framework, task) {
  return h("span", { class: "logs" },
    ["stdout", "stderr"].map((file) => link(["logs", task.slave_id, framework.id, task.id, file], file)));
}

export function tasksView(state) {
  const tasks = tasksOf(state);
  return h(
    "div",
    { "data-view": "tasks" },
    section("Active tasks", tasksTable("tasks", tasks.filter((t) => t.live), "no active tasks")),
    section("Completed tasks", tasksTable("completed-tasks", tasks.filter((t) => !t.live), "no completed tasks")),
  );
}

export function taskView(state, frameworkId, taskId) {
  const entry = tasksOf(state).find(({ task, framework }) => framework.id === frameworkId && task.id === taskId);
  if (!entry) return missing("task", taskId);
  const { task, framework } = entry;
  return h(
    "div",
    { "data-view": "task" },
    h("h1", {}, `Task ${task.id}`),
    definitions([
      ["Name", task.name],
      ["State", stateBadge(task.state)],
      ["Health", healthBadge(taskHealth(task)) || "no health check reported"],
      ["Framework", link(["frameworks", framework.id], `${framework.name} (${framework.id})`)],
      ["Agent", link(["agents", task.slave_id], task.slave_id)],
      ["Executor", task.executor_id || "(command executor)"],
      ["Role", task.role],
      ["Resources", formatResources(task.resources)],
      ["Labels", (task.labels || []).map((label) => `${label.key}=${label.value}`).join(", ")],
      ["Logs", logLinks(framework, task)],
    ]),
    section(
      "State history",
      table(
        "statuses",
        ["Time", "State", "Health", "Message"],
        (task.statuses || []).map((status, index) =>
          row(String(index), [
            formatTime(status.timestamp, true),
            stateBadge(status.state),
            healthBadge(status.healthy),
            free(status.message || ""),
          ]),
        ),
        "no status updates yet",
      ),
    ),
    sandboxSection(state, framework, task),
  );
}
