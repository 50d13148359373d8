# shellcheck shell=bash
# Images: the registry catalog, pull, image inspect/ls/rm and the sandbox-rebuild verb.
#
# $STATE/registry/<ref>.json   the build a reference currently resolves to in the "registry"
# $STATE/images/ids/<hex>.json a build that was pulled (kept while anything may refer to it)
# $STATE/images/tags/<ref>     the id a local tag points to
# (<ref> has "/" written as "%2F")

# ref | flavour | created | version (PG_VERSION, or the tool's version)
default_catalog() {
  cat <<'EOF'
postgres:11.20|pg11|2023-05-12T03:38:40.120117315Z|11.20-1.pgdg120+1
postgres:11.22|pg11|2023-11-10T01:06:16.604211948Z|11.22-1.pgdg120+2
postgres:11|pg11|2024-05-14T02:07:50.870312440Z|11.22-1.pgdg120+2
postgres:12.22|pg12|2024-11-21T23:46:47.023571006Z|12.22-1.pgdg120+1
postgres:12|pg12|2025-02-21T01:11:08.481021347Z|12.22-1.pgdg120+1
postgres:13.16|pg13|2024-08-08T21:05:11.980354162Z|13.16-1.pgdg120+1
postgres:13.23|pg13|2025-11-13T22:50:31.716283015Z|13.23-1.pgdg13+1
postgres:13|pg13|2026-02-12T19:31:52.027730651Z|13.23-1.pgdg13+1
postgres:14.13|pg14|2024-08-08T21:09:37.442163809Z|14.13-1.pgdg120+1
postgres:14.23|pg14|2026-08-13T20:37:12.615320144Z|14.23-1.pgdg13+1
postgres:14|pg14|2026-11-10T19:18:40.338507221Z|14.23-1.pgdg13+1
postgres:15.6|pg15|2024-02-09T00:52:46.613282245Z|15.6-1.pgdg120+2
postgres:15.8|pg15|2024-08-08T21:14:35.512337489Z|15.8-1.pgdg120+1
postgres:15.10|pg15|2024-11-21T23:50:11.300919276Z|15.10-1.pgdg120+1
postgres:15.12|pg15|2025-02-21T01:20:40.113927533Z|15.12-1.pgdg120+1
postgres:15.14|pg15|2025-08-14T18:03:52.410278110Z|15.14-1.pgdg13+1
postgres:15.18|pg15|2026-08-13T20:41:07.883104519Z|15.18-1.pgdg13+1
postgres:15|pg15|2026-11-10T19:22:31.215560818Z|15.18-1.pgdg13+1
postgres:16.4|pg16|2024-08-08T21:12:02.315904117Z|16.4-1.pgdg120+1
postgres:16.10|pg16|2025-08-14T18:06:25.770914662Z|16.10-1.pgdg13+1
postgres:16.15|pg16|2026-11-13T00:41:56.209611034Z|16.15-1.pgdg13+1
postgres:16|pg16|2026-11-13T00:45:03.551732908Z|16.15-1.pgdg13+1
postgis/postgis:15-3.3|postgis15|2025-09-03T14:12:09.520871344Z|15.14-1.pgdg110+1
postgis/postgis:15-3.4|postgis15|2025-09-03T14:30:44.007118203Z|15.14-1.pgdg110+1
postgres:17.0|pg17|2024-09-27T00:42:18.104255941Z|17.0-1.pgdg120+1
postgres:17.2|pg17|2024-11-21T23:55:02.781630094Z|17.2-1.pgdg120+1
postgres:17.5|pg17|2025-05-09T03:11:57.932021875Z|17.5-1.pgdg120+1
postgres:17.6|pg17|2025-08-14T18:09:13.660457113Z|17.6-1.pgdg13+1
postgres:17.10|pg17|2026-08-13T20:47:35.238845120Z|17.10-1.pgdg13+1
postgres:17|pg17|2026-11-10T19:28:04.917035662Z|17.10-1.pgdg13+1
postgres:18.0|pg18|2025-09-26T01:02:44.377205150Z|18.0-1.pgdg13+3
postgres:18.4|pg18|2026-05-15T00:18:27.604417732Z|18.4-1.pgdg13+1
postgres:18.6|pg18|2026-11-13T00:52:19.028871455Z|18.6-1.pgdg13+1
postgres:18|pg18|2026-11-13T00:55:40.662980113Z|18.6-1.pgdg13+1
postgres:latest|pg18|2026-11-13T00:55:40.662980113Z|18.6-1.pgdg13+1
dokku/ambassador:0.8.2|ambassador|2024-05-06T05:12:33.731046113Z|0.8.2
dokku/s3backup:0.18.0|s3backup|2025-06-02T16:20:11.402114021Z|0.18.0
dokku/wait:0.6.0|wait|2023-04-17T05:03:29.118032711Z|0.6.0
dokku/wait:0.9.3|wait|2025-01-13T08:41:52.905563311Z|0.9.3
busybox:1.37.0-uclibc|busybox|2024-09-26T21:31:42.223441212Z|1.37.0
busybox:latest|busybox|2024-09-26T21:31:42.223441212Z|1.37.0
EOF
}

