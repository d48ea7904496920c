"""When the provider rents its GPUs: the availability settings file (flat TOML keys in
`$GPUSETTLE_HOME/availability.toml`) and its schedule.

    schedule = ["mon-fri 19:00-07:00", "sat-sun 00:00-24:00"]   # absent or empty: always
    timezone = "Europe/Berlin"                                    # default: this machine's local time
    owner_util_percent = 20    # a free GPU busier than this ...
    owner_minutes = 2          # ... for this long is the owner's use (a foreign GPU process: at once)
    idle_minutes = 10          # idle this long before renting again
    reclaim = true             # reclaim reclaimable and interruptible leases when the owner needs the GPUs

One definition, in gpusettle.settings: `gpusettle provider availability set` writes it and the worker
(availability.py) reads it with the same model, so the two cannot drift apart.
"""

from __future__ import annotations

from ..settings import AVAILABILITY_FILE, AvailabilitySettings, load_availability, save_availability
from ..settings import AvailabilityWindow as Window

__all__ = ["AVAILABILITY_FILE", "AvailabilitySettings", "Window", "load_availability", "save_availability"]
