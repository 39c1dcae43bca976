// zmesos web UI: one page over the master's HTTP API (/state, /weights, /quota) and
// each agent's (/state, /files/read). Plain DOM, no framework, nothing fetched from
// elsewhere. Every value from the cluster reaches the page as text (createTextNode,
// textContent, setAttribute): task names, labels and hostnames are whatever a
// framework or agent sent, so nothing is ever parsed as HTML.
"use strict";

const REFRESH_MS = 3000; // how often the cluster's state is read again
const LOG_POLL_MS = 1000; // how often a log being tailed is read again
const LOG_CHUNK = 65536; // bytes per /files/read
const LOG_KEEP = 1 << 20; // characters of a log kept on the page; older ones scroll off
const TASKS_SHOWN = 200; // completed tasks listed per table
const SCALARS = ["cpus", "mem", "disk", "gpus"];

const cluster = { state: null, weights: null, quota: null, error: null, refreshes: 0 };
let logTail = null; // the LogTail of the log view on screen, if any

// ---- DOM building: the only way this file puts anything on the page ----

function h(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "onclick") node.addEventListener("click", value);
    else node.setAttribute(key, String(value));
  }
  appendAll(node, children);
  return node;
}

function appendAll(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function link(route, text, className) {
  return h("a", { href: "#/" + route.map(encodeURIComponent).join("/"), class: className }, text);
}

// A link showing an id: long ids break anywhere rather than widen the table.
function idLink(route, id) {
  return link(route, id, "id");
}

function table(name, headers, rows, empty) {
  if (rows.length === 0) return h("p", { class: "empty", "data-table": name }, empty);
  return h(
    "table",
    { "data-table": name },
    h("thead", {}, h("tr", {}, headers.map((title) => h("th", {}, title)))),
    h("tbody", {}, rows),
  );
}

function row(id, cells) {
  return h("tr", { "data-id": id }, cells.map((cell) => h("td", {}, cell)));
}

function definitions(pairs) {
  return h(
    "dl",
    {},
    pairs.filter(([, value]) => value !== null && value !== undefined && value !== "")
      .map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
  );
}

function section(title, ...content) {
  return h("section", {}, h("h2", {}, title), content);
}

// ---- formatting ----

function formatAmount(name, value) {
  if (typeof value !== "number") return value === undefined ? "" : String(value);
  if (name === "mem" || name === "disk") {
    return value >= 1024 ? `${(value / 1024).toFixed(1)} GB` : `${Math.round(value)} MB`;
  }
  return String(Math.round(value * 100) / 100);
}

function formatResources(resources) {
  if (!resources) return "";
  return Object.entries(resources)
    .filter(([, value]) => value !== 0 && value !== "")
    .map(([name, value]) => `${name} ${formatAmount(name, value)}`)
    .join(", ");
}

// Seconds since the epoch as local time, "2026-01-31 12:34:56" (".789" with `millis`).
function formatTime(seconds, millis) {
  if (typeof seconds !== "number" || !seconds) return "";
  const date = new Date(seconds * 1000);
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    (millis ? `.${pad(date.getMilliseconds(), 3)}` : "")
  );
}

function percent(part, whole) {
  return whole > 0 ? (100 * part) / whole : 0;
}

function meter(part, whole) {
  const share = percent(part, whole);
  return h(
    "span",
    { class: "meter", title: `${share.toFixed(1)}%` },
    h("span", { class: "fill", style: `width: ${Math.min(100, share).toFixed(1)}%` }),
  );
}

function stateBadge(state) {
  const name = String(state || "").replace(/^TASK_/, "");
  return h("span", { class: `badge state-${name.toLowerCase()}` }, name);
}

// ---- reading the cluster's JSON ----

