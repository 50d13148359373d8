# shellcheck shell=bash
# The parts of tests/regress/build: fetch and cache the sources, build regress.so twice,
# run pg_regress, then the old-version adjustments (docs/regress.md says why each is here).

REPO="$(cd "$HERE/../.." && pwd)"
# REGRESS_CACHE: another place for the downloads and builds (a worktree that shares .cache/).
CACHE="${REGRESS_CACHE:-$REPO/.cache/regress}"
PG15_BIN=/usr/lib/postgresql/15/bin
PG15_REGRESS=/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress
# The major the database moves to (tests/regress/build's third argument): its image's server
# must load a regress.so built for it.
TARGET="${TARGET:-18}"
TARGET_SERVER="$REPO/.cache/sandbox-images/pg$TARGET/bin/postgres"

say() { echo "regress: $*" >&2; }
die() { say "$*"; exit 1; }

# apt with a sources list of its own (Debian's bookworm with its deb-src, trixie for the 17
# headers, sid for the 18 ones),
# its own indexes and archive cache under .cache/regress/apt: the host's apt setup is not touched.
apt_private() { # APT-GET-OR-APT-CACHE ARGS...
  local tool="$1"
  shift
  "$tool" -q -o "Dir::Etc::SourceList=$CACHE/apt/sources.list" -o "Dir::Etc::SourceParts=$CACHE/apt/parts" \
    -o "Dir::State::Lists=$CACHE/apt/lists" -o "Dir::Cache=$CACHE/apt/cache" -o APT::Sandbox::User=root \
    -o Acquire::Languages=none "$@"
}

apt_private_update() {
  [[ -f "$CACHE/apt/.updated" ]] && return 0
  local key=/usr/share/keyrings/debian-archive-keyring.gpg
  mkdir -p "$CACHE/apt/parts" "$CACHE/apt/lists/partial" "$CACHE/apt/cache/archives/partial"
  cat >"$CACHE/apt/sources.list" <<EOF
deb-src [signed-by=$key] http://deb.debian.org/debian bookworm main
deb [signed-by=$key] http://deb.debian.org/debian bookworm main
deb [signed-by=$key] http://deb.debian.org/debian trixie main
deb [signed-by=$key] http://deb.debian.org/debian sid main
EOF
  apt_private apt-get update >&2
  touch "$CACHE/apt/.updated"
}

# The version of Debian's postgresql-15 the sandbox's 15 image runs: the source and headers match it.
pg15_version() {
  dpkg-query -W -f '${Version}' postgresql-15 2>/dev/null || die "postgresql-15 is not installed (run tests/deps)"
}

# Downloads (once) the postgresql-15 source and the server headers of 15 and the target.
fetch_downloads() {
  local v15 dl="$CACHE/dl"
  v15="$(pg15_version)"
  mkdir -p "$dl"
  if ! compgen -G "$dl/postgresql-15_${v15%%-*}.orig.tar.*" >/dev/null; then
    apt_private_update
    (cd "$dl" && apt_private apt-get source --download-only "postgresql-15=$v15" >&2)
  fi
  if ! compgen -G "$dl/postgresql-server-dev-15_*.deb" >/dev/null; then
    apt_private_update
    (cd "$dl" && apt_private apt-get download "postgresql-server-dev-15=$v15" >&2)
  fi
  if ! compgen -G "$dl/postgresql-server-dev-${TARGET}_*.deb" >/dev/null; then
    apt_private_update
    (cd "$dl" && apt_private apt-get download "postgresql-server-dev-$TARGET" >&2)
  fi
}

# The upstream tree's src/test/regress (the orig tarball: pg_regress's inputs and regress.c).
extract_source() {
  local tarball upstream
  tarball="$(compgen -G "$CACHE/dl/postgresql-15_*.orig.tar.*" | head -n1)"
  upstream="$(basename "$tarball")"
  upstream="postgresql-${upstream#postgresql-15_}"
  upstream="${upstream%.orig.tar.*}"
  SRC="$CACHE/src/$upstream/src/test/regress"
  [[ -f "$SRC/parallel_schedule" ]] && return 0
  mkdir -p "$CACHE/src"
  tar -xf "$tarball" -C "$CACHE/src" "$upstream/src/test/regress"
}

