#!/usr/bin/env bash
# Proof that every deployment validator can fail: each artifact is copied to a temporary folder, broken
# on purpose, and its validator must exit non-zero. Needs the validators of `.ci/checks/ops.sh install`.
#   bash tools/prove_validators.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/.tools/bin:$root/.tools/venv/bin:$PATH"
for tool in helm promtool kubernetes-validate checkov hadolint docker-compose check-jsonschema actionlint; do
    command -v "$tool" >/dev/null || { echo "prove_validators: $tool missing: run .ci/checks/ops.sh install" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

rejects() {  # rejects WHAT COMMAND... : the command must fail on the broken copy
    local what=$1
    shift
    if "$@" >"$work/last.log" 2>&1; then
        echo "FAIL accepted a broken copy: $what"
        sed 's/^/     /' "$work/last.log"
        failures=$((failures + 1))
    else
        echo "ok   rejected: $what"
    fi
}

fresh() {  # fresh NAME SOURCE...: an empty case folder holding copies of SOURCE
    local case_dir=$work/$1
    shift
    rm -rf "$case_dir" && mkdir -p "$case_dir"
    cp -R "$@" "$case_dir/"
    echo "$case_dir"
}

replace() {  # replace FILE OLD NEW: literal replacement that must change the file
    python3 - "$@" <<'PY'
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
if old not in text:
    sys.exit(f"{path}: {old!r} not found")
open(path, "w").write(text.replace(old, new, 1))
PY
}

# Helm: a template parse error, and a value the schema does not know.
dir=$(fresh helm-parse charts/mempool-ws)
printf '{{ if .Values.gateway.port }\n' >>"$dir/mempool-ws/templates/gateway.yaml"
rejects "helm lint --strict: unclosed template action" helm lint --strict "$dir/mempool-ws"
dir=$(fresh helm-schema charts/mempool-ws)
rejects "helm lint --strict: unknown value gateway.replicaz" \
    helm lint --strict "$dir/mempool-ws" --set gateway.replicaz=3
rejects "helm template: gateway.port as a string" helm template rel "$dir/mempool-ws" --set-string gateway.port=http

# Kubernetes manifests: an unknown field, and a weakened security context.
dir=$(fresh k8s charts/mempool-ws)
helm template rel "$dir/mempool-ws" -n mempool >"$dir/rendered.yaml"
cp "$dir/rendered.yaml" "$dir/unknown-field.yaml"
replace "$dir/unknown-field.yaml" "          ports:" "          portz:"
rejects "kubernetes-validate --strict: containers[].portz" kubernetes-validate --strict --quiet "$dir/unknown-field.yaml"
cp "$dir/rendered.yaml" "$dir/writable-root.yaml"
replace "$dir/writable-root.yaml" "readOnlyRootFilesystem: true" "readOnlyRootFilesystem: false"
rejects "checkov: a writable root filesystem" \
    checkov -f "$dir/writable-root.yaml" --framework kubernetes --compact --quiet --skip-download

# Dockerfile: unpinned apt packages (hadolint), no HEALTHCHECK (checkov).
dir=$(fresh docker Dockerfile)
replace "$dir/Dockerfile" "USER 10001:10001" "RUN apt-get update && apt-get install -y curl
USER 10001:10001"
rejects "hadolint: unpinned apt-get install" hadolint "$dir/Dockerfile"
dir=$(fresh docker-health Dockerfile)
python3 - "$dir/Dockerfile" <<'PY'
import sys
path = sys.argv[1]
lines = [line for line in open(path) if not line.startswith("HEALTHCHECK")]
open(path, "w").writelines(lines)
PY
rejects "checkov: no HEALTHCHECK" checkov -f "$dir/Dockerfile" --framework dockerfile --compact --quiet --skip-download

# Compose: depends_on as a plain string (the Compose binary), an unknown key (the compose-spec schema).
dir=$(fresh compose docker-compose.yml)
replace "$dir/docker-compose.yml" "    depends_on:
      redis:
        condition: service_healthy
    healthcheck:
      test: [\"CMD\", \"python\"" "    depends_on: redis
    healthcheck:
      test: [\"CMD\", \"python\""
rejects "docker-compose config: depends_on: redis (a string)" docker-compose -f "$dir/docker-compose.yml" config -q
dir=$(fresh compose-key docker-compose.yml)
replace "$dir/docker-compose.yml" "    ports:" "    portz:"
rejects "check-jsonschema compose-spec: portz" \
    check-jsonschema --builtin-schema vendor.compose-spec "$dir/docker-compose.yml"

# Workflows: a misspelt job key, a job that needs one that does not exist.
dir=$(fresh workflow .github/workflows/ci.yml)
replace "$dir/ci.yml" "    runs-on: ubuntu-24.04" "    runs-onn: ubuntu-24.04"
rejects "actionlint: runs-onn" actionlint "$dir/ci.yml"
rejects "check-jsonschema github-workflows: runs-onn" \
    check-jsonschema --builtin-schema vendor.github-workflows "$dir/ci.yml"
dir=$(fresh workflow-needs .github/workflows/ci.yml)
replace "$dir/ci.yml" "needs: [lint, typecheck, test, checks]" "needs: [lint, typecheck, test, chekcs]"
rejects "actionlint: needs an unknown job" actionlint "$dir/ci.yml"

# Catalog and registry entry: a missing field, a description over the registry's 100 characters.
dir=$(fresh catalog catalog.yaml server.json)
python3 - "$dir/catalog.yaml" <<'PY'
import sys
path = sys.argv[1]
lines = open(path).read().splitlines(keepends=True)
start = next(i for i, line in enumerate(lines) if line.startswith("owner:"))
end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
open(path, "w").writelines(lines[:start] + lines[end:])
PY
rejects "check-jsonschema catalog.yaml: no owner" \
    check-jsonschema --schemafile schemas/catalog.schema.json "$dir/catalog.yaml"
replace "$dir/server.json" '"description": "' '"description": "A description far too long for the registry, which keeps at most one hundred characters here. '
rejects "check-jsonschema server.json: description over 100 characters" \
    check-jsonschema --schemafile schemas/server.schema.json "$dir/server.json"

# Prometheus: broken PromQL in the alerts and in a dashboard query; an alert unit test that no longer holds;
# exposition text with a counter lacking _total and HELP.
dir=$(fresh prometheus deploy/prometheus/alerts.yml deploy/prometheus/alerts.test.yml deploy/grafana/mempool-ws.json)
cp "$dir/alerts.yml" "$dir/broken.yml"
replace "$dir/broken.yml" "sum by (namespace, job) (ingestor_upstream_connected) < 1" \
    "sum by (namespace, job) (ingestor_upstream_connected < 1"
rejects "promtool check rules: unclosed parenthesis" promtool check rules "$dir/broken.yml"
replace "$dir/alerts.yml" "(ingestor_upstream_connected) < 1" "(ingestor_upstream_connected) < 0"
rejects "promtool test rules: an alert that no longer fires" promtool test rules "$dir/alerts.test.yml"
replace "$dir/mempool-ws.json" '"expr": "sum by (job) (ingestor_leader' '"expr": "sum by (job) (ingestor_leader))'
python3 tools/dashboard_rules.py "$dir/mempool-ws.json" -o "$dir/dashboard.rules.yml"
rejects "promtool check rules: a dashboard query with a stray parenthesis" \
    promtool check rules "$dir/dashboard.rules.yml"
printf '# TYPE ingestor_oops counter\ningestor_oops 1\n' >"$dir/metrics.txt"
check_metrics_file() { promtool check metrics <"$1"; }
rejects "promtool check metrics: counter without _total or HELP" check_metrics_file "$dir/metrics.txt"
dir=$(fresh chart-copy charts/mempool-ws)
printf '\n' >>"$dir/mempool-ws/files/alerts.yml"
rejects "cmp: the chart's copy of alerts.yml drifted" cmp deploy/prometheus/alerts.yml "$dir/mempool-ws/files/alerts.yml"

[ "$failures" -eq 0 ] || { echo "prove_validators: $failures validator(s) accepted a broken copy"; exit 1; }
