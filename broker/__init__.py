"""Mosquitto configuration, launcher and credential issuing for the panic-button system."""
