// Texts in English and Indonesian. The language follows the browser (id* -> Indonesian) until the
// operator picks one with the ID / EN button; the choice is kept in this browser.
const TEXTS = {
  en: {
    title: "Operator console", login_title: "Log in", token: "Operator token",
    your_name: "Your name (recorded with each action)", login: "Log in", logout: "Log out",
    alerts: "Alerts", no_alerts: "No alerts.", offline_devices: "Offline devices",
    none_offline: "Every device is online.", owner: "Owner", premises: "Premises", location: "Location",
    device: "Device", stations: "Stations", actions: "Actions", note: "Note", timeline: "Timeline",
    history: "History of this device", live: "live", offline_feed: "not connected", reconnecting: "reconnecting…",
    sound_on: "Sound on", sound_off: "Sound off",
    type_sos: "SOS", type_silent_sos: "SILENT SOS", type_test: "TEST", type_other: "ALERT",
    state_new: "new", state_acknowledged: "acknowledged", state_dispatched: "dispatched",
    state_on_scene: "on scene", state_resolved: "resolved", state_false_alarm: "false alarm",
    state_cancelled: "cancelled", state_cancel_requested: "cancel requested",
    do_acknowledged: "Acknowledge", do_dispatched: "Dispatched", do_on_scene: "On scene",
    do_resolved: "Resolved", do_false_alarm: "False alarm", do_cancelled: "Confirm cancel",
    battery: "Battery", power: "Power", network: "Network", signal: "Signal", online: "Online",
    last_seen: "Last heard", firmware: "Firmware", yes: "yes", no: "no", unknown: "unknown",
    responsible: "responsible", candidate: "candidate", unrouted: "No station: not routed",
    source_gps: "GPS", source_premises: "registered premises", source_none: "no location",
    source_cell: "cell", accuracy: "accuracy", age: "fix age", contacts: "Emergency contacts",
    recent_alerts: "alerts in the last 30 days", false_alarms: "false alarms", last_alert: "last alert",
    false_alarm_mark: "false alarm", escalation: "Escalation level", by: "by", pressed: "pressed",
    since: "offline since", silent_hint: "Silent: do not call the premises",
    test_hint: "Test alert: no police response needed",
    unknown_session: "Unknown token or session expired: log in again.",
    not_allowed: "Refused", map_no_tiles: "No map tiles: positions on a coordinate grid",
    denied: "This token may not open the console (an operator's or admin's token is needed).",
    device_at_press: "Battery, power and network as sent with the alert",
  },
  id: {
    title: "Konsol operator", login_title: "Masuk", token: "Token operator",
    your_name: "Nama Anda (dicatat pada setiap tindakan)", login: "Masuk", logout: "Keluar",
    alerts: "Peringatan", no_alerts: "Tidak ada peringatan.", offline_devices: "Perangkat luring",
    none_offline: "Semua perangkat daring.", owner: "Pemilik", premises: "Tempat", location: "Lokasi",
    device: "Perangkat", stations: "Kantor polisi", actions: "Tindakan", note: "Catatan", timeline: "Riwayat status",
    history: "Riwayat perangkat ini", live: "langsung", offline_feed: "tidak terhubung",
    reconnecting: "menyambung ulang…", sound_on: "Suara nyala", sound_off: "Suara mati",
    type_sos: "SOS", type_silent_sos: "SOS SENYAP", type_test: "UJI", type_other: "PERINGATAN",
    state_new: "baru", state_acknowledged: "diterima", state_dispatched: "petugas berangkat",
    state_on_scene: "di lokasi", state_resolved: "selesai", state_false_alarm: "alarm palsu",
    state_cancelled: "dibatalkan", state_cancel_requested: "minta dibatalkan",
    do_acknowledged: "Terima", do_dispatched: "Petugas berangkat", do_on_scene: "Di lokasi",
    do_resolved: "Selesai", do_false_alarm: "Alarm palsu", do_cancelled: "Konfirmasi batal",
    battery: "Baterai", power: "Daya", network: "Jaringan", signal: "Sinyal", online: "Daring",
    last_seen: "Terakhir terdengar", firmware: "Firmware", yes: "ya", no: "tidak", unknown: "tidak diketahui",
    responsible: "bertanggung jawab", candidate: "cadangan", unrouted: "Tanpa kantor polisi: tidak dirutekan",
    source_gps: "GPS", source_premises: "alamat terdaftar", source_none: "tanpa lokasi",
    source_cell: "sel", accuracy: "akurasi", age: "umur posisi", contacts: "Kontak darurat",
    recent_alerts: "peringatan dalam 30 hari terakhir", false_alarms: "alarm palsu", last_alert: "peringatan terakhir",
    false_alarm_mark: "alarm palsu", escalation: "Tingkat eskalasi", by: "oleh", pressed: "ditekan",
    since: "luring sejak", silent_hint: "Senyap: jangan menelepon tempat itu",
    test_hint: "Peringatan uji: tidak perlu tindakan polisi",
    unknown_session: "Token tidak dikenal atau sesi berakhir: silakan masuk lagi.",
    not_allowed: "Ditolak", map_no_tiles: "Tanpa ubin peta: posisi pada kisi koordinat",
    denied: "Token ini tidak boleh membuka konsol (perlu token operator atau admin).",
    device_at_press: "Baterai, daya dan jaringan seperti dikirim bersama peringatan",
  },
};

const KEY = "panic-console-lang";
let lang = localStorage.getItem(KEY) || ((navigator.language || "en").toLowerCase().startsWith("id") ? "id" : "en");

export function language() { return lang; }

export function t(key) {
  return TEXTS[lang][key] ?? TEXTS.en[key] ?? key;
}

// A state or type name in the current language; unknown ones (from a newer gateway) as they are.
export function stateName(state) { return TEXTS[lang][`state_${state}`] ?? state; }

export function setLanguage(next) {
  lang = next in TEXTS ? next : "en";
  localStorage.setItem(KEY, lang);
  applyStatic();
}

export function toggleLanguage() { setLanguage(lang === "id" ? "en" : "id"); }

// Every element with data-i18n gets its text in the current language.
export function applyStatic() {
  document.documentElement.lang = lang;
  for (const element of document.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
}

export function formatTime(iso) {
  return iso ? new Date(iso).toLocaleString(lang === "id" ? "id-ID" : "en-GB") : t("unknown");
}
