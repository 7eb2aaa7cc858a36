"""SMS ingress: the gateway's own GSM modem (docs/sms.md).

format.py is the wire format (protocol/README.md, "SMS"), pdu.py the 3GPP TS
23.040 PDUs the modem speaks, modem.py the pyserial AT driver, ingress.py the
reader that stores, judges (through gateway/ingest.py) and acknowledges.
"""
