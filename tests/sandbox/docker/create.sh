# shellcheck shell=bash
# Containers: `docker create` (and the create half of `run`): options, volumes, env files.

# ---------------------------------------------------------------- create -----------------------

to_bytes() { # 512m / 1g / 1024 -> bytes
  local v="${1,,}" n unit
  [[ "$v" =~ ^([0-9]+)([bkmg]?)b?$ ]] || die "invalid size: '$1'" 125
  n="${BASH_REMATCH[1]}"
  unit="${BASH_REMATCH[2]}"
  case "$unit" in
    k) echo $((n * 1024)) ;;
    m) echo $((n * 1024 * 1024)) ;;
    g) echo $((n * 1024 * 1024 * 1024)) ;;
    *) echo "$n" ;;
  esac
}

read_env_file() { # FILE -> KEY=VALUE lines
  local line
  [[ -r "$1" ]] || die "open $1: no such file or directory" 125
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line#"${line%%[![:space:]]*}"}"
    [[ -z "$line" || "$line" == \#* ]] && continue
    if [[ "$line" == *=* ]]; then
      printf '%s\n' "$line"
    elif [[ -n "${!line+x}" ]]; then
      printf '%s=%s\n' "$line" "${!line}"
    fi
  done <"$1"
}

random_name() {
  local adj=(admiring brave clever dreamy eager festive gallant happy jolly keen loving nifty quirky serene vibrant)
  local who=(curie darwin euler fermi galois hopper knuth lovelace noether pascal ritchie turing wozniak yalow)
  printf '%s_%s\n' "${adj[RANDOM % ${#adj[@]}]}" "${who[RANDOM % ${#who[@]}]}"
}

# Parse `create`/`run` options into globals (C_*). Sets C_REST to IMAGE ARGS...
parse_container_opts() {
  C_NAME="" C_HOSTNAME="" C_CIDFILE="" C_RESTART="no" C_SHM="" C_MEMORY=0 C_NETWORK="default"
  C_ENTRYPOINT="" C_USER="" C_WORKDIR="" C_RM="" C_DETACH="" C_INTERACTIVE=""
  C_ENV=() C_LABELS=() C_BINDS=() C_LINKS=() C_ALIASES=() C_PUBLISH=() C_REST=()
  local opt val hv
  while (($#)); do
    opt="$1"
    val=""
    hv=""
    case "$opt" in
      --*=*) val="${opt#*=}"; opt="${opt%%=*}"; hv=1 ;;
      -[evlmhuwp]?*) val="${opt:2}"; opt="${opt:0:2}"; val="${val#=}"; hv=1 ;;
    esac
    case "$opt" in
      --name | --hostname | -h | --label | -l | --cidfile | --env-file | -e | --env | --restart | --shm-size | \
        --memory | -m | -v | --volume | --network | --net | --network-alias | --net-alias | --link | \
        --entrypoint | -u | --user | -w | --workdir | --log-opt | --log-driver | -p | --publish | --expose | \
        --add-host | --dns | --ulimit | --cpus | --memory-swap | --stop-signal | --stop-timeout | --pull | --platform)
        if [[ -z "$hv" ]]; then
          (($# >= 2)) || die "flag needs an argument: $opt" 125
          val="$2"
          shift
        fi
        ;;
    esac
    case "$opt" in
      --name) C_NAME="$val" ;;
      --hostname | -h) C_HOSTNAME="$val" ;;
      --label | -l) C_LABELS+=("$val") ;;
      --cidfile) C_CIDFILE="$val" ;;
      --env-file) mapfile -t -O "${#C_ENV[@]}" C_ENV < <(read_env_file "$val") ;;
      -e | --env)
        if [[ "$val" == *=* ]]; then C_ENV+=("$val")
        elif [[ -n "${!val+x}" ]]; then C_ENV+=("$val=${!val}"); fi ;;
      --restart) C_RESTART="$val" ;;
      --shm-size) C_SHM="$(to_bytes "$val")" ;;
      --memory | -m) C_MEMORY="$(to_bytes "$val")" ;;
      -v | --volume) C_BINDS+=("$val") ;;
      --network | --net) C_NETWORK="$val" ;;
      --network-alias | --net-alias) C_ALIASES+=("$val") ;;
      --link) C_LINKS+=("$val") ;;
      -p | --publish) C_PUBLISH+=("$val") ;;
      --entrypoint) C_ENTRYPOINT="$val" ;;
      -u | --user) C_USER="$val" ;;
      -w | --workdir) C_WORKDIR="$val" ;;
      --rm) C_RM=1 ;;
      -d | --detach) C_DETACH=1 ;;
      -i | --interactive) C_INTERACTIVE=1 ;;
      -it | -ti) C_INTERACTIVE=1 ;;
      -t | --tty | --init | --privileged | -P | --publish-all | --read-only | -q | --quiet) ;;
      --log-opt | --log-driver | --expose | --add-host | --dns | --ulimit | --cpus | \
        --memory-swap | --stop-signal | --stop-timeout | --pull | --platform) ;;
      --) shift; C_REST=("$@"); return 0 ;;
      -*) die "unknown flag: $opt"$'\n'"See 'docker create --help'." 125 ;;
      *) C_REST=("$@"); return 0 ;;
    esac
    shift
  done
}

