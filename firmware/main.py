# main.py: the device's entry point. (The simulator calls panic.app.main()
# itself, with virtual hardware instead of panic.hal's.)
#
# Import order matters when the modules are .py source: compiling needs
# large free heap blocks for a moment (about 90 KB for the MQTT client), so
# everything is compiled first, biggest first, while the heap is empty and
# not yet fragmented. boarddef, config and boot are unloaded again once used.
# (Deploying .mpy files from mpy-cross, or freezing them, avoids all this.)
import panic.mqtt  # noqa: F401
import panic.boarddef  # noqa: F401
import panic.config  # noqa: F401
import panic.boot  # noqa: F401
import panic.hal  # noqa: F401
from panic import app

app.main()
