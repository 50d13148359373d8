# shellcheck shell=bash
# Containers: the TCP port each postgres container listens on, unique across every sandbox.

PORT_DIR="$GLOBAL_RUN/ports"
PORT_MIN=21000
PORT_MAX=29999

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

# The address of the container whose server listens on PORT: a loopback address of its own
# (127.1.x.y, unique as the port is), so that connections from other containers are told
# apart from the container's own localhost.
container_host() { # PORT
  printf '127.1.%d.%d\n' $(($1 / 256)) $(($1 % 256))
}

release_port() { # CDIR
  local cdir="$1" port
  [[ -f "$cdir/port" ]] || return 0
  port="$(<"$cdir/port")"
  if [[ -f "$PORT_DIR/$port" && "$(<"$PORT_DIR/$port")" == "$cdir" ]]; then
    rm -f "$PORT_DIR/$port"
  fi
}
