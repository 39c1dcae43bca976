// Numbers and times as the page shows them. A number and its unit are joined by a
// no-break space (NBSP), so a narrow column never splits "32 MB".

const NBSP = "\u00a0";

export function formatAmount(name, value) {
  if (typeof value !== "number") return value === undefined ? "" : String(value);
  if (name === "mem" || name === "disk") {
    return value >= 1024 ? `${(value / 1024).toFixed(1)}${NBSP}GB` : `${Math.round(value)}${NBSP}MB`;
  }
  return String(Math.round(value * 100) / 100);
}

export function formatResources(resources) {
  if (!resources) return "";
  return Object.entries(resources)
    .filter(([, value]) => value !== 0 && value !== "")
    .map(([name, value]) => `${name} ${formatAmount(name, value)}`)
    .join(", ");
}

// Seconds since the epoch as local time, "2026-01-31 12:34:56" (".789" with `millis`).
export function formatTime(seconds, millis) {
  if (typeof seconds !== "number" || !seconds) return "";
  const date = new Date(seconds * 1000);
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    (millis ? `.${pad(date.getMilliseconds(), 3)}` : "")
  );
}

export function percent(part, whole) {
  return whole > 0 ? (100 * part) / whole : 0;
}

export function formatBytes(bytes) {
  if (typeof bytes !== "number") return "";
  if (bytes < 1024) return `${bytes}${NBSP}B`;
  if (bytes < 1 << 20) return `${(bytes / 1024).toFixed(1)}${NBSP}KB`;
  return `${(bytes / (1 << 20)).toFixed(1)}${NBSP}MB`;
}
