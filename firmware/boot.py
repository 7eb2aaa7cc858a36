# boot.py: runs first on every reset. Kept empty on purpose: everything the
# button does starts from main.py, so a broken app can never stop the REPL or
# the serial console from coming up.
