# shellcheck shell=bash
# Containers: `docker inspect` and `docker ps`.

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
