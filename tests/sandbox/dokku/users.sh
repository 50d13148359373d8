# shellcheck shell=bash
# Becoming a user of the sandbox host (docs/dokku-host.md#users), sourced by `host` and `sudo`.

# Execs CMD as the user of UID and GID. The dokku user keeps two capabilities, CAP_SETUID and
# CAP_SETGID, and nothing else: every file and signal check is the dokku user's, while the
# sandbox's `sudo` (after its sudoers check) and `docker` (the docker group's daemon) can become
# root again as the real ones do through their setuid binary and socket.
user_exec() { # UID GID CMD...
  local uid="$1" gid="$2"
  shift 2
  [[ "$EUID" == "$uid" ]] && exec "$@"
  if [[ "$uid" == 0 ]]; then
    exec setpriv --reuid=0 --regid=0 --init-groups -- "$@"
  fi
  exec setpriv --reuid="$uid" --regid="$gid" --init-groups \
    --inh-caps=-all,+setuid,+setgid --ambient-caps=-all,+setuid,+setgid -- "$@"
}