async function getJSON(url, optional) {
  const response = await fetch(url, { cache: "no-store" });
  if (optional && !response.ok) return null;
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function frameworksOf(state) {
  return [
    ...(state.frameworks || []).map((framework) => ({ framework, completed: false })),
    ...(state.completed_frameworks || []).map((framework) => ({ framework, completed: true })),
  ];
}

// Every task the master knows: [{task, framework, live}], live ones first.
function tasksOf(state) {
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

function lastUpdate(task) {
  const statuses = task.statuses || [];
  return statuses.length ? statuses[statuses.length - 1].timestamp || 0 : 0;
}

function firstUpdate(task) {
  const statuses = task.statuses || [];
  return statuses.length ? statuses[0].timestamp || 0 : 0;
}

function agentsOf(state) {
  return state.slaves || state.agents || [];
}

function findAgent(state, id) {
  return agentsOf(state).find((agent) => agent.id === id);
}

function totals(state) {
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
function dominantShare(framework, total) {
  let share = 0;
  for (const name of SCALARS) {
    if (total[name] > 0) share = Math.max(share, (framework.used_resources?.[name] || 0) / total[name]);
  }
  return share;
}

// Where an agent's HTTP answers: the host of its address and its HTTP port.
function agentUrl(agent) {
  const address = String(agent.pid || "").split("@")[1] || "";
  let host = address.replace(/:\d+$/, "") || agent.hostname;
  if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
  return `http://${host}:${Number(agent.port)}`;
}

function volumesOf(agent) {
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

// ---- views ----

function overview(state) {
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

function card(title, value, detail) {
  return h("div", { class: "card" }, h("h3", {}, title), h("p", { class: "value" }, value),
    h("p", { class: "detail" }, detail));
}

function usage(agent, name) {
  const total = agent.resources?.[name] || 0;
  const used = agent.used_resources?.[name] || 0;
  return [`${formatAmount(name, used)} / ${formatAmount(name, total)} `, meter(used, total)];
}

function agentsView(state) {
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
            agent.hostname,
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

function agentView(state, id) {
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

function v1Amount(resource) {
  if (resource.scalar) return formatAmount(resource.name, resource.scalar.value);
  if (resource.ranges) return resource.ranges.range.map((r) => `${r.begin}-${r.end}`).join(",");
  if (resource.set) return resource.set.item.join(",");
  return "";
}

function frameworksView(state) {
  const total = totals(state).total;
  const frameworks = frameworksOf(state);
  const rows = (completed) =>
    frameworks.filter((entry) => entry.completed === completed).map(({ framework }) =>
      row(framework.id, [
        idLink(["frameworks", framework.id], framework.id),
        framework.name,
        framework.user,
        (framework.roles || [framework.role]).join(", "),
        framework.principal,
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

function frameworkView(state, id) {
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

function tasksTable(name, items, empty) {
  const shown = items.slice(0, TASKS_SHOWN);
  const rows = shown.map(({ task, framework }) =>
    row(task.id, [
      idLink(["tasks", framework.id, task.id], task.id),
      task.name,
      stateBadge(task.state),
      link(["frameworks", framework.id], framework.name || framework.id),
      idLink(["agents", task.slave_id], task.slave_id),
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

function logLinks(framework, task) {
  return h("span", { class: "logs" },
    ["stdout", "stderr"].map((file) => link(["logs", task.slave_id, framework.id, task.id, file], file)));
}

function tasksView(state) {
  const tasks = tasksOf(state);
  return h(
    "div",
    { "data-view": "tasks" },
    section("Active tasks", tasksTable("tasks", tasks.filter((t) => t.live), "no active tasks")),
    section("Completed tasks", tasksTable("completed-tasks", tasks.filter((t) => !t.live), "no completed tasks")),
  );
}

function taskView(state, frameworkId, taskId) {
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
      ["Framework", link(["frameworks", framework.id], `${framework.name} (${framework.id})`)],
      ["Agent", link(["agents", task.slave_id], task.slave_id)],
      ["Executor", task.executor_id || "(command executor)"],
      ["Role", task.role],
      ["Resources", formatResources(task.resources)],
      ["Labels", (task.labels || []).map((label) => `${label.key}=${label.value}`).join(", ")],
      ["Sandbox", logLinks(framework, task)],
    ]),
    section(
      "State history",
      table(
        "statuses",
        ["Time", "State", "Message"],
        (task.statuses || []).map((status, index) =>
          row(String(index), [formatTime(status.timestamp, true), stateBadge(status.state), status.message || ""]),
        ),
        "no status updates yet",
      ),
    ),
  );
}

// Roles from /state (frameworks and tasks by role, reservations), /weights and /quota.
function rolesView(state) {
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
  for (const { role: name, weight } of Array.isArray(cluster.weights) ? cluster.weights : []) role(name).weight = weight;
  for (const config of cluster.quota?.configs || []) role(config.role).quota = config;
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
            name,
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

function missing(kind, id) {
  return h("div", { "data-view": "missing" }, h("p", { class: "empty" }, `No ${kind} ${id} in the master's state.`));
}

// ---- task logs: the sandbox's files through the agent's /files/read ----

// Mesos's agent /state: the directory of the executor that runs (or ran) the task.
function sandboxDirectory(agentState, frameworkId, taskId) {
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

class LogTail {
  constructor(base, path, output, status) {
    this.base = base;
    this.path = path;
    this.output = output;
    this.status = status;
    this.offset = 0;
    this.stopped = false;
    this.timer = null;
  }

  url(offset, length) {
    const query = new URLSearchParams({ path: this.path, offset: String(offset), length: String(length) });
    return `${this.base}/files/read?${query}`;
  }

  async start() {
    // Mesos answers offset -1 with the file's length: start near its end.
    try {
      const size = (await getJSON(this.url(-1, 0))).offset;
      if (typeof size === "number" && size > LOG_KEEP) this.offset = size - LOG_KEEP;
    } catch (error) {
      this.offset = 0;
    }
    this.poll();
  }

  async poll() {
    if (this.stopped) return;
    let more = false;
    try {
      const chunk = await getJSON(this.url(this.offset, LOG_CHUNK));
      if (this.stopped) return;
      const data = String(chunk.data || "");
      this.offset = chunk.offset + new TextEncoder().encode(data).length;
      if (data) this.append(data);
      more = data.length > 0 && new TextEncoder().encode(data).length >= LOG_CHUNK;
      this.status.textContent = `${this.offset} bytes, following`;
      this.status.className = "log-status";
    } catch (error) {
      this.status.textContent = `cannot read ${this.path}: ${error.message || error}; retrying`;
      this.status.className = "log-status error";
    }
    this.timer = setTimeout(() => this.poll(), more ? 0 : LOG_POLL_MS);
  }

  append(data) {
    const atBottom = this.output.scrollTop + this.output.clientHeight >= this.output.scrollHeight - 4;
    this.output.append(document.createTextNode(data));
    if (this.output.textContent.length > LOG_KEEP) {
      this.output.textContent = this.output.textContent.slice(-LOG_KEEP);
    }
    if (atBottom) this.output.scrollTop = this.output.scrollHeight;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

function logView(state, agentId, frameworkId, taskId, file) {
  const agent = findAgent(state, agentId);
  const status = h("p", { class: "log-status" }, "finding the sandbox");
  const output = h("pre", { class: "log", "data-log": file });
  const view = h(
    "div",
    { "data-view": "log" },
    h("h1", {}, `${file} of task ${taskId}`),
    h("p", {}, link(["tasks", frameworkId, taskId], "back to the task"), " · ",
      link(["logs", agentId, frameworkId, taskId, file === "stdout" ? "stderr" : "stdout"],
        file === "stdout" ? "stderr" : "stdout")),
    status,
    output,
  );
  if (!agent) {
    status.textContent = `agent ${agentId} is not in the master's state`;
    return view;
  }
  const base = agentUrl(agent);
  getJSON(`${base}/state`)
    .then((agentState) => {
      const directory = sandboxDirectory(agentState, frameworkId, taskId);
      if (!directory) throw new Error(`the agent at ${base} does not know task ${taskId}`);
      if (logTail && logTail.output === output) {
        logTail = new LogTail(base, `${directory}/${file}`, output, status);
        logTail.start();
      }
    })
    .catch((error) => {
      status.textContent = `cannot find the sandbox: ${error.message || error}`;
      status.className = "log-status error";
    });
  logTail = { output, stop() {} }; // claimed by this view until the sandbox is known
  return view;
}

// ---- routing and refreshing ----

function currentRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  return parts;
}

const ROUTES = {
  "": (state) => overview(state),
  agents: (state, id) => (id === undefined ? agentsView(state) : agentView(state, id)),
  frameworks: (state, id) => (id === undefined ? frameworksView(state) : frameworkView(state, id)),
  tasks: (state, frameworkId, taskId) => (taskId === undefined ? tasksView(state) : taskView(state, frameworkId, taskId)),
  roles: (state) => rolesView(state),
  logs: (state, ...rest) => logView(state, ...rest),
};

let shownRoute = null;

function render() {
  const status = document.getElementById("status");
  if (cluster.error) {
    status.textContent = `cannot read the master: ${cluster.error}`;
    status.className = "status error";
  } else if (cluster.state) {
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    status.className = "status";
  }
  if (!cluster.state) return;
  const [name = "", ...rest] = currentRoute();
  const route = [name, ...rest].join("/");
  for (const item of document.querySelectorAll("nav a")) {
    item.classList.toggle("active", item.dataset.nav === (name || "overview"));
  }
  // A log view stays as it is across refreshes: its tail polls on its own.
  if (name === "logs" && route === shownRoute) return;
  if (logTail) {
    logTail.stop();
    logTail = null;
  }
  const build = ROUTES[name] || ((state) => missing("page", name));
  const view = document.getElementById("view");
  view.replaceChildren(build(cluster.state, ...rest));
  shownRoute = route;
}

async function refresh() {
  try {
    const [state, weights, quota] = await Promise.all([
      getJSON("state"),
      getJSON("weights", true),
      getJSON("quota", true),
    ]);
    Object.assign(cluster, { state, weights, quota, error: null });
    cluster.refreshes += 1;
    document.body.dataset.refreshes = String(cluster.refreshes);
  } catch (error) {
    cluster.error = error.message || String(error);
  }
  render();
}

window.addEventListener("hashchange", () => {
  shownRoute = null;
  render();
});
refresh();
setInterval(refresh, REFRESH_MS);
