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
{{- include "cloudnet.validateProvider" . -}}
{{- end -}}

{{/*
Values of one cloud refused on another: a setting that would be ignored is an error.
*/}}
{{- define "cloudnet.validateProvider" -}}
{{- $p := .Values.provider -}}
{{- if ne $p "aws" -}}
{{- range $name, $set := dict "region" .Values.region "vpcId" .Values.vpcId "controller.serviceAccount.roleArn" .Values.controller.serviceAccount.roleArn "routeTableIds" .Values.routeTableIds -}}
{{- if $set -}}
{{- fail (printf "%s is an AWS value; provider is %s (use the %s block)" $name $p $p) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if ne $p "gcp" -}}
{{- range $k, $v := .Values.gcp -}}
{{- if and $v (not (has $k (list "podRangeName" "nodePodPrefixLength"))) -}}
{{- fail (printf "gcp.%s is a GCP value; provider is %s" $k $p) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if ne $p "azure" -}}
{{- range $k, $v := .Values.azure -}}
{{- if and $v (not (has $k (list "credentials" "applicationGateway"))) -}}
{{- fail (printf "azure.%s is an Azure value; provider is %s" $k $p) -}}
{{- end -}}
{{- end -}}
{{- if (.Values.azure.applicationGateway | default dict).name -}}
{{- fail (printf "azure.applicationGateway.name is an Azure value; provider is %s" $p) -}}
{{- end -}}
{{- else -}}
{{- range $k := list "vnetName" "subnetName" "routeTableName" -}}
{{- if not (index $.Values.azure $k) -}}
{{- fail (printf "provider azure needs azure.%s" $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The controller's cloud settings as environment variables (CLOUD_PROVIDER, GCP_*, AZURE_*).
*/}}
{{- define "cloudnet.cloudEnv" -}}
- name: CLOUD_PROVIDER
  value: {{ .Values.provider | quote }}
{{- if eq .Values.provider "gcp" }}
{{- $g := .Values.gcp }}
{{- range $name, $v := dict "GCP_PROJECT" $g.project "GCP_REGION" $g.region "GCP_NETWORK" $g.network }}
{{- with $v }}
- name: {{ $name }}
  value: {{ . | quote }}
{{- end }}
{{- end }}
- name: GCP_POD_RANGE_NAME
  value: {{ $g.podRangeName | quote }}
- name: GCP_NODE_POD_PREFIX_LENGTH
  value: {{ $g.nodePodPrefixLength | quote }}
{{- end }}
{{- if eq .Values.provider "azure" }}
{{- $a := .Values.azure }}
{{- range $name, $v := dict "AZURE_SUBSCRIPTION_ID" $a.subscriptionId "AZURE_RESOURCE_GROUP" $a.resourceGroup "AZURE_LOCATION" $a.location "AZURE_VNET_NAME" $a.vnetName "AZURE_SUBNET_NAME" $a.subnetName "AZURE_ROUTE_TABLE_NAME" $a.routeTableName "AZURE_SECURITY_GROUP_NAME" $a.securityGroupName }}
{{- with $v }}
- name: {{ $name }}
  value: {{ . | quote }}
{{- end }}
{{- end }}
- name: AZURE_CREDENTIALS
  value: {{ $a.credentials | quote }}
{{- with ($a.applicationGateway | default dict).name }}
- name: AZURE_APPGW_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The Ingress classes served: on GCP the chart's default (alb) means ingress-gce's gce and
gce-internal.
*/}}
{{- define "cloudnet.ingressClasses" -}}
{{- $c := .Values.ingress.classNames -}}
{{- if and (eq .Values.provider "gcp") (eq (join "," $c) "alb") -}}
gce,gce-internal
{{- else if and (eq .Values.provider "azure") (eq (join "," $c) "alb") -}}
azure-application-gateway
{{- else -}}
{{- join "," $c -}}
{{- end -}}
{{- end -}}

{{/*
WARM_IP_TARGET as the controller and ipamd get it: pool.warmIpTarget; on Azure with no IP
target given, Azure CNI's batch of 16 (an Azure NIC's whole interface is 255 addresses, which
warmEniTarget: 1 would take for every node). 0: unset.
*/}}
{{- define "cloudnet.warmIpTarget" -}}
{{- $p := .Values.pool -}}
{{- if gt (int $p.warmIpTarget) 0 -}}
{{ $p.warmIpTarget }}
{{- else if and (eq .Values.provider "azure") (eq (int $p.minimumIpTarget) 0) -}}
16
{{- else -}}
0
{{- end -}}
{{- end -}}
