// A task's sandbox on its agent: where it is (the agent's /state) and what is in it
// (the agent's /files/browse), for the task page's file list and the log view.

import { h, link, table } from "./dom.js";
import { formatBytes, formatTime } from "./format.js";
import { agentUrl, findAgent, getJSON, sandboxDirectory } from "./model.js";

// The agent's HTTP and the sandbox's directory: {base, directory}, or an Error.
export async function locateSandbox(state, agentId, frameworkId, taskId) {
  const agent = findAgent(state, agentId);
  if (!agent) throw new Error(`agent ${agentId} is not in the master's state`);
  const base = agentUrl(agent);
  const directory = sandboxDirectory(await getJSON(`${base}/state`), frameworkId, taskId);
  if (!directory) throw new Error(`the agent at ${base} does not know task ${taskId}`);
  return { base, directory };
}

// What the last look at each sandbox found, so a refresh redraws at once (no flicker).
const listings = new Map(); // "agent/framework/task" -> {base, directory, entries} or {error}
const reading = new Set(); // the keys of listings being read now

// The task page's "Files" section: the sandbox's top level, each file opened in the log view.
export function sandboxSection(state, framework, task) {
  const key = [task.slave_id, framework.id, task.id].join("/");
  const body = h("div", { "data-sandbox": key });
  const draw = () => body.replaceChildren(...[listingOf(listings.get(key), framework, task)].flat());
  draw();
  if (!reading.has(key)) {
    reading.add(key);
    locateSandbox(state, task.slave_id, framework.id, task.id)
      .then(async ({ base, directory }) => {
        const query = new URLSearchParams({ path: directory });
        const entries = await getJSON(`${base}/files/browse?${query}`);
        listings.set(key, { base, directory, entries });
      })
      .catch((error) => listings.set(key, { error: error.message || String(error) }))
      .finally(() => {
        reading.delete(key);
        if (body.isConnected) draw();
      });
  }
  return h("section", {}, h("h2", {}, "Sandbox"), body);
}

function listingOf(listing, framework, task) {
  if (!listing) return h("p", { class: "empty" }, "reading the sandbox");
  if (listing.error) return h("p", { class: "empty error" }, `cannot read the sandbox: ${listing.error}`);
  const rows = listing.entries.map((entry) => {
    const name = String(entry.path).split("/").pop();
    const isDirectory = String(entry.mode || "").startsWith("d");
    const download = `${listing.base}/files/download?${new URLSearchParams({ path: entry.path })}`;
    return h(
      "tr",
      { "data-id": name },
      h("td", {}, isDirectory ? `${name}/` : link(["logs", task.slave_id, framework.id, task.id, name], name)),
      h("td", {}, entry.mode || ""),
      h("td", {}, isDirectory ? "" : formatBytes(entry.size)),
      h("td", {}, formatTime(entry.mtime)),
      h("td", {}, isDirectory ? "" : h("a", { href: download, rel: "noopener noreferrer" }, "download")),
    );
  });
  return [
    h("p", { class: "address" }, listing.directory),
    table("sandbox", ["Name", "Mode", "Size", "Modified", ""], rows, "the sandbox is empty"),
  ];
}
