# shellcheck shell=bash
# The comparisons of tests/compare/compare: each prints one line per difference, "FACET KEY: …",
# with indented detail lines under it (detail lines are never matched against expectations).

compare_all() {
  local facet
  for facet in "${KV_FACETS[@]}"; do
    compare_kv "$facet"
  done
  if [[ -n "$LOGINS" ]]; then
    compare_kv logins
  fi
  compare_rows
  compare_schema
  compare_errors
}

# Key by key; a password's digest is never printed, only whether it differs. A subscription's or
# a publication's option that only the new server has is one its major added since the old
# one's: the old server had no such choice to carry.
compare_kv() { # FACET
  awk -F'\t' -v facet="$1" -v secret="$([[ $1 == passwords ]] && echo 1 || echo 0)" \
    -v options="$([[ $1 == subscriptions || $1 == publications ]] && echo 1 || echo 0)" '
    function show(v) { return secret ? "(hidden)" : v }
    FILENAME == ARGV[1] { old[$1] = $2; next }
    { new[$1] = $2 }
    END {
      for (k in old) {
        if (!(k in new)) print facet " " k ": only in old (" show(old[k]) ")"
        else if (old[k] != new[k]) print facet " " k ": old " show(old[k]) ", new " show(new[k])
      }
      for (k in new) if (!(k in old) && !(options && k ~ / option /)) print facet " " k ": only in new (" show(new[k]) ")"
    }' "$WORK/old/$1" "$WORK/new/$1" | LC_ALL=C sort
}

# Rows as the sorted lists of (table, row digest): a table differs when one list has a row the
# other lacks; the counts say how many on each side.
compare_rows() {
  LC_ALL=C comm -3 "$WORK/old/rows" "$WORK/new/rows" | awk -F'\t' '
    $1 != "" { gone[$1]++; t[$1] = 1; next }
    { added[$2]++; t[$2] = 1 }
    END { for (k in t) printf "rows %s: %d rows only in old, %d rows only in new\n", k, gone[k], added[k] }' |
    LC_ALL=C sort
  awk -F'\t' '{ n[$1]++ } END { for (k in n) print k "\t" n[k] }' "$WORK/old/rows" | LC_ALL=C sort >"$WORK/old/counts"
  awk -F'\t' '{ n[$1]++ } END { for (k in n) print k "\t" n[k] }' "$WORK/new/rows" | LC_ALL=C sort >"$WORK/new/counts"
  compare_kv counts
}

# Block by block: missing blocks, blocks whose lines only moved (an inheritance child's column
# order: the same lines but for the comma after each column but the last), and changed blocks with a unified diff of their lines under the difference.
compare_schema() {
  local key
  while IFS= read -r key; do
    block_of old "$key" >"$WORK/a"
    block_of new "$key" >"$WORK/b"
    if [[ ! -s "$WORK/a" ]]; then
      echo "schema $key: only in new"
    elif [[ ! -s "$WORK/b" ]]; then
      echo "schema $key: only in old"
    elif cmp -s <(sed 's/,$//' "$WORK/a" | LC_ALL=C sort) <(sed 's/,$//' "$WORK/b" | LC_ALL=C sort); then
      # An ACL is a set: the same grants in another order are the same ACL.
      [[ "$key" == *"; Type: ACL;"* || "$key" == *"; Type: DEFAULT ACL;"* ]] && continue
      echo "schema $key: same lines in another order"
    else
      echo "schema $key: differs"
    fi
    diff -U1 "$WORK/a" "$WORK/b" | tail -n +3 | sed 's/^/    /' || true
  done < <(changed_blocks)
}

# The headers of blocks whose text differs between the two dumps (one awk pass over both).
changed_blocks() {
  awk -F'\t' '
    FILENAME == ARGV[1] { old[$1] = old[$1] "\n" substr($0, length($1) + 2); next }
    { new[$1] = new[$1] "\n" substr($0, length($1) + 2) }
    END {
      for (k in old) if (!(k in new) || old[k] != new[k]) print k
      for (k in new) if (!(k in old)) print k
    }' "$WORK/old/blocks" "$WORK/new/blocks" | LC_ALL=C sort
}

block_of() { # SIDE KEY
  awk -F'\t' -v k="$2" '$1 == k { print substr($0, length($1) + 2) }' "$WORK/$1/blocks"
}

# What a side could not read (a table whose rows raise an error) is a difference unless the other
# side failed the same way.
compare_errors() {
  local side
  for side in old new; do
    [[ -s "$WORK/$side/errors" ]] || continue
    echo "errors on $side: $(grep -c . "$WORK/$side/errors") lines of psql errors"
    sed 's/^/    /' "$WORK/$side/errors"
  done
}

# Splits the differences into expected (a line matching one of FILE's expressions) and not.
report() { # FILE OLD NEW
  local expected=0 unexpected=0 line regexes
  regexes="$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$1" || true)"
  echo "compare: old $2 ($(service_image "$2")), new $3 ($(service_image "$3"))"
  while IFS= read -r line; do
    if [[ "$line" == "    "* ]]; then
      echo "$line"
    elif [[ -n "$regexes" ]] && grep -qE -f <(printf '%s\n' "$regexes") <<<"$line"; then
      echo "expected: $line"
      expected=$((expected + 1))
    else
      echo "DIFFERENCE: $line"
      unexpected=$((unexpected + 1))
    fi
  done <"$WORK/differences"
  echo "compare: $unexpected differences, $expected expected"
  ((unexpected == 0))
}
