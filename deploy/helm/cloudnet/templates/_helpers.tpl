{{/* The names every object, RBAC rule and IAM trust policy agree on (release cloudnet in kube-system). */}}
{{- define "cloudnet.controllerName" -}}cloudnet-controller{{- end -}}
{{- define "cloudnet.nodeName" -}}cloudnet-node{{- end -}}
{{/* The Lease the controller replicas elect a leader on (--leader-election-id). */}}
{{- define "cloudnet.leaseName" -}}cloudnet-controller{{- end -}}

{{- define "cloudnet.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "cloudnet.labels" -}}
app.kubernetes.io/name: cloudnet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "cloudnet.controllerSelector" -}}
app.kubernetes.io/name: cloudnet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "cloudnet.nodeSelector" -}}
app.kubernetes.io/name: cloudnet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: node
{{- end -}}

{{/* Checks across values that the schema cannot express. */}}
{{- define "cloudnet.validate" -}}
{{- if ne .Release.Namespace "kube-system" -}}
{{- fail (printf "cloudnet installs into kube-system (its service accounts are system:serviceaccount:kube-system:cloudnet-*), not %q: helm install cloudnet deploy/helm/cloudnet -n kube-system" .Release.Namespace) -}}
{{- end -}}
{{- $f := .Values.features -}}
{{- if not (or $f.podIpam $f.routes $f.serviceLoadBalancers $f.ingress $f.targetGroupBinding) -}}
{{- fail "features: every controller is switched off; switch on at least one of podIpam, routes, serviceLoadBalancers, ingress, targetGroupBinding" -}}
{{- end -}}
{{- if and $f.routes (not .Values.clusterCidr) -}}
{{- fail "features.routes needs clusterCidr (the pod CIDRs the route controller routes)" -}}
{{- end -}}
{{- end -}}
