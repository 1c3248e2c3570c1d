{{/* The chart's name, or nameOverride. */}}
{{- define "bulwark.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's resource name: fullnameOverride, or release-chart. */}}
{{- define "bulwark.fullname" -}}
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

{{- define "bulwark.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bulwark.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "bulwark.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "bulwark.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "bulwark.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "bulwark.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* bulwark.yaml: config verbatim, a string as it is or a mapping as YAML. */}}
{{- define "bulwark.config" -}}
{{- if kindIs "string" .Values.config }}
{{- .Values.config }}
{{- else if .Values.config }}
{{- toYaml .Values.config }}
{{- end }}
{{- end }}

{{/* Whether more than one pod may run at once. */}}
{{- define "bulwark.multiReplica" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/*
bulwark.validate fails the render on values that cannot work: replicas of
the embedded shape would each keep their own keys and usage.
*/}}
{{- define "bulwark.validate" -}}
{{- if include "bulwark.multiReplica" . }}
{{- if kindIs "map" .Values.config }}
{{- if ne (dig "store" "type" "sqlite" .Values.config) "postgres" }}
{{- fail "more than one replica (replicaCount > 1 or autoscaling.enabled) needs the scaled shape: config.store.type postgres (and config.limits.backend redis)" }}
{{- end }}
{{- end }}
{{- if .Values.persistence.enabled }}
{{- fail "persistence.enabled claims one ReadWriteOnce volume: run one replica, or use the scaled shape without it" }}
{{- end }}
{{- end }}
{{- end }}