# Create a container from the parsed options; prints nothing, sets CREATED_ID.
create_container() { # CREATE_ERROR_CODE
  local code="$1" image_arg="${C_REST[0]}" img id cdir flavour ref
  [[ -n "$image_arg" ]] || die "\"docker create\" requires at least 1 argument." 1
  img="$(find_image "$image_arg")" || {
    echo "Unable to find image '$(normalize_ref "$image_arg")' locally" >&2
    daemon_error "No such image: $(normalize_ref "$image_arg")" "$code"
  }
  ref="$(normalize_ref "$image_arg")"
  [[ "$image_arg" =~ ^(sha256:)?[0-9a-f]{12,64}$ ]] && ref="$image_arg"
  flavour="$(jq -r .Flavour "$img")"
  [[ -n "$C_CIDFILE" && -s "$C_CIDFILE" ]] &&
    die "Error: container ID file found, make sure the other container isn't running or delete $C_CIDFILE" "$code"
  [[ -z "$C_NAME" ]] && C_NAME="$(random_name)"
  [[ "$C_NAME" =~ ^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$ ]] ||
    daemon_error "Invalid container name ($C_NAME), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed" "$code"
  C_NAME="${C_NAME#/}"
  id="$(random_hex64)"
  cdir="$CONTAINERS/$id"

  local env_json labels_json binds_json links_json aliases_json cmd_json publish_json
  env_json="$(json_array ${C_ENV[@]+"${C_ENV[@]}"})"
  labels_json="$(json_array ${C_LABELS[@]+"${C_LABELS[@]}"} | jq -c 'map(split("=") | {key: .[0], value: (.[1:] | join("="))}) | from_entries')"
  binds_json="$(json_array ${C_BINDS[@]+"${C_BINDS[@]}"})"
  links_json="$(json_array ${C_LINKS[@]+"${C_LINKS[@]}"})"
  aliases_json="$(json_array ${C_ALIASES[@]+"${C_ALIASES[@]}"})"
  publish_json="$(json_array ${C_PUBLISH[@]+"${C_PUBLISH[@]}"})"
  cmd_json="$(json_array "${C_REST[@]:1}")"

  local config
  config="$(jq -n --slurpfile img "$img" --arg id "$id" --arg name "/$C_NAME" --arg hostname "${C_HOSTNAME:-${id:0:12}}" \
    --arg ref "$ref" --arg created "$(now_rfc3339)" --argjson env "$env_json" --argjson labels "$labels_json" \
    --argjson binds "$binds_json" --argjson links "$links_json" --argjson aliases "$aliases_json" --argjson publish "$publish_json" \
    --argjson cmd "$cmd_json" --arg entrypoint "$C_ENTRYPOINT" --arg restart "$C_RESTART" \
    --arg shm "${C_SHM:-67108864}" --arg mem "$C_MEMORY" --arg network "$C_NETWORK" --arg user "$C_USER" \
    --arg workdir "$C_WORKDIR" --arg sandbox "$SANDBOX_DIR" -f "$DOCKER_HERE/container.jq")"
  with_lock "$STATE/.lock" register_container "$id" "$config" "$flavour" "$code"
  if is_postgres_flavour "$flavour"; then
    allocate_address "$cdir" | atomic_write "$cdir/address"
  fi
  if [[ -n "$C_CIDFILE" ]]; then
    printf '%s' "$id" >"$C_CIDFILE"
  fi
  CREATED_ID="$id"
}

