"""CSV: one station per line under a header naming the columns.

Columns: id, name, kind, lat, lon (required); parent, phones (optional;
several phones separated by ';'). Coordinates in decimal degrees (a '.'
for the decimal point). Lines starting with '#' before the header are
comments. Any other column is refused, so a misspelt one is not ignored.
"""

from __future__ import annotations

import csv
import io

from gateway.stations.coords import location_e7
from gateway.stations.formats import Parsed
from gateway.stations.model import Station, check_id, check_kind, check_name, check_phones

REQUIRED = ("id", "name", "kind", "lat", "lon")
OPTIONAL = ("parent", "phones")


def _without_leading_comments(text: str) -> str:
    """Comment lines before the header blanked (not removed, so line numbers stay right)."""
    lines = text.splitlines(keepends=True)
    for n, line in enumerate(lines):
        if line.lstrip().startswith("#"):
            lines[n] = "\n"
        elif line.strip():
            break
    return "".join(lines)


def station_from_row(row: dict[str, str]) -> Station:
    """One row's station; ValueError says which value is wrong."""
    lat_e7, lon_e7 = location_e7(row["lat"], row["lon"])
    return Station(id=check_id(row["id"].strip()), name=check_name(row["name"]),
                   kind=check_kind(row["kind"].strip().lower()), lat_e7=lat_e7, lon_e7=lon_e7,
                   parent=check_id(row["parent"].strip()) if row.get("parent", "").strip() else None,
                   phones=check_phones(row.get("phones", "").split(";")))


def parse_csv(text: str) -> Parsed:
    parsed = Parsed()
    reader = csv.reader(io.StringIO(_without_leading_comments(text), newline=""))
    header: list[str] | None = None
    end = 0  # the line the previous record ended on: a quoted field may span lines, name where it starts
    try:
        for fields in reader:
            start, end = end + 1, reader.line_num
            where = f"line {end}" if start == end else f"lines {start}-{end}"
            if not any(f.strip() for f in fields):
                continue
            if header is None:
                header = [f.strip().lower() for f in fields]
                if len(header) == 1 and ";" in header[0]:
                    parsed.problem(where, "header: the columns are separated by ';', not ',': save the file "
                                   "with ',' between columns and '.' as the decimal point (a spreadsheet set to "
                                   "Indonesian uses ';' and ',')")
                    return parsed
                missing = [c for c in REQUIRED if c not in header]
                unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
                duplicated = sorted({c for c in header if header.count(c) > 1})
                if missing or unknown or duplicated:
                    parsed.problem(where, "header: " + "; ".join(
                        part for part in (f"missing {', '.join(missing)}" if missing else "",
                                          f"unknown {', '.join(unknown)}" if unknown else "",
                                          f"repeated {', '.join(duplicated)}" if duplicated else "") if part)
                        + f" (columns are {', '.join(REQUIRED + OPTIONAL)})")
                    return parsed
                continue
            if len(fields) != len(header):
                parsed.problem(where, f"{len(fields)} fields; the header has {len(header)}")
                continue
            try:
                parsed.stations.append((where, station_from_row(dict(zip(header, fields, strict=True)))))
            except ValueError as exc:
                parsed.problem(where, str(exc))
    except csv.Error as exc:
        parsed.problem(f"line {reader.line_num}", f"not CSV: {exc}")
    if header is None:
        parsed.problem("line 1", "no header line (id,name,kind,lat,lon,...)")
    return parsed
