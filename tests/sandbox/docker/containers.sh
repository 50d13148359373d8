# shellcheck shell=bash
# Containers: create/start/stop/restart/rm/inspect/ls/exec/logs and the sandbox-only verbs.
#
# $STATE/containers/<id>/config.json  docker-shaped inspect object (State refreshed lazily)
#                        name         the name, without "/"
#                        flavour      pg11 … pg18 | postgis15 | s3backup | wait | busybox
#                        port         its TCP port on 127.0.0.1 (postgres flavours)
#                        log          stdout+stderr of the container's main process
#                        supervisor.pid, server.pid, exitcode   while/after it runs

PORT_DIR="$GLOBAL_RUN/ports"
PORT_MIN=21000
PORT_MAX=29999

sock_dir() { printf '%s/%s\n' "$GLOBAL_RUN" "${1:0:12}"; }

# ---------------------------------------------------------------- lookup -----------------------

# Print the full id of the container called or identified by ARG; return 1 when there is none.
find_container() { # ARG
  local arg="${1#/}" d matches=()
  [[ -n "$arg" ]] || return 1
  if [[ -f "$CONTAINERS/$arg/config.json" ]]; then
    printf '%s\n' "$arg"
    return 0
  fi
  for d in "$CONTAINERS"/*/; do
    d="${d%/}"
    [[ -f "$d/name" && "$(<"$d/name")" == "$arg" ]] && { printf '%s\n' "${d##*/}"; return 0; }
  done
  if [[ "$arg" =~ ^[0-9a-f]+$ ]]; then
    for d in "$CONTAINERS/$arg"*/; do
      [[ -f "$d/config.json" ]] && matches+=("${d%/}")
    done
    if ((${#matches[@]} == 1)); then
      printf '%s\n' "${matches[0]##*/}"
      return 0
    fi
  fi
  return 1
}

need_container() { # ARG -> id, or docker's error
  find_container "$1" || daemon_error "No such container: $1"
}

all_container_ids() {
  local d
  for d in "$CONTAINERS"/*/; do
    [[ -f "$d/config.json" ]] && printf '%s\n' "$(basename "$d")"
  done
  return 0
}

# ---------------------------------------------------------------- process state ----------------

# Is the supervisor of container ID alive (and really ours, not a recycled pid)?
supervisor_alive() { # ID
  local cdir="$CONTAINERS/$1" pid
  [[ -f "$cdir/supervisor.pid" ]] || return 1
  pid="$(<"$cdir/supervisor.pid")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$cdir"
}

is_running() { # ID
  [[ ! -f "$CONTAINERS/$1/exitcode" ]] && supervisor_alive "$1"
}

# Bring State in config.json up to date with the processes (a server may have died on its own).
refresh_state() { # ID
  local id="$1" cdir="$CONTAINERS/$1" status code finished
  status="$(jq -r .State.Status "$cdir/config.json")"
  [[ "$status" == running ]] || return 0
  is_running "$id" && return 0
  code=137
  [[ -f "$cdir/exitcode" ]] && code="$(<"$cdir/exitcode")"
  finished="$(now_rfc3339)"
  [[ -f "$cdir/finished" ]] && finished="$(<"$cdir/finished")"
  set_state "$id" exited "$code" "$finished"
}

set_state() { # ID STATUS [EXITCODE] [FINISHED]
  local cdir="$CONTAINERS/$1" pid=0 ip=""
  if [[ "$2" == running ]]; then
    pid="$(<"$cdir/supervisor.pid")"
    ip="172.17.0.$(( (16#${1:0:2} % 250) + 2 ))"
  fi
  jq --arg st "$2" --argjson pid "$pid" --arg ip "$ip" --arg code "${3:-0}" --arg fin "${4:-}" --arg now "$(now_rfc3339)" '
    .State.Status = $st | .State.Running = ($st == "running") | .State.Pid = $pid
    | .State.ExitCode = ($code | tonumber)
    | (if $st == "running" then .State.StartedAt = $now | .State.FinishedAt = "0001-01-01T00:00:00Z" else . end)
    | (if $st == "exited" then .State.FinishedAt = (if $fin == "" then $now else $fin end) else . end)
    | .NetworkSettings.IPAddress = $ip
    | .NetworkSettings.Networks |= with_entries(.value.IPAddress = $ip)' "$cdir/config.json" |
    atomic_write "$cdir/config.json"
}

container_json() { # ID -> refreshed inspect object
  refresh_state "$1"
  cat "$CONTAINERS/$1/config.json"
}

# ---------------------------------------------------------------- ports ------------------------

port_in_use() { # PORT
  [[ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]]
}

# Pick a free TCP port for container dir CDIR; global across every sandbox on this machine.
allocate_port() { # CDIR
  mkdir -p "$PORT_DIR"
  chmod 1777 "$GLOBAL_RUN" 2>/dev/null || true
  with_lock "$GLOBAL_RUN/ports.lock" allocate_port_locked "$1"
}

allocate_port_locked() { # CDIR
  local cdir="$1" span=$((PORT_MAX - PORT_MIN + 1)) start i port owner f
  # Forget the ports (and socket dirs) of containers whose sandbox has been deleted.
  for f in "$PORT_DIR"/*; do
    [[ -f "$f" ]] || continue
    owner="$(<"$f")"
    [[ -n "$owner" && ! -d "$owner" ]] || continue
    rm -f "$f"
    owner="${owner##*/}"
    [[ "$owner" =~ ^[0-9a-f]{64}$ ]] && rm -rf "${GLOBAL_RUN:?}/${owner:0:12}"
  done
  start=$(( (RANDOM * 32768 + RANDOM) % span ))
  for ((i = 0; i < span; i++)); do
    port=$((PORT_MIN + (start + i) % span))
    if [[ -f "$PORT_DIR/$port" ]]; then
      owner="$(<"$PORT_DIR/$port")"
      [[ -d "$owner" ]] && continue # held by a live container (of any sandbox)
    fi
    port_in_use "$port" && continue
    printf '%s\n' "$cdir" >"$PORT_DIR/$port"
    printf '%s\n' "$port"
    return 0
  done
  die "docker (sandbox): no free TCP port in $PORT_MIN-$PORT_MAX" 1
}

release_port() { # CDIR
  local cdir="$1" port
  [[ -f "$cdir/port" ]] || return 0
  port="$(<"$cdir/port")"
  if [[ -f "$PORT_DIR/$port" && "$(<"$PORT_DIR/$port")" == "$cdir" ]]; then
    rm -f "$PORT_DIR/$port"
  fi
}

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
  C_ENV=() C_LABELS=() C_BINDS=() C_LINKS=() C_ALIASES=() C_REST=()
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
      --entrypoint) C_ENTRYPOINT="$val" ;;
      -u | --user) C_USER="$val" ;;
      -w | --workdir) C_WORKDIR="$val" ;;
      --rm) C_RM=1 ;;
      -d | --detach) C_DETACH=1 ;;
      -i | --interactive) C_INTERACTIVE=1 ;;
      -it | -ti) C_INTERACTIVE=1 ;;
      -t | --tty | --init | --privileged | -P | --publish-all | --read-only | -q | --quiet) ;;
      --log-opt | --log-driver | -p | --publish | --expose | --add-host | --dns | --ulimit | --cpus | \
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

  local env_json labels_json binds_json links_json aliases_json cmd_json
  env_json="$(json_array ${C_ENV[@]+"${C_ENV[@]}"})"
  labels_json="$(json_array ${C_LABELS[@]+"${C_LABELS[@]}"} | jq -c 'map(split("=") | {key: .[0], value: (.[1:] | join("="))}) | from_entries')"
  binds_json="$(json_array ${C_BINDS[@]+"${C_BINDS[@]}"})"
  links_json="$(json_array ${C_LINKS[@]+"${C_LINKS[@]}"})"
  aliases_json="$(json_array ${C_ALIASES[@]+"${C_ALIASES[@]}"})"
  cmd_json="$(json_array "${C_REST[@]:1}")"

  local config
  config="$(jq -n --slurpfile img "$img" --arg id "$id" --arg name "/$C_NAME" --arg hostname "${C_HOSTNAME:-${id:0:12}}" \
    --arg ref "$ref" --arg created "$(now_rfc3339)" --argjson env "$env_json" --argjson labels "$labels_json" \
    --argjson binds "$binds_json" --argjson links "$links_json" --argjson aliases "$aliases_json" \
    --argjson cmd "$cmd_json" --arg entrypoint "$C_ENTRYPOINT" --arg restart "$C_RESTART" \
    --arg shm "${C_SHM:-67108864}" --arg mem "$C_MEMORY" --arg network "$C_NETWORK" --arg user "$C_USER" \
    --arg workdir "$C_WORKDIR" --arg sandbox "$SANDBOX_DIR" '
    $img[0] as $i
    # container env overrides image env key by key, like docker
    | ($env | map({key: (split("=")[0]), value: .}) | from_entries) as $over
    | ([$i.Config.Env[] | (split("=")[0]) as $k | if $over[$k] then $over[$k] else . end]
       + [$env[] | (split("=")[0]) as $k | select(([$i.Config.Env[] | split("=")[0]] | index($k)) == null)]
       | reduce .[] as $e ([]; if index([$e]) then . else . + [$e] end)) as $fullenv
    | (if $entrypoint != "" then [$entrypoint] else $i.Config.Entrypoint end) as $ep
    | (if ($cmd | length) > 0 then $cmd elif $entrypoint != "" then null else $i.Config.Cmd end) as $c
    | ((($ep // []) + ($c // []))) as $argv
    | (if $network == "default" then "bridge" else $network end) as $net
    | {
        Id: $id, Created: $created, Path: ($argv[0] // ""), Args: ($argv[1:]),
        State: {Status: "created", Running: false, Paused: false, Restarting: false, OOMKilled: false,
                Dead: false, Pid: 0, ExitCode: 0, Error: "",
                StartedAt: "0001-01-01T00:00:00Z", FinishedAt: "0001-01-01T00:00:00Z"},
        Image: $i.Id, ResolvConfPath: "", HostnamePath: "", HostsPath: "", LogPath: "",
        Name: $name, RestartCount: 0, Driver: "overlay2", Platform: "linux",
        HostConfig: {Binds: $binds, NetworkMode: $network, PortBindings: {},
                     RestartPolicy: {Name: $restart, MaximumRetryCount: 0}, AutoRemove: false,
                     Links: (if ($links | length) > 0 then $links else null end),
                     ShmSize: ($shm | tonumber), Memory: ($mem | tonumber)},
        Mounts: [$binds[] | split(":") | select(length >= 2)
                 | {Type: (if .[0] | startswith("/") then "bind" else "volume" end),
                    Source: .[0], Destination: .[1], Mode: (.[2] // ""), RW: ((.[2] // "") != "ro"),
                    Propagation: "rprivate"}],
        Config: {Hostname: $hostname, Domainname: "", User: $user, AttachStdin: false, AttachStdout: false,
                 AttachStderr: false, ExposedPorts: ($i.Config.ExposedPorts // null), Tty: false,
                 OpenStdin: false, StdinOnce: false, Env: $fullenv, Cmd: $c, Image: $ref,
                 Volumes: ($i.Config.Volumes // null), WorkingDir: $workdir, Entrypoint: $ep,
                 OnBuild: null, Labels: (($i.Config.Labels // {}) + $labels),
                 StopSignal: ($i.Config.StopSignal // "SIGTERM")},
        NetworkSettings: {Bridge: "", SandboxID: "", Ports: {}, IPAddress: "", Gateway: "",
                          Networks: {($net): {Aliases: (if ($aliases | length) > 0 then $aliases else null end),
                                              IPAddress: "", Gateway: "", Links: null}}}
      }')"
  with_lock "$STATE/.lock" register_container "$id" "$config" "$flavour" "$code"
  if is_postgres_flavour "$flavour"; then
    allocate_port "$cdir" | atomic_write "$cdir/port"
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

# The environment of a process in container/image: KEY=VALUE lines on stdout.
process_env() { # CONFIG_FILE FLAVOUR [SOCKDIR PORT]
  local config="$1" bin pgdata home=/root
  bin="$(flavour_bin "$2")"
  [[ -n "$IS_ROOT" ]] || home="${HOME:-/}"
  pgdata="$(host_path "$config" "$(container_pgdata "$config")")"
  jq -r --arg bin "$bin" --arg pgdata "$pgdata" --arg home "$home" '
    .Config.Env[]
    | if startswith("PATH=") then "PATH=" + (if $bin != "" then $bin + ":" else "" end) + "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
      elif startswith("PGDATA=") and $pgdata != "" then "PGDATA=" + $pgdata
      elif . == "LANG=en_US.utf8" then "LANG=C.UTF-8"
      else . end' "$config"
  printf 'HOME=%s\nHOSTNAME=%s\n' "$home" "$(jq -r .Config.Hostname "$config")"
  if [[ -n "${3:-}" ]]; then
    printf 'PGHOST=%s\nPGPORT=%s\n' "$3" "$4"
  fi
}

# ---------------------------------------------------------------- start / stop -----------------

cmd_start() { # [-a] [-i] CONTAINER...
  local arg id rc=0
  while [[ "${1:-}" == -* ]]; do shift; done
  (($#)) || die "\"docker start\" requires at least 1 argument." 1
  for arg in "$@"; do
    if ! id="$(find_container "$arg")"; then
      echo "Error response from daemon: No such container: $arg" >&2
      rc=1
      continue
    fi
    with_lock "$CONTAINERS/$id/lock" start_container "$id" || { rc=1; continue; }
    printf '%s\n' "$arg"
  done
  return "$rc"
}

start_container() { # ID
  local id="$1" cdir="$CONTAINERS/$1" flavour config bin pgdata port sockdir args=() envs=()
  refresh_state "$id"
  is_running "$id" && return 0
  config="$cdir/config.json"
  flavour="$(<"$cdir/flavour")"
  if ! is_postgres_flavour "$flavour"; then
    echo "Error response from daemon: docker (sandbox): containers of image $(jq -r .Config.Image "$config") cannot be started here; use docker run --rm" >&2
    return 1
  fi
  ensure_flavour_installed "$flavour"
  bin="$(flavour_bin "$flavour")"
  pgdata="$(container_pgdata "$config")"
  local host old_dbs
  host="$(host_path "$config" "$pgdata")"
  old_dbs="$(old_databases "$config" "$pgdata")"
  if [[ -z "$host" ]]; then
    host="$cdir/anonymous-volume/data"
    mkdir -p "$host"
  fi
  port="$(<"$cdir/port")"
  sockdir="$(sock_dir "$id")"
  mkdir -p "$sockdir"
  chmod 755 "$sockdir"
  [[ -n "$IS_ROOT" ]] && chown postgres:postgres "$sockdir"
  # The image's entrypoint: "postgres ARGS" or "-x ..." (options for postgres) run the server.
  mapfile -t args < <(jq -r '.Config.Cmd // [] | .[]' "$config")
  if ((${#args[@]})) && [[ "${args[0]}" == postgres ]]; then
    args=("${args[@]:1}")
  elif ((${#args[@]})) && [[ "${args[0]}" != -* ]]; then
    echo "Error response from daemon: docker (sandbox): only the postgres server can run in a container (got ${args[0]})" >&2
    return 1
  fi
  mapfile -t envs < <(process_env "$config" "$flavour")
  local superuser
  superuser="$(jq -r '[.Config.Env[] | select(startswith("POSTGRES_USER=")) | .[14:]] | last // "postgres"' "$config")"
  rm -f "$cdir/exitcode" "$cdir/finished" "$cdir/server.pid"
  : >>"$cdir/log"
  (
    cd / || exit 1
    close_inherited_fds
    exec env -i "${envs[@]}" setsid "$DOCKER_HERE/supervise" "$cdir" "$bin" "$host" "$port" "$sockdir" "$old_dbs" "${args[@]}" \
      >>"$cdir/log" 2>&1 </dev/null &
    printf '%s\n' "$!" >"$cdir/supervisor.pid"
  )
  set_state "$id" running
  # Unlike docker, return once the server accepts connections or has exited, so that the
  # next command sees a settled container.
  local i
  for ((i = 0; i < 600; i++)); do
    [[ -f "$cdir/exitcode" ]] && break
    supervisor_alive "$id" || break
    if [[ -f "$cdir/server.pid" ]] && "$bin/pg_isready" -q -h "$sockdir" -p "$port" -U "$superuser" -d postgres 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  refresh_state "$id"
  return 0
}

# PGDATA inside the container: the container's env (the image's unless -e overrode it).
container_pgdata() { # CONFIG
  local pgdata
  pgdata="$(jq -r '.Config.Env[] | select(startswith("PGDATA=")) | .[7:]' "$1" | tail -n1)"
  printf '%s\n' "${pgdata:-/var/lib/postgresql/data}"
}

# What the 18+ entrypoint calls "old databases" (docs/postgres-image.md), one per line, for a
# container whose PGDATA is the per-major /var/lib/postgresql/MAJOR/docker: a cluster at
# /var/lib/postgresql, /var/lib/postgresql/data or another major's dir, or else (18+) a mount
# at /var/lib/postgresql/data that the image no longer uses. Nothing when PGDATA has a cluster.
old_databases() { # CONFIG PGDATA
  local config="$1" pgdata="$2" major d h
  major="$(jq -r '[.Config.Env[] | select(startswith("PG_MAJOR=")) | .[9:]] | last // ""' "$config")"
  [[ -n "$major" && "$pgdata" == "/var/lib/postgresql/$major/docker" ]] || return 0
  h="$(host_path "$config" "$pgdata")"
  [[ -n "$h" && -s "$h/PG_VERSION" ]] && return 0
  local found=0 root
  root="$(host_path "$config" /var/lib/postgresql)"
  for d in /var/lib/postgresql /var/lib/postgresql/data; do
    h="$(host_path "$config" "$d")"
    [[ -n "$h" && -s "$h/PG_VERSION" ]] && { echo "$d"; found=1; }
  done
  if [[ -n "$root" ]]; then
    for h in "$root"/*/docker; do
      [[ -s "$h/PG_VERSION" ]] && { echo "/var/lib/postgresql/${h#"$root/"}"; found=1; }
    done
  fi
  if ((found == 0 && major >= 18)) && jq -e '.HostConfig.Binds[]? | split(":") | select(length >= 2) | select(.[1] | rtrimstr("/") == "/var/lib/postgresql/data")' "$config" >/dev/null; then
    echo "/var/lib/postgresql/data (unused mount/volume)"
  fi
  return 0
}

# In a subshell about to start a long-lived process: close every descriptor but 0-2, so that
# no caller's pipe or lock stays open in the server (a caller reading our output must see EOF).
close_inherited_fds() {
  local path fd
  for path in "/proc/$BASHPID/fd/"*; do
    fd="${path##*/}"
    [[ "$fd" =~ ^[0-9]+$ ]] && ((fd > 2 && fd != 255)) || continue
    [[ -e "/proc/$BASHPID/fd/$fd" ]] || continue
    exec {fd}>&- || true
  done
}

stop_container() { # ID TIMEOUT
  local id="$1" cdir="$CONTAINERS/$1" timeout="${2:-10}" spid server i
  refresh_state "$id"
  if is_running "$id"; then
    spid="$(<"$cdir/supervisor.pid")"
    server=""
    [[ -f "$cdir/server.pid" ]] && server="$(<"$cdir/server.pid")"
    # docker stop sends the image's StopSignal (SIGINT for postgres: a fast shutdown).
    if [[ -n "$server" ]]; then kill -INT "$server" 2>/dev/null || true; else kill -TERM "$spid" 2>/dev/null || true; fi
    for ((i = 0; i < timeout * 10; i++)); do
      supervisor_alive "$id" || break
      sleep 0.1
    done
    if supervisor_alive "$id"; then
      kill -KILL -- "-$spid" 2>/dev/null || kill -KILL "$spid" 2>/dev/null || true
      [[ -z "$server" ]] || kill -KILL "$server" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        supervisor_alive "$id" || break
        sleep 0.1
      done
    fi
  fi
  refresh_state "$id"
}

# stop/restart flags: [-t N] [-s SIGNAL] -> STOP_TIMEOUT, STOP_NAMES[]
parse_stop_flags() { # VERB ARGS...
  local verb="$1"
  shift
  STOP_TIMEOUT=10
  while (($#)); do
    case "$1" in
      -t | --time | --timeout) STOP_TIMEOUT="$2"; shift ;;
      --time=* | --timeout=* | -t=*) STOP_TIMEOUT="${1#*=}" ;;
      -s | --signal) shift ;;
      -*) die "unknown flag: $1" 125 ;;
      *) break ;;
    esac
    shift
  done
  (($#)) || die "\"docker $verb\" requires at least 1 argument." 1
  STOP_NAMES=("$@")
}

# Stops (and with `restart`, starts again) each named container; prints each name done.
stop_each() { # restart|stop
  local arg id rc=0
  for arg in "${STOP_NAMES[@]}"; do
    if ! id="$(find_container "$arg")"; then
      echo "Error response from daemon: No such container: $arg" >&2
      rc=1
      continue
    fi
    with_lock "$CONTAINERS/$id/lock" stop_container "$id" "$STOP_TIMEOUT"
    if [[ $1 == restart ]]; then
      with_lock "$CONTAINERS/$id/lock" start_container "$id" || { rc=1; continue; }
    fi
    printf '%s\n' "$arg"
  done
  return "$rc"
}

cmd_stop() { # [-t N] CONTAINER...
  parse_stop_flags stop "$@"
  stop_each stop
}

cmd_restart() { # [-t N] CONTAINER...
  parse_stop_flags restart "$@"
  stop_each restart
}

remove_container() { # ID
  local cdir="$CONTAINERS/$1"
  release_port "$cdir"
  rm -rf "$(sock_dir "$1")" "$cdir"
}

cmd_rm() { # [-f] [-v] CONTAINER...
  local force="" arg id rc=0 name
  while (($#)); do
    case "$1" in
      -f | --force) force=1 ;;
      -v | --volumes | -l | --link) ;;
      -fv | -vf) force=1 ;;
      -*) die "unknown flag: $1" 125 ;;
      *) break ;;
    esac
    shift
  done
  (($#)) || die "\"docker rm\" requires at least 1 argument." 1
  for arg in "$@"; do
    if ! id="$(find_container "$arg")"; then
      [[ -n "$force" ]] && continue
      echo "Error response from daemon: No such container: $arg" >&2
      rc=1
      continue
    fi
    refresh_state "$id"
    if is_running "$id"; then
      if [[ -z "$force" ]]; then
        name="$(<"$CONTAINERS/$id/name")"
        echo "Error response from daemon: cannot remove container \"/$name\": container is running: stop the container before removing or force remove" >&2
        rc=1
        continue
      fi
      with_lock "$CONTAINERS/$id/lock" stop_container "$id" 0
    fi
    remove_container "$id"
    printf '%s\n' "$arg"
  done
  return "$rc"
}

# ---------------------------------------------------------------- inspect / ls -----------------

cmd_container_inspect() { # [-f FMT] [-s] CONTAINER...
  local fmt="" args=() objs=() missing=() arg id
  while (($#)); do
    case "$1" in
      -f | --format) fmt="$2"; shift ;;
      --format=* | -f=*) fmt="${1#*=}" ;;
      -s | --size) ;;
      -*) die "unknown flag: $1" 125 ;;
      *) args+=("$1") ;;
    esac
    shift
  done
  ((${#args[@]})) || die "\"docker container inspect\" requires at least 1 argument." 1
  for arg in "${args[@]}"; do
    if id="$(find_container "$arg")"; then objs+=("$(container_json "$id")"); else missing+=("$arg"); fi
  done
  print_inspect "$fmt" ${objs[@]+"${objs[@]}"}
  if ((${#missing[@]})); then
    for arg in "${missing[@]}"; do echo "Error: No such container: $arg" >&2; done
    exit 1
  fi
}

# `docker inspect`: containers first, then images.
cmd_inspect() {
  local fmt="" type="" args=() objs=() missing=() arg id f
  while (($#)); do
    case "$1" in
      -f | --format) fmt="$2"; shift ;;
      --format=* | -f=*) fmt="${1#*=}" ;;
      --type) type="$2"; shift ;;
      --type=*) type="${1#*=}" ;;
      -s | --size) ;;
      -*) die "unknown flag: $1" 125 ;;
      *) args+=("$1") ;;
    esac
    shift
  done
  ((${#args[@]})) || die "\"docker inspect\" requires at least 1 argument." 1
  for arg in "${args[@]}"; do
    if [[ "$type" != image ]] && id="$(find_container "$arg")"; then
      objs+=("$(container_json "$id")")
    elif [[ "$type" != container ]] && f="$(find_image "$arg")"; then
      objs+=("$(image_inspect_json "$f")")
    else
      missing+=("$arg")
    fi
  done
  print_inspect "$fmt" ${objs[@]+"${objs[@]}"}
  if ((${#missing[@]})); then
    for arg in "${missing[@]}"; do
      case "$type" in
        container) echo "Error: No such container: $arg" >&2 ;;
        image) echo "Error: No such image: $arg" >&2 ;;
        *) echo "Error: No such object: $arg" >&2 ;;
      esac
    done
    exit 1
  fi
}

ps_row() { # ID -> JSON row of `docker ps`
  local id="$1" ago status
  refresh_state "$id"
  jq -c --arg now "$(date -u +%s)" '
    def ago($t): ($now | tonumber) - ($t | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601)
      | if . < 60 then "Less than a second" elif . < 3600 then "\(. / 60 | floor) minutes"
        elif . < 172800 then "\(. / 3600 | floor) hours" else "\(. / 86400 | floor) days" end;
    {ID: .Id[:12], _id: .Id, Names: .Name[1:], Image: .Config.Image,
     Command: ("\"" + ((([.Path] + .Args) | join(" ")) | if length > 20 then .[:19] + "…" else . end) + "\""),
     CreatedAt: .Created, RunningFor: (ago(.Created) + " ago"),
     Ports: (if .State.Running and ((.Config.ExposedPorts // {}) | length) > 0 then (.Config.ExposedPorts | keys | join(", ")) else "" end),
     State: .State.Status,
     Status: (if .State.Status == "running" then "Up " + ago(.State.StartedAt)
              elif .State.Status == "exited" then "Exited (\(.State.ExitCode)) " + ago(.State.FinishedAt) + " ago"
              else "Created" end),
     Labels: ((.Config.Labels // {}) | to_entries | map("\(.key)=\(.value)") | join(",")),
     _labels: (.Config.Labels // {}), _image_id: .Image,
     Mounts: ([.Mounts[]?.Source] | join(",")), Networks: ((.NetworkSettings.Networks // {}) | keys | join(",")),
     Size: "0B"}' "$CONTAINERS/$id/config.json"
}

cmd_ps() { # [-a] [-q] [--no-trunc] [--filter K=V]... [--format FMT]
  local all="" quiet="" notrunc="" fmt="" filters=() id rows=() row
  while (($#)); do
    case "$1" in
      -a | --all) all=1 ;;
      -q | --quiet) quiet=1 ;;
      -aq | -qa) all=1; quiet=1 ;;
      --no-trunc) notrunc=1 ;;
      -s | --size | -l | --latest) ;;
      -n | --last) shift ;;
      -f | --filter) filters+=("$2"); shift ;;
      --filter=*) filters+=("${1#*=}") ;;
      --format) fmt="$2"; shift ;;
      --format=*) fmt="${1#*=}" ;;
      -*) die "unknown flag: $1" 125 ;;
      *) die "\"docker ps\" accepts no arguments." 1 ;;
    esac
    shift
  done
  while IFS= read -r id; do
    [[ -n "$id" ]] || continue
    row="$(ps_row "$id")"
    ps_matches "$row" "$all" ${filters[@]+"${filters[@]}"} || continue
    rows+=("$row")
  done < <(all_container_ids)
  local json
  json="$(if ((${#rows[@]})); then printf '%s\n' "${rows[@]}"; fi | jq -s 'sort_by(.CreatedAt) | reverse')"
  [[ -n "$notrunc" ]] && json="$(jq 'map(.ID = ._id)' <<<"$json")"
  if [[ -n "$quiet" ]]; then
    jq -r '.[].ID' <<<"$json"
  elif [[ -n "$fmt" ]]; then
    render_format "$fmt" <<<"$json"
  else
    {
      printf 'CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES\n'
      jq -r '.[] | [.ID, .Image, .Command, .RunningFor, .Status, (if .Ports == "" then " " else .Ports end), .Names] | @tsv' <<<"$json"
    } | column -t -s $'\t' -o '   '
  fi
}

ps_matches() { # ROW ALL FILTER...
  local row="$1" all="$2" f key val name state
  shift 2
  state="$(jq -r .State <<<"$row")"
  local has_status=""
  for f in "$@"; do [[ "$f" == status=* ]] && has_status=1; done
  [[ -n "$all" || -n "$has_status" || "$state" == running ]] || return 1
  for f in "$@"; do
    key="${f%%=*}"
    val="${f#*=}"
    case "$key" in
      name)
        name="$(jq -r .Names <<<"$row")"
        [[ "$name" =~ $val || "/$name" =~ $val ]] || return 1 ;;
      id) [[ "$(jq -r ._id <<<"$row")" == "$val"* ]] || return 1 ;;
      status) [[ "$state" == "$val" ]] || return 1 ;;
      label)
        if [[ "$val" == *=* ]]; then
          jq -e --arg k "${val%%=*}" --arg v "${val#*=}" '._labels[$k] == $v' <<<"$row" >/dev/null || return 1
        else
          jq -e --arg k "$val" '._labels | has($k)' <<<"$row" >/dev/null || return 1
        fi ;;
      ancestor)
        [[ "$(jq -r .Image <<<"$row")" == "$(normalize_ref "$val")" || "$(jq -r .Image <<<"$row")" == "$val" ||
          "$(jq -r ._image_id <<<"$row")" == *"${val#sha256:}"* ]] || return 1 ;;
      *) ;;
    esac
  done
  return 0
}

# ---------------------------------------------------------------- exec / logs ------------------

cmd_exec() { # [-i] [-t] [-e K=V]... [-u U] [-w D] CONTAINER CMD...
  local interactive="" user="" workdir="" envs=() opt val
  while (($#)); do
    opt="$1"
    val=""
    case "$opt" in
      --*=*) val="${opt#*=}"; opt="${opt%%=*}" ;;
      -[euw]?*) val="${opt:2}"; opt="${opt:0:2}"; val="${val#=}" ;;
    esac
    case "$opt" in
      -e | --env | -u | --user | -w | --workdir | --env-file | --detach-keys)
        if [[ -z "$val" && "$1" != *=* ]]; then val="$2"; shift; fi ;;
    esac
    case "$opt" in
      -i | --interactive) interactive=1 ;;
      -t | --tty | --privileged) ;;
      -it | -ti) interactive=1 ;;
      -d | --detach) ;;
      -e | --env)
        if [[ "$val" == *=* ]]; then envs+=("$val"); elif [[ -n "${!val+x}" ]]; then envs+=("$val=${!val}"); fi ;;
      --env-file) mapfile -t -O "${#envs[@]}" envs < <(read_env_file "$val") ;;
      -u | --user) user="$val" ;;
      -w | --workdir) workdir="$val" ;;
      --detach-keys) ;;
      --) shift; break ;;
      -*) die "unknown flag: $opt"$'\n'"See 'docker exec --help'." 125 ;;
      *) break ;;
    esac
    shift
  done
  (($# >= 2)) || die $'"docker exec" requires at least 2 arguments.\nSee \'docker exec --help\'.\n\nUsage:  docker exec [OPTIONS] CONTAINER COMMAND [ARG...]\n\nExecute a command in a running container' 1
  local id cdir config flavour penv=() bin
  id="$(need_container "$1")"
  shift
  cdir="$CONTAINERS/$id"
  config="$cdir/config.json"
  refresh_state "$id"
  is_running "$id" || daemon_error "container $id is not running"
  flavour="$(<"$cdir/flavour")"
  mapfile -t penv < <(process_env "$config" "$flavour" "$(sock_dir "$id")" "$(<"$cdir/port")")
  bin="$(flavour_bin "$flavour")"
  run_in_image "$config" "$interactive" "$user" "$workdir" "${penv[@]}" ${envs[@]+"${envs[@]}"} -- "$@"
}

# Run CMD... on the host as a process "inside" an image: clean environment, container paths
# under bind mounts translated, stdin only when interactive; exits with the command's code.
run_in_image() { # CONFIG INTERACTIVE USER WORKDIR ENV... -- CMD...
  local config="$1" interactive="$2" user="$3" workdir="$4" envs=() path
  shift 4
  while (($#)) && [[ "$1" != -- ]]; do envs+=("$1"); shift; done
  shift
  translate_args "$config" "$@"
  path="$(printf '%s\n' "${envs[@]}" | grep '^PATH=' | tail -n1)"
  path="${path#PATH=}"
  if [[ "${XARGS[0]}" != */* ]] && ! PATH="$path" command -v "${XARGS[0]}" >/dev/null 2>&1; then
    die "OCI runtime exec failed: exec failed: unable to start container process: exec: \"${XARGS[0]}\": executable file not found in \$PATH: unknown" 126
  fi
  if [[ -n "$workdir" ]]; then
    local h
    h="$(host_path "$config" "$workdir")"
    workdir="${h:-$workdir}"
  fi
  local runas=()
  if [[ -n "$user" && -n "$IS_ROOT" && "$user" != root && "$user" != 0 ]]; then
    runas=(setpriv "--reuid=${user%%:*}" "--regid=${user%%:*}" --init-groups --)
  fi
  local rc=0
  (
    cd "${workdir:-/}" 2>/dev/null || cd / || exit 1
    if [[ -n "$interactive" ]]; then
      exec ${runas[@]+"${runas[@]}"} env -i "${envs[@]}" "${XARGS[@]}"
    else
      exec ${runas[@]+"${runas[@]}"} env -i "${envs[@]}" "${XARGS[@]}" </dev/null
    fi
  ) || rc=$?
  exit "$rc"
}

cmd_logs() { # [-f] [--tail N] CONTAINER
  local follow="" tail="" arg="" id
  while (($#)); do
    case "$1" in
      -f | --follow) follow=1 ;;
      -n | --tail) tail="$2"; shift ;;
      --tail=* | -n=*) tail="${1#*=}" ;;
      -t | --timestamps | --details) ;;
      --since | --until) shift ;;
      --since=* | --until=*) ;;
      -*) die "unknown flag: $1" 125 ;;
      *) arg="$1" ;;
    esac
    shift
  done
  [[ -n "$arg" ]] || die "\"docker logs\" requires exactly 1 argument." 1
  id="$(need_container "$arg")"
  local log="$CONTAINERS/$id/log"
  [[ -f "$log" ]] || return 0
  if [[ -n "$follow" ]] && is_running "$id"; then
    tail -n "${tail:-+1}" --pid="$(<"$CONTAINERS/$id/supervisor.pid")" -f "$log"
  elif [[ -n "$tail" && "$tail" != all ]]; then
    tail -n "$tail" "$log"
  else
    cat "$log"
  fi
}

# ---------------------------------------------------------------- sandbox-only verbs -----------

cmd_sandbox_port() { # CONTAINER
  (($# == 1)) || die "usage: docker sandbox-port CONTAINER" 1
  local id
  id="$(need_container "$1")"
  refresh_state "$id"
  is_running "$id" || daemon_error "container $id is not running"
  cat "$CONTAINERS/$id/port"
}

cmd_sandbox_stop_all() {
  local id
  while IFS= read -r id; do
    [[ -n "$id" ]] || continue
    if is_running "$id" || supervisor_alive "$id"; then
      with_lock "$CONTAINERS/$id/lock" stop_container "$id" 10
    fi
  done < <(all_container_ids)
  return 0
}
