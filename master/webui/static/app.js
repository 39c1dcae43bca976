// zmesos web UI: one page over the master's HTTP API (/state, /weights, /quota) and
// each agent's (/state, /files/read); no framework, no build step, nothing fetched
// from elsewhere. This module routes (the part of the URL after #) and refreshes.

import { agentView, agentsView, overview, rolesView } from "./cluster.js";
import { missing } from "./dom.js";
import { logView, stopLogs } from "./logs.js";
import { getJSON } from "./model.js";
import { frameworkView, frameworksView, taskView, tasksView } from "./tasks.js";

const REFRESH_MS = 3000; // how often the cluster's state is read again

// What the master said last: /state, /weights, /quota.
const cluster = { state: null, weights: null, quota: null, error: null, refreshes: 0 };

// Each route (#/name/arguments...) builds its view from what the master said.
const ROUTES = {
  "": ({ state }) => overview(state),
  agents: ({ state }, id) => (id === undefined ? agentsView(state) : agentView(state, id)),
  frameworks: ({ state }, id) => (id === undefined ? frameworksView(state) : frameworkView(state, id)),
  tasks: ({ state }, frameworkId, taskId) =>
    taskId === undefined ? tasksView(state) : taskView(state, frameworkId, taskId),
  roles: ({ state, weights, quota }) => rolesView(state, weights, quota),
  logs: ({ state }, agentId, frameworkId, taskId, file) => logView(state, agentId, frameworkId, taskId, file),
};

let shownRoute = null; // the route on screen

function currentRoute() {
  return location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
}

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
  // A log view stays as it is across refreshes: it follows its file on its own.
  if (name === "logs" && route === shownRoute) return;
  stopLogs();
  const build = ROUTES[name] || (() => missing("page", name));
  document.getElementById("view").replaceChildren(build(cluster, ...rest));
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
// A page nobody looks at (a background tab) stops asking the master, and catches up on return.
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refresh();
});
refresh();
setInterval(() => {
  if (!document.hidden) refresh();
}, REFRESH_MS);
