// Calls to the gateway. The session cookie (HttpOnly, set by POST /console/session) goes with every
// same-origin request; the page never holds the token after logging in.
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

// FastAPI's `detail` is a string, or for a refused body a list of {loc, msg}.
function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  return JSON.stringify(detail);
}

export async function call(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (!response.ok) throw new ApiError(response.status, detailText(data && data.detail !== undefined ? data.detail : text));
  return data;
}

export const login = (token) => call("POST", "/console/session", { token });
export const logout = () => call("DELETE", "/console/session");
export const config = () => call("GET", "/console/api/config");
export const alert = (id) => call("GET", `/alerts/${encodeURIComponent(id)}`);
export const deviceAlerts = (deviceId) => call("GET", `/alerts?device_id=${encodeURIComponent(deviceId)}&limit=20`);
export const act = (id, body) => call("POST", `/alerts/${encodeURIComponent(id)}/ack`, body);
