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
# Class data sharing (a start about a quarter faster): the jar is extracted and its classes archived once per build,
# by a start that exits once the application context is up, on the default model, a scratch store and no database
# (never the caller's settings or data). If that fails, the server starts from the jar as it is.
app=target/app
# one archive per JVM build: an archive another JVM wrote would be skipped
archive="$app/reft-server-$(java -version 2>&1 | head -n 1 | tr -c 'A-Za-z0-9._\n-' '_').jsa"
if [ ! -f "$archive" ] || [ "$jar" -nt "$archive" ]; then
  rm -rf "$app"
  scratch=$(mktemp -d)
  if java -Djarmode=tools -jar "$jar" extract --destination "$app" >/dev/null 2>&1 \
      && java -XX:ArchiveClassesAtExit="$archive" -Xlog:cds=off -Xlog:cds+dynamic=off \
        -Dspring.context.exit=onRefresh -jar "$app/$(basename "$jar")" --reft.model.path=models/stories15M/stories15M.bin \
        --reft.store.path="$scratch" --reft.store.jdbc-url= --server.port=0 --management.server.port=0 \
        >"$scratch/archive.log" 2>&1 \
      && [ -f "$archive" ]; then
    echo "class data archive written to $archive" >&2
  else
    echo "no class data archive (see $scratch/archive.log); starting from the jar" >&2
    rm -rf "$app"
    scratch=
  fi
  [ -n "$scratch" ] && rm -rf "$scratch"
fi
if [ -f "$archive" ]; then
  exec java -XX:SharedArchiveFile="$archive" -Xlog:cds=off ${JAVA_OPTS:-} -jar "$app/$(basename "$jar")" "$@"
fi
exec java ${JAVA_OPTS:-} -jar "$jar" "$@"
