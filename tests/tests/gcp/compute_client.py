"""Drives the mock cloud's Compute Engine through Google's own Python client
(google-cloud-compute, REST transport, anonymous credentials, api_endpoint at the mock).
Prints one JSON object of observations on stdout; the Rust test asserts on it.
Usage: compute_client.py http://127.0.0.1:PORT PROJECT
"""
import json
import sys

from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1 as c

endpoint, project = sys.argv[1], sys.argv[2]
region, zone_a, zone_b = "us-central1", "us-central1-a", "us-central1-b"
kw = dict(credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=endpoint))
networks, subnets = c.NetworksClient(**kw), c.SubnetworksClient(**kw)
instances, routes = c.InstancesClient(**kw), c.RoutesClient(**kw)
negs = c.NetworkEndpointGroupsClient(**kw)
out = {}


def err(call):
    try:
        call()
    except exceptions.GoogleAPICallError as e:
        reasons = [d.get("reason") for d in (e.errors or []) if isinstance(d, dict)]
        return {"code": e.code, "reasons": reasons, "message": e.message}
    return None


# Network and subnetwork with secondary ranges, through operations the client waits on.
networks.insert(project=project, network_resource=c.Network(name="vpc-a", auto_create_subnetworks=False)).result(timeout=30)
sub = c.Subnetwork(
    name="nodes-a", network="global/networks/vpc-a", ip_cidr_range="10.10.0.0/24",
    secondary_ip_ranges=[c.SubnetworkSecondaryRange(range_name="pods", ip_cidr_range="10.20.0.0/16")],
)
subnets.insert(project=project, region=region, subnetwork_resource=sub).result(timeout=30)
got = subnets.get(project=project, region=region, subnetwork="nodes-a")
out["subnet_secondary"] = [(r.range_name, r.ip_cidr_range) for r in got.secondary_ip_ranges]
out["subnet_gateway"] = got.gateway_address
out["duplicate_network"] = err(lambda: networks.insert(project=project, network_resource=c.Network(name="vpc-a", auto_create_subnetworks=False)))

# Instances, alias ranges, overlap refused, stale fingerprint.
for name, z in [("vm-1", zone_a), ("vm-2", zone_a)]:
    inst = c.Instance(name=name, machine_type=f"zones/{z}/machineTypes/e2-medium",
                      network_interfaces=[c.NetworkInterface(subnetwork=f"regions/{region}/subnetworks/nodes-a")])
    op = instances.insert(project=project, zone=z, instance_resource=inst)
    op.result(timeout=30)
vm1 = instances.get(project=project, zone=zone_a, instance="vm-1")
out["vm1_ip"] = vm1.network_interfaces[0].network_i_p
fp = vm1.network_interfaces[0].fingerprint
nic = c.NetworkInterface(fingerprint=fp, alias_ip_ranges=[c.AliasIpRange(ip_cidr_range="10.20.1.0/24", subnetwork_range_name="pods")])
instances.update_network_interface(project=project, zone=zone_a, instance="vm-1", network_interface="nic0", network_interface_resource=nic).result(timeout=30)
vm1 = instances.get(project=project, zone=zone_a, instance="vm-1")
out["vm1_aliases"] = [(r.ip_cidr_range, r.subnetwork_range_name) for r in vm1.network_interfaces[0].alias_ip_ranges]
out["stale_fingerprint"] = err(lambda: instances.update_network_interface(project=project, zone=zone_a, instance="vm-1", network_interface="nic0", network_interface_resource=nic))
vm2 = instances.get(project=project, zone=zone_a, instance="vm-2")
overlap = c.NetworkInterface(fingerprint=vm2.network_interfaces[0].fingerprint,
                             alias_ip_ranges=[c.AliasIpRange(ip_cidr_range="10.20.1.128/25", subnetwork_range_name="pods")])
out["alias_overlap"] = err(lambda: instances.update_network_interface(project=project, zone=zone_a, instance="vm-2", network_interface="nic0", network_interface_resource=overlap))
netmask = c.NetworkInterface(fingerprint=vm2.network_interfaces[0].fingerprint,
                             alias_ip_ranges=[c.AliasIpRange(ip_cidr_range="/24", subnetwork_range_name="pods")])
instances.update_network_interface(project=project, zone=zone_a, instance="vm-2", network_interface="nic0", network_interface_resource=netmask).result(timeout=30)
out["vm2_aliases"] = [r.ip_cidr_range for r in instances.get(project=project, zone=zone_a, instance="vm-2").network_interfaces[0].alias_ip_ranges]
out["not_found"] = err(lambda: instances.get(project=project, zone=zone_a, instance="nope"))

