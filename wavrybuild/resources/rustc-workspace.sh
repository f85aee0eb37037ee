#!/bin/sh
# cargo's RUSTC_WORKSPACE_WRAPPER: runs only for the workspace's own crates, with rustc as $1.
# Appends this checkout's --remap-path-prefix flags (WAVRYBUILD_REMAP, one per line, all of them in
# rustc's last-match-wins order) so that they never reach std or registry crates: those keep flags
# that are the same for every checkout and are compiled once per target dir. cargo does not see a
# wrapper's flags, so after a successful compile the checkout's id goes into rustc's dep-info as
# the value of a variable the crate depends on (`# env-dep:`, as env!() records it): a checkout
# elsewhere, or a different one at the same target dir, makes cargo recompile the crate instead of
# handing it the other checkout's artifact.
rustc=$1
shift
out_dir= crate= extra= depinfo= prev=
for a in "$@"; do
  case $prev in
    --out-dir) out_dir=$a ;;
    --crate-name) crate=$a ;;
    -C) case $a in extra-filename=*) extra=${a#extra-filename=} ;; esac ;;
  esac
  case $a in
    --out-dir=*) out_dir=${a#--out-dir=} ;;
    -Cextra-filename=*) extra=${a#-Cextra-filename=} ;;
    --emit=*dep-info=*) depinfo=${a#*dep-info=}; depinfo=${depinfo%%,*} ;;
  esac
  prev=$a
done
if [ -n "${WAVRYBUILD_REMAP:-}" ]; then
  old_ifs=$IFS; IFS='
'
  set -- "$@" $WAVRYBUILD_REMAP
  IFS=$old_ifs
fi
# The caller's own workspace wrapper, if it had one, still runs (around rustc, inside this one).
${WAVRYBUILD_NEXT_WRAPPER:+"$WAVRYBUILD_NEXT_WRAPPER"} "$rustc" "$@" || exit
if [ -z "$depinfo" ] && [ -n "$crate" ] && [ -n "$out_dir" ]; then
  depinfo=$out_dir/$crate$extra.d
fi
if [ -n "$depinfo" ] && [ -f "$depinfo" ] && [ -n "${WAVRYBUILD_CHECKOUT_ID:-}" ]; then
  printf '# env-dep:WAVRYBUILD_CHECKOUT_ID=%s\n' "$WAVRYBUILD_CHECKOUT_ID" >> "$depinfo" || exit
fi
exit 0
