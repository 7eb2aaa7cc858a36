#!/usr/bin/env bash
# Refresh the vendored Leaflet (the operator console's map) from the npm registry:
#   gateway/console/vendor.sh [version]
# Only the built files and the licence are kept (static/vendor/leaflet/); commit them.
# Nothing is fetched when the gateway runs or is installed: an operations room may have no internet.
set -euo pipefail
version="${1:-1.9.4}"
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/static/vendor/leaflet"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "leaflet@$version" >/dev/null && tar -xzf "leaflet-$version.tgz")
rm -rf "$dest"
mkdir -p "$dest/images"
cp "$work/package/dist/leaflet.js" "$work/package/dist/leaflet.js.map" "$work/package/dist/leaflet.css" "$dest/"
cp "$work/package/dist/images/"*.png "$dest/images/"
cp "$work/package/LICENSE" "$dest/LICENSE"
echo "$version" > "$dest/VERSION"
echo "leaflet $version -> $dest"
