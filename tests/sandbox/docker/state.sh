# shellcheck shell=bash
# Containers: finding one by name or id, and its process state (the supervisor, the exit code).
#
# $STATE/containers/<id>/config.json  docker-shaped inspect object (State refreshed lazily)
#                        name         the name, without "/"
#                        flavour      pg11 … pg18 | postgis15 | s3backup | wait | busybox
#                        address      its loopback address, where its server listens on 5432 (postgres flavours)
#                        log          stdout+stderr of the container's main process
#                        supervisor.pid, server.pid, exitcode   while/after it runs

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
    # Its own address on every network it is on (addresses.sh); docker's top-level
    # IPAddress is the one on the default bridge, empty for a container that is not on it.
    [[ -f "$cdir/address" ]] && ip="$(<"$cdir/address")"
  fi
  jq --arg st "$2" --argjson pid "$pid" --arg ip "$ip" --arg code "${3:-0}" --arg fin "${4:-}" --arg now "$(now_rfc3339)" '
    .State.Status = $st | .State.Running = ($st == "running") | .State.Pid = $pid
    | .State.ExitCode = ($code | tonumber)
    | (if $st == "running" then .State.StartedAt = $now | .State.FinishedAt = "0001-01-01T00:00:00Z" else . end)
    | (if $st == "exited" then .State.FinishedAt = (if $fin == "" then $now else $fin end) else . end)
    | .NetworkSettings.IPAddress = (if .NetworkSettings.Networks | has("bridge") then $ip else "" end)
    | .NetworkSettings.Networks |= with_entries(.value.IPAddress = $ip)' "$cdir/config.json" |
    atomic_write "$cdir/config.json"
}

container_json() { # ID -> refreshed inspect object
  refresh_state "$1"
  cat "$CONTAINERS/$1/config.json"
}
