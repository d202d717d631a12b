#!/usr/bin/env bash
# Installs the Debian packages the test suite talks to for real:
#   chromium - headless browser that opens the HTML report
#   snmp     - net-snmp's snmpbulkwalk, the baseline of the SNMP benchmark
#   snmpd    - a second, independent SNMP agent implementation (SNMPv3 tests)
#   tshark   - the baseline of the capture benchmark
#   lldpd    - Debian's LLDP daemon, run inside every device of `netstage lab` (docs/lab.md)
#   iproute2 - ip/tc, which build the lab's namespaces, veths and shaping
#   poppler-utils - pdftotext/pdffonts/pdftoppm, which check the report PDF
# Only installs what is missing, and only when it can (root + apt-get).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v snmpbulkwalk >/dev/null 2>&1 || need+=(snmp)
[ -x /usr/sbin/snmpd ] || need+=(snmpd)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
[ -x /usr/sbin/lldpd ] || need+=(lldpd)
command -v tc >/dev/null 2>&1 || need+=(iproute2)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${need[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # tshark asks whether non-root users may capture; answer no without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections || true
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
  # snmpd starts a system agent on install; the project starts its own on 127.0.0.1 only.
  (systemctl stop snmpd 2>/dev/null || service snmpd stop 2>/dev/null || pkill -x snmpd) >/dev/null 2>&1 || true
  # lldpd likewise: the host's own interfaces must not speak LLDP; the lab starts its own
  # lldpd inside its namespaces only
  (systemctl disable --now lldpd 2>/dev/null || service lldpd stop 2>/dev/null) >/dev/null 2>&1 || true
else
  echo "system-deps: missing ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
  if [ "${CI:-}" = "true" ]; then exit 1; fi
fi
