#!/usr/bin/env bash
# The GitHub Action's step (action.yml): install kmsguard from the action's own checkout with
# the locked runtime set, then scan the workspace. Inputs arrive as KMSGUARD_* variables.
set -euo pipefail

action_dir=${GITHUB_ACTION_PATH:?run by the action runner: GITHUB_ACTION_PATH is not set}
venv="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/kmsguard-venv"

echo "::group::Install kmsguard (locked runtime set)"
"${KMSGUARD_PYTHON:-python3}" -m venv "$venv"
pip=("$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps)
"${pip[@]}" --require-hashes \
  -r "$action_dir/requirements/build.txt" -r "$action_dir/requirements/runtime.txt"
"${pip[@]}" --no-build-isolation "$action_dir"
"$venv/bin/kmsguard" --version
echo "::endgroup::"

# Paths are separated by white space (spaces or new lines).
read -r -a paths <<< "$(tr '\n' ' ' <<< "${KMSGUARD_PATHS:-.}")"
[ ${#paths[@]} -gt 0 ] || paths=(.)
args=(scan iac)
[ -n "${KMSGUARD_ACCOUNT:-}" ] && args+=(--account "$KMSGUARD_ACCOUNT")
[ -n "${KMSGUARD_ORG_ID:-}" ] && args+=(--org-id "$KMSGUARD_ORG_ID")
# KMSGUARD_CONFIG and KMSGUARD_BASELINE (the config and baseline inputs) are read by
# kmsguard itself; empty ones are ignored and the config file is found from the workspace.

cd "${GITHUB_WORKSPACE:-.}"
if [ -n "${KMSGUARD_FAIL_ON:-}" ]; then
  args+=(--fail-on "$KMSGUARD_FAIL_ON")
else
  # the config file's fail-on when it sets one; the action's default is high
  source=$("$venv/bin/kmsguard" config show --format json 2>/dev/null \
    | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["commands"]["iac"]["fail-on"]["from"])' \
    ) || source=default
  [ "$source" = default ] && args+=(--fail-on high)
fi
status=0
"$venv/bin/kmsguard" "${args[@]}" "${paths[@]}" || status=$?
if [ -n "${KMSGUARD_SARIF:-}" ]; then
  # The same judgement again, as SARIF for code scanning; its exit code is the same.
  "$venv/bin/kmsguard" "${args[@]}" --format sarif --output "$KMSGUARD_SARIF" "${paths[@]}" || true
  [ -n "${GITHUB_OUTPUT:-}" ] && echo "sarif=$KMSGUARD_SARIF" >> "$GITHUB_OUTPUT"
fi
[ -n "${GITHUB_OUTPUT:-}" ] && echo "exit-code=$status" >> "$GITHUB_OUTPUT"
exit "$status"