extract_headers() { # MAJOR
  local out="$CACHE/headers/$1"
  [[ -d "$out/usr/include/postgresql/$1/server" ]] && return 0
  rm -rf "$out"
  mkdir -p "$out"
  dpkg-deb -x "$(compgen -G "$CACHE/dl/postgresql-server-dev-$1_*.deb" | head -n1)" "$out"
}

# regress.so from the 15 source's regress.c, for MAJOR's server headers (compat.h: what 16 and
# 17 changed that regress.c of 15 relies on).
compile_regress() { # MAJOR
  local major="$1" out="$CACHE/lib/$1"
  [[ -f "$out/regress.so" && "$out/regress.so" -nt "$SRC/regress.c" && "$out/regress.so" -nt "$HERE/compat.h" ]] && return 0
  mkdir -p "$out"
  printf '#include "%s/compat.h"\n#include "%s/regress.c"\n' "$HERE" "$SRC" >"$out/regress-$major.c"
  gcc -O2 -fPIC -shared -Wall -Wno-unused-variable -Werror=implicit-function-declaration \
    -I"$CACHE/headers/$major/usr/include/postgresql/$major/server" -o "$out/regress.so.tmp" "$out/regress-$major.c"
  mv "$out/regress.so.tmp" "$out/regress.so"
}

# Every server symbol regress.so needs must be exported by the server that loads it (the headers
# are Debian's newest minor release, the server may be an older one).
check_symbols() { # REGRESS_SO SERVER_BINARY
  local missing
  missing="$(LC_ALL=C comm -23 \
    <(nm -D --undefined-only "$1" | awk '$2 !~ /@/ && $2 !~ /^_/ { print $2 }' | LC_ALL=C sort -u) \
    <(nm -D --defined-only "$2" | awk '{ print $3 }' | LC_ALL=C sort -u) | grep -vxE 'kill|environ' || true)"
  [[ -z "$missing" ]] || die "$1 needs symbols $2 does not export: $missing"
}

# The compiler and nm, from Debian, when this machine lacks them (as tests/deps installs the rest).
build_tools() {
  command -v gcc >/dev/null && command -v nm >/dev/null && return 0
  [[ $EUID -eq 0 ]] || die "gcc and binutils are missing (run as root: apt-get install -y gcc binutils)"
  say "installing gcc binutils"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc binutils libc6-dev >&2 || {
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc binutils libc6-dev >&2
  }
}

prepare_sources() {
  build_tools
  fetch_downloads
  extract_source
  extract_headers 15
  extract_headers "$TARGET"
  compile_regress 15
  compile_regress "$TARGET"
  check_symbols "$CACHE/lib/$TARGET/regress.so" "$(readlink -f "$TARGET_SERVER")"
}

# Each image gets its regress.so in its own $libdir, as a derived image would ship it; the
# functions then say '$libdir/regress' (adjust_database), the same text on both servers.
install_libs() {
  local libdir
  [[ -x "$TARGET_SERVER" ]] || die "no PostgreSQL $TARGET image binaries (run tests/sandbox/images)"
  # The server's $libdir: its pg_config says (npm's 17 build has none beside it: lib/postgresql).
  libdir="$("$(dirname "$TARGET_SERVER")/pg_config" --pkglibdir 2>/dev/null)" ||
    libdir="$(dirname "$(dirname "$(readlink -f "$TARGET_SERVER")")")/lib/postgresql"
  [[ -d "$libdir" ]] || die "no library folder $libdir for the $TARGET server"
  install_lib "$CACHE/lib/15/regress.so" "$("$PG15_BIN/pg_config" --pkglibdir)"
  install_lib "$CACHE/lib/$TARGET/regress.so" "$libdir"
}

install_lib() { # FILE DIR
  cmp -s "$1" "$2/regress.so" && return 0
  [[ -w "$2" ]] || die "cannot write $2/regress.so (run as root)"
  install -m 0755 "$1" "$2/regress.so"
}

