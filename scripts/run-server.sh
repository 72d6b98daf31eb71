#!/usr/bin/env bash
# Starts ReFT Server on the default model (stories15M), fetching the model and building the jar when missing.
# Extra arguments go to the server, e.g. --server.port=9090 or --reft.model.path=/models/my-hf-dir
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/fetch-model.sh >/dev/null
jar=$(ls target/reft-server-*.jar 2>/dev/null | grep -v '\.original$' | head -n 1 || true)
if [ -z "$jar" ] || [ -n "$(find src pom.xml -newer "$jar" -type f 2>/dev/null | head -n 1)" ]; then
  mvn -B -q -DskipTests package
  jar=$(ls target/reft-server-*.jar | grep -v '\.original$' | head -n 1)
fi
export DJL_OFFLINE=true
exec java ${JAVA_OPTS:-} -jar "$jar" "$@"
