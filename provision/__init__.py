"""The technician's tooling: build the firmware for a unit (``panic-fw build``), and next, provision it."""
