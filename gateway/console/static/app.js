// The operator console: log in, follow the gateway's live feed (server-sent events), act on alerts.
// Every alert text is put in with textContent, never as HTML: it comes from registrations and devices.
import * as api from "./api.js";
import { applyStatic, formatTime, stateName, t, toggleLanguage } from "./i18n.js";
import { AlertMap } from "./map.js";
import { beep, setSound, soundEnabled } from "./sound.js";

const $ = (id) => document.getElementById(id);
const TRANSITIONS = ["acknowledged", "dispatched", "on_scene", "resolved", "false_alarm", "cancelled"];
const PROGRESS = ["new", "acknowledged", "dispatched", "on_scene", "resolved"];
const OPERATOR_KEY = "panic-console-operator";

const view = {
  config: null, alerts: [], offline: [], known: null, selected: null,
  detail: null, detailRev: null, history: [], map: null, events: null,
};

function el(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") element.className = value;
    else if (name.startsWith("data-")) element.setAttribute(name, value);
    else element[name] = value;
  }
  for (const child of children) {
    if (child !== null && child !== undefined) element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

function phoneLink(phone) { return el("a", { href: `tel:${phone.replace(/[^+0-9]/g, "")}` }, phone); }

function typeName(type) {
  return ["sos", "silent_sos", "test"].includes(type) ? t(`type_${type}`) : `${t("type_other")} (${type})`;
}

// When the alert began: the press time from the device when it is plausible, else when the gateway got it.
function since(alert) {
  const received = Date.parse(alert.received_at);
  const pressed = alert.pressed_at ? Date.parse(alert.pressed_at) : NaN;
  return pressed && pressed <= received + 60_000 && pressed >= received - 86_400_000 ? pressed : received;
}

function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

function tickTimers() {
  for (const timer of document.querySelectorAll("[data-since]")) {
    const end = timer.dataset.until ? Number(timer.dataset.until) : Date.now();
    timer.textContent = duration(end - Number(timer.dataset.since));
  }
}

function timer(alert) {
  const attrs = { class: "timer", "data-since": String(since(alert)) };
  if (!alert.open) attrs["data-until"] = String(Date.parse(alert.updated_at));
  const span = el("span", attrs);
  span.textContent = duration((alert.open ? Date.now() : Date.parse(alert.updated_at)) - since(alert));
  return span;
}

function typeBadge(alert) {
  return el("span", { class: `type type-${alert.type}` }, typeName(alert.type));
}

function stateBadge(alert) {
  const state = alert.false_alarm && alert.state === "resolved" ? "false_alarm" : alert.state;
  return el("span", { class: `state state-${state}`, "data-state-badge": state }, stateName(state));
}

// ---- the list --------------------------------------------------------------------------------------

function renderList() {
  const list = $("alerts");
  list.replaceChildren(...view.alerts.map((alert) => {
    const item = el("li", {
      class: `alert ${alert.open ? "open" : "closed"} type-${alert.type}${alert.alert_id === view.selected ? " selected" : ""}`,
      "data-alert-id": alert.alert_id, tabIndex: 0,
    },
    el("div", { class: "line" }, typeBadge(alert), stateBadge(alert), timer(alert)),
    el("div", { class: "who" }, alert.owner.name),
    el("div", { class: "where muted" }, alert.premises.address),
    el("div", { class: "muted small" }, `${alert.device.id} · ${alert.alert_id.split(":")[1]}`));
    item.addEventListener("click", () => select(alert.alert_id));
    item.addEventListener("keydown", (event) => { if (event.key === "Enter") select(alert.alert_id); });
    return item;
  }));
  $("no-alerts").hidden = view.alerts.length > 0;
  const waiting = view.alerts.filter((a) => a.open && a.state === "new").length;
  document.title = `${waiting ? `(${waiting}) ` : ""}${t("title")}`;
}

function renderOffline() {
  $("offline").replaceChildren(...view.offline.map((device) => el("li", { "data-device-id": device.device_id },
    el("strong", {}, device.device_id), " ", device.owner, " · ", device.address, " · ", phoneLink(device.phone),
    el("div", { class: "muted small" }, `${t("since")} ${formatTime(device.online_changed_at)}; `
      + `${t("last_seen")}: ${formatTime(device.last_seen_at)}`))));
  $("no-offline").hidden = view.offline.length > 0;
}

// ---- the selected alert ----------------------------------------------------------------------------

function selectedAlert() { return view.alerts.find((a) => a.alert_id === view.selected) || null; }

function kv(list, pairs) {
  list.replaceChildren(...pairs.flatMap(([key, value]) => [el("dt", {}, t(key)), el("dd", {}, value ?? t("unknown"))]));
}

function stationItem(station, role) {
  return el("li", { class: `station ${role}` },
    el("strong", {}, station.name), ` (${t(role)}${station.kind ? `, ${station.kind}` : ""}, `
      + `${(station.distance_m / 1000).toFixed(1)} km) `,
    ...(station.phones || []).flatMap((phone) => [phoneLink(phone), " "]));
}

function allowed(alert, target) {
  if (!alert.open) return false;
  if (target === "false_alarm" || target === "cancelled") return true;
  const now = PROGRESS.indexOf(alert.state);
  return now < 0 || PROGRESS.indexOf(target) > now;
}

function renderDetail() {
  const alert = selectedAlert();
  $("detail").hidden = !alert;
  if (!alert) return;
  $("d-type").replaceWith(Object.assign(typeBadge(alert), { id: "d-type" }));
  $("d-state").replaceWith(Object.assign(stateBadge(alert), { id: "d-state" }));
  $("d-timer").replaceWith(Object.assign(timer(alert), { id: "d-timer" }));
  const level = view.detail && view.detail.escalation_level;
  $("d-escalation").hidden = !level;
  $("d-escalation").textContent = level ? `${t("escalation")}: ${level}` : "";

  const owner = alert.owner;
  const hint = alert.type === "silent_sos" ? el("p", { class: "hint silent" }, t("silent_hint"))
    : alert.type === "test" ? el("p", { class: "hint test" }, t("test_hint")) : null;
  $("d-owner").replaceChildren(...[hint, el("strong", {}, owner.name), " ", phoneLink(owner.phone),
    owner.emergency_contacts.length ? el("div", { class: "small" }, `${t("contacts")}: `,
      ...owner.emergency_contacts.flatMap((c) => [`${c.name} `, phoneLink(c.phone), " "])) : null].filter(Boolean));
  $("d-premises").textContent = `${alert.premises.address} (${alert.premises.kind})`;
  const where = alert.location;
  $("d-location").textContent = where.lat === null ? t("source_none")
    : `${where.lat.toFixed(7)}, ${where.lon.toFixed(7)} · ${t(`source_${where.source}`)}`
      + (where.accuracy_m ? ` · ${t("accuracy")} ${where.accuracy_m} m` : "")
      + (where.age_s !== null ? ` · ${t("age")} ${where.age_s} s` : "");
  const device = alert.device, status = alert.device_status;
  const online = status.online === null ? t("unknown") : status.online ? t("yes") : t("no");
  kv($("d-device"), [
    ["device", device.id], ["battery", device.battery !== null ? `${device.battery} %` : null],
    ["power", device.power], ["network", device.network],
    ["signal", device.signal !== null ? `${device.signal} dBm` : null], ["online", online],
    ["last_seen", formatTime(status.last_seen_at)], ["firmware", device.firmware],
  ]);
  const stations = [];
  if (alert.station) stations.push(stationItem(alert.station, "responsible"));
  for (const candidate of alert.candidates) stations.push(stationItem(candidate, "candidate"));
  $("d-stations").replaceChildren(...(stations.length ? stations : [el("li", { class: "muted" }, t("unrouted"))]));

  $("buttons").replaceChildren(...TRANSITIONS.map((target) => {
    const button = el("button", { type: "button", class: `act act-${target}`, "data-state": target,
      disabled: !allowed(alert, target) }, t(`do_${target}`));
    button.addEventListener("click", () => act(alert, target));
    return button;
  }));

  const timeline = (view.detail && view.detail.timeline) || [];
  $("d-timeline").replaceChildren(...timeline.map((entry) => el("li", {},
    `${formatTime(entry.at)} · ${stateName(entry.state)}`, entry.by ? ` · ${t("by")} ${entry.by}` : "",
    entry.escalation ? ` · ${t("escalation")} ${typeof entry.escalation === "object"
      ? JSON.stringify(entry.escalation) : entry.escalation}` : "",
    entry.note ? el("div", { class: "muted small" }, entry.note) : null)));
  if (!timeline.length && alert.acted_by) {
    $("d-timeline").append(el("li", {}, `${formatTime(alert.updated_at)} · ${stateName(alert.state)} · ${t("by")} `
      + `${alert.acted_by}`, alert.note ? el("div", { class: "muted small" }, alert.note) : null));
  }

  const h = alert.history;
  $("d-history-summary").textContent = `${h.recent_alerts} ${t("recent_alerts")} · ${h.false_alarms} `
    + `${t("false_alarms")} · ${t("last_alert")}: ${h.last_alert_at ? formatTime(h.last_alert_at) : "—"}`;
  $("d-history").replaceChildren(...view.history.filter((a) => a.alert_id !== alert.alert_id).map((earlier) => {
    const falseAlarm = earlier.false_alarm || earlier.state === "false_alarm";
    return el("li", { class: falseAlarm ? "false-alarm" : "" }, `${formatTime(earlier.received_at)} · `
      + `${typeName(earlier.type)} · ${stateName(earlier.state)}`,
      falseAlarm ? el("span", { class: "state state-false_alarm" }, t("false_alarm_mark")) : null);
  }));

  if (!view.map) view.map = new AlertMap($("map"), view.config);
  view.map.show(alert);
}

async function loadDetail(alert) {
  const id = alert.alert_id;
  view.detailRev = alert.rev;
  try {
    const [detail, history] = await Promise.all([api.alert(id), api.deviceAlerts(alert.device.id)]);
    if (view.selected !== id) return;
    view.detail = detail;
    view.history = history;
    renderDetail();
  } catch (error) {
    handleError(error, "action-error");
  }
}

function select(id) {
  if (view.selected !== id) {
    view.selected = id;
    view.detail = null;
    view.history = [];
    $("note").value = "";
    $("action-error").textContent = "";
  }
  renderList();
  renderDetail();
  const alert = selectedAlert();
  if (alert) loadDetail(alert);
}

// The body of POST /alerts/{id}/ack. A gateway with the alert lifecycle answers GET /alerts/{id} with a
// timeline and takes `rev` (a stale one is refused) and the on_scene / false_alarm states; an older one
// takes a false alarm as resolved with false_alarm=true.
function ackBody(alert, target) {
  const by = localStorage.getItem(OPERATOR_KEY) || "operator";
  const note = $("note").value.trim() || null;
  if (view.detail && Array.isArray(view.detail.timeline)) return { state: target, by, note, rev: alert.rev };
  if (target === "false_alarm") return { state: "resolved", by, note, false_alarm: true };
  return { state: target, by, note };
}

async function act(alert, target) {
  $("action-error").textContent = "";
  for (const button of document.querySelectorAll("#buttons button")) button.disabled = true;
  try {
    await api.act(alert.alert_id, ackBody(alert, target));
    $("note").value = "";
    await loadDetail(alert);  // the list follows through the live feed
  } catch (error) {
    handleError(error, "action-error");
    renderDetail();
  }
}

// ---- live feed -------------------------------------------------------------------------------------

function apply(snapshot) {
  const openIds = snapshot.alerts.filter((a) => a.open).map((a) => a.alert_id);
  const fresh = view.known === null ? [] : openIds.filter((id) => !view.known.has(id));
  view.known = new Set([...(view.known || []), ...snapshot.alerts.map((a) => a.alert_id)]);
  view.alerts = snapshot.alerts;
  view.offline = snapshot.offline;
  if (fresh.length) beep();
  const current = selectedAlert();
  if (fresh.length && (!current || !current.open)) {
    select(fresh[0]);  // the newest new alert
  } else if (!current && view.alerts.length) {
    select(view.alerts[0].alert_id);
  } else {
    renderList();
    renderDetail();
    if (current && current.rev !== view.detailRev) loadDetail(current);
  }
  renderOffline();
}

function live(state) {
  const badge = $("live");
  badge.className = `live ${state}`;
  badge.dataset.i18n = { on: "live", off: "offline_feed", retry: "reconnecting" }[state];
  badge.textContent = t(badge.dataset.i18n);
}

function follow() {
  if (view.events) view.events.close();
  const events = new EventSource("/console/api/events");
  view.events = events;
  events.addEventListener("snapshot", (event) => { live("on"); apply(JSON.parse(event.data)); });
  events.addEventListener("unavailable", () => live("retry"));  // the gateway cannot read its database
  events.addEventListener("error", async () => {
    live("retry");
    if (events.readyState !== EventSource.CLOSED) return;  // the browser reconnects by itself
    try {
      await api.config();  // still logged in: the feed failed otherwise; try again
      setTimeout(() => { if (view.events === events) follow(); }, 3000);
    } catch (error) {
      handleError(error, "login-error");
    }
  });
}

// ---- login -----------------------------------------------------------------------------------------

function handleError(error, where) {
  if (error.status === 401) {
    showLogin(t("unknown_session"));
    return;
  }
  $(where).textContent = error.status ? `${t("not_allowed")} (${error.status}): ${error.message}` : String(error);
}

function showLogin(message = "") {
  if (view.events) view.events.close();
  view.events = null;
  live("off");
  $("console-view").hidden = true;
  $("logout").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message;
  $("operator").value = localStorage.getItem(OPERATOR_KEY) || "";
}

async function start() {
  try {
    view.config = await api.config();
  } catch (error) {
    if (error.status === 401) return showLogin();
    $("login-error").textContent = String(error.message);
    return showLogin(String(error.message));
  }
  $("login-view").hidden = true;
  $("console-view").hidden = false;
  $("logout").hidden = false;
  follow();
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  localStorage.setItem(OPERATOR_KEY, $("operator").value.trim());
  try {
    await api.login($("token").value.trim());
    $("token").value = "";
    await start();
  } catch (error) {
    $("login-error").textContent = error.status === 401 ? t("unknown_session")
      : error.status === 403 ? t("denied") : `${t("not_allowed")}: ${error.message}`;
  }
});

$("logout").addEventListener("click", async () => {
  await api.logout().catch(() => null);
  view.known = null;
  showLogin();
});

$("lang").addEventListener("click", () => {
  toggleLanguage();
  renderSound();
  renderList();
  renderDetail();
  renderOffline();
});

function renderSound() {
  const button = $("sound");
  button.dataset.i18n = soundEnabled() ? "sound_on" : "sound_off";
  button.textContent = t(button.dataset.i18n);
  button.setAttribute("aria-pressed", String(soundEnabled()));
}
$("sound").addEventListener("click", () => { setSound(!soundEnabled()); renderSound(); if (soundEnabled()) beep(); });

applyStatic();
renderSound();
setInterval(tickTimers, 1000);
start();
