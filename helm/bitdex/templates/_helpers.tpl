{{/* Chart name, truncated to the 63 characters Kubernetes allows in names and labels. */}}
{{- define "bitdex.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; leaves room for the "-writer"/"-reader" suffixes. */}}
{{- define "bitdex.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 56 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 56 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 56 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "bitdex.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "bitdex.labels" -}}
helm.sh/chart: {{ include "bitdex.chart" . }}
app.kubernetes.io/name: {{ include "bitdex.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bitdex
{{- end }}

{{/* Selector labels for one component: include "bitdex.selectorLabels" (list . "writer") */}}
{{- define "bitdex.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "bitdex.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "bitdex.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "bitdex.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "bitdex.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "bitdex.claimName" -}}
{{- default (printf "%s-data" (include "bitdex.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/* Cross-field checks that values.schema.json cannot express. */}}
{{- define "bitdex.validate" -}}
{{- if le (mul (int .Values.terminationGracePeriodSeconds) 1000) (int .Values.graceMs) }}
{{- fail (printf "terminationGracePeriodSeconds (%d s) must be longer than graceMs (%d ms)" (int .Values.terminationGracePeriodSeconds) (int .Values.graceMs)) }}
{{- end }}
{{- $pdb := .Values.reader.podDisruptionBudget }}
{{- if and $pdb.enabled (kindIs "invalid" $pdb.minAvailable) (kindIs "invalid" $pdb.maxUnavailable) }}
{{- fail "reader.podDisruptionBudget: set minAvailable or maxUnavailable (or enabled: false)" }}
{{- end }}
{{- end }}

{{/*
Pod-level settings shared by the writer and the reader:
include "bitdex.podCommon" (dict "root" . "comp" .Values.writer)
*/}}
{{- define "bitdex.podCommon" -}}
{{- $root := .root -}}
serviceAccountName: {{ include "bitdex.serviceAccountName" $root }}
automountServiceAccountToken: false
enableServiceLinks: false
terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .comp.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .comp.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .comp.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
gRPC probes. Kubernetes dials podIP:port in plaintext h2c and calls grpc.health.v1.Health/Check
with `service`; only SERVING passes. The port must be a number (named ports are rejected).
include "bitdex.grpcProbe" (dict "port" 50051 "service" "" "p" .Values.writer.probes.liveness)
*/}}
{{- define "bitdex.grpcProbe" -}}
grpc:
  port: {{ .port }}
  service: {{ .service | quote }}
{{- with .p }}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
failureThreshold: {{ .failureThreshold }}
{{- if hasKey . "successThreshold" }}
successThreshold: {{ .successThreshold }}
{{- end }}
{{- end }}
{{- end }}

{{/* Flags shared by both processes. */}}
{{- define "bitdex.commonArgs" -}}
- --data-dir=/data
- --log-level={{ .Values.logLevel }}
- --grace-ms={{ int .Values.graceMs }}
- --max-message-bytes={{ int .Values.maxMessageBytes }}
{{- end }}

{{/* Environment of both processes: extraEnv (may render nothing). */}}
{{- define "bitdex.env" -}}
{{- with .Values.extraEnv }}{{ toYaml . }}{{- end }}
{{- end }}

{{/* Environment of the writer: the admin token (from a Secret), then extraEnv. */}}
{{- define "bitdex.writerEnv" -}}
{{- $env := list }}
{{- with include "bitdex.adminTokenSecret" . }}
{{- $ref := dict "name" . "key" $.Values.adminToken.secretKey }}
{{- $env = append $env (dict "name" "BITDEX_ADMIN_TOKEN" "valueFrom" (dict "secretKeyRef" $ref)) }}
{{- end }}
{{- $env = concat $env .Values.extraEnv }}
{{- with $env }}{{ toYaml . }}{{ end }}
{{- end }}

{{/* Environment of a reader: its pod name as the Watch reader id (shown in the writer's
GetStats), then extraEnv. */}}
{{- define "bitdex.readerEnv" -}}
{{- $ref := dict "fieldRef" (dict "fieldPath" "metadata.name") }}
{{- $env := list (dict "name" "BITDEX_READER_ID" "valueFrom" $ref) }}
{{- $env = concat $env .Values.extraEnv }}
{{- toYaml $env }}
{{- end }}

{{/* Name of the Secret holding the admin token, or "" when there is none. */}}
{{- define "bitdex.adminTokenSecret" -}}
{{- if .Values.adminToken.existingSecret }}
{{- .Values.adminToken.existingSecret }}
{{- else if .Values.adminToken.value }}
{{- printf "%s-admin-token" (include "bitdex.fullname" .) }}
{{- end }}
{{- end }}
