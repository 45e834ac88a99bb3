//! cloudnet-kubesim: a Kubernetes API server the project serves itself, in memory, over HTTP,
//! so the controllers, ipamd and `kubectl` can be tested against "a cluster" on a machine with
//! no kube-apiserver.
//!
//! ```text
//!  kube::Client / kubectl ──HTTP+Bearer──▶ http (auth, audit, route, decode)
//!                                             │ get/list/create/update/patch/delete
//!                                             ▼
//!            sim components ──in-process──▶ store ──changes (one lock, rv order)──▶ watch streams
//!                                             │
//!                                          history (bounded; older rv → 410 Expired)
//! ```
//!
//! Objects of every kind are stored as `serde_json::Value` in one store keyed by
//! group/resource, namespace and name. One global resourceVersion orders every change;
//! writes hand each change to every matching watcher under the store lock, so a watcher sees
//! every change once, in order.
//!
//! # What it serves
//! - Discovery: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/<group>[/<version>]` (plain
//!   form; clients asking for aggregated discovery fall back to it).
//! - core/v1 Namespace, Node, Pod, Service, Secret, ConfigMap, Event, ServiceAccount,
//!   Endpoints; apps/v1 Deployment, ReplicaSet, DaemonSet (stored only: no controllers besides
//!   the simulated Deployment controller); discovery.k8s.io/v1 EndpointSlice;
//!   networking.k8s.io/v1 Ingress, IngressClass; coordination.k8s.io/v1 Lease;
//!   events.k8s.io/v1 Event (a view of the core Events: one storage, upstream's field
//!   mapping, both versions see every Event; see [`events_v1`]); rbac.authorization.k8s.io/v1
//!   Role, RoleBinding, ClusterRole, ClusterRoleBinding (enforced when [`Config::rbac`] is on,
//!   see [`rbac`]); apiextensions.k8s.io/v1
//!   CustomResourceDefinition and the custom resources of every served version of a CRD
//!   (namespaced or cluster scoped, `status`/`scale` subresources as the CRD says).
//! - Defaulting on every write, as the real API decodes: Service `type`, `sessionAffinity`,
//!   IP families, port `protocol`/`targetPort`; pod and pod-template `restartPolicy`,
//!   `dnsPolicy`, `schedulerName`, container `imagePullPolicy` and termination message
//!   fields; Deployment `replicas`, `strategy`, `revisionHistoryLimit`,
//!   `progressDeadlineSeconds` ([`defaults`]).
//! - Semantics: uid, creationTimestamp, generateName, `metadata.generation` bumped on
//!   changes outside metadata and status, 409 on a stale resourceVersion, the `status`
//!   subresource, finalizers and deletionTimestamp, ownerReference cascading deletion
//!   (background, synchronous), namespace deletion as the real API does it (the
//!   `kubernetes` finalizer in `spec.finalizers`, phase `Terminating`, 403 for new content,
//!   the namespace controller emptying it after the real 5 s grace, honouring finalizers, and
//!   reporting the real `NamespaceContentRemaining`/`NamespaceFinalizersRemaining`
//!   conditions, then the `finalize` subresource; see [`store::namespaces`]), label and field
//!   selectors (any dotted field path), limit/continue, watch from a resourceVersion with
//!   bookmarks and 410 Expired, merge / JSON / strategic merge patch (see [`patch`]),
//!   server-side apply as a merge-apply with field managers (see [`patch`]),
//!   `deployments/scale`, `pods/binding`, `namespaces/finalize`.
//! - `dryRun=All` on create, update, patch, apply and delete (and the subresources): the
//!   write is validated, defaulted and admitted (a dry-run Service's ClusterIP is given
//!   back), but not stored, not watched and the resourceVersion does not move; so
//!   `kubectl apply --dry-run=server` and `kubectl diff` work.
//! - Kubernetes protobuf (`application/vnd.kubernetes.protobuf`, the `k8s\0` envelope) for
//!   the built-in kinds, request and response, chosen by `Content-Type` and `Accept` as the
//!   real API negotiates it (JSON stays the default), with the messages of the upstream
//!   `.proto` files (see [`protobuf`]); so kubectl's imperative commands (`create
//!   configmap|secret|namespace|deployment`, `run`, `expose`) work. Watches too: a client
//!   that prefers protobuf gets `application/vnd.kubernetes.protobuf;stream=watch`,
//!   length-prefixed `meta.v1.WatchEvent` frames whose `object.raw` carries the envelope
//!   (see [`watch`]). `kubectl get -w` asks for Tables, which stay JSON.
//! - Server-side printing: `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` (as
//!   `kubectl get` sends it) answers lists, gets and watch events with `meta.k8s.io` Tables
//!   whose columns are the real API server's for the served kinds, and a CRD's
//!   `additionalPrinterColumns` for custom resources (see [`table`]).
//! - Bounded input: bodies over 3 MiB are 413 `RequestEntityTooLarge` (the real limit); a
//!   namespace holds at most [`Config::max_objects_per_namespace`] objects (10,000 by
//!   default; Events aside), one more is 403 `exceeded quota` in ResourceQuota's words
//!   ([`store::quota`]); the Deployment controller creates at most 500 pods per pass (the
//!   ReplicaSet controller's burst) and records `FailedCreate` when refused.
//! - Bearer-token authentication; per identity the (verb, group, resource, namespace) tuples
//!   used, via [`Auth::audit`] and `GET /_kubesim/audit`. Service-account user names
//!   (`system:serviceaccount:NS:NAME`) carry their token's groups; the admin is in
//!   `system:masters`.
//! - RBAC, off by default ([`Config::rbac`], `cloudnet sandbox --rbac`): Roles,
//!   ClusterRoles and their bindings read live from the store, upstream's matching and 403
//!   messages, the default discovery and self-review roles ([`rbac`]).
//!
//! # Simulated cluster components
//! [`sim`] holds small components driven through the store in-process: Node objects from
//! cloud instances ([`sim::node`]), ClusterIP (10.100.0.0/16) and NodePort (30000–32767)
//! allocation inside the Service write ([`sim::services`]), a scheduler binding pending pods to
//! Ready nodes within `status.allocatable.pods` ([`sim::scheduler`]), and a kubelet that takes
//! each pod's address from a [`sim::kubelet::PodAddressSource`] (a per-node /24 range, or in
//! `cloudnet sandbox` each node's ipamd; the nodes are asked concurrently, host-network pods
//! take the node's address, a failed request is a `FailedCreatePodSandBox` Event), reports
//! Running/Ready with podIP(s), honours `spec.readinessGates`, and releases the address
//! when the pod goes ([`sim::kubelet`]), a Deployment controller making pods with
//! `pod-template-hash` labels and rolling out a changed template within `maxSurge` and
//! `maxUnavailable`, counting a pod Ready only once its readiness gates are True
//! ([`sim::deployment`]), and an EndpointSlice controller keeping
//! each selector Service's slices (ready/serving/terminating, zone, at most 100 endpoints per
//! slice) ([`sim::endpointslices`]). [`sim::start`] installs and runs them. The scheduler,
//! kubelet and Deployment controller record the real components' core/v1 Events
//! (`Scheduled`, `FailedScheduling` with the scheduler's own reason text, which is also the
//! Pending pod's `PodScheduled=False` message; `Pulled`/`Created`/`Started`;
//! `ScalingReplicaSet`; the ReplicaSet controller's `SuccessfulCreate`/`SuccessfulDelete`
//! per pod), aggregated by count and, past 10 similar messages, combined as client-go's
//! recorder does ([`sim::events`]).
//! Deployments carry the real `Available` (`MinimumReplicasAvailable`/`Unavailable`, from
//! `maxUnavailable`) and `Progressing` (`NewReplicaSetCreated`, `ReplicaSetUpdated`,
//! `NewReplicaSetAvailable`, `ProgressDeadlineExceeded`) conditions ([`sim::rollout`]), so
//! `kubectl wait --for=condition=Available` and `kubectl rollout status` work.
//! The namespace controller ([`sim::namespaces`]) is started by the API server itself.
//!
//! # What is left out
//! What a real API server does and this one does not; a request that needs one of these
//! gets a `Status` error, never a crash:
//! - Client certificates (HTTPS with a generated CA, or plain HTTP; kubectl sends tokens
//!   only over HTTPS). With RBAC off (the default) every known token may do everything;
//!   with it on: no ClusterRole aggregation, no escalation check on writing roles and
//!   bindings, no impersonation (see [`rbac`]).
//! - CBOR bodies, protobuf for custom resources and CRDs (415, as the real API; their watches
//!   answer JSON), `as=PartialObjectMetadata(List)` (answered with the
//!   full objects instead), Tables in protobuf or for the `status` subresource (plain JSON
//!   objects instead), aggregated discovery, OpenAPI schemas and `/openapi/v2` (404;
//!   `/openapi/v3` lists operations only, see [`openapi`]).
//! - `pods/log`, `exec`, `attach`, `portforward`, `proxy`, `eviction` and
//!   other subresources (405), `sendInitialEvents` streaming lists, watch-cache semantics of
//!   `resourceVersionMatch` (lists are always served from the latest state).
//! - Schema validation: bodies are checked for shape, names, apiVersion/kind and namespace;
//!   fields are stored as sent (no CRD OpenAPI validation, no pruning, no conversion
//!   webhooks: a CRD's versions share one storage and differ only in apiVersion). Defaults are
//!   filled for Services, Pods and workload pod templates only (see [`defaults`]), with no
//!   admission plugins (no ServiceAccount token mounts, tolerations or priority).
//! - The Deployment controller makes pods directly (no ReplicaSets, no `minReadySeconds`,
//!   `paused` or rollback; it rolls out within `maxSurge`/`maxUnavailable`; its
//!   `ScalingReplicaSet`, `SuccessfulCreate` and `SuccessfulDelete` events name the ReplicaSet
//!   that would exist, with no uid; no `ReplicaFailure`
//!   condition, a refused create is a `FailedCreate` event only); the
//!   EndpointSlice controller writes IPv4 slices only, no `hints` or `hostname`, and no legacy
//!   Endpoints objects.
//! - `events.k8s.io/v1beta1` (only `v1` is served); updates through `events.k8s.io/v1` are
//!   not checked against upstream's `ValidateEventUpdate` (creations are); the kubelet
//!   records no `Killing` (a deleted pod goes at once) and no node pressure events.
//! - StatefulSet, Job, CronJob, PersistentVolume(Claim), NetworkPolicy and other kinds not
//!   listed above (404, unless served through a CRD).
//! - Continue tokens do not expire and page through the latest state, not a snapshot.
//! - Server-side apply conflicts only between Apply managers; Update operations are not
//!   recorded in managedFields.
//! - Events expire an hour after they were last seen (`sim::Options::event_ttl`), swept once
//!   a minute by the simulation, not by the store itself; the recorders write core/v1 Events only (kubectl reads those); the scheduler knows no preemption,
//!   priorities, taints or affinity beyond node readiness, `unschedulable` and max pods.
//! - Memory: objects are kept in a compact form ([`compact::Compact`]: one byte string per
//!   object, keys interned), one `Arc` shared by the store and the watch history; a get or
//!   list rebuilds the `serde_json::Value`, shared by the readers that hold it at the same
//!   time ([`compact::Stored`]). Selectors and the simulated components read the compact
//!   form in place ([`compact::Doc`], [`Store::snapshot`]); the components wake on
//!   [`Store::changes`], a per-resource signal, not a watch, so no changed object waits in a
//!   channel for them. `examples/pod_memory.rs` measures the bytes per stored pod (1,735 with
//!   10,000 pods) and, with `--simulated`, the RSS per pod of 10,000 replicas running on 200
//!   simulated nodes (about 6,300 bytes); it fails at 10,000 or more.

pub mod admission;
pub mod auth;
pub mod compact;
pub mod defaults;
pub mod discovery;
pub mod error;
pub mod events_v1;
pub mod http;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod rbac;
pub mod resources;
pub mod respond;
pub mod route;
pub mod selectors;
pub mod server;
pub mod sim;
pub mod store;
pub mod table;
pub mod tls;
pub mod validation;
pub mod watch;

pub use auth::{Access, Auth, Identity};
pub use error::{Error, Reason, Result, StatusError};
pub use resources::{GroupResource, ResourceInfo};
pub use server::{ADMIN, Config, Handle, KubeSim};
pub use store::{Admission, ListOptions, Store, WatchItem, WatchStart, WriteOptions};
