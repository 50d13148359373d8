# shellcheck shell=bash
# Test-only faults of the sandbox's `dokku` and `docker`: `DIR/faults` holds one call to fail a
# line, as `dokku WORDS…`, `docker WORDS…`, or `*` for whatever call comes next. The first call
# whose command line starts with a line's words fails, once (exit 1 with a ` !     ` line, as a
# failing command does), and the line is used up. Without the file nothing changes. A real host
# has no such file: the tests use it to make each step of an upgrade, and each of its undo
# commands, fail where a host could (tests/recovery.rs).

# Fails this call when a line of DIR/faults names it; returns otherwise.
sandbox_fault() { # dokku|docker ARGS...
  local faults="$SANDBOX_DIR/faults" line hit="" call="$*" kept=()
  [[ -s "$faults" ]] || return 0
  exec 9>>"$faults.lock"
  flock 9
  while IFS= read -r line; do
    if [[ -z "$hit" && -n "$line" ]] && [[ "$line" == "*" || "$call " == "$line "* ]]; then
      hit="$line"
    elif [[ -n "$line" ]]; then
      kept+=("$line")
    fi
  done <"$faults"
  if ((${#kept[@]})); then printf '%s\n' "${kept[@]}" >"$faults"; else : >"$faults"; fi
  exec 9>&-
  [[ -n "$hit" ]] || return 0
  echo " !     sandbox: an injected failure of \`${call//$'\n'/ }\` (DIR/faults: $hit)" >&2
  exit 1
}
