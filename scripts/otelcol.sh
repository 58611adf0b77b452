#!/usr/bin/env bash
# Builds the OpenTelemetry Collector that bpftrail's OTLP test pushes to,
# from the Collector's own Go modules with its builder (ocb): the OTLP
# receiver, the file exporter (OTLP JSON, one request a line) and the debug
# exporter. The binary goes to a cache directory, never into the repository:
#
#   scripts/otelcol.sh            # prints the path of the binary
#   BPFTRAIL_OTELCOL=$(scripts/otelcol.sh) go test ./cmd/bpftrail -run OTLP
#
# A second run with the same versions only prints the path. The first one
# downloads the modules and compiles for a few minutes.
set -euo pipefail

core=v0.165.0      # collector core modules (v0.x)
stable=v1.71.0     # collector stable modules released with $core
contrib=v0.165.1   # contrib modules released with $core

export PATH=/usr/local/go/bin:$PATH
cache=${BPFTRAIL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bpftrail}/otelcol-$core
bin=$cache/otelcol-bpftrail
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
mkdir -p "$cache"
GOBIN=$cache go install "go.opentelemetry.io/collector/cmd/builder@$core" >&2
cat >"$cache/builder.yaml" <<YAML
dist:
  name: otelcol-bpftrail
  description: OpenTelemetry Collector for bpftrail's tests
  output_path: $cache/src
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $core
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter $core
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter $contrib
providers:
  - gomod: go.opentelemetry.io/collector/confmap/provider/fileprovider $stable
  - gomod: go.opentelemetry.io/collector/confmap/provider/envprovider $stable
YAML
"$cache/builder" --config "$cache/builder.yaml" >&2
mv "$cache/src/otelcol-bpftrail" "$bin"
echo "$bin"
