{{/*
hookwall.name is the chart name, or nameOverride.
*/}}
{{- define "hookwall.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
hookwall.fullname names the release's resources: fullnameOverride, or
"<release>-<name>" unless the release name already contains the name. Cut to
63 characters, the DNS label limit.
*/}}
{{- define "hookwall.fullname" -}}
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

{{/*
hookwall.chart is "<chart>-<version>" for the helm.sh/chart label.
*/}}
{{- define "hookwall.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
hookwall.selectorLabels select the release's pods. They never change over
the life of a release: a Deployment's selector is immutable.
*/}}
{{- define "hookwall.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hookwall.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
hookwall.labels are the standard labels of every resource.
*/}}
{{- define "hookwall.labels" -}}
helm.sh/chart: {{ include "hookwall.chart" . }}
{{ include "hookwall.selectorLabels" . }}
app.kubernetes.io/version: {{ include "hookwall.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: gateway
app.kubernetes.io/part-of: hookwall
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
hookwall.serviceAccountName is the ServiceAccount the pods run as.
*/}}
{{- define "hookwall.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hookwall.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
hookwall.imageTag is image.tag, or the chart's appVersion.
*/}}
{{- define "hookwall.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion | toString }}
{{- end }}

{{/*
hookwall.image is the image reference; a digest pins it.
*/}}
{{- define "hookwall.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "hookwall.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
hookwall.secretName is the Secret loaded with envFrom: existingSecret, or the
chart's own.
*/}}
{{- define "hookwall.secretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- include "hookwall.fullname" . }}
{{- end }}
{{- end }}

{{/*
hookwall.embeddedStore is "true" when config.redis names no server, so that
each pod would use its own in-process store.
*/}}
{{- define "hookwall.embeddedStore" -}}
{{- $redis := .Values.config.redis | default dict }}
{{- if and (not $redis.url) (not $redis.addrs) }}true{{ end }}
{{- end }}

{{/*
hookwall.terminationGracePeriodSeconds is the whole time a pod gets between
deletion and SIGKILL: the preStop sleep, hookwall's drain bound and a margin.
*/}}
{{- define "hookwall.terminationGracePeriodSeconds" -}}
{{- $d := .Values.drain }}
{{- add (int $d.preStopSleepSeconds) (int $d.shutdownGraceSeconds) (int $d.terminationMarginSeconds) }}
{{- end }}

{{/*
hookwall.envRefPattern matches a whole ${NAME} value, as hookwall resolves it.
*/}}
{{- define "hookwall.envRefPattern" -}}
^\$\{[A-Za-z_][A-Za-z0-9_]*\}$
{{- end }}

{{/*
hookwall.requireRef fails unless value is empty or a ${NAME} reference: a
secret written in clear would end up in a ConfigMap.
Call with (list "path.in.config" value $).
*/}}
{{- define "hookwall.requireRef" -}}
{{- $path := index . 0 }}
{{- $value := index . 1 }}
{{- $root := index . 2 }}
{{- if and $value (not (regexMatch (include "hookwall.envRefPattern" $root) (toString $value))) }}
{{- fail (printf "config.%s: write secrets as ${ENV_NAME} references and put the value in secretEnv or existingSecret; the config is stored in a ConfigMap, not a Secret" $path) }}
{{- end }}
{{- end }}

{{/*
hookwall.requireRefs applies hookwall.requireRef to every item of a list.
Call with (list "path.in.config" list $).
*/}}
{{- define "hookwall.requireRefs" -}}
{{- $path := index . 0 }}
{{- $root := index . 2 }}
{{- range $i, $v := (index . 1 | default list) }}
{{- include "hookwall.requireRef" (list (printf "%s[%d]" $path $i) $v $root) }}
{{- end }}
{{- end }}

{{/*
hookwall.validate stops rendering on values that would deploy a broken or
unsafe hookwall. It prints nothing.
*/}}
{{- define "hookwall.validate" -}}
{{- $cfg := .Values.config | default dict }}
{{- if not (kindIs "map" $cfg) }}
{{- fail "config must be a mapping: the content of hookwall.yaml" }}
{{- end }}
{{- if hasKey $cfg "listen" }}
{{- fail "config.listen is set by the chart to 0.0.0.0:<containerPort>; set containerPort instead" }}
{{- end }}
{{- if and (hasKey $cfg "shutdown") (kindIs "map" $cfg.shutdown) (hasKey $cfg.shutdown "grace") }}
{{- fail "config.shutdown.grace is set by the chart; set drain.shutdownGraceSeconds instead" }}
{{- end }}
{{- if and (hasKey $cfg "shutdown") (kindIs "map" $cfg.shutdown) (hasKey $cfg.shutdown "readiness_delay") }}
{{- fail "config.shutdown.readiness_delay is not counted in the pod's termination grace; on Kubernetes the preStop pause (drain.preStopSleepSeconds) does its work" }}
{{- end }}
{{- if not $cfg.channels }}
{{- fail "config.channels: at least one channel is required" }}
{{- end }}
{{- $d := .Values.drain }}
{{- if lt (int $d.shutdownGraceSeconds) 1 }}
{{- fail "drain.shutdownGraceSeconds must be at least 1" }}
{{- end }}
{{- if lt (int $d.preStopSleepSeconds) 0 }}
{{- fail "drain.preStopSleepSeconds must not be negative" }}
{{- end }}
{{- if lt (int $d.terminationMarginSeconds) 1 }}
{{- fail "drain.terminationMarginSeconds must be at least 1: hookwall needs time to exit after its drain" }}
{{- end }}
{{- if and (include "hookwall.embeddedStore" .) (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) }}
{{- fail "config.redis: the embedded store lives inside one pod; set config.redis.url or config.redis.addrs to run more than one replica or to enable autoscaling" }}
{{- end }}
{{- /* Secret fields must be ${NAME} references. */}}
{{- $redis := $cfg.redis | default dict }}
{{- include "hookwall.requireRef" (list "redis.password" $redis.password $) }}
{{- if and $redis.url (contains "@" (toString $redis.url)) }}
{{- include "hookwall.requireRef" (list "redis.url (it carries credentials)" $redis.url $) }}
{{- end }}
{{- $admin := $cfg.admin | default dict }}
{{- range $i, $t := ($admin.tokens | default list) }}
{{- include "hookwall.requireRef" (list (printf "admin.tokens[%d].token" $i) $t.token $) }}
{{- end }}
{{- range $i, $ch := $cfg.channels }}
{{- $p := printf "channels[%d]" $i }}
{{- range $k := list "secret" "app_secret" "verify_token" "access_token" }}
{{- include "hookwall.requireRef" (list (printf "%s.%s" $p $k) (get $ch $k) $) }}
{{- end }}
{{- range $k := list "secrets" "app_secrets" "verify_tokens" }}
{{- include "hookwall.requireRefs" (list (printf "%s.%s" $p $k) (get $ch $k) $) }}
{{- end }}
{{- range $k := list "bot" "helpdesk" }}
{{- $target := get $ch $k | default dict }}
{{- include "hookwall.requireRef" (list (printf "%s.%s.secret" $p $k) $target.secret $) }}
{{- end }}
{{- end }}
{{- /* With the chart's own Secret, every reference must have a value. */}}
{{- if not .Values.existingSecret }}
{{- $known := dict }}
{{- range $k, $v := (.Values.secretEnv | default dict) }}
{{- $_ := set $known $k true }}
{{- end }}
{{- range $e := (.Values.extraEnv | default list) }}
{{- $_ := set $known $e.name true }}
{{- end }}
{{- range $ref := regexFindAll "\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}" (toYaml $cfg) -1 }}
{{- $name := trimSuffix "}" (trimPrefix "${" $ref) }}
{{- if not (hasKey $known $name) }}
{{- fail (printf "config references ${%s} but secretEnv has no %s (nor extraEnv); add it, or set existingSecret to a Secret that has it" $name $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
hookwall.config is hookwall.yaml: config, plus the listen address and the
shutdown grace that the chart owns.
*/}}
{{- define "hookwall.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- $_ := set $cfg "listen" (printf "0.0.0.0:%d" (int .Values.containerPort)) }}
{{- $shutdown := deepCopy ($cfg.shutdown | default dict) }}
{{- $_ := set $shutdown "grace" (printf "%ds" (int .Values.drain.shutdownGraceSeconds)) }}
{{- $_ := set $cfg "shutdown" $shutdown }}
{{- toYaml $cfg }}
{{- end }}

{{/*
hookwall.placeholderSecrets lists the secretEnv keys still holding the
chart's "change-me" placeholders, comma-separated.
*/}}
{{- define "hookwall.placeholderSecrets" -}}
{{- $names := list }}
{{- if not .Values.existingSecret }}
{{- range $k, $v := (.Values.secretEnv | default dict) }}
{{- if or (contains "change-me" (toString $v)) (contains "Y2hhbmdlLW1l" (toString $v)) }}
{{- $names = append $names $k }}
{{- end }}
{{- end }}
{{- end }}
{{- join ", " $names }}
{{- end }}
