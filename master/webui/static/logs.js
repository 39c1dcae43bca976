// A task's stdout or stderr, read from its sandbox through the agent's /files/read
// and followed: the next read starts where the last one ended (offset polling).

import { h, link } from "./dom.js";
import { getJSON } from "./model.js";
import { locateSandbox } from "./sandbox.js";

const LOG_POLL_MS = 1000; // how often a log being followed is read again
const LOG_CHUNK = 65536; // bytes asked for per /files/read
const LOG_KEEP = 1 << 20; // characters of a log kept on the page; older ones scroll off

let active = null; // the LogTail on screen, if any

class LogTail {
  constructor(output, status) {
    this.base = "";
    this.path = "";
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

  // Follow the file at `path` on the agent at `base`, from near its end (its last LOG_KEEP bytes).
  async start(base, path) {
    if (this.stopped) return;
    this.base = base;
    this.path = path;
    // Mesos answers offset -1 with the file's length.
    try {
      const size = (await getJSON(this.url(-1, 0))).offset;
      if (typeof size === "number" && size > LOG_KEEP) this.offset = size - LOG_KEEP;
    } catch (error) {
      this.offset = 0; // poll says what is wrong, and retries
    }
    this.poll();
  }

  async poll() {
    if (this.stopped) return;
    let full = false; // a whole chunk came: read on at once
    try {
      const chunk = await getJSON(this.url(this.offset, LOG_CHUNK));
      if (this.stopped) return;
      const data = String(chunk.data || "");
      const bytes = new TextEncoder().encode(data).length;
      this.offset = chunk.offset + bytes;
      if (data) this.append(data);
      full = bytes >= LOG_CHUNK;
      this.status.textContent = `${this.offset} bytes, following`;
      this.status.className = "log-status";
    } catch (error) {
      this.status.textContent = `cannot read ${this.path}: ${error.message || error}; retrying`;
      this.status.className = "log-status error";
    }
    this.timer = setTimeout(() => this.poll(), full ? 0 : LOG_POLL_MS);
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

// Stop following the log on screen (the page is about to show something else).
export function stopLogs() {
  active?.stop();
  active = null;
}

// The log view: `file` (a name at the top of the task's sandbox), followed as it grows.
export function logView(state, agentId, frameworkId, taskId, file) {
  const status = h("p", { class: "log-status" }, "finding the sandbox");
  const output = h("pre", { class: "log", "data-log": file });
  const others = ["stdout", "stderr"].filter((name) => name !== file);
  const view = h(
    "div",
    { "data-view": "log" },
    h("h1", {}, `${file} of task ${taskId}`),
    h("p", {}, link(["tasks", frameworkId, taskId], "back to the task"),
      others.map((name) => [" · ", link(["logs", agentId, frameworkId, taskId, name], name)])),
    status,
    output,
  );
  const tail = new LogTail(output, status);
  active = tail;
  locateSandbox(state, agentId, frameworkId, taskId)
    .then(({ base, directory }) => tail.start(base, `${directory}/${file}`))
    .catch((error) => {
      status.textContent = `cannot find the sandbox: ${error.message || error}`;
      status.className = "log-status error";
    });
  return view;
}
