{{/* Names ---------------------------------------------------------------------------------------- */}}

{{- define "mempool-ws.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mempool-ws.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mempool-ws.gatewayName" -}}
{{- printf "%s-gateway" (include "mempool-ws.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mempool-ws.redisName" -}}
{{- printf "%s-redis" (include "mempool-ws.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of one network's ingestor; call with (dict "root" $ "network" "mainnet"). */}}
{{- define "mempool-ws.ingestorName" -}}
{{- printf "%s-ingestor-%s" (include "mempool-ws.fullname" .root) .network | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mempool-ws.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mempool-ws.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels ------------------------------------------------------------------------------------------ */}}

{{- define "mempool-ws.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mempool-ws.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mempool-ws.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mempool-ws.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mempool-ws
{{- end }}

{{/* Images ------------------------------------------------------------------------------------------ */}}

{{/* repository:tag, or repository@digest when a digest is given; call with (dict "image" .. "default" tag). */}}
{{- define "mempool-ws.imageRef" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .default .image.tag) }}
{{- end }}
{{- end }}

{{/* The pull policy of an image: the given one, else Always for a tag and IfNotPresent for a digest. */}}
{{- define "mempool-ws.pullPolicy" -}}
{{- if .pullPolicy }}{{ .pullPolicy }}{{ else if .digest }}IfNotPresent{{ else }}Always{{ end }}
{{- end }}

{{- define "mempool-ws.image" -}}
{{- include "mempool-ws.imageRef" (dict "image" .Values.image "default" .Chart.AppVersion) }}
{{- end }}

{{/* Redis ------------------------------------------------------------------------------------------- */}}

{{- define "mempool-ws.redisSecretName" -}}
{{- if .Values.redis.existingSecret }}
{{- .Values.redis.existingSecret }}
{{- else }}
{{- printf "%s-redis-url" (include "mempool-ws.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "mempool-ws.redisSecretKey" -}}
{{- if .Values.redis.existingSecret }}{{ .Values.redis.existingSecretKey }}{{ else }}url{{ end }}
{{- end }}

{{/* The URL stored in the chart's own Secret: the given one, or the bundled Redis Service. */}}
{{- define "mempool-ws.redisUrl" -}}
{{- if .Values.redis.url }}
{{- .Values.redis.url }}
{{- else if .Values.redis.bundled.enabled }}
{{- printf "redis://%s.%s.svc.%s:6379/0" (include "mempool-ws.redisName" .) .Release.Namespace .Values.clusterDomain }}
{{- else }}
{{- fail "redis: set redis.url or redis.existingSecret, or enable redis.bundled" }}
{{- end }}
{{- end }}

{{/* Security ---------------------------------------------------------------------------------------- */}}

{{- define "mempool-ws.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "mempool-ws.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Environment ------------------------------------------------------------------------------------- */}}

{{/* Settings both daemons read: the bus, the key prefix and logging. */}}
{{- define "mempool-ws.commonEnv" -}}
- name: MEMPOOL_WS_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "mempool-ws.redisSecretName" . }}
      key: {{ include "mempool-ws.redisSecretKey" . }}
- name: MEMPOOL_WS_KEY_PREFIX
  value: {{ .Values.redis.keyPrefix | quote }}
- name: MEMPOOL_WS_LOG_LEVEL
  value: {{ .Values.log.level | quote }}
- name: MEMPOOL_WS_LOG_FORMAT
  value: {{ .Values.log.format | quote }}
{{- end }}

{{/* Host names the gateway's Host guard accepts: every DNS form of its Service, plus extra ones. */}}
{{- define "mempool-ws.allowedHosts" -}}
{{- $svc := include "mempool-ws.gatewayName" . }}
{{- $ns := .Release.Namespace }}
{{- $hosts := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) }}
{{- concat $hosts .Values.gateway.allowedHosts | uniq | join "," }}
{{- end }}

{{/* Pod-level settings shared by every Deployment. */}}
{{- define "mempool-ws.podCommon" -}}
serviceAccountName: {{ include "mempool-ws.serviceAccountName" . }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- include "mempool-ws.podSecurityContext" . | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Probe over HTTP GET; call with (dict "path" "/healthz" "port" "http" "period" 10 "failures" 3). */}}
{{- define "mempool-ws.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
periodSeconds: {{ .period }}
timeoutSeconds: 3
failureThreshold: {{ .failures }}
{{- end }}

{{/* Checks the schema cannot express; rendered by ingestor.yaml before anything else. */}}
{{- define "mempool-ws.validate" -}}
{{- $seen := dict }}
{{- range .Values.ingestor.networks }}
{{- if hasKey $seen .name }}
{{- fail (printf "ingestor.networks: %s is listed twice" .name) }}
{{- end }}
{{- $_ := set $seen .name true }}
{{- end }}
{{- if not (hasKey $seen .Values.gateway.network) }}
{{- fail (printf "gateway.network: %s has no ingestor; list it in ingestor.networks" .Values.gateway.network) }}
{{- end }}
{{- with .Values.gateway.autoscaling }}
{{- if and .enabled (gt (int .minReplicas) (int .maxReplicas)) }}
{{- fail "gateway.autoscaling: minReplicas is above maxReplicas" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The networks the ingestors publish, comma-separated: what the gateways serve (MEMPOOL_WS_NETWORKS). */}}
{{- define "mempool-ws.networkNames" -}}
{{- $names := list }}
{{- range .Values.ingestor.networks }}
{{- $names = append $names .name }}
{{- end }}
{{- join "," $names }}
{{- end }}
