# shellcheck shell=bash
# Containers: the address each postgres container's server listens on, as docker gives each
# container its own IP address on the bridge. Here it is a loopback address of its own,
# 127.1.Y.Z (Linux routes all of 127.0.0.0/8 to the loopback device), unique across every
# sandbox on this machine, and the server listens there on 5432 as it does in its container:
# one server reaches another by that address, as the new service's subscription reaches the
# old one on a host (docs/networks.md).

ADDRESS_DIR="$GLOBAL_RUN/addresses"
POSTGRES_PORT=5432

# ---------------------------------------------------------------- addresses --------------------

address_in_use() { # ADDRESS
  [[ -n "$(ss -Htln "src $1" 2>/dev/null)" ]]
}

# Pick a free loopback address for container dir CDIR; global across every sandbox on this
# machine, in 127.1.0.0/16: 127.0.0.0/16 is left alone (127.0.0.1, a resolver's 127.0.0.53).
allocate_address() { # CDIR
  mkdir -p "$ADDRESS_DIR"
  chmod 1777 "$GLOBAL_RUN" 2>/dev/null || true
  with_lock "$GLOBAL_RUN/addresses.lock" allocate_address_locked "$1"
}

allocate_address_locked() { # CDIR
  local cdir="$1" i n address owner f
  # Forget the addresses (and socket dirs) of containers whose sandbox has been deleted.
  for f in "$ADDRESS_DIR"/*; do
    [[ -f "$f" ]] || continue
    owner="$(<"$f")"
    [[ -n "$owner" && ! -d "$owner" ]] || continue
    rm -f "$f"
    owner="${owner##*/}"
    [[ "$owner" =~ ^[0-9a-f]{64}$ ]] && rm -rf "${GLOBAL_RUN:?}/${owner:0:12}"
  done
  for ((i = 0; i < 1000; i++)); do
    n=$(((RANDOM * 32768 + RANDOM) % (256 * 254)))
    address="127.1.$((n / 254)).$((n % 254 + 1))"
    if [[ -f "$ADDRESS_DIR/$address" ]]; then
      owner="$(<"$ADDRESS_DIR/$address")"
      [[ -d "$owner" ]] && continue # held by a live container (of any sandbox)
    fi
    address_in_use "$address" && continue
    printf '%s\n' "$cdir" >"$ADDRESS_DIR/$address"
    printf '%s\n' "$address"
    return 0
  done
  die "docker (sandbox): no free loopback address in 127.1.0.0/16" 1
}

release_address() { # CDIR
  local cdir="$1" address
  [[ -f "$cdir/address" ]] || return 0
  address="$(<"$cdir/address")"
  if [[ -f "$ADDRESS_DIR/$address" && "$(<"$ADDRESS_DIR/$address")" == "$cdir" ]]; then
    rm -f "$ADDRESS_DIR/$address"
  fi
}