build_json() { # REF FLAVOUR CREATED VERSION BUILD
  local ref="$1" flavour="$2" created="$3" version="$4" build="$5" hex digest
  hex="$(printf 'sandbox-image|%s|%s' "$ref" "$build" | sha256sum | cut -c1-64)"
  digest="$(printf 'sandbox-digest|%s|%s' "$ref" "$build" | sha256sum | cut -c1-64)"
  jq -n --arg ref "$ref" --arg flavour "$flavour" --arg created "$created" --arg version "$version" \
    --argjson build "$build" --arg id "sha256:$hex" --arg digest "sha256:$digest" '
    ($version | split(".")[0]) as $major
    # From 18 the image keeps PGDATA in a per-major subdirectory of its volume /var/lib/postgresql
    # (docs/postgres-image.md).
    | (if ($major | tonumber? // 0) >= 18 then "/var/lib/postgresql/\($major)/docker" else "/var/lib/postgresql/data" end) as $pgdata
    | (if ($major | tonumber? // 0) >= 18 then "/var/lib/postgresql" else $pgdata end) as $volume
    | (if $flavour | test("^(pg1[1-8]|postgis15)$") then
         { Env: ([
             "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/\($major)/bin",
             "GOSU_VERSION=1.17", "LANG=en_US.utf8", "PG_MAJOR=\($major)", "PG_VERSION=\($version)",
             "PGDATA=\($pgdata)"]
             + (if $flavour == "postgis15" then ["POSTGIS_MAJOR=3", "POSTGIS_VERSION=3.3.2+dfsg-1.pgdg110+1"] else [] end)),
           Cmd: ["postgres"], Entrypoint: ["docker-entrypoint.sh"],
           ExposedPorts: {"5432/tcp": {}}, Volumes: {($volume): {}},
           StopSignal: "SIGINT", size: 438000000 }
       elif $flavour == "s3backup" then
         { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
           Cmd: ["/backup.sh"], Entrypoint: null, size: 96000000 }
       elif $flavour == "ambassador" then
         { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
           Cmd: null, Entrypoint: ["/bin/ambassador"], size: 8200000 }
       elif $flavour == "wait" then
         { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
           Cmd: null, Entrypoint: ["/wait"], size: 7500000 }
       else
         { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
           Cmd: ["sh"], Entrypoint: null, size: 1300000 }
       end) as $c
    | { Ref: $ref, Flavour: $flavour, Build: $build, Version: $version, Id: $id, Digest: $digest,
        Created: $created, Size: $c.size,
        Config: ($c | del(.size) + {Image: "", Labels: {}, WorkingDir: "", User: "", Hostname: "", Domainname: ""}) }'
}

ensure_registry() {
  [[ -d "$REGISTRY" ]] && return 0
  with_lock "$STATE/.lock" init_registry
}

init_registry() {
  [[ -d "$REGISTRY" ]] && return 0
  local tmp ref flavour created version
  tmp="$(mktemp -d "$STATE/.registry.XXXXXX")"
  while IFS='|' read -r ref flavour created version; do
    build_json "$ref" "$flavour" "$created" "$version" 1 >"$tmp/$(ref_file_name "$ref")"
  done < <(default_catalog)
  mv "$tmp" "$REGISTRY"
}

registry_file() { # REF(normalized) -> path (may not exist)
  printf '%s/%s\n' "$REGISTRY" "$(ref_file_name "$1")"
}

tag_file() { printf '%s/tags/%s\n' "$IMAGES" "$(ref_file_name "$1")"; }
id_file() { printf '%s/ids/%s.json\n' "$IMAGES" "${1#sha256:}"; }

# Resolve a user-given image argument (reference, full or short id) to a local build file.
# Prints the path; returns 1 when there is no such local image.
find_image() { # ARG
  local arg="$1" ref hex f matches=()
  ref="$(normalize_ref "$arg")"
  f="$(tag_file "$ref")"
  if [[ -f "$f" ]]; then
    hex="$(<"$f")"
    [[ -f "$(id_file "$hex")" ]] && { id_file "$hex"; return 0; }
  fi
  hex="${arg#sha256:}"
  if [[ "$hex" =~ ^[0-9a-f]{4,64}$ ]] && [[ -d "$IMAGES/ids" ]]; then
    for f in "$IMAGES/ids/$hex"*.json; do
      [[ -f "$f" ]] && matches+=("$f")
    done
    if ((${#matches[@]} == 1)); then
      printf '%s\n' "${matches[0]}"
      return 0
    fi
  fi
  return 1
}

# The local tags pointing at a build id, as a JSON array.
image_tags_json() { # ID
  local hex="${1#sha256:}" f
  {
    if [[ -d "$IMAGES/tags" ]]; then
      for f in "$IMAGES/tags"/*; do
        [[ -f "$f" && "$(<"$f")" == "$hex" ]] || continue
        f="${f##*/}"
        f="${f%.json}"
        printf '%s\n' "${f//%2F//}"
      done
    fi
  } | jq -R . | jq -s .
}

image_inspect_json() { # BUILD_FILE -> one docker-shaped image object
  local file="$1" tags
  tags="$(image_tags_json "$(jq -r .Id "$file")")"
  jq --argjson tags "$tags" '
    . as $b
    | {
        Id: .Id,
        RepoTags: $tags,
        RepoDigests: ($tags | map(split(":")[0] + "@" + $b.Digest) | unique),
        Parent: "", Comment: "", Created: .Created, DockerVersion: "", Author: "",
        Config: .Config,
        Architecture: "amd64", Os: "linux", Size: .Size,
        GraphDriver: {Name: "overlay2", Data: null},
        RootFS: {Type: "layers", Layers: [range(0; 4) as $i | "sha256:" + ($b.Digest[7:] | .[$i * 8:] + .[:$i * 8])]},
        Metadata: {LastTagTime: "0001-01-01T00:00:00Z"}
      }' "$file"
}

cmd_pull() { # [-q] REF
  local quiet="" arg=""
  while (($#)); do
    case "$1" in
      -q | --quiet) quiet=1 ;;
      -a | --all-tags | --disable-content-trust) ;;
      --platform) shift ;;
      --platform=*) ;;
      -*) die "unknown flag: $1" 125 ;;
      *) [[ -n "$arg" ]] && die "\"docker pull\" requires exactly 1 argument." 1; arg="$1" ;;
    esac
    shift
  done
  [[ -n "$arg" ]] || die $'"docker pull" requires exactly 1 argument.\nSee \'docker pull --help\'.\n\nUsage:  docker pull [OPTIONS] NAME[:TAG|@DIGEST]\n\nDownload an image from a registry' 1
  pull_ref "$arg" "$quiet"
}

pull_ref() { # REF QUIET
  local ref name tag reg hex old="" repo_path
  ensure_registry
  ref="$(normalize_ref "$1")"
  name="${ref%:*}"
  tag="${ref##*:}"
  reg="$(registry_file "$ref")"
  if [[ ! -f "$reg" ]]; then
    if compgen -G "$REGISTRY/${name//\//%2F}:*" >/dev/null; then
      daemon_error "manifest for $ref not found: manifest unknown: manifest unknown"
    fi
    daemon_error "pull access denied for $name, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
  fi
  ensure_flavour_installed "$(jq -r .Flavour "$reg")"
  hex="$(jq -r '.Id[7:]' "$reg")"
  [[ -f "$(tag_file "$ref")" ]] && old="$(<"$(tag_file "$ref")")"
  repo_path="$name"
  [[ "$name" == */* ]] || repo_path="library/$name"
  if [[ -z "$2" ]]; then
    echo "$tag: Pulling from $repo_path"
  fi
  mkdir -p "$IMAGES/ids" "$IMAGES/tags"
  if [[ "$old" == "$hex" && -f "$(id_file "$hex")" ]]; then
    if [[ -z "$2" ]]; then
      echo "Digest: $(jq -r .Digest "$reg")"
      echo "Status: Image is up to date for $ref"
    fi
  else
    if [[ ! -f "$(id_file "$hex")" ]]; then
      atomic_write "$(id_file "$hex")" <"$reg"
    fi
    printf '%s\n' "$hex" | atomic_write "$(tag_file "$ref")"
    if [[ -z "$2" ]]; then
      local i layer
      for i in 0 1 2 3; do
        layer="$(printf '%s|%s' "$hex" "$i" | sha256sum | cut -c1-12)"
        echo "$layer: Pull complete"
      done
      echo "Digest: $(jq -r .Digest "$reg")"
      echo "Status: Downloaded newer image for $ref"
    fi
  fi
  echo "docker.io/$repo_path:$tag"
}

cmd_image_inspect() { # [-f FMT] NAME...
  local fmt="" args=() f objs=() missing=() arg
  while (($#)); do
    case "$1" in
      -f | --format) fmt="$2"; shift ;;
      --format=* | -f=*) fmt="${1#*=}" ;;
      -*) die "unknown flag: $1" 125 ;;
      *) args+=("$1") ;;
    esac
    shift
  done
  ((${#args[@]})) || die "\"docker image inspect\" requires at least 1 argument." 1
  for arg in "${args[@]}"; do
    if f="$(find_image "$arg")"; then
      objs+=("$(image_inspect_json "$f")")
    else
      missing+=("$arg")
    fi
  done
  print_inspect "$fmt" "${objs[@]}"
  if ((${#missing[@]})); then
    for arg in "${missing[@]}"; do echo "Error: No such image: $arg" >&2; done
    exit 1
  fi
}

# Print inspect objects (JSON strings) as docker does: an indented array, or one line per template.
print_inspect() { # FMT OBJ...
  local fmt="$1"
  shift
  if [[ -z "$fmt" ]]; then
    if (($#)); then printf '%s\n' "$@" | jq -s --indent 4 .; else echo "[]"; fi
  elif (($#)); then
    printf '%s\n' "$@" | jq -s . | render_format "$fmt"
  fi
}

human_ago() { # RFC3339 -> "2 weeks ago"
  local then now d
  then="$(date -u -d "$1" +%s 2>/dev/null || echo 0)"
  now="$(date -u +%s)"
  d=$((now - then))
  if ((d < 60)); then echo "Less than a second ago"
  elif ((d < 3600)); then echo "$((d / 60)) minutes ago"
  elif ((d < 172800)); then echo "$((d / 3600)) hours ago"
  elif ((d < 1209600)); then echo "$((d / 86400)) days ago"
  elif ((d < 5184000)); then echo "$((d / 604800)) weeks ago"
  elif ((d < 63072000)); then echo "$((d / 2592000)) months ago"
  else echo "$((d / 31536000)) years ago"; fi
}

cmd_image_ls() { # [-q] [-a] [--format F] [--no-trunc] [REPO[:TAG]]
  local quiet="" fmt="" notrunc="" filter="" f rows=() ref hex file
  while (($#)); do
    case "$1" in
      -q | --quiet) quiet=1 ;;
      -a | --all | --digests) ;;
      --no-trunc) notrunc=1 ;;
      --format) fmt="$2"; shift ;;
      --format=*) fmt="${1#*=}" ;;
      -f | --filter) shift ;;
      --filter=*) ;;
      -*) die "unknown flag: $1" 125 ;;
      *) filter="$1" ;;
    esac
    shift
  done
  if [[ -d "$IMAGES/tags" ]]; then
    for f in "$IMAGES/tags"/*; do
      [[ -f "$f" ]] || continue
      ref="${f##*/}"
      ref="${ref//%2F//}"
      ref="${ref%.json}"
      if [[ -n "$filter" ]]; then
        if [[ "$filter" == *:* ]]; then
          [[ "$ref" == "$(normalize_ref "$filter")" ]] || continue
        else
          [[ "${ref%:*}" == "$(normalize_ref "$filter" | sed 's/:latest$//')" ]] || continue
        fi
      fi
      hex="$(<"$f")"
      file="$(id_file "$hex")"
      [[ -f "$file" ]] || continue
      rows+=("$(jq -c --arg ref "$ref" --arg ago "$(human_ago "$(jq -r .Created "$file")")" '
        {Repository: ($ref | sub(":[^:]*$"; "")), Tag: ($ref | sub("^.*:"; "")), ID: .Id,
         CreatedAt: .Created, CreatedSince: $ago, Size: ("\(.Size / 1000000 | floor)MB"), Digest: .Digest}' "$file")")
    done
  fi
  local json
  json="$(if ((${#rows[@]})); then printf '%s\n' "${rows[@]}"; fi | jq -s 'sort_by(.CreatedAt) | reverse')"
  if [[ -n "$quiet" ]]; then
    jq -r --arg nt "$notrunc" '.[] | if $nt == "1" then .ID else .ID[7:19] end' <<<"$json" | awk '!seen[$0]++'
  elif [[ -n "$fmt" ]]; then
    jq --arg nt "$notrunc" 'map(if $nt == "1" then . else .ID = .ID[7:19] end)' <<<"$json" | render_format "$fmt"
  else
    {
      printf 'REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n'
      jq -r --arg nt "$notrunc" '.[] | [.Repository, .Tag, (if $nt == "1" then .ID else .ID[7:19] end), .CreatedSince, .Size] | @tsv' <<<"$json"
    } | column -t -s $'\t' -o '   '
  fi
}

cmd_image_rm() { # [-f] IMAGE...
  local force="" arg f ref hex
  while (($#)); do
    case "$1" in
      -f | --force) force=1 ;;
      --no-prune) ;;
      -*) die "unknown flag: $1" 125 ;;
      *) break ;;
    esac
    shift
  done
  for arg in "$@"; do
    f="$(find_image "$arg")" || daemon_error "No such image: $arg"
    hex="$(jq -r '.Id[7:]' "$f")"
    if [[ -z "$force" ]] && grep -lqs "\"sha256:$hex\"" "$CONTAINERS"/*/config.json; then
      daemon_error "conflict: unable to remove repository reference \"$arg\" (must force) - container is using its referenced image $(short_id "$hex")" 1
    fi
    ref="$(normalize_ref "$arg")"
    if [[ -f "$(tag_file "$ref")" ]]; then
      rm -f "$(tag_file "$ref")"
      echo "Untagged: $ref"
    fi
    if ! grep -lqsx "$hex" "$IMAGES/tags"/*; then
      echo "Deleted: sha256:$hex"
    fi
  done
}

# sandbox-rebuild REF: the registry publishes a new build of an existing tag.
cmd_sandbox_rebuild() {
  (($# == 1)) || die "usage: docker sandbox-rebuild IMAGE:TAG" 1
  ensure_registry
  with_lock "$STATE/.lock" rebuild_locked "$(normalize_ref "$1")"
}

rebuild_locked() { # REF
  local ref="$1" reg build
  reg="$(registry_file "$ref")"
  [[ -f "$reg" ]] || daemon_error "manifest for $ref not found: manifest unknown: manifest unknown"
  build="$(jq -r '.Build + 1' "$reg")"
  build_json "$ref" "$(jq -r .Flavour "$reg")" "$(now_rfc3339)" "$(jq -r .Version "$reg")" "$build" | atomic_write "$reg"
  jq -r .Id "$reg"
}
