{{/*
Standard helpers (as `helm create` makes them), plus names with a suffix, the image reference, the
label prefix, the readiness taint and the tolerations every bpfready pod carries.
Every scalar a user can set is quoted where it is printed: Kubernetes reads YAML 1.1, where a release
called "on" or a namespace called "yes" would be a boolean.
*/}}

{{/* The chart name, or nameOverride; a label value, so at most 63 characters. */}}
{{- define "bpfready.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name, capped at 63 characters because some Kubernetes names are DNS labels. */}}
{{- define "bpfready.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
<base>-<suffix> in at most 63 characters: the base is cut, never the suffix, so the names of the
hook objects (<fullname>-prune) and the release's (<fullname>) stay apart at any fullname length.
Called with (list <base> <suffix>).
*/}}
{{- define "bpfready.suffixed" -}}
{{- $base := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- printf "%s-%s" ($base | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix -}}
{{- end -}}

{{/* The release namespace, or namespaceOverride (when the chart is a subchart of an umbrella release). */}}
{{- define "bpfready.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{- define "bpfready.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bpfready.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{- define "bpfready.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
{{ include "bpfready.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/part-of: bpfready
{{- end -}}

{{- define "bpfready.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bpfready.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "bpfready.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets: the chart's own, then global.imagePullSecrets (an umbrella chart's). */}}
{{- define "bpfready.imagePullSecrets" -}}
{{- $secrets := concat (.Values.imagePullSecrets | default list) ((.Values.global).imagePullSecrets | default list) | uniq -}}
{{- with $secrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end -}}
{{- end -}}

{{/* The label prefix the daemon publishes under; the admission policy allows exactly this one. */}}
{{- define "bpfready.labelPrefix" -}}
{{- default "bpfready.io" .Values.config.kubernetes.labelPrefix -}}
{{- end -}}

{{/* The key of the readiness taint bpfready manages, or "" when it manages none (src/config.ts resolves it alike). */}}
{{- define "bpfready.taintKey" -}}
{{- $taint := .Values.config.kubernetes.taint -}}
{{- if kindIs "map" $taint -}}
{{- default (printf "%s/not-ready" (include "bpfready.labelPrefix" .)) $taint.key -}}
{{- else if $taint -}}
{{- printf "%s/not-ready" (include "bpfready.labelPrefix" .) -}}
{{- end -}}
{{- end -}}

{{/*
The taints a bpfready pod tolerates whatever `tolerations` says: its own readiness taint and
node-readiness-controller's (deploy/node-readiness-rule.yaml). The daemon exists to take them off,
and the uninstall hook's Job must run on a cluster where every node still carries one.
*/}}
{{- define "bpfready.readinessTolerations" -}}
{{- $taintKey := include "bpfready.taintKey" . -}}
{{- if $taintKey }}
- key: {{ $taintKey | quote }}
  operator: Exists
{{- end }}
- key: readiness.k8s.io/ebpf-ready
  operator: Exists
{{- end -}}

{{/* Annotations of the uninstall hook's resources; the argument is the hook weight. */}}
{{- define "bpfready.pruneHook" -}}
helm.sh/hook: post-delete
helm.sh/hook-weight: {{ . | quote }}
{{- /* A failed prune must not leave behind a ClusterRole that can patch nodes. hook-failed deletes the
failed Job; the account, ClusterRole, binding, ConfigMap and policy created before it (weight -10)
succeeded, and Helm >= 3.19 deletes earlier hooks by their hook-succeeded policy when a later one
fails (Helm 3.18 and older leave them: see the chart README, Helm versions). */}}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded,hook-failed
{{- end -}}

{{/* Annotations of the `helm test` resources; the argument is the hook weight. */}}
{{- define "bpfready.testHook" -}}
helm.sh/hook: test
helm.sh/hook-weight: {{ . | quote }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end -}}