register_container() { # ID CONFIG FLAVOUR CODE
  local other
  if other="$(find_container "$C_NAME")" && [[ "$(<"$CONTAINERS/$other/name")" == "$C_NAME" ]]; then
    daemon_error "Conflict. The container name \"/$C_NAME\" is already in use by container \"$other\". You have to remove (or rename) that container to be able to reuse that name." "$4"
  fi
  mkdir -p "$CONTAINERS/$1"
  printf '%s\n' "$3" >"$CONTAINERS/$1/flavour"
  printf '%s\n' "$C_NAME" >"$CONTAINERS/$1/name"
  printf '%s\n' "$2" | atomic_write "$CONTAINERS/$1/config.json"
}

cmd_create() {
  parse_container_opts "$@"
  ((${#C_REST[@]})) || die $'"docker create" requires at least 1 argument.\nSee \'docker create --help\'.' 1
  create_container 1
  printf '%s\n' "$CREATED_ID"
}

# ---------------------------------------------------------------- volumes / env ----------------

# The host path a container path maps to through the container's binds (empty when none).
host_path() { # CONFIG_FILE CONTAINER_PATH
  jq -r --arg p "$2" --arg vols "$STATE/volumes" '
    [.HostConfig.Binds[]? | split(":") | select(length >= 2)
     | {src: (if .[0] | startswith("/") then .[0] else $vols + "/" + .[0] end), dst: (.[1] | rtrimstr("/"))}
     | . as $b | select($p == $b.dst or ($p | startswith($b.dst + "/")))]
    | sort_by(.dst | length) | last
    | if . == null then "" else .src + ($p[(.dst | length):]) end' "$1"
}

# Rewrite each argument that is a container path under a bind mount to the host path.
translate_args() { # CONFIG_FILE ARGS... -> sets XARGS
  local config="$1" a h
  shift
  XARGS=()
  for a in "$@"; do
    if [[ "$a" == /* ]]; then
      h="$(host_path "$config" "$a")"
      [[ -n "$h" ]] && a="$h"
    fi
    XARGS+=("$a")
  done
}

# The environment of a process in container/image: KEY=VALUE lines on stdout. A postgres image's
# PATH has its own binaries first, then image-bin/ (the image's `su`), then the host's.
process_env() { # CONFIG_FILE FLAVOUR [SOCKDIR]
  local config="$1" bin pgdata home=/root
  bin="$(flavour_bin "$2")"
  [[ -n "$IS_ROOT" ]] || home="${HOME:-/}"
  pgdata="$(host_path "$config" "$(container_pgdata "$config")")"
  # A postgres image's pg_config answers for its server (image-tools/pg_config).
  [[ -n "$bin" ]] && bin="$DOCKER_HERE/image-tools:$bin"
  jq -r --arg bin "$bin" --arg tools "$DOCKER_HERE/image-bin" --arg pgdata "$pgdata" --arg home "$home" '
    .Config.Env[]
    | if startswith("PATH=") then "PATH=" + (if $bin != "" then $bin + ":" + $tools + ":" else "" end) + "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
      elif startswith("PGDATA=") and $pgdata != "" then "PGDATA=" + $pgdata
      elif . == "LANG=en_US.utf8" then "LANG=C.UTF-8"
      else . end' "$config"
  printf 'HOME=%s\nHOSTNAME=%s\n' "$home" "$(jq -r .Config.Hostname "$config")"
  if [[ -n "${3:-}" ]]; then
    printf 'PGHOST=%s\nPGPORT=%s\n' "$3" "$POSTGRES_PORT"
  fi
}

# The bind mounts of a container under the image's /var/lib/postgresql, as SRC:DST with SRC on
# the host (named volumes under $STATE/volumes), one per line, shortest DST first.
image_binds() { # CONFIG_FILE
  jq -r --arg vols "$STATE/volumes" '
    [.HostConfig.Binds[]? | split(":") | select(length >= 2)
    | select(.[1] | rtrimstr("/") | . == "/var/lib/postgresql" or startswith("/var/lib/postgresql/"))
    | {src: (if .[0] | startswith("/") then .[0] else $vols + "/" + .[0] end), dst: (.[1] | rtrimstr("/"))}]
    | sort_by(.dst | length)[] | .src + ":" + .dst' "$1"
}
