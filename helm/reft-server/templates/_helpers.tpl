{{/* Chart name, overridable. */}}
{{- define "reft-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full resource name: release-chart, unless the release name already contains the chart name. */}}
{{- define "reft-server.fullname" -}}
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

{{- define "reft-server.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "reft-server.labels" -}}
helm.sh/chart: {{ include "reft-server.chart" . }}
{{ include "reft-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "reft-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "reft-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "reft-server.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "reft-server.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the pods read: the pre-made one, or the one this chart creates. */}}
{{- define "reft-server.secretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else }}
{{- include "reft-server.fullname" . }}
{{- end }}
{{- end }}

{{/* REFT_MODEL_DEVICE: explicit value, else follow gpu.enabled. */}}
{{- define "reft-server.modelDevice" -}}
{{- if .Values.config.modelDevice }}
{{- .Values.config.modelDevice }}
{{- else if .Values.gpu.enabled }}
{{- "gpu" }}
{{- else }}
{{- "cpu" }}
{{- end }}
{{- end }}

{{/* Claim backing the embedded store. */}}
{{- define "reft-server.dataClaimName" -}}
{{- if .Values.persistence.existingClaim }}
{{- .Values.persistence.existingClaim }}
{{- else }}
{{- printf "%s-data" (include "reft-server.fullname" .) }}
{{- end }}
{{- end }}

{{/* Refuse settings that would cut the engine's drain short or name a model volume that does not exist. */}}
{{- define "reft-server.validate" -}}
{{- $drain := add (int .Values.config.shutdownGraceSeconds) (int .Values.preStopSleepSeconds) }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $drain) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed config.shutdownGraceSeconds + preStopSleepSeconds (%d)" (int .Values.terminationGracePeriodSeconds) (int $drain)) }}
{{- end }}
{{- if not (has .Values.model.source (list "embedded" "pvc" "init")) }}
{{- fail (printf "model.source must be embedded, pvc or init, not %q" .Values.model.source) }}
{{- end }}
{{- if and (eq .Values.model.source "pvc") (not .Values.model.pvc.claimName) }}
{{- fail "model.source=pvc needs model.pvc.claimName" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not .Values.autoscaling.targetCPUUtilizationPercentage) (not .Values.autoscaling.queueDepth.enabled) }}
{{- fail "autoscaling needs a metric: targetCPUUtilizationPercentage > 0 or queueDepth.enabled" }}
{{- end }}
{{- end }}
