# shellcheck shell=bash
# Containers: `docker exec`, `docker logs` and the sandbox-only verbs.

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
  local id cdir config flavour penv=()
  id="$(need_container "$1")"
  shift
  cdir="$CONTAINERS/$id"
  config="$cdir/config.json"
  refresh_state "$id"
  is_running "$id" || daemon_error "container $id is not running"
  flavour="$(<"$cdir/flavour")"
  mapfile -t penv < <(process_env "$config" "$flavour" "$(sock_dir "$id")")
  # Inside the container, localhost is the container itself, which its server trusts: here its
  # socket (every container's server listens on 5432 at an address of its own, and the host's
  # localhost is shared). 127.0.0.1 is its own address, where the password is asked, as any
  # connection from 127.0.0.1 is (docker/supervise).
  local args=() a address
  address="$(<"$cdir/address")"
  for a in "$@"; do
    [[ "$a" == localhost || "$a" == ::1 ]] && a="$(sock_dir "$id")"
    [[ "$a" == 127.0.0.1 ]] && a="$address"
    args+=("$a")
  done
  run_in_image "$config" "$interactive" "$user" "$workdir" "${penv[@]}" ${envs[@]+"${envs[@]}"} -- "${args[@]}"
}

# Run CMD... on the host as a process "inside" an image: clean environment, container paths
# under bind mounts translated, stdin only when interactive; exits with the command's code.
run_in_image() { # CONFIG INTERACTIVE USER WORKDIR ENV... -- CMD...
  local config="$1" interactive="$2" user="$3" workdir="$4" envs=() path
  shift 4
  while (($#)) && [[ "$1" != -- ]]; do envs+=("$1"); shift; done
  shift
  translate_args "$config" "$@"
  local e
  path=""
  for e in "${envs[@]}"; do [[ "$e" != PATH=* ]] || path="${e#PATH=}"; done
  if [[ "${XARGS[0]}" != */* ]] && ! PATH="$path" command -v "${XARGS[0]}" >/dev/null 2>&1; then
    die "OCI runtime exec failed: exec failed: unable to start container process: exec: \"${XARGS[0]}\": executable file not found in \$PATH: unknown" 126
  fi
  if [[ -n "$workdir" ]]; then
    local h
    h="$(host_path "$config" "$workdir")"
    workdir="${h:-$workdir}"
  fi
  local runas=() fs=() bind
  if [[ -n "$user" && -n "$IS_ROOT" && "$user" != root && "$user" != 0 ]]; then
    runas=(setpriv "--reuid=${user%%:*}" "--regid=${user%%:*}" --init-groups --)
  fi
  # A postgres image's processes see its /var/lib/postgresql with the container's mounts there.
  if [[ -n "$IS_ROOT" && "$path" == *"$DOCKER_HERE/image-bin"* ]]; then
    fs=(unshare --mount --propagation private "$DOCKER_HERE/rootfs")
    while IFS= read -r bind; do
      [[ -n "$bind" ]] || continue
      [[ "$bind" == /* && ! -e "${bind%%:*}" ]] && mkdir -p "${bind%%:*}"
      fs+=("$bind")
    done < <(image_binds "$config")
    fs+=(--)
  fi
  local rc=0
  (
    cd "${workdir:-/}" 2>/dev/null || cd / || exit 1
    if [[ -n "$interactive" ]]; then
      exec ${fs[@]+"${fs[@]}"} ${runas[@]+"${runas[@]}"} env -i "${envs[@]}" "${XARGS[@]}"
    else
      exec ${fs[@]+"${fs[@]}"} ${runas[@]+"${runas[@]}"} env -i "${envs[@]}" "${XARGS[@]}" </dev/null
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

# The address the running container's server listens on (port 5432).
cmd_sandbox_address() { # CONTAINER
  (($# == 1)) || die "usage: docker sandbox-address CONTAINER" 1
  local id
  id="$(need_container "$1")"
  refresh_state "$id"
  is_running "$id" || daemon_error "container $id is not running"
  cat "$CONTAINERS/$id/address"
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