# pg_regress of the 15 source's parallel schedule, inside the service's container (the trusted
# local socket, the image's psql), into its existing database.
run_pg_regress() { # DIR SERVICE
  local out="$1/regress-out" rc=0
  rm -rf "$out"
  mkdir -p "$out/results"
  # The server writes COPY TO files under results/; it runs as postgres when the sandbox is root.
  if id postgres >/dev/null 2>&1 && [[ $EUID -eq 0 ]]; then chown postgres "$out/results"; fi
  "$1/bin/docker" exec "dokku.postgres.$2" "$PG15_REGRESS" --use-existing --dbname=regression \
    --user=postgres --bindir= --dlpath="$("$PG15_BIN/pg_config" --pkglibdir)" \
    --inputdir="$SRC" --outputdir="$out" --schedule="$SRC/parallel_schedule" \
    --max-concurrent-tests=20 >"$out/pg_regress.log" 2>&1 || rc=$?
  if ((rc != 0)); then
    grep -E 'FAILED|failed' "$out/pg_regress.log" >&2 || true
    die "pg_regress failed ($rc): see $out/regression.diffs"
  fi
  grep -E '^# All|tests passed' "$out/pg_regress.log" >&2 || true
}

# SQL on stdin, in the regression database of SERVICE, stopping at the first error.
regression_sql() { # DIR SERVICE
  "$1/bin/docker" exec -i "dokku.postgres.$2" psql -X -q -v ON_ERROR_STOP=1 -U postgres -d regression
}

# What 002_pg_upgrade.pl does to an old 15 cluster before moving it (AdjustUpgrade.pm for
# 12 <= old < 16), then its rewrite of library paths outside $libdir to a path that does not
# depend on where the old build lives.
adjust_database() { # DIR SERVICE
  regression_sql "$1" "$2" <<'SQL'
ALTER TABLE public.tab_core_types DROP COLUMN aclitem;
DROP TABLE public.gtest_normal_child;
DROP TABLE public.gtest_normal_child2;
UPDATE pg_proc SET probin = '$libdir/' || regexp_replace(regexp_replace(probin, '^.*/', ''), '\.so$', '')
 WHERE probin IS NOT NULL AND probin NOT LIKE '$libdir/%';
SQL
  without_lz4 "$1" "$2"
  if ((TARGET == 18)); then
    without_icu "$1" "$2"
    without_xml "$1" "$2"
  fi
}

# The sandbox's 18 server (PyPI's build) has no libxml either, which the real postgres:18 image
# has: the xml test's tables (their rows do not load) and the views that use xml (they are not
# created) are dropped before a move to 18.
without_xml() { # DIR SERVICE
  regression_sql "$1" "$2" <<'SQL'
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT format('%I.%I', n.nspname, c.relname) AS rel, c.relkind
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              -- XMLELEMENT and its kin are expressions, not functions, and a built-in type is
              -- no dependency pg_depend records: the view's text says it.
              AND pg_get_viewdef(c.oid) ~* '\mxml'
              AND c.oid NOT IN (SELECT d.objid FROM pg_depend d WHERE d.deptype = 'e')
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', CASE r.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END, r.rel);
  END LOOP;
  FOR r IN SELECT DISTINCT format('%I.%I', n.nspname, c.relname) AS rel
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE a.atttypid = 'xml'::regtype AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  LOOP
    EXECUTE format('DROP TABLE IF EXISTS %s CASCADE', r.rel);
  END LOOP;
END $$;
SQL
}

# The sandbox's 18 server (PyPI's build) has no ICU, which Debian's 15 and the real postgres:18
# image have: the ICU collations the collate.icu.utf8 test leaves (coll_icu_upgrade, kept there
# for pg_upgrade's own test; nothing uses it) are dropped before a move to 18.
without_icu() { # DIR SERVICE
  regression_sql "$1" "$2" <<'SQL'
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regcollation AS coll FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
            WHERE c.collprovider = 'i' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  LOOP
    EXECUTE format('DROP COLLATION %s', r.coll);
  END LOOP;
END $$;
SQL
}

# The sandbox's 17 and 18 servers (npm's and PyPI's builds) have no lz4, which Debian's 15 and
# the real postgres:17 and 18 images have (18's pg_config says --with-lz4, its server refuses
# it): columns the compression test set to lz4 go back to pglz before the move.
without_lz4() { # DIR SERVICE
  regression_sql "$1" "$2" <<'SQL'
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS rel, a.attname, c.relkind
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE a.attcompression = 'l' AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'm')
  LOOP
    EXECUTE format('ALTER %s %s ALTER COLUMN %I SET COMPRESSION pglz',
                   CASE r.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, r.rel, r.attname);
  END LOOP;
END $$;
SQL
}
