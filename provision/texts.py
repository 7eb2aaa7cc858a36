"""The tool's texts in English and Indonesian (`--lang en|id`, default from the locale)."""

from __future__ import annotations

import locale
import os

TEXTS: dict[str, tuple[str, str]] = {
    # key: (English, Indonesian)
    "port_busy": ("port {port} is in use by another program (another panic-provision, a serial monitor): "
                  "close it and try again",
                  "port {port} sedang dipakai program lain (panic-provision lain, serial monitor): "
                  "tutup program itu lalu coba lagi"),
    "port_denied": ("no permission to open {port}: add yourself to the dialout group "
                    "(sudo usermod -aG dialout $USER), log out and in again",
                    "tidak ada izin membuka {port}: masukkan akun Anda ke grup dialout "
                    "(sudo usermod -aG dialout $USER), lalu logout dan login lagi"),
    "port_missing": ("no serial port {port}: check the cable and run `panic-provision ports`",
                     "port serial {port} tidak ada: periksa kabel lalu jalankan `panic-provision ports`"),
    "wrong_device": ("the device on {port} does not answer as a panic button (no console reply): "
                     "is it the right port, with the panic firmware flashed (`panic-provision flash`)?",
                     "perangkat di {port} tidak menjawab sebagai tombol panik: benarkah port-nya, "
                     "dan sudahkah firmware dipasang (`panic-provision flash`)?"),
    "device_error": ("the unit refused: {msg} ({code})", "unit menolak: {msg} ({code})"),
    "gateway_unreachable": ("the gateway {url} cannot be reached: check the network and the URL",
                            "gateway {url} tidak bisa dihubungi: periksa jaringan dan URL"),
    "token_rejected": ("the gateway rejected the token: ask the administrator for a valid technician token "
                       "(PANIC_TOKEN or --token-file)",
                       "gateway menolak token: minta token teknisi yang berlaku kepada administrator "
                       "(PANIC_TOKEN atau --token-file)"),
    "no_token": ("no token: set PANIC_TOKEN or give --token-file FILE",
                 "token tidak ada: isi PANIC_TOKEN atau berikan --token-file FILE"),
    "gateway_error": ("the gateway refused: {msg}", "gateway menolak: {msg}"),
    "elsewhere": ("{dev} is registered to another deployment (key {key} is not the one this gateway issued): "
                  "it must be released by its operator or erased (`panic-provision flash`)",
                  "{dev} terdaftar di sistem lain (kunci {key} bukan dari gateway ini): "
                  "minta operatornya melepas, atau hapus unit (`panic-provision flash`)"),
    "already": ("{dev} is already registered here (key {key}); nothing to write",
                "{dev} sudah terdaftar di sini (kunci {key}); tidak ada yang perlu ditulis"),
    "registered": ("{dev} registered (key {key}), credentials written to the unit",
                   "{dev} terdaftar (kunci {key}), kredensial sudah ditulis ke unit"),
    "rebooting": ("restarting the unit...", "menyalakan ulang unit..."),
    "online": ("{dev} is connected to the broker", "{dev} sudah terhubung ke broker"),
    "not_online": ("{dev} did not connect to the broker within {s} s: check Wi-Fi and broker settings (`info`)",
                   "{dev} belum terhubung ke broker dalam {s} detik: periksa Wi-Fi dan broker (`info`)"),
    "configured": ("configuration written; the unit restarts to use it",
                   "konfigurasi tersimpan; unit menyala ulang untuk memakainya"),
    "press_now": ("press and hold the SOS button now (about 3 s)...",
                  "tekan dan tahan tombol SOS sekarang (sekitar 3 detik)..."),
    "test_ok": ("test alert {alert} arrived at the gateway as a test (not sent to police as real)",
                "alarm uji {alert} sudah sampai di gateway sebagai uji (tidak diteruskan ke polisi)"),
    "test_not_marked": ("alert {alert} arrived but as type {type}, not test: this firmware does not mark test "
                        "alerts yet, so it was handled as REAL",
                        "alarm {alert} sampai tetapi bertipe {type}, bukan test: firmware ini belum menandai "
                        "alarm uji, jadi diperlakukan sebagai alarm SUNGGUHAN"),
    "test_none": ("no alert from {dev} reached the gateway within {s} s",
                  "tidak ada alarm dari {dev} yang sampai di gateway dalam {s} detik"),
    "pass": ("PASS", "LULUS"),
    "fail": ("FAIL", "GAGAL"),
    "summary": ("summary", "ringkasan"),
    "row": ("row {n}/{total}: {what}", "baris {n}/{total}: {what}"),
    "skip_done": ("already done in the log, skipped", "sudah selesai menurut log, dilewati"),
    "wait_port": ("plug in the next board...", "colokkan papan berikutnya..."),
    "not_registered": ("{dev} is not registered: use `register` first", "{dev} belum terdaftar: pakai `register` dulu"),
    "rekeyed": ("{dev} re-keyed (key {old} -> {key}), new credentials written to the unit",
                "{dev} berganti kunci ({old} -> {key}), kredensial baru sudah ditulis ke unit"),
    "grace_kept": ("{dev} still has messages signed with its old key to deliver: the gateway keeps accepting "
                   "the old key until its grace period ends",
                   "{dev} masih punya pesan bertanda kunci lama untuk dikirim: gateway tetap menerima kunci lama "
                   "sampai masa tenggangnya habis"),
    "old_key_refused": ("the gateway no longer accepts the old key {old}",
                        "gateway tidak lagi menerima kunci lama {old}"),
    # info / check: what the unit sees now
    "sees_now": ("the unit sees now", "yang dilihat unit sekarang"),
    "pressed": ("pressed", "ditekan"),
    "not_pressed": ("not pressed", "tidak ditekan"),
    "open": ("OPEN", "TERBUKA"),
    "closed": ("closed", "tertutup"),
    "no_sensor": ("no sensor on this board", "papan ini tanpa sensor"),
    "battery": ("battery", "baterai"),
    "unknown": ("unknown", "tidak diketahui"),
    "no_receiver": ("no receiver on this board", "papan ini tanpa penerima GPS"),
    "gps_fix": ("fix, {sats} satellites, {age} s old", "fix, {sats} satelit, umur {age} detik"),
    "gps_old": ("no fix now (last fix {age} s ago)", "tidak ada fix sekarang (fix terakhir {age} detik lalu)"),
    "gps_none": ("no fix yet", "belum ada fix"),
    "modem_unused": ("not in use (board modem: {model})", "tidak dipakai (modem papan: {model})"),
    "wifi_up": ("connected, rssi {rssi} dBm", "terhubung, rssi {rssi} dBm"),
    "wifi_down": ("not connected", "tidak terhubung"),
    "broker_up": ("connected to {ep}", "terhubung ke {ep}"),
    "broker_down": ("not connected (endpoint {ep})", "tidak terhubung (endpoint {ep})"),
    "heap": ("{free} B free now, lowest {low} B", "{free} B bebas sekarang, terendah {low} B"),
    "led_ask": ("is the LED blinking fast now?", "apakah LED sekarang berkedip cepat?"),
    "buzzer_ask": ("did you hear the buzzer beep (once a second)?",
                   "apakah buzzer terdengar berbunyi (sekali per detik)?"),
    "led_not_shown": ("the unit did not blink (an alert is being sent, or no valid config)",
                      "unit tidak berkedip (alarm sedang dikirim, atau konfigurasi tidak sah)"),
    "no_buzzer": ("no buzzer on this board, or silent mode", "papan tanpa buzzer, atau mode senyap"),
    "said_yes": ("confirmed by the technician", "dikonfirmasi teknisi"),
    "said_no": ("the technician says no", "teknisi menjawab tidak"),
    "not_confirmed": ("nobody confirmed it (--yes / no terminal)",
                      "tidak ada yang mengonfirmasi (--yes / tanpa terminal)"),
    "not_checked": ("not checked", "tidak diperiksa"),
    "unconfirmed": ("NOT CONFIRMED", "BELUM DIKONFIRMASI"),
}


def language(choice: str | None = None) -> str:
    if choice in ("en", "id"):
        return choice
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            return "id" if value.startswith(("id", "in_")) else "en"
    found = locale.getlocale()[0] or ""
    return "id" if found.startswith(("id", "in_")) else "en"


class Texts:
    def __init__(self, lang: str) -> None:
        self.index = 1 if lang == "id" else 0

    def __call__(self, name: str, /, **values: object) -> str:
        return TEXTS[name][self.index].format(**values)
