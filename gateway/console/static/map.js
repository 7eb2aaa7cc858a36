// The alert map (Leaflet, vendored). Tiles only when the gateway names a tile server
// (PANIC_CONSOLE_TILE_URL); without them, or when they cannot be reached, positions still show on a
// plain background: markers, a latitude/longitude grid with labels, a scale, and a coordinate readout.
import { t } from "./i18n.js";

const L = window.L;
const STEPS = [10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001];

function text(value) {
  const span = document.createElement("span");
  span.textContent = value;
  return span;
}

function decimals(step) { return Math.max(0, Math.ceil(-Math.log10(step))); }

// Latitude/longitude lines about every 100-200 px, labelled at the map's top and left edges.
const Graticule = L.LayerGroup.extend({
  onAdd(map) {
    L.LayerGroup.prototype.onAdd.call(this, map);
    map.on("moveend zoomend resize", this.redraw, this);
    this.redraw();
  },
  onRemove(map) {
    map.off("moveend zoomend resize", this.redraw, this);
    L.LayerGroup.prototype.onRemove.call(this, map);
  },
  redraw() {
    const map = this._map;
    if (!map) return;
    this.clearLayers();
    const bounds = map.getBounds();
    const span = Math.max(bounds.getEast() - bounds.getWest(), bounds.getNorth() - bounds.getSouth());
    const step = STEPS.find((s) => span / s >= 3) ?? STEPS[STEPS.length - 1];
    const places = decimals(step);
    const style = { color: "#7a8ca3", weight: 1, opacity: 0.6, interactive: false };
    const south = Math.max(-85, bounds.getSouth()), north = Math.min(85, bounds.getNorth());
    for (let lat = Math.ceil(south / step) * step; lat <= north; lat += step) {
      this.addLayer(L.polyline([[lat, bounds.getWest()], [lat, bounds.getEast()]], style));
      this.addLayer(L.marker([lat, bounds.getWest()], { interactive: false, icon: L.divIcon({
        className: "grid-label grid-lat", html: `${lat.toFixed(places)}°`, iconSize: null }) }));
    }
    for (let lon = Math.ceil(bounds.getWest() / step) * step; lon <= bounds.getEast(); lon += step) {
      this.addLayer(L.polyline([[south, lon], [north, lon]], style));
      this.addLayer(L.marker([north, lon], { interactive: false, icon: L.divIcon({
        className: "grid-label grid-lon", html: `${lon.toFixed(places)}°`, iconSize: null }) }));
    }
  },
});

// Shows the coordinates under the pointer (or of the map's centre).
const Readout = L.Control.extend({
  options: { position: "bottomright" },
  onAdd(map) {
    const box = L.DomUtil.create("div", "coord-readout");
    const show = (latlng) => { box.textContent = `${latlng.lat.toFixed(6)}, ${latlng.lng.toFixed(6)}`; };
    map.on("mousemove", (event) => show(event.latlng));
    map.on("moveend", () => show(map.getCenter()));
    show(map.getCenter());
    return box;
  },
});

export class AlertMap {
  constructor(element, config) {
    this.map = L.map(element, { zoomControl: false, attributionControl: Boolean(config.tile_url) });
    L.control.zoom({ position: "topright" }).addTo(this.map);
    this.map.setView([-5.43, 105.26], 12);
    if (config.tile_url) {
      L.tileLayer(config.tile_url, { maxZoom: 19, attribution: config.tile_attribution || "" }).addTo(this.map);
    } else {
      element.classList.add("no-tiles");
      const note = L.control({ position: "bottomleft" });
      note.onAdd = () => L.DomUtil.create("div", "map-note");
      note.addTo(this.map);
      this.note = note.getContainer();
    }
    new Graticule().addTo(this.map);
    L.control.scale({ metric: true, imperial: false }).addTo(this.map);
    new Readout().addTo(this.map);
    this.markers = L.layerGroup().addTo(this.map);
  }

  // Markers for the alert's location (and accuracy), its premises, the responsible and candidate stations.
  show(alert) {
    if (this.note) this.note.textContent = t("map_no_tiles");
    this.markers.clearLayers();
    const points = [];
    const add = (lat, lon, style, label) => {
      if (typeof lat !== "number" || typeof lon !== "number") return;
      const marker = L.circleMarker([lat, lon], style).bindTooltip(text(label),
        { permanent: style.permanent ?? false, direction: style.direction ?? "auto" });
      this.markers.addLayer(marker);
      points.push([lat, lon]);
    };
    const where = alert.location || {};
    if (typeof where.lat === "number" && where.accuracy_m) {
      this.markers.addLayer(L.circle([where.lat, where.lon], { radius: where.accuracy_m, color: "#c62828",
        weight: 1, fillOpacity: 0.08, interactive: false }));
    }
    const premises = alert.premises || {};
    if (where.source !== "premises") {
      add(premises.lat, premises.lon, { radius: 6, color: "#6a1b9a", fillOpacity: 0.6 }, premises.address || "");
    }
    const candidates = alert.candidates || [];
    for (const station of candidates) {
      add(station.lat, station.lon, { radius: 7, color: "#546e7a", fillOpacity: 0.5 },
        `${station.name} (${t("candidate")}, ${(station.distance_m / 1000).toFixed(1)} km)`);
    }
    const station = alert.station;
    if (station) {
      add(station.lat, station.lon, { radius: 9, color: "#1565c0", fillOpacity: 0.8, permanent: true, direction: "top" },
        `${station.name} (${t("responsible")}, ${(station.distance_m / 1000).toFixed(1)} km)`);
    }
    add(where.lat, where.lon, { radius: 10, color: "#b71c1c", fillColor: "#e53935", fillOpacity: 0.9, permanent: true,
      direction: "bottom" },
      alert.owner ? alert.owner.name : alert.alert_id);
    if (points.length === 1) this.map.setView(points[0], 15);
    else if (points.length > 1) this.map.fitBounds(points, { padding: [30, 30], maxZoom: 16 });
    this.map.invalidateSize();
  }
}
