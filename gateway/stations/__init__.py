"""Police stations: the registry's records, importing them from files, and routing an alert to one.

- model.py: what a station is (id, kind, parent, exact location, phones, coverage);
- formats/: reading CSV, GeoJSON and OpenStreetMap exports into stations;
- importer.py: checking a whole file (all or nothing) against what is stored;
- router.py: the responsible station and the next candidates for a location;
- cli.py: `panic-gateway stations ...`.
See docs/stations.md.
"""
