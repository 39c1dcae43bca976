// Reading the cluster: the master's and agents' JSON (Mesos's shapes), and what
// the views derive from it. No DOM here.

export const SCALARS = ["cpus", "mem", "disk", "gpus"];

export async function getJSON(url, optional) {
  const response = await fetch(url, { cache: "no-store" });
  if (optional && !response.ok) return null;
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

export function frameworksOf(state) {
  return [
    ...(state.frameworks || []).map((framework) => ({ framework, completed: false })),
    ...(state.completed_frameworks || []).map((framework) => ({ framework, completed: true })),
  ];
}

// Every task the master knows: [{task, framework, live}], live ones first.
export function tasksOf(state) {
  const live = [];
  const done = [];
  for (const { framework } of frameworksOf(state)) {
    for (const task of framework.tasks || []) live.push({ task, framework, live: true });
    for (const task of framework.unreachable_tasks || []) live.push({ task, framework, live: true });
    for (const task of framework.completed_tasks || []) done.push({ task, framework, live: false });
  }
  done.sort((a, b) => lastUpdate(b.task) - lastUpdate(a.task));
  return [...live, ...done];
}

export function lastUpdate(task) {
  const statuses = task.statuses || [];
  return statuses.length ? statuses[statuses.length - 1].timestamp || 0 : 0;
}

export function firstUpdate(task) {
  const statuses = task.statuses || [];
  return statuses.length ? statuses[0].timestamp || 0 : 0;
}

// What the task's latest health check said: true, false, or undefined (none reported).
export function taskHealth(task) {
  const checked = (task.statuses || []).filter((status) => typeof status.healthy === "boolean");
  return checked.length ? checked[checked.length - 1].healthy : undefined;
}

export function agentsOf(state) {
  return state.slaves || state.agents || [];
}

export function findAgent(state, id) {
  return agentsOf(state).find((agent) => agent.id === id);
}

export function totals(state) {
  const sum = { total: {}, used: {}, offered: {} };
  for (const agent of agentsOf(state)) {
    for (const name of SCALARS) {
      sum.total[name] = (sum.total[name] || 0) + (agent.resources?.[name] || 0);
      sum.used[name] = (sum.used[name] || 0) + (agent.used_resources?.[name] || 0);
      sum.offered[name] = (sum.offered[name] || 0) + (agent.offered_resources?.[name] || 0);
    }
  }
  return sum;
}

// A framework's dominant share: its largest fraction of any of the cluster's scalars.
export function dominantShare(framework, total) {
  let share = 0;
  for (const name of SCALARS) {
    if (total[name] > 0) share = Math.max(share, (framework.used_resources?.[name] || 0) / total[name]);
  }
  return share;
}

// Where an agent's HTTP answers: its `http_address`, or else the host of its
// actor address and the HTTP port it reported.
export function agentUrl(agent) {
  if (agent.http_address) return `http://${agent.http_address}`;
  const address = String(agent.pid || "").split("@")[1] || "";
  let host = address.replace(/:\d+$/, "") || agent.hostname;
  if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
  return `http://${host}:${Number(agent.port)}`;
}

export function volumesOf(agent) {
  const volumes = [];
  for (const [role, resources] of Object.entries(agent.reserved_resources_full || {})) {
    for (const resource of resources) {
      const persistence = resource.disk?.persistence;
      if (!persistence) continue;
      volumes.push({ role, resource, id: persistence.id, principal: persistence.principal });
    }
  }
  return volumes;
}

// Mesos's agent /state: the directory of the executor that runs (or ran) the task.
export function sandboxDirectory(agentState, frameworkId, taskId) {
  const frameworks = [...(agentState.frameworks || []), ...(agentState.completed_frameworks || [])];
  for (const framework of frameworks) {
    if (framework.id !== frameworkId) continue;
    for (const executor of [...(framework.executors || []), ...(framework.completed_executors || [])]) {
      const tasks = [...(executor.tasks || []), ...(executor.queued_tasks || []), ...(executor.completed_tasks || [])];
      if (tasks.some((task) => task.id === taskId)) return executor.directory;
    }
  }
  return null;
}
