"""District lab: a district's switching infrastructure emulated with real components.

Network namespaces (one per device), Linux bridges, veth pairs shaped with ``tc``, and in
each device the real daemons an audit talks to: Debian's ``lldpd`` (LLDP frames over the
veths) and net-snmp's ``snmpd`` (IF-MIB from the kernel, LLDP-MIB through lldpd's AgentX
sub-agent) on a management network that exists only inside the lab. See docs/lab.md.

:mod:`.plan` decides what the lab is (pure, testable without root); :mod:`.run` builds,
inspects and removes it (root only). :mod:`.tcpcheck` checks the simulator's max-min
shares against real TCP flows on small lab shapes (docs/validation.md).
"""

from netstage.auditor.lab.plan import LabPlan, plan_lab
from netstage.auditor.lab.run import LabError, lab_down, lab_status, lab_up

__all__ = ["LabError", "LabPlan", "lab_down", "lab_status", "lab_up", "plan_lab"]