# Routes to an instance; a route inside a subnet range is refused.
route = c.Route(name="pods-vm-1", network="global/networks/vpc-a", dest_range="10.99.1.0/24",
                next_hop_instance=f"zones/{zone_a}/instances/vm-1", description="cloudnet")
routes.insert(project=project, route_resource=route).result(timeout=30)
out["route_next_hop"] = routes.get(project=project, route="pods-vm-1").next_hop_instance
bad_route = c.Route(name="inside", network="global/networks/vpc-a", dest_range="10.10.0.0/25", next_hop_instance=f"zones/{zone_a}/instances/vm-1")
out["route_in_subnet"] = err(lambda: routes.insert(project=project, route_resource=bad_route))
out["network_in_use"] = err(lambda: networks.delete(project=project, network="vpc-a"))

# Pagination and filters.
for i in range(7):
    networks.insert(project=project, network_resource=c.Network(name=f"page-{i}", auto_create_subnetworks=False)).result(timeout=30)
pager = networks.list(request=c.ListNetworksRequest(project=project, max_results=3, filter='name eq "page-.*"'))
out["pages"] = [len(p.items) for p in pager.pages]
out["filtered"] = [n.name for n in networks.list(request=c.ListNetworksRequest(project=project, filter='name = "page-3"'))]
agg = instances.aggregated_list(request=c.AggregatedListInstancesRequest(project=project, max_results=2))
out["aggregated"] = sorted(i.name for _, scoped in agg for i in scoped.instances)

# NEGs: 500 endpoints per call at most; endpoints on alias addresses.
neg = c.NetworkEndpointGroup(name="neg-a", network_endpoint_type="GCE_VM_IP_PORT", network="global/networks/vpc-a",
                             subnetwork=f"regions/{region}/subnetworks/nodes-a", default_port=8080)
negs.insert(project=project, zone=zone_a, network_endpoint_group_resource=neg).result(timeout=30)
eps = [c.NetworkEndpoint(instance="vm-1", ip_address=f"10.20.1.{i % 250 + 1}", port=1000 + i) for i in range(501)]
out["neg_501"] = err(lambda: negs.attach_network_endpoints(project=project, zone=zone_a, network_endpoint_group="neg-a",
    network_endpoint_groups_attach_endpoints_request_resource=c.NetworkEndpointGroupsAttachEndpointsRequest(network_endpoints=eps)))
negs.attach_network_endpoints(project=project, zone=zone_a, network_endpoint_group="neg-a",
    network_endpoint_groups_attach_endpoints_request_resource=c.NetworkEndpointGroupsAttachEndpointsRequest(network_endpoints=eps[:500])).result(timeout=30)
listed = negs.list_network_endpoints(project=project, zone=zone_a, network_endpoint_group="neg-a",
    network_endpoint_groups_list_endpoints_request_resource=c.NetworkEndpointGroupsListEndpointsRequest(health_status="SKIP"))
out["neg_listed"] = sum(1 for _ in listed)
out["neg_size"] = negs.get(project=project, zone=zone_a, network_endpoint_group="neg-a").size
outside = [c.NetworkEndpoint(instance="vm-1", ip_address="10.20.9.9", port=80)]
out["neg_outside_alias"] = err(lambda: negs.attach_network_endpoints(project=project, zone=zone_a, network_endpoint_group="neg-a",
    network_endpoint_groups_attach_endpoints_request_resource=c.NetworkEndpointGroupsAttachEndpointsRequest(network_endpoints=outside)))

# An operation kept RUNNING by a fault: polled with `get`, then waited out with `wait`.
# (The library's own ExtendedOperation polling builds its operations client without the
# endpoint override, so it would poll the real compute.googleapis.com: poll by hand.)
global_ops = c.GlobalOperationsClient(**kw)
op = networks.insert(project=project, network_resource=c.Network(name="slow", auto_create_subnetworks=False))
first = op._extended_operation.status
out["slow_first_status"] = getattr(first, "name", str(first))
polled = global_ops.get(project=project, operation=op.name)
out["slow_polled_status"] = getattr(polled.status, "name", str(polled.status))
waited = global_ops.wait(project=project, operation=op.name)
out["slow_waited_status"] = getattr(waited.status, "name", str(waited.status))
out["slow_done"] = networks.get(project=project, network="slow").name == "slow"

print(json.dumps(out))
