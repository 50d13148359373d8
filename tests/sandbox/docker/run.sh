# shellcheck shell=bash
# `docker run`: one-shot commands in an image (postgres tools, dokku/s3backup, dokku/wait,
# busybox), or `run -d` of a postgres server (create + start).

cmd_run() {
  parse_container_opts "$@"
  ((${#C_REST[@]})) || die $'"docker run" requires at least 1 argument.\nSee \'docker run --help\'.' 1
  local image_arg="${C_REST[0]}" img flavour
  if ! img="$(find_image "$image_arg")"; then
    echo "Unable to find image '$(normalize_ref "$image_arg")' locally" >&2
    (pull_ref "$image_arg" "") >&2 || exit 125
    img="$(find_image "$image_arg")" || exit 125
  fi
  flavour="$(jq -r .Flavour "$img")"
  local cmd=("${C_REST[@]:1}")

  # A server, or an ambassador: a container that stays, created then started. `postgres
  # --describe-config` (or --help, --version) is not a server: it runs as given.
  if { is_postgres_flavour "$flavour" && { ((${#cmd[@]} == 0)) || [[ "${cmd[0]}" == postgres || "${cmd[0]}" == -* ]]; } &&
    ! wants_help ${cmd[@]+"${cmd[@]}"}; } || [[ "$flavour" == ambassador ]]; then
    [[ -n "$C_DETACH" && -z "$C_RM" ]] ||
      die "docker (sandbox): a $flavour container runs only detached and kept: docker run -d (without --rm), or create + start" 125
    create_container 125
    with_lock "$CONTAINERS/$CREATED_ID/lock" start_container "$CREATED_ID" || exit 125
    printf '%s\n' "$CREATED_ID"
    return 0
  fi

  local config
  config="$(mktemp "$STATE/.run.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -f '$config'" EXIT
  oneshot_config "$img" >"$config"
  resolve_links
  case "$flavour" in
    pg1[1-8] | postgis15) run_postgres_tool "$config" "$flavour" "${cmd[@]}" ;;
    s3backup) run_s3backup "$config" ;;
    wait) run_wait "${cmd[@]}" ;;
    busybox) run_busybox "$config" "${cmd[@]}" ;;
    *) die "docker (sandbox): image $image_arg cannot run here" 125 ;;
  esac
}

# The entrypoint's _pg_want_help: `postgres --describe-config` (or --help, --version) is run as
# given, no server set up (docs/postgres-image.md).
wants_help() { # CMD...
  local arg
  [[ "${1:-}" == postgres ]] || return 1
  for arg in "$@"; do
    case "$arg" in
      -'?' | --help | --describe-config | -V | --version) return 0 ;;
    esac
  done
  return 1
}

# A minimal container config for a one-shot run: the image env merged with -e/--env-file, binds.
oneshot_config() { # IMAGE_FILE
  local env_json binds_json
  env_json="$(json_array ${C_ENV[@]+"${C_ENV[@]}"})"
  binds_json="$(json_array ${C_BINDS[@]+"${C_BINDS[@]}"})"
  jq --argjson env "$env_json" --argjson binds "$binds_json" --arg hostname "${C_HOSTNAME:-$(random_hex64 | cut -c1-12)}" '
    ($env | map(split("=")[0])) as $keys
    | {Config: {Env: ([.Config.Env[] | select((split("=")[0]) as $k | $keys | index($k) | not)] + $env),
                Hostname: $hostname, Image: .Ref},
       HostConfig: {Binds: $binds}}' "$1"
}

# --link NAME:ALIAS -> LINK_ALIAS[] / LINK_ADDRESS[] (the linked server's address: addresses.sh)
resolve_links() {
  LINK_ALIAS=() LINK_ADDRESS=()
  local link name alias id
  for link in ${C_LINKS[@]+"${C_LINKS[@]}"}; do
    name="${link%%:*}"
    alias="${link#*:}"
    id="$(find_container "$name")" || daemon_error "could not get container for $name: No such container: $name" 125
    refresh_state "$id"
    is_running "$id" || daemon_error "Cannot link to a non running container: /${name#/} AS /${C_NAME:-sandbox}/$alias" 125
    # A legacy link from the default bridge reaches only containers on it: moby's daemon refuses
    # the others (docs/networks.md).
    if [[ "$C_NETWORK" == default || "$C_NETWORK" == bridge ]] &&
      [[ "$(jq -r '.NetworkSettings.Networks // {} | has("bridge")' "$CONTAINERS/$id/config.json")" != true ]]; then
      daemon_error "Cannot link to /${name#/}, as it does not belong to the default network" 125
    fi
    LINK_ALIAS+=("$alias")
    LINK_ADDRESS+=("$(cat "$CONTAINERS/$id/address" 2>/dev/null || echo 127.0.0.1)")
  done
}

# Rewrite host names of linked containers to their addresses, as the link's /etc/hosts entry
# does: ALIAS, ALIAS:5432 and @ALIAS/ in a URL. Sets REWRITTEN.
link_rewrite() { # STRING
  local s="$1" i
  for i in "${!LINK_ALIAS[@]}"; do
    [[ "$s" == "${LINK_ALIAS[$i]}" ]] && s="${LINK_ADDRESS[$i]}"
    s="${s//"${LINK_ALIAS[$i]}:5432"/${LINK_ADDRESS[$i]}:5432}"
    s="${s//@"${LINK_ALIAS[$i]}"\//@${LINK_ADDRESS[$i]}/}"
  done
  REWRITTEN="$s"
}

run_postgres_tool() { # CONFIG FLAVOUR CMD...
  local config="$1" flavour="$2" envs=() args=() a e
  shift 2
  (($#)) || die "docker (sandbox): give the command to run in the image" 125
  for a in "$@"; do
    link_rewrite "$a"
    args+=("$REWRITTEN")
  done
  while IFS= read -r e; do
    link_rewrite "${e#*=}"
    envs+=("${e%%=*}=$REWRITTEN")
  done < <(process_env "$config" "$flavour")
  run_in_image "$config" "$C_INTERACTIVE" "$C_USER" "$C_WORKDIR" "${envs[@]}" -- "${args[@]}"
}

env_of() { # CONFIG KEY -> value (empty when unset)
  jq -r --arg k "$2" '[.Config.Env[] | select(startswith($k + "=")) | .[($k | length) + 1:]] | last // ""' "$1"
}

# dokku/s3backup: tar the /backup mount, optionally gpg it, "upload" it to DIR/s3/BUCKET/.
run_s3backup() { # CONFIG
  local config="$1" bucket name key src out stamp enc pubkey
  if [[ -z "$(env_of "$config" USE_IAM)" ]]; then
    [[ -n "$(env_of "$config" AWS_ACCESS_KEY_ID)" ]] || die "upload failed: Unable to locate credentials (AWS_ACCESS_KEY_ID is not set)" 1
    [[ -n "$(env_of "$config" AWS_SECRET_ACCESS_KEY)" ]] || die "upload failed: Unable to locate credentials (AWS_SECRET_ACCESS_KEY is not set)" 1
  fi
  bucket="$(env_of "$config" BUCKET_NAME)"
  name="$(env_of "$config" BACKUP_NAME)"
  [[ -n "$bucket" ]] || die "BUCKET_NAME is not set" 1
  [[ -n "$name" ]] || die "BACKUP_NAME is not set" 1
  [[ "$bucket/$name" != *..* ]] || die "invalid bucket or backup name" 1
  src="$(host_path "$config" /backup)"
  [[ -n "$src" && -d "$src" ]] || die "tar: /backup: Cannot stat: No such file or directory" 1
  stamp="$(date -u +%Y-%m-%d-%H-%M-%S)"
  key="$name-$stamp.tgz"
  mkdir -p "$SANDBOX_DIR/s3/$bucket"
  out="$SANDBOX_DIR/s3/$bucket/$key"
  tar -C "$src" --transform='s,^\./,backup/,;s,^\.$,backup,' -czf "$out.part" .
  enc="$(env_of "$config" ENCRYPTION_KEY)"
  pubkey="$(env_of "$config" ENCRYPT_WITH_PUBLIC_KEY_ID)"
  if [[ -n "$pubkey" ]]; then
    rm -f "$out.part"
    die "gpg: keyserver receive failed: No keyserver available (the sandbox has no network)" 2
  elif [[ -n "$enc" ]]; then
    local gnupg
    gnupg="$(mktemp -d)"
    if ! GNUPGHOME="$gnupg" gpg --batch --yes --quiet --pinentry-mode loopback --passphrase "$enc" \
      --symmetric --output "$out.gpg.part" "$out.part" 2>&1; then
      rm -rf "$gnupg" "$out.part" "$out.gpg.part"
      die "gpg: encryption failed" 2
    fi
    rm -rf "$gnupg" "$out.part"
    mv -f "$out.gpg.part" "$out.gpg"
    key="$key.gpg"
  else
    mv -f "$out.part" "$out"
  fi
  printf '%s\n' "$key"
}

# dokku/wait: -c HOST:PORT[,HOST:PORT...] [-t TIMEOUT]: wait until each accepts TCP connections.
run_wait() {
  local targets="" timeout=15 t host port i p deadline
  while (($#)); do
    case "$1" in
      -c) targets="$2"; shift ;;
      -t) timeout="$2"; shift ;;
      -i | -p) shift ;;
      *) ;;
    esac
    shift
  done
  [[ -n "$targets" ]] || die "wait: nothing to wait for (-c HOST:PORT)" 1
  deadline=$((SECONDS + timeout))
  IFS=',' read -r -a t <<<"$targets"
  for p in "${t[@]}"; do
    host="${p%:*}"
    port="${p##*:}"
    for i in "${!LINK_ALIAS[@]}"; do
      [[ "${LINK_ALIAS[$i]}" == "$host" ]] && host="${LINK_ADDRESS[$i]}"
    done
    while ! timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null; do
      ((SECONDS < deadline)) || die "wait: timeout waiting for $p" 1
      sleep 0.2
    done
  done
}

# busybox: run a coreutils-like command on the host, only on paths inside bind mounts.
run_busybox() { # CONFIG CMD...
  local config="$1" a src ok
  shift
  (($#)) || return 0
  translate_args "$config" "$@"
  for a in "${XARGS[@]:1}"; do
    [[ "$a" == /* ]] || continue
    ok=""
    while IFS= read -r src; do
      [[ -n "$src" && ( "$a" == "$src" || "$a" == "$src"/* ) ]] && ok=1
    done < <(jq -r '.HostConfig.Binds[]? | split(":")[0]' "$config")
    [[ -n "$ok" ]] || die "docker (sandbox): busybox may only touch bind-mounted paths, not $a" 125
  done
  (cd / && exec env -i PATH=/usr/bin:/bin "${XARGS[@]}" </dev/null)
}
