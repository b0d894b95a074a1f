"""Run sushy-tools' Redfish emulator with one upstream bug repaired.

In sushy-tools 2.x, `api_utils` defines a logging function `error` that shadows the
`sushy_tools.error` module, so a request for a system outside
SUSHY_EMULATOR_ALLOWED_INSTANCES answers 500 (AttributeError) instead of 404. The lab needs
that allow-list (the emulator must not expose other domains on the machine) and a real BMC's
404, so point the name back at the module; nothing else in sushy-tools calls the function.
"""

from sushy_tools import error as emulator_errors
from sushy_tools.emulator import api_utils, main

api_utils.error = emulator_errors

if __name__ == "__main__":
    main.main()
