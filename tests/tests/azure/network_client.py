"""Drives the mock cloud's Azure Resource Manager with Microsoft's own Python SDK
(azure-mgmt-network): HTTPS verified against the mock's CA, a static bearer token (a JWT
whose `oid` the mock logs as the caller), long-running operations through the SDK's ARM
poller, and errors as the SDK raises them. Prints one JSON object of what it saw.

usage: network_client.py <arm endpoint> <ca.pem> <subscription> <resource group> <scale set>
"""

import json
import time

from azure.core.exceptions import ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.network.models import BackendAddressPool

from arm_script import LOC, connect, nic, refused, static_public_ip, vnet

client, endpoint, sub, rg, (scale_set,) = connect({"oid": "python-sdk-oid", "appid": "python-sdk"}, 1)


def rid(rest):
    return "/subscriptions/%s/resourceGroups/%s/providers/%s" % (sub, rg, rest)


out = {}

# A VNet with a subnet, through the poller.
net = vnet(client, rg, "py-vnet", "10.10.0.0/16", [("nodes", "10.10.0.0/24")])
out["vnet_state"] = net.provisioning_state
out["vnet_subnets"] = [s.name for s in net.subnets]
subnet_id = net.subnets[0].id

overlap = {"address_prefix": "10.10.0.128/25"}
refused(out, "overlap", lambda: client.subnets.begin_create_or_update(rg, "py-vnet", "overlap", overlap).result())

# A NIC with three ipConfigurations: dynamic primary, a static one, a dynamic secondary.
made = client.network_interfaces.begin_create_or_update(
    rg,
    "py-nic",
    {
        "location": LOC,
        "ip_configurations": [
            {"name": "primary", "primary": True, "subnet": {"id": subnet_id}},
            {"name": "static", "subnet": {"id": subnet_id}, "private_ip_allocation_method": "Static", "private_ip_address": "10.10.0.50"},
            {"name": "secondary", "subnet": {"id": subnet_id}},
        ],
    },
).result()
out["nic_ips"] = [c.private_ip_address for c in made.ip_configurations]

taken = {
    "location": LOC,
    "ip_configurations": [
        {"name": "p", "subnet": {"id": subnet_id}, "private_ip_allocation_method": "Static", "private_ip_address": "10.10.0.50"}
    ],
}
refused(out, "taken", lambda: client.network_interfaces.begin_create_or_update(rg, "py-nic-2", taken).result())
refused(out, "subnet_in_use", lambda: client.subnets.begin_delete(rg, "py-vnet", "nodes").result())

# A route table and routes (the route table's PUT may be held InProgress by a fault).
started = time.time()
rt = client.route_tables.begin_create_or_update(rg, "py-rt", {"location": LOC, "routes": []}).result()
out["rt_state"] = rt.provisioning_state
out["rt_seconds"] = round(time.time() - started, 1)
for i, node in enumerate(["10.10.0.4", "10.10.0.5"]):
    client.routes.begin_create_or_update(
        rg, "py-rt", "pod-cidr-%d" % i,
        {"address_prefix": "10.244.%d.0/24" % i, "next_hop_type": "VirtualAppliance", "next_hop_ip_address": node},
    ).result()
out["routes"] = sorted((r.name, r.address_prefix, r.next_hop_ip_address) for r in client.routes.list(rg, "py-rt"))

# A public IP and a Standard load balancer.
pip = static_public_ip(client, rg, "py-pip")
out["pip_has_address"] = bool(pip.ip_address)
lb_id = rid("Microsoft.Network/loadBalancers/py-lb")
lb = client.load_balancers.begin_create_or_update(
    rg,
    "py-lb",
    {
        "location": LOC,
        "sku": {"name": "Standard"},
        "frontend_ip_configurations": [{"name": "fe", "public_ip_address": {"id": pip.id}}],
        "backend_address_pools": [{"name": "pool"}],
        "probes": [{"name": "hc", "protocol": "Tcp", "port": 30080}],
        "load_balancing_rules": [
            {
                "name": "tcp-80",
                "protocol": "Tcp",
                "frontend_port": 80,
                "backend_port": 30080,
                "frontend_ip_configuration": {"id": lb_id + "/frontendIPConfigurations/fe"},
                "backend_address_pool": {"id": lb_id + "/backendAddressPools/pool"},
                "probe": {"id": lb_id + "/probes/hc"},
            }
        ],
    },
).result()
out["lb_rules"] = [r.name for r in lb.load_balancing_rules]

dangling = {
    "location": LOC,
    "frontend_ip_configurations": [{"name": "fe", "public_ip_address": {"id": pip.id}}],
    "load_balancing_rules": [
        {"name": "r", "protocol": "Tcp", "frontend_port": 80, "backend_port": 80,
         "frontend_ip_configuration": {"id": rid("Microsoft.Network/loadBalancers/py-lb-bad/frontendIPConfigurations/missing")}}
    ],
}
refused(out, "dangling", lambda: client.load_balancers.begin_create_or_update(rg, "py-lb-bad", dangling).result())

# The NIC joins the pool: a whole-resource PUT with the ETag it read.
read = client.network_interfaces.get(rg, "py-nic")
read.ip_configurations[0].load_balancer_backend_address_pools = [BackendAddressPool(id=lb_id + "/backendAddressPools/pool")]
client.network_interfaces.begin_create_or_update(rg, "py-nic", read).result()
pool = client.load_balancer_backend_address_pools.get(rg, "py-lb", "pool")
out["pool_members"] = [c.id.rsplit("/", 1)[-1] for c in (pool.backend_ip_configurations or [])]

# A stale If-Match, sent through the SDK's own pipeline (auth, TLS, policies).
stale = HttpRequest(
    "PUT",
    endpoint + rid("Microsoft.Network/networkInterfaces/py-nic") + "?api-version=2025-05-01",
    headers={"If-Match": read.etag},
    json={"location": LOC, "properties": {"ipConfigurations": [{"name": "primary", "properties": {"subnet": {"id": subnet_id}}}]}},
)
resp = client._send_request(stale)
out["stale_if_match"] = {"status": resp.status_code, "code": resp.json()["error"]["code"]}

refused(out, "lb_in_use", lambda: client.load_balancers.begin_delete(rg, "py-lb").result())
refused(out, "not_found", lambda: client.virtual_networks.get(rg, "nope"), ResourceNotFoundError)

# Pages: the world shows 2 items a page.
for i in range(3):
    nic(client, rg, "py-extra-%d" % i, subnet_id)
out["nics_listed"] = sorted(n.name for n in client.network_interfaces.list(rg))

# The AKS-like scale set's NICs.
ss_nics = client.network_interfaces.list_virtual_machine_scale_set_network_interfaces(rg, scale_set)
out["scale_set_ips"] = sorted(n.ip_configurations[0].private_ip_address for n in ss_nics)

# Deleting through the poller, then 404.
client.network_interfaces.begin_delete(rg, "py-extra-0").result()
refused(out, "deleted", lambda: client.network_interfaces.get(rg, "py-extra-0"), ResourceNotFoundError)

print(json.dumps(out))
