"""The operator console: a web page for the people on duty, served by the gateway (docs/operations.md,
"Operator console").

    routes.py   the page, login (token -> session cookie), the data it reads, the live feed (SSE)
    records.py  what one alert and one offline device look like to the page
    static/     the page itself: HTML, CSS and plain ES modules, no build step; Leaflet vendored
                from npm by vendor.sh (static/vendor/leaflet/, with its licence)

Alerts are acted on through the API's own POST /alerts/{id}/ack, as by any dispatch client.
"""
