#!/usr/bin/env bash
# check-format: fails when a tracked C source or header is not formatted per .clang-format.
#
# Usage: scripts/check-format.sh          check (CI); lists offending files, exits 1 on any
#        scripts/check-format.sh --fix    rewrite the offending files in place
# Files: every *.c / *.h that git tracks or would track (untracked but not ignored), so build
# directories and generated code never count. Needs clang-format (14 in Debian 12).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

fix=0
case "${1:-}" in
"") ;;
--fix) fix=1 ;;
*)
    echo "usage: $0 [--fix]" >&2
    exit 2
    ;;
esac

CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
if ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
    echo "check-format: $CLANG_FORMAT not found (scripts/install-deps.sh installs it)" >&2
    exit 1
fi

mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h' |
    grep -Ev '^(build[^/]*|\.tools|\.demo)/' | sort -u)
if [ ${#files[@]} -eq 0 ]; then
    echo "check-format: no C files found"
    exit 0
fi

bad=()
for f in "${files[@]}"; do
    [ -f "$f" ] || continue # deleted in the work tree but still in the index
    if ! "$CLANG_FORMAT" --dry-run --Werror "$f" >/dev/null 2>&1; then
        bad+=("$f")
    fi
done

if [ ${#bad[@]} -eq 0 ]; then
    echo "check-format: ${#files[@]} files OK ($("$CLANG_FORMAT" --version | head -n1))"
    exit 0
fi
if [ "$fix" -eq 1 ]; then
    "$CLANG_FORMAT" -i "${bad[@]}"
    echo "check-format: reformatted ${#bad[@]} file(s):"
    printf '  %s\n' "${bad[@]}"
    exit 0
fi
echo "check-format: ${#bad[@]} of ${#files[@]} file(s) need formatting:" >&2
printf '  %s\n' "${bad[@]}" >&2
echo "first differences:" >&2
for f in "${bad[@]:0:3}"; do
    "$CLANG_FORMAT" "$f" | diff -u --label "$f" --label "$f (formatted)" "$f" - | head -n 20 >&2 ||
        true
done
echo "fix with: scripts/check-format.sh --fix" >&2
exit 1
