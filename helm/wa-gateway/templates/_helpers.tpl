{{/* Names ------------------------------------------------------------------------------ */}}

{{- define "wa-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "wa-gateway.fullname" -}}
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

{{- define "wa-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "wa-gateway.commonLabels" -}}
helm.sh/chart: {{ include "wa-gateway.chart" . }}
app.kubernetes.io/name: {{ include "wa-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: wa-gateway
{{- end }}

{{- define "wa-gateway.labels" -}}
{{ include "wa-gateway.commonLabels" . }}
app.kubernetes.io/component: api
{{- end }}

{{- define "wa-gateway.redis.labels" -}}
{{ include "wa-gateway.commonLabels" . }}
app.kubernetes.io/component: redis
{{- end }}

{{- define "wa-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wa-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end }}

{{- define "wa-gateway.redis.fullname" -}}
{{- printf "%s-redis" (include "wa-gateway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "wa-gateway.redis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wa-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end }}

{{- define "wa-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "wa-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "wa-gateway.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The Secret loaded whole with envFrom. */}}
{{- define "wa-gateway.secretName" -}}
{{- default (printf "%s-secrets" (include "wa-gateway.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{/* The Secret holding the external Redis URL. */}}
{{- define "wa-gateway.redis.secretName" -}}
{{- default (include "wa-gateway.secretName" .) .Values.redis.external.existingSecret }}
{{- end }}

{{/* The Secret of the external Redis's private CA; empty without one (or without an
     external Redis). */}}
{{- define "wa-gateway.redis.caSecret" -}}
{{- if .Values.redis.external.enabled }}{{ dig "tls" "caSecret" "" .Values.redis.external }}{{ end }}
{{- end }}

{{/* Where that CA is mounted, and its file (store.tls_ca_file). */}}
{{- define "wa-gateway.redis.caDir" -}}/etc/wa-gateway-redis-ca{{- end }}
{{- define "wa-gateway.redis.caFile" -}}{{ include "wa-gateway.redis.caDir" . }}/ca.crt{{- end }}

{{/* `address:port` for the gateway to listen on: (list $ port). */}}
{{- define "wa-gateway.listen" -}}
{{- $v := (index . 0).Values.gateway }}
{{- printf "%s:%d" (ternary (printf "[%s]" $v.listenAddress) $v.listenAddress (contains ":" $v.listenAddress)) (int (index . 1)) }}
{{- end }}

{{/* The vendors' webhook paths (gateway-api's events::inbound::ALL_PATHS; a test checks they
     match), under events.webhook_base_path when the configuration sets one. */}}
{{- define "wa-gateway.webhookPaths" -}}
{{- $base := dig "events" "webhook_base_path" "" .Values.gateway.config }}
{{- $paths := list
  "/api/callback/whatsapp/onlineStatus"
  "/callback/gsTask/syncWhatsAppStatus"
  "/group-dispatch-api/register/syncStatus"
  "/wscrm-bus-api/open/qrCode/syncLoginStatus"
  "/wscrm-bus-api/open/qrCodeTask/syncStatus" }}
{{- range $paths }}
- {{ printf "%s%s" $base . }}
{{- end }}
{{- end }}

{{/* "external", "bundled" or "embedded". */}}
{{- define "wa-gateway.storeMode" -}}
{{- if .Values.redis.external.enabled }}external{{- else if .Values.redis.bundled.enabled }}bundled{{- else }}embedded{{- end }}
{{- end }}

{{/* Validation ------------------------------------------------------------------------ */}}
{{/* Rules the JSON schema cannot express; any failure stops rendering (install, upgrade,
     lint, template) with a message saying what to change. */}}
{{- define "wa-gateway.validate" -}}
{{- $v := .Values }}
{{- if and $v.redis.external.enabled $v.redis.bundled.enabled }}
{{- fail "redis.external.enabled and redis.bundled.enabled are both true: choose one store" }}
{{- end }}
{{- if eq (include "wa-gateway.storeMode" .) "embedded" }}
{{- if gt (int $v.replicaCount) 1 }}
{{- fail (printf "replicaCount is %d but no shared store is configured: the embedded store serves a single replica only. Set redis.external.enabled=true (production) or redis.bundled.enabled=true (trials), or replicaCount=1" (int $v.replicaCount)) }}
{{- end }}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.maxReplicas) 1) }}
{{- fail (printf "autoscaling.maxReplicas is %d but no shared store is configured: the embedded store serves a single replica only. Set redis.external.enabled=true or redis.bundled.enabled=true, or disable autoscaling" (int $v.autoscaling.maxReplicas)) }}
{{- end }}
{{- end }}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas is greater than autoscaling.maxReplicas" }}
{{- end }}
{{- if and $v.autoscaling.enabled (not (or $v.autoscaling.targetCPUUtilizationPercentage $v.autoscaling.targetMemoryUtilizationPercentage)) }}
{{- fail "autoscaling is enabled but neither targetCPUUtilizationPercentage nor targetMemoryUtilizationPercentage is set" }}
{{- end }}
{{- $preStop := 0 }}
{{- if ne $v.gateway.preStop.mode "none" }}{{ $preStop = int $v.gateway.preStop.sleepSeconds }}{{ end }}
{{- $drain := int $v.gateway.drainTimeoutSeconds }}
{{- $grace := int $v.gateway.terminationGracePeriodSeconds }}
{{- if ge (add $preStop $drain) $grace }}
{{- fail (printf "gateway.terminationGracePeriodSeconds (%d) must be greater than gateway.preStop.sleepSeconds (%d) + gateway.drainTimeoutSeconds (%d) = %d: otherwise the kubelet kills the gateway before in-flight requests finish and workers hand back their job leases" $grace $preStop $drain (add $preStop $drain)) }}
{{- end }}
{{- $server := default dict $v.gateway.config.server }}
{{- if or (hasKey $server "listen") (hasKey $server "drain_timeout") }}
{{- fail "gateway.config.server.listen / drain_timeout are set by the chart: use gateway.port / gateway.listenAddress / gateway.drainTimeoutSeconds" }}
{{- end }}
{{- if and $v.ingress.api.enabled (not $v.ingress.api.hosts) }}
{{- fail "ingress.api.enabled is true but ingress.api.hosts is empty" }}
{{- end }}
{{- if and $v.ingress.webhooks.enabled (not $v.ingress.webhooks.host) }}
{{- fail "ingress.webhooks.enabled is true but ingress.webhooks.host is empty" }}
{{- end }}
{{- if eq (int $v.gateway.port) (int $v.gateway.statusPort) }}
{{- fail "gateway.port and gateway.statusPort are the same: the status listener needs a port of its own" }}
{{- end }}
{{- if hasKey $server "admin_listen" }}
{{- fail "gateway.config.server.admin_listen is set by the chart: use gateway.statusPort" }}
{{- end }}
{{- end }}

{{/* TOML --------------------------------------------------------------------------------- */}}
{{/* Helm's toToml prints every number as a float (32 -> 32.0), which the gateway's strict
     config refuses for integer keys; these templates print integral numbers as integers. */}}

{{- define "wa-gateway.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}

{{- define "wa-gateway.toml.value" -}}
{{- $v := . }}
{{- if kindIs "string" $v }}{{ toJson $v }}
{{- else if kindIs "bool" $v }}{{ $v }}
{{- else if or (kindIs "float64" $v) (kindIs "float32" $v) }}
{{- if eq (float64 (int64 $v)) (float64 $v) }}{{ int64 $v }}{{ else }}{{ $v }}{{ end }}
{{- else if or (kindIs "int" $v) (kindIs "int64" $v) (kindIs "int32" $v) (kindIs "uint64" $v) }}{{ $v }}
{{- else if kindIs "slice" $v }}
{{- $items := list }}
{{- range $v }}{{ $items = append $items (include "wa-gateway.toml.value" .) }}{{ end }}
{{- printf "[%s]" (join ", " $items) }}
{{- else if kindIs "map" $v }}
{{- $items := list }}
{{- range $k, $item := $v }}
{{- if not (kindIs "invalid" $item) }}
{{- $items = append $items (printf "%s = %s" (include "wa-gateway.toml.key" $k) (include "wa-gateway.toml.value" $item)) }}
{{- end }}
{{- end }}
{{- printf "{ %s }" (join ", " $items) }}
{{- else }}{{ fail (printf "gateway.config: cannot write a %s value to TOML" (kindOf $v)) }}
{{- end }}
{{- end }}

{{/* A table: its plain keys, then one [header] per sub-table. Null values are skipped. */}}
{{- define "wa-gateway.toml.table" -}}
{{- $path := .path }}
{{- range $k, $v := .map }}
{{- if and (not (kindIs "map" $v)) (not (kindIs "invalid" $v)) }}
{{ include "wa-gateway.toml.key" $k }} = {{ include "wa-gateway.toml.value" $v }}
{{- end }}
{{- end }}
{{- range $k, $v := .map }}
{{- if kindIs "map" $v }}
{{- $sub := append $path (include "wa-gateway.toml.key" $k) }}

[{{ join "." $sub }}]
{{- include "wa-gateway.toml.table" (dict "path" $sub "map" $v) }}
{{- end }}
{{- end }}
{{- end }}

{{- define "wa-gateway.configToml" -}}
# gateway-api configuration rendered by the wa-gateway chart (values: gateway.config).
# Passed with --config; GATEWAY_* environment variables (listen address, drain timeout,
# secrets) override it.
{{- include "wa-gateway.toml.table" (dict "path" list "map" .Values.gateway.config) }}
{{- end }}

{{/* Secret checksum -------------------------------------------------------------------- */}}
{{/* Hash of the data of every Secret the pods read, looked up at install / upgrade time,
     so `helm upgrade` after a secret rotation rolls the pods. Offline rendering (template,
     lint, GitOps tools without cluster access) sees no Secret and hashes an empty list. */}}
{{- define "wa-gateway.secretsChecksum" -}}
{{- $names := list (include "wa-gateway.secretName" .) }}
{{- if .Values.redis.external.enabled }}{{ $names = append $names (include "wa-gateway.redis.secretName" .) }}{{ end }}
{{- with include "wa-gateway.redis.caSecret" . }}{{ $names = append $names . }}{{ end }}
{{- range $var, $ref := .Values.secrets.env }}{{ $names = append $names (default (include "wa-gateway.secretName" $) $ref.name) }}{{ end }}
{{- $data := list }}
{{- range $name := ($names | uniq | sortAlpha) }}
{{- $s := lookup "v1" "Secret" $.Release.Namespace $name }}
{{- $data = append $data (dict "name" $name "data" (dig "data" dict $s)) }}
{{- end }}
{{- toJson $data | sha256sum }}
{{- end }}
