// Views of the cluster as a whole: the overview, agents, an agent, roles.

import { definitions, free, h, idLink, meter, missing, row, section, stateBadge, table } from "./dom.js";
import { formatAmount, formatResources, formatTime } from "./format.js";
import { agentUrl, agentsOf, findAgent, SCALARS, tasksOf, totals, volumesOf } from "./model.js";
import { tasksTable } from "./tasks.js";

export function overview(state) {
  const sum = totals(state);
  const agents = agentsOf(state);
  const frameworks = state.frameworks || [];
  const counts = {};
  for (const { task } of tasksOf(state)) counts[task.state] = (counts[task.state] || 0) + 1;
  return h(
    "div",
    { "data-view": "overview" },
    h(
      "div",
      { class: "cards" },
      card("Agents", `${agents.filter((agent) => agent.active).length} active`, `${agents.length} registered`),
      card("Frameworks", `${frameworks.filter((f) => f.active).length} active`,
        `${(state.completed_frameworks || []).length} completed`),
      card("Tasks", `${(counts.TASK_RUNNING || 0)} running`,
        `${(counts.TASK_STAGING || 0) + (counts.TASK_STARTING || 0)} starting`),
      card("Master", state.hostname, `version ${state.version}`),
    ),
    section(
      "Allocation",
      table(
        "allocation",
        ["Resource", "Total", "Allocated", "Offered", "Idle", ""],
        SCALARS.map((name) =>
          row(name, [
            name,
            formatAmount(name, sum.total[name]),
            formatAmount(name, sum.used[name]),
            formatAmount(name, sum.offered[name]),
            formatAmount(name, sum.total[name] - sum.used[name] - sum.offered[name]),
            meter(sum.used[name], sum.total[name]),
          ]),
        ),
        "no resources",
      ),
    ),
    section(
      "Tasks by state",
      table(
        "task-states",
        ["State", "Tasks"],
        Object.keys(counts).sort().map((name) => row(name, [stateBadge(name), counts[name]])),
        "no tasks yet",
      ),
    ),
    section(
      "Master",
      definitions([
        ["Leader", state.leader],
        ["PID", state.pid],
        ["Started", formatTime(state.start_time)],
        ["Registry", state.registry ? `${state.registry.store}, generation ${state.registry.generation}` : ""],
        ["Unreachable agents", state.unreachable_slaves],
      ]),
    ),
  );
}

export function card(title, value, detail) {
  return h("div", { class: "card" }, h("h3", {}, title), h("p", { class: "value" }, value),
    h("p", { class: "detail" }, detail));
}

export function usage(agent, name) {
  const total = agent.resources?.[name] || 0;
  const used = agent.used_resources?.[name] || 0;
  return [`${formatAmount(name, used)} / ${formatAmount(name, total)} `, meter(used, total)];
}

