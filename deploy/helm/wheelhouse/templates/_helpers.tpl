{{/* Names and labels, as `helm create` makes them. */}}
{{- define "wheelhouse.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "wheelhouse.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "wheelhouse.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "wheelhouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "web"). */}}
{{- define "wheelhouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wheelhouse.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "wheelhouse.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "wheelhouse.secretName" -}}
{{- .Values.secret.name | default (include "wheelhouse.fullname" .) }}
{{- end }}

{{/* The host name of publicUrl: the Ingress host, the default ALLOWED_HOSTS, the probes' Host. */}}
{{- define "wheelhouse.publicHost" -}}
{{- $url := urlParse (required "publicUrl is required (https://...)" .Values.publicUrl) }}
{{- regexReplaceAll ":[0-9]+$" (required "publicUrl must be an absolute URL (https://pypi.example.com)" $url.host) "" }}
{{- end }}

{{/* The credentials' names in the Secret, and whether a pod may start without each. */}}
{{- define "wheelhouse.requiredSecretKeys" -}}
SECRET_KEY DATABASE_URL REDIS_URL S3_ACCESS_KEY_ID S3_SECRET_ACCESS_KEY
{{- end }}
{{- define "wheelhouse.optionalSecretKeys" -}}
API_KEY_PEPPER EMAIL_URL CELERY_BROKER_URL
{{- end }}

{{/*
The environment of every Wheelhouse container (web, worker, beat, migrations): the same
settings everywhere, or the worker would store files where the web server does not look.
*/}}
{{- define "wheelhouse.env" -}}
{{- $host := include "wheelhouse.publicHost" . -}}
- name: PUBLIC_URL
  value: {{ .Values.publicUrl | trimSuffix "/" | quote }}
- name: ALLOWED_HOSTS
  value: {{ join "," (.Values.allowedHosts | default (list $host)) | quote }}
- name: CSRF_TRUSTED_ORIGINS
  value: {{ join "," (.Values.csrfTrustedOrigins | default (list (.Values.publicUrl | trimSuffix "/"))) | quote }}
- name: BEHIND_TLS_PROXY
  value: {{ .Values.security.behindTlsProxy | quote }}
- name: TRUSTED_PROXY_COUNT
  value: {{ .Values.trustedProxyCount | int | quote }}
- name: SECURE_SSL_REDIRECT
  value: {{ .Values.security.sslRedirect | quote }}
- name: SECURE_HSTS_SECONDS
  value: {{ .Values.security.hstsSeconds | int | quote }}
- name: MAX_UPLOAD_SIZE
  value: {{ mul .Values.maxUploadSizeMB 1024 1024 | int64 | quote }}
- name: S3_BUCKET
  value: {{ required "s3.bucket is required: without it each pod would store files on its own disk" .Values.s3.bucket | quote }}
- name: S3_REGION
  value: {{ .Values.s3.region | quote }}
{{- with .Values.s3.endpointUrl }}
- name: S3_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.s3.publicEndpointUrl }}
- name: S3_PUBLIC_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- range $name := include "wheelhouse.requiredSecretKeys" . | splitList " " }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "wheelhouse.secretName" $ }}
      key: {{ $name }}
{{- end }}
{{- range $name := include "wheelhouse.optionalSecretKeys" . | splitList " " }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "wheelhouse.secretName" $ }}
      key: {{ $name }}
      optional: true
{{- end }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/* Pod-level settings every Wheelhouse pod shares. */}}
{{- define "wheelhouse.podSpec" -}}
automountServiceAccountToken: false
{{- with .Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/* Scheduling settings of one component: (dict "values" .Values.web). */}}
{{- define "wheelhouse.scheduling" -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
