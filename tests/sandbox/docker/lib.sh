# shellcheck shell=bash
# Shared state and helpers of the docker emulation. Sourced by ./docker.

REPO="$(cd "$DOCKER_HERE/../../.." && pwd)"
IMAGE_CACHE="$REPO/.cache/sandbox-images"
GLOBAL_RUN="/tmp/dokku-sbx"

if [[ -z "${SANDBOX_DIR:-}" ]]; then
  echo "docker (sandbox): SANDBOX_DIR is not set; run DIR/bin/docker, the wrapper that sets it" >&2
  exit 1
fi
if [[ ! -d "$SANDBOX_DIR" ]]; then
  echo "docker (sandbox): SANDBOX_DIR=$SANDBOX_DIR is not a directory" >&2
  exit 1
fi
SANDBOX_DIR="$(cd "$SANDBOX_DIR" && pwd)"
STATE="$SANDBOX_DIR/docker"
REGISTRY="$STATE/registry"
IMAGES="$STATE/images"
CONTAINERS="$STATE/containers"
mkdir -p "$IMAGES" "$CONTAINERS"

IS_ROOT=""
[[ "$(id -u)" == 0 ]] && IS_ROOT=1

die() { # MESSAGE [CODE]
  echo "$1" >&2
  exit "${2:-1}"
}
daemon_error() { die "Error response from daemon: $1" "${2:-1}"; }

now_rfc3339() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }

# Write stdin to FILE atomically (readers never see a half-written file).
atomic_write() {
  local tmp
  tmp="$(mktemp "$1.XXXXXX")"
  cat >"$tmp"
  mv -f "$tmp" "$1"
}

# Run the rest of the command line while holding an exclusive lock on FILE.
with_lock() { # FILE CMD...
  local file="$1"
  shift
  (
    exec 8>"$file"
    flock 8
    "$@"
  )
}

# Evaluate a docker --format template over a JSON array read from stdin.
render_format() { # TEMPLATE
  local tpl="$1"
  tpl="${tpl#table }"
  jq -rj --arg tpl "$tpl" -f "$DOCKER_HERE/format.jq"
}

# "postgres:15" / "docker.io/library/postgres:15" / "postgres" -> canonical "postgres:15" / "postgres:latest"
normalize_ref() {
  local ref="$1" name tag
  ref="${ref#docker.io/}"
  ref="${ref#index.docker.io/}"
  ref="${ref#library/}"
  if [[ "${ref##*/}" == *:* ]]; then
    name="${ref%:*}"
    tag="${ref##*:}"
  else
    name="$ref"
    tag="latest"
  fi
  printf '%s:%s\n' "$name" "$tag"
}

ref_file_name() { # REF -> a file name for it
  local ref="$1"
  printf '%s.json\n' "${ref//\//%2F}"
}

short_id() { # sha256:abc... or abc... -> 12 hex
  local id="${1#sha256:}"
  printf '%s\n' "${id:0:12}"
}

random_hex64() {
  od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
}

# The PATH inside an image of a flavour (host tools after the image's own binaries).
flavour_bin() { # FLAVOUR
  case "$1" in
    pg15 | postgis15) echo "/usr/lib/postgresql/15/bin" ;;
    pg18) echo "$IMAGE_CACHE/pg18-ssl/bin" ;;
    pg1[1-46-7]) echo "$IMAGE_CACHE/$1/bin" ;;
    *) echo "" ;;
  esac
}

is_postgres_flavour() {
  case "$1" in pg1[1-8] | postgis15) return 0 ;; *) return 1 ;; esac
}

ensure_flavour_installed() { # FLAVOUR
  local bin
  bin="$(flavour_bin "$1")"
  [[ -z "$bin" || -x "$bin/postgres" ]] && return 0
  "$REPO/tests/sandbox/images" >&2 || die "docker (sandbox): the binaries of image flavour $1 are missing; run tests/sandbox/images"
}

# JSON array of the arguments, exactly (jq's --args would take "-c" etc. as its own options).
json_array() {
  local opts=() i=0 a
  for a in "$@"; do
    opts+=(--arg "a$i" "$a")
    i=$((i + 1))
  done
  jq -nc "${opts[@]}" '[$ARGS.named | to_entries[] | {k: (.key[1:] | tonumber), v: .value}] | sort_by(.k) | map(.v)'
}
