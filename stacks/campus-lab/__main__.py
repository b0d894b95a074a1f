"""The campus 5G blueprint on the lab, deployed after stacks/lab: both stacks share the lab
inventory's store (TCRR and TCWI), so the MCO places the campus on what the plant left: its
DU on the lab node nobody holds, its UPF on the hugepages the historian left, its application
on lab_factory's cluster beside the plant's releases."""

from tcra.blueprints import stack_config
from tcra.blueprints.campus5g import Campus5gBlueprint, Campus5gStack

with stack_config.reported():
    campus = Campus5gBlueprint("campus", stack_config.read(Campus5gStack).blueprint_args())
campus.export()