export function agentsView(state) {
  const agents = [...agentsOf(state)].sort((a, b) => a.id.localeCompare(b.id));
  return h(
    "div",
    { "data-view": "agents" },
    section(
      `Agents (${agents.length})`,
      table(
        "agents",
        ["ID", "Host", "CPUs", "Mem", "Disk", "GPUs", "Reserved", "Volumes", "Status", "Registered"],
        agents.map((agent) =>
          row(agent.id, [
            idLink(["agents", agent.id], agent.id),
            [free(agent.hostname), h("div", { class: "address" }, agentUrl(agent).replace(/^http:\/\//, ""))],
            usage(agent, "cpus"),
            usage(agent, "mem"),
            usage(agent, "disk"),
            usage(agent, "gpus"),
            Object.entries(agent.reserved_resources || {})
              .map(([role, resources]) => `${role}: ${formatResources(resources)}`).join("; "),
            volumesOf(agent).length,
            agent.active ? "active" : agent.connected ? "inactive" : "disconnected",
            formatTime(agent.registered_time),
          ]),
        ),
        "no agents registered",
      ),
    ),
  );
}

export function agentView(state, id) {
  const agent = findAgent(state, id);
  if (!agent) return missing("agent", id);
  const names = Object.keys(agent.resources || {});
  const reserved = agent.reserved_resources || {};
  const reservations = Object.entries(agent.reserved_resources_full || {}).flatMap(([role, resources]) =>
    resources.map((resource) => ({ role, resource })));
  const tasks = tasksOf(state).filter(({ task, live }) => live && task.slave_id === agent.id);
  return h(
    "div",
    { "data-view": "agent" },
    h("h1", {}, `Agent ${agent.id}`),
    definitions([
      ["Host", agent.hostname],
      ["Address", agentUrl(agent)],
      ["PID", agent.pid],
      ["Registered", formatTime(agent.registered_time)],
      ["Re-registered", formatTime(agent.reregistered_time)],
      ["Status", agent.active ? "active" : agent.connected ? "inactive" : "disconnected"],
      ["Attributes", Object.entries(agent.attributes || {}).map(([k, v]) => `${k}:${v}`).join("; ")],
    ]),
    section(
      "Resources",
      table(
        "agent-resources",
        ["Resource", "Total", "Allocated", "Offered", "Unreserved", ...Object.keys(reserved).map((r) => `Reserved (${r})`)],
        names.map((name) =>
          row(name, [
            name,
            formatAmount(name, agent.resources[name]),
            formatAmount(name, agent.used_resources?.[name]),
            formatAmount(name, agent.offered_resources?.[name]),
            formatAmount(name, agent.unreserved_resources?.[name]),
            ...Object.values(reserved).map((resources) => formatAmount(name, resources[name])),
          ]),
        ),
        "no resources",
      ),
    ),
    section(
      "Reservations",
      table(
        "reservations",
        ["Role", "Resource", "Amount", "Type", "Principal", "Labels"],
        reservations.map(({ role, resource }, index) => {
          const last = (resource.reservations || []).at(-1) || {};
          return row(String(index), [
            role,
            resource.name,
            v1Amount(resource),
            last.type || "",
            last.principal || "",
            ((last.labels || {}).labels || []).map((l) => `${l.key}=${l.value}`).join(", "),
          ]);
        }),
        "no reservations",
      ),
    ),
    section(
      "Volumes",
      table(
        "volumes",
        ["ID", "Role", "Size", "Container path", "Mode", "Principal", "Shared"],
        volumesOf(agent).map((volume) =>
          row(volume.id, [
            volume.id,
            volume.role,
            formatAmount("disk", volume.resource.scalar?.value),
            volume.resource.disk?.volume?.container_path || "",
            volume.resource.disk?.volume?.mode || "",
            volume.principal || "",
            volume.resource.shared ? "yes" : "no",
          ]),
        ),
        "no volumes",
      ),
    ),
    section(`Tasks (${tasks.length})`, tasksTable("agent-tasks", tasks, "no tasks run here")),
  );
}

export function v1Amount(resource) {
  if (resource.scalar) return formatAmount(resource.name, resource.scalar.value);
  if (resource.ranges) return resource.ranges.range.map((r) => `${r.begin}-${r.end}`).join(",");
  if (resource.set) return resource.set.item.join(",");
  return "";
}

// Roles from /state (frameworks and tasks by role, reservations), /weights and /quota.
export function rolesView(state, weights, quota) {
  const roles = new Map();
  const role = (name) => {
    if (!roles.has(name)) roles.set(name, { frameworks: new Set(), allocated: {}, reserved: {}, weight: 1, quota: null });
    return roles.get(name);
  };
  for (const framework of state.frameworks || []) {
    for (const name of framework.roles || [framework.role]) role(name).frameworks.add(framework.id);
    for (const task of framework.tasks || []) {
      const allocated = role(task.role || "*").allocated;
      for (const name of SCALARS) allocated[name] = (allocated[name] || 0) + (task.resources?.[name] || 0);
    }
  }
  for (const agent of agentsOf(state)) {
    for (const [name, resources] of Object.entries(agent.reserved_resources || {})) {
      const reserved = role(name).reserved;
      for (const scalar of SCALARS) reserved[scalar] = (reserved[scalar] || 0) + (resources[scalar] || 0);
    }
  }
  for (const { role: name, weight } of Array.isArray(weights) ? weights : []) role(name).weight = weight;
  for (const config of quota?.configs || []) role(config.role).quota = config;
  const names = [...roles.keys()].sort();
  return h(
    "div",
    { "data-view": "roles" },
    section(
      `Roles (${names.length})`,
      table(
        "roles",
        ["Role", "Weight", "Frameworks", "Allocated", "Reserved", "Quota guarantee", "Quota limit"],
        names.map((name) => {
          const entry = roles.get(name);
          return row(name, [
            free(name),
            entry.weight,
            entry.frameworks.size,
            formatResources(entry.allocated),
            formatResources(entry.reserved),
            formatResources(entry.quota?.guarantees),
            formatResources(entry.quota?.limits),
          ]);
        }),
        "no roles in use",
      ),
    ),
  );
}
