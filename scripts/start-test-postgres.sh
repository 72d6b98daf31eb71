#!/usr/bin/env bash
# Starts a local PostgreSQL 15 for the registry's store tests and makes sure role and database reft/reft
# (password reft) exist. Safe to run again: every step checks first. Afterwards the tests find it through
#   REFT_TEST_JDBC_URL=jdbc:postgresql://localhost:5432/reft REFT_TEST_JDBC_USER=reft REFT_TEST_JDBC_PASSWORD=reft
set -euo pipefail

if ! command -v pg_ctlcluster >/dev/null || [ ! -x /usr/lib/postgresql/15/bin/postgres ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q postgresql-15
fi

if ! pg_lsclusters -h | awk '$1 == 15 && $2 == "main"' | grep -q .; then
  pg_createcluster 15 main
fi
if ! pg_lsclusters -h | awk '$1 == 15 && $2 == "main" && $4 == "online"' | grep -q .; then
  pg_ctlcluster 15 main start
fi

for _ in $(seq 1 30); do
  if su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1; then break; fi
  sleep 1
done

psql_admin() { su postgres -c "psql -v ON_ERROR_STOP=1 -qAt -c \"$1\""; }
if [ "$(psql_admin "select 1 from pg_roles where rolname = 'reft'")" != "1" ]; then
  psql_admin "create role reft login password 'reft'"
fi
if [ "$(psql_admin "select 1 from pg_database where datname = 'reft'")" != "1" ]; then
  psql_admin "create database reft owner reft"
fi
echo "PostgreSQL 15 ready: jdbc:postgresql://localhost:5432/reft (user reft, password reft)"
