"""`panic-gateway`: migrate the database, run the MQTT bridge and the registry API."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

import uvicorn
from pydantic import ValidationError
from pydantic_settings import SettingsError

from broker.accounts import BrokerAccounts, DynsecAccounts
from broker.nats import NatsAccounts
from gateway.api.app import create_app
from gateway.bridge import Bridge
from gateway.dc09 import Dc09Forwarder
from gateway.dc09.queue import Dc09Queue
from gateway.metrics import Metrics
from gateway.notify.channels import Notifier, SmsNotifier, WebhookNotifier
from gateway.notify.worker import NotifyWorker
from gateway.registry import Registry
from gateway.settings import Settings
from gateway.sms.acks import SmsAckWorker
from gateway.sms.ingress import SmsIngress
from gateway.sms.modem import Modem
from gateway.stations import cli as stations_cli
from gateway.storage.db import make_engine, migrate, session_factory
from gateway.storage.sms import SmsStore
from gateway.storage.store import Store

log = logging.getLogger("gateway")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="panic-gateway",
        description="Panic-button gateway: MQTT bridge and registry API. Every option can also be set "
        "with its PANIC_* environment variable (see docs/operations.md); options win.",
        epilog="The police stations registry: panic-gateway stations {import,list,route} ... "
        "(panic-gateway stations --help, docs/stations.md).",
    )
    parser.add_argument("--database-url", help="SQLAlchemy URL (PANIC_DATABASE_URL)")
    parser.add_argument("--mqtt-host", help="broker host (PANIC_MQTT_HOST)")
    parser.add_argument("--mqtt-port", type=int, help="broker port (PANIC_MQTT_PORT)")
    parser.add_argument("--mqtt-client-id", help="persistent-session client id (PANIC_MQTT_CLIENT_ID)")
    parser.add_argument("--api-host", help="API listen address (PANIC_API_HOST)")
    parser.add_argument("--api-port", type=int, help="API port (PANIC_API_PORT)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING (PANIC_LOG_LEVEL)")
    parser.add_argument("--no-api", action="store_true", help="run only the MQTT bridge")
    return parser.parse_args(argv)


def _setting_name(loc: tuple[int | str, ...]) -> str:
    """Where a setting is wrong, e.g. `mqtt_port`; never a secret: the API tokens are the keys of
    PANIC_API_TOKENS, so past the setting's name its location would be a token."""
    return "api_tokens" if loc[:1] == ("api_tokens",) else ".".join(map(str, loc))


def load_settings(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in vars(args).items() if v is not None and k != "no_api"}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # Say which setting is wrong and stop, before touching the database.
        problems = "; ".join(f"{_setting_name(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SystemExit(f"panic-gateway: invalid settings: {problems}") from None
    except SettingsError as exc:  # an environment variable that is not even parseable
        raise SystemExit(f"panic-gateway: invalid settings: {exc}") from None


def start_sms(settings: Settings, modem: Modem | None, bridge: Bridge, store: Store,
              metrics: Metrics) -> SmsIngress | None:
    """The SMS ingress on the modem at PANIC_SMS_PORT (docs/sms.md), or None when no port is set."""
    if modem is None:
        return None
    ingress = SmsIngress(modem, store, SmsStore(store.sessions), bridge.ingest, metrics, bridge.commit_judged,
                         poll_s=settings.sms_poll_s)
    ingress.start()
    log.info("SMS ingress on %s at %d baud", settings.sms_port, settings.sms_baud)
    return ingress


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["stations"]:  # `panic-gateway stations ...` (docs/stations.md)
        return stations_cli.main(argv[1:])
    args = parse_args(argv)
    settings = load_settings(args)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    migrate(settings.database_url)
    store = Store(session_factory(make_engine(settings.database_url)), settings.history_days,
                  instance=settings.mqtt_client_id, lease_s=settings.outbox_lease_s,
                  escalate_after_s=settings.escalate_after_s or None)
    metrics = Metrics()
    admin_password = settings.broker_admin_password.get_secret_value()
    accounts: BrokerAccounts | None
    if settings.broker_kind == "nats":
        accounts = NatsAccounts(settings.nats_accounts_dir) if settings.nats_accounts_dir else None
    else:
        accounts = (DynsecAccounts(settings.mqtt_host, settings.mqtt_port, settings.broker_admin_username,
                                   admin_password) if admin_password else None)
    if accounts is None:
        log.warning("no PANIC_BROKER_ADMIN_PASSWORD (NATS: PANIC_NATS_ACCOUNTS_DIR): registered devices get "
                    "no broker account")
    if not settings.api_tokens and not args.no_api:
        log.warning("no PANIC_API_TOKENS: every API route but /health will answer 401")

    bridge = Bridge(settings, store, metrics)
    forwarder = Dc09Forwarder(settings.dc09_receivers, Dc09Queue(store.sessions, store.instance, store.lease_s),
                              metrics, poll_s=settings.outbox_poll_s)
    bridge.publisher.on_committed.append(forwarder.wake)
    # The gateway's GSM modem (PANIC_SMS_PORT): SMS alerts come in on it and notifications go out on it;
    # the driver runs one AT command at a time, so both share it.
    modem = Modem.open(settings.sms_port, settings.sms_baud) if settings.sms_port else None
    # Notifications (docs/operations.md): webhooks when configured; SMS when a modem is.
    notifiers: list[Notifier] = ([WebhookNotifier(settings.notify_webhooks, settings.notify_timeout_s)]
                                 if settings.notify_webhooks else [])
    if modem is not None:
        notifiers.append(SmsNotifier(modem))
    notify = NotifyWorker(settings, store, bridge.publisher.stations, metrics, notifiers)
    bridge.publisher.on_committed.append(notify.wake)
    # States police set, texted to buttons whose alert came by SMS (docs/sms.md): on the same modem.
    sms_acks = SmsAckWorker(settings, store, modem, metrics) if modem is not None else None
    if sms_acks is not None:
        bridge.publisher.on_committed.append(sms_acks.wake)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        stop.set()

    # Installed before uvicorn runs: uvicorn captures SIGINT/SIGTERM while it
    # serves, then restores these handlers and raises the captured signal
    # again, which then lands here instead of killing the process before the
    # bridge has stopped.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    notify.start()
    if sms_acks is not None:
        sms_acks.start()
    forwarder.start()  # with no receiver configured it has no sender and sends nothing
    bridge.start()
    sms = start_sms(settings, modem, bridge, store, metrics)
    if args.no_api:
        stop.wait()
    else:
        registry = Registry(store.registry, accounts, settings.key_grace_s,
                            dc09_accounts=[r.accounts() for r in settings.dc09_receivers])
        app = create_app(settings, store, registry, metrics, acknowledge=bridge.acknowledgements.apply,
                         broker_connected=bridge.connected.is_set, station_directory=bridge.publisher.stations,
                         commands_=bridge.commands)
        server = uvicorn.Server(uvicorn.Config(app, host=settings.api_host, port=settings.api_port,
                                               log_level=settings.log_level.lower(), access_log=False))
        # Long-lived responses (the console's live feed) end when the server is exiting, or uvicorn
        # would wait for them before stopping.
        app.state.exiting = lambda: server.should_exit
        server.run()  # returns on SIGINT/SIGTERM
    if sms_acks is not None:
        sms_acks.stop()
    if sms is not None:
        sms.stop()
    bridge.stop()
    forwarder.stop()
    notify.stop()
    log.info("gateway stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
