{{- define "bulwark.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bulwark.selector" -}}
app.kubernetes.io/name: bulwark
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{- define "bulwark.labels" -}}
{{ include "bulwark.selector" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end -}}
