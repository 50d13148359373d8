# shellcheck shell=bash
# The parts of tests/compare/compare. Each side's facts go to $WORK/{old,new}/FACET; one facet
# is a sorted file of KEY<TAB>VALUE lines, compared key by key.

KV_FACETS=(relations sequences large_objects roles passwords memberships settings database extensions
  system_objects extension_members subscriptions publications event_triggers acls alter_system)

fail() { echo "compare: $*" >&2; exit 2; }

service_file() { # SERVICE FILE
  local f="$DIR/var/lib/dokku/services/postgres/$1/$2"
  [[ -r "$f" ]] || fail "no service $1 in $DIR (no $f)"
  tr -d '\n' <"$f"
}

service_image() { # SERVICE -> IMAGE:TAG
  local image version
  image="$(service_file "$1" IMAGE)"
  version="$(service_file "$1" IMAGE_VERSION)"
  echo "$image:$version"
}

# psql inside the service's container: the trusted local socket and the image's own psql.
# SQL comes on stdin; errors go to stderr and do not stop the script (compare_errors reports
# them). Only pg_catalog is searched: a database's own operators cannot change what the SQL means.
psql_in() { # SERVICE
  { echo 'SET search_path = pg_catalog;'; cat; } |
    "$DIR/bin/docker" exec -i "dokku.postgres.$1" psql -X -q -A -t -F $'\t' -b -U postgres \
      -d "$(service_file "$1" DATABASE_NAME)"
}

collect() { # SIDE SERVICE IMAGE
  local side="$1" service="$2" facet
  mkdir -p "$WORK/$side"
  # One psql session for every facet: a marker line before each facet's output splits them.
  for facet in "${KV_FACETS[@]}" rows; do
    printf '\\echo @@facet %s\n' "$facet"
    cat "$HERE/sql/$facet.sql"
  done | psql_in "$service" 2>"$WORK/$side/errors" |
    awk -v dir="$WORK/$side" '/^@@facet / { out = dir "/" $2 ".unsorted"; printf "" >out; next } { print >out }' ||
    fail "psql in the container of $service failed: $(tail -n 3 "$WORK/$side/errors")"
  for facet in "${KV_FACETS[@]}" rows; do
    LC_ALL=C sort "$WORK/$side/$facet.unsorted" >"$WORK/$side/$facet"
    rm "$WORK/$side/$facet.unsorted"
  done
  if [[ -n "$LOGINS" ]]; then
    try_logins "$service" "$3" | LC_ALL=C sort >"$WORK/$side/logins"
  fi
  dump_schema "$service" "$3" >"$WORK/$side/schema.sql"
  if [[ "$side" == old ]]; then
    sed -E -f "$ADJUST_OLD" "$WORK/old/schema.sql" >"$WORK/old/schema-adjusted.sql"
  else
    cp "$WORK/new/schema.sql" "$WORK/new/schema-adjusted.sql"
  fi
  split_blocks <"$WORK/$side/schema-adjusted.sql" >"$WORK/$side/blocks"
}

# pg_dump --schema-only of SERVICE by IMAGE's pg_dump (the new image's, for both sides), in a
# throwaway container linked to the service; the password goes in an env file, not in argv.
dump_schema() { # SERVICE IMAGE
  local alias="dokku-postgres-$1" env="$WORK/env-$1"
  (umask 077 && printf 'PGPASSWORD=%s\n' "$(service_file "$1" PASSWORD)" >"$env")
  "$DIR/bin/docker" run --rm --link "dokku.postgres.$1:$alias" --env-file "$env" "$2" \
    pg_dump --schema-only -h "$alias" -U postgres -d "$(service_file "$1" DATABASE_NAME)" ||
    fail "pg_dump of $1 failed"
  rm -f "$env"
}

# Each ROLE<TAB>PASSWORD line of $LOGINS tried over TCP as an app connects (a throwaway
# container of IMAGE linked to the service, the password in an env file): ROLE<TAB>ok|refused.
try_logins() { # SERVICE IMAGE
  local role password alias="dokku-postgres-$1" env="$WORK/login-$1.env" db
  db="$(service_file "$1" DATABASE_NAME)"
  while IFS=$'\t' read -r role password; do
    [[ -n "$role" && "$role" != '#'* ]] || continue
    (umask 077 && printf 'PGPASSWORD=%s\n' "$password" >"$env")
    if "$DIR/bin/docker" run --rm --link "dokku.postgres.$1:$alias" --env-file "$env" "$2" \
      psql -X -w -h "$alias" -U "$role" -d "$db" -Atc 'SELECT 1' >/dev/null 2>&1; then
      printf '%s\tok\n' "$role"
    else
      printf '%s\trefused\n' "$role"
    fi
  done <"$LOGINS"
  rm -f "$env"
}

# One record per line of the dump, BLOCK<TAB>LINE, where BLOCK is pg_dump's own header of the
# object ("Name: …; Type: …; Schema: …", the owner left in the content); a second object with the
# same header gets " #2"; the closing comment is block "end". The per-run \restrict key and the
# version comments are dropped.
split_blocks() {
  awk '
    /^\\(un)?restrict / || /^-- Dumped (from|by) / { next }
    /^-- (Data for )?Name: / {
      key = substr($0, 4); sub(/; Owner: [^;]*/, "", key)
      if (++seen[key] > 1) key = key " #" seen[key]
    }
    /^-- PostgreSQL database dump complete/ { key = "end" }
    NF { print (key == "" ? "preamble" : key) "\t" $0 }'
}

keep_work() {
  [[ -n "${COMPARE_KEEP:-}" ]] || return 0
  rm -f "$WORK"/old/passwords "$WORK"/new/passwords "$WORK"/env-* "$WORK"/login-*
  mkdir -p "$COMPARE_KEEP"
  cp -r "$WORK"/. "$COMPARE_KEEP"/
}
