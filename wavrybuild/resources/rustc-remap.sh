#!/bin/sh
# Runs rustc with this checkout's --remap-path-prefix flags appended (from WAVRYBUILD_REMAP, one
# per line). Behind sccache they are outside its cache key: another checkout's compile of the same
# sources is a hit, and the remapped output is the same bytes anyway.
if [ -n "${WAVRYBUILD_REMAP:-}" ]; then
  old_ifs=$IFS; IFS='
'
  set -- "$@" $WAVRYBUILD_REMAP
  IFS=$old_ifs
fi
exec "${WAVRYBUILD_RUSTC:-rustc}" "$@"
