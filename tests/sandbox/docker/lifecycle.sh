# shellcheck shell=bash
# Containers: `docker start`, `stop`, `restart`, `update` and `rm`.

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
  local id="$1" cdir="$CONTAINERS/$1" flavour config bin pgdata address sockdir args=() envs=()
  refresh_state "$id"
  is_running "$id" && return 0
  config="$cdir/config.json"
  flavour="$(<"$cdir/flavour")"
  if [[ "$flavour" == ambassador ]]; then
    start_idle "$id"
    return
  fi
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
  address="$(<"$cdir/address")"
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
    exec env -i "${envs[@]}" setsid "$DOCKER_HERE/supervise" "$cdir" "$bin" "$host" "$address" "$sockdir" "$old_dbs" "${args[@]}" \
      >>"$cdir/log" 2>&1 </dev/null &
    printf '%s\n' "$!" >"$cdir/supervisor.pid"
  )
  set_state "$id" running
  await_server "$id" "$bin" "$sockdir" "$superuser"
  refresh_state "$id"
  return 0
}

# A container whose process the sandbox does not imitate (dokku/ambassador: nothing listens on
# its ports). The daemon's refusals are: a --link to a container that is missing or stopped,
# and a host port that another running container publishes (docs/expose.md).
start_idle() { # ID
  local id="$1" cdir="$CONTAINERS/$1" config link target other port holder
  config="$cdir/config.json"
  while IFS= read -r link; do
    [[ -n "$link" ]] || continue
    if ! target="$(find_container "${link%%:*}")"; then
      echo "Error response from daemon: could not get container for ${link%%:*}: No such container: ${link%%:*}" >&2
      return 1
    fi
    refresh_state "$target"
    if ! is_running "$target"; then
      echo "Error response from daemon: Cannot link to a non running container: /${link%%:*} AS $(jq -r .Name "$config")/${link#*:}" >&2
      return 1
    fi
  done < <(jq -r '.HostConfig.Links // [] | .[]' "$config")
  while IFS= read -r port; do
    [[ -n "$port" ]] || continue
    if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
      echo "Error response from daemon: invalid hostPort: $port" >&2
      return 1
    fi
    for other in $(all_container_ids); do
      [[ "$other" != "$id" ]] || continue
      refresh_state "$other"
      is_running "$other" || continue
      if published_ports "$other" | grep -qx -- "$port"; then
        holder="$(<"$CONTAINERS/$other/name")"
        echo "Error response from daemon: driver failed programming external connectivity on endpoint $(<"$cdir/name") ($id): Bind for 0.0.0.0:$port failed: port is already allocated (held by $holder)" >&2
        return 1
      fi
    done
  done < <(published_ports "$id")
  rm -f "$cdir/exitcode" "$cdir/finished"
  : >>"$cdir/log"
  (
    cd / || exit 1
    close_inherited_fds
    exec setsid "$DOCKER_HERE/idle" "$cdir" >>"$cdir/log" 2>&1 </dev/null &
    printf '%s\n' "$!" >"$cdir/supervisor.pid"
  )
  set_state "$id" running
}

# The host ports a container publishes, one per line.
published_ports() { # ID
  jq -r '.HostConfig.PortBindings // {} | .[] | .[] | .HostPort | select(. != "")' "$CONTAINERS/$1/config.json"
}

# Unlike docker, `start` returns once the server accepts connections or has exited (60 s at
# most), so that the next command sees a settled container.
await_server() { # ID BIN SOCKDIR SUPERUSER
  local id="$1" bin="$2" sockdir="$3" superuser="$4" cdir="$CONTAINERS/$1" i
  for ((i = 0; i < 600; i++)); do
    [[ -f "$cdir/exitcode" ]] && return 0
    supervisor_alive "$id" || return 0
    if [[ -f "$cdir/server.pid" ]] && "$bin/pg_isready" -q -h "$sockdir" -p "$POSTGRES_PORT" -U "$superuser" -d postgres 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
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
  release_address "$cdir"
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

# `docker container update [--restart=POLICY] [--memory=N] CONTAINER...`: the policy and memory
# of existing containers (dokku-postgres sets --restart=no before it removes one).
cmd_update() {
  local restart="" memory="" arg id rc=0
  while (($#)); do
    case "$1" in
      --restart) restart="$2"; shift ;;
      --restart=*) restart="${1#*=}" ;;
      -m | --memory) memory="$(to_bytes "$2")"; shift ;;
      --memory=*) memory="$(to_bytes "${1#*=}")" ;;
      --cpus | --cpu-shares | --memory-swap | --memory-reservation | --pids-limit) shift ;;
      --cpus=* | --cpu-shares=* | --memory-swap=* | --memory-reservation=* | --pids-limit=*) ;;
      -*) die "unknown flag: $1"$'\n'"See 'docker container update --help'." 125 ;;
      *) break ;;
    esac
    shift
  done
  (($#)) || die "\"docker container update\" requires at least 1 argument." 1
  case "$restart" in
    "" | no | always | unless-stopped | on-failure | on-failure:[0-9]*) ;;
    *) die "invalid restart policy '$restart'" 125 ;;
  esac
  for arg in "$@"; do
    if ! id="$(find_container "$arg")"; then
      echo "Error response from daemon: No such container: $arg" >&2
      rc=1
      continue
    fi
    with_lock "$CONTAINERS/$id/lock" update_config "$id" "$restart" "$memory"
    printf '%s\n' "$arg"
  done
  return "$rc"
}

update_config() { # ID RESTART MEMORY
  jq --arg restart "$2" --arg memory "$3" '
    (if $restart != "" then .HostConfig.RestartPolicy.Name = ($restart | sub(":.*"; "")) else . end)
    | (if $memory != "" then .HostConfig.Memory = ($memory | tonumber) else . end)' "$CONTAINERS/$1/config.json" |
    atomic_write "$CONTAINERS/$1/config.json"
}
