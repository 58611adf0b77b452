#!/usr/bin/env bash
# Installs what bpftrail's build, demo and tests need on a Debian machine:
# the peer tools the conformance tests compare against (babeltrace2,
# python3-bt2, LTTng-UST, bpftrace), lttng-tools' lttng-relayd (the relayd
# streaming tests run their own on loopback ports), perf for the benchmark, the headers and
# tools the uprobe, USDT and symbolization tests build with, the AArch64
# cross compiler the USDT and pt_regs tests build arm64 binaries with,
# Chromium for the web-view tests, the Prometheus server the metrics test
# scrapes with, the OpenTelemetry Collector the OTLP test pushes to (built
# once from the Collector's Go modules into a cache, see otelcol.sh), and
# tracefs mounted.
set -euo pipefail

packages=(babeltrace2 python3-bt2 lttng-tools liblttng-ust-dev linux-perf gcc gcc-aarch64-linux-gnu make systemtap-sdt-dev binutils xz-utils tmux bpftrace chromium)
missing=()
for p in "${packages[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# prometheus: the test runs /usr/bin/prometheus itself, on loopback ports
# with its own configuration and storage. The package ships a service
# listening on all interfaces: apt is kept from starting it (policy-rc.d)
# and it is disabled at boot; nothing here ever starts it.
if ! dpkg -s prometheus >/dev/null 2>&1; then
	echo "setup: installing prometheus (its service stays stopped and disabled)"
	policy=/usr/sbin/policy-rc.d
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod +x "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
	if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
		systemctl disable --now prometheus.service >/dev/null 2>&1 || true
	else
		rm -f /etc/systemd/system/multi-user.target.wants/prometheus.service
	fi
fi
command -v go >/dev/null || { echo "setup: Go is missing (expected at /usr/local/go/bin)"; exit 1; }
"$(dirname "$0")/otelcol.sh" >/dev/null ||
	echo "setup: the OpenTelemetry Collector could not be built (scripts/otelcol.sh); TestBPFMetricsOTLP cannot run"
if ! grep -q ' tracefs ' /proc/self/mountinfo; then
	mount -t tracefs nodev /sys/kernel/tracing || true
fi
