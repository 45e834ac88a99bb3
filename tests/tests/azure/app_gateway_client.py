"""Drives the mock cloud's application gateways with Microsoft's own Python SDK
(azure-mgmt-network), as AGIC would: one whole-gateway PUT whose parts refer to each other,
through the SDK's ARM poller, and the errors as the SDK raises them. Prints one JSON object
of what it saw.

usage: app_gateway_client.py <arm endpoint> <ca.pem> <subscription> <resource group>
"""

import json

from azure.core.exceptions import ResourceNotFoundError

from arm_script import LOC, connect, nic, refused, static_public_ip, vnet

client, endpoint, sub, rg, _ = connect({"oid": "python-agic-oid"})
GW = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/applicationGateways/py-agw" % (sub, rg)


def part(kind, name):
    return {"id": "%s/%s/%s" % (GW, kind, name)}


out = {}
net = vnet(client, rg, "agw-vnet", "10.30.0.0/16", [("appgw", "10.30.0.0/24"), ("shared", "10.30.1.0/24")])
appgw_subnet = [s.id for s in net.subnets if s.name == "appgw"][0]
shared_subnet = [s.id for s in net.subnets if s.name == "shared"][0]
pip = static_public_ip(client, rg, "agw-pip")


def gateway(subnet, priority=100, listener_port="p80"):
    rule = {
        "name": "shop",
        "rule_type": "PathBasedRouting",
        "http_listener": part("httpListeners", "shop"),
        "url_path_map": part("urlPathMaps", "shop"),
    }
    if priority is not None:
        rule["priority"] = priority
    return {
        "location": LOC,
        "sku": {"name": "Standard_v2", "tier": "Standard_v2", "capacity": 2},
        "gateway_ip_configurations": [{"name": "gw", "subnet": {"id": subnet}}],
        "frontend_ip_configurations": [{"name": "public", "public_ip_address": {"id": pip.id}}],
        "frontend_ports": [{"name": "p80", "port": 80}],
        "http_listeners": [
            {
                "name": "shop",
                "frontend_ip_configuration": part("frontendIPConfigurations", "public"),
                "frontend_port": part("frontendPorts", listener_port),
                "protocol": "Http",
                "host_names": ["shop.example.com"],
            },
            {
                "name": "any",
                "frontend_ip_configuration": part("frontendIPConfigurations", "public"),
                "frontend_port": part("frontendPorts", "p80"),
                "protocol": "Http",
            },
        ],
        "backend_address_pools": [{"name": "api", "backend_addresses": [{"ip_address": "10.244.0.7"}]}, {"name": "web"}],
        "probes": [{"name": "hc", "protocol": "Http", "host": "localhost", "path": "/healthz", "interval": 30, "timeout": 30, "unhealthy_threshold": 3}],
        "backend_http_settings_collection": [
            {"name": "api", "port": 8080, "protocol": "Http", "request_timeout": 30, "path": "/v1/", "probe": part("probes", "hc")},
            {"name": "web", "port": 3000, "protocol": "Http", "request_timeout": 30},
        ],
        "url_path_maps": [
            {
                "name": "shop",
                "default_backend_address_pool": part("backendAddressPools", "web"),
                "default_backend_http_settings": part("backendHttpSettingsCollection", "web"),
                "path_rules": [
                    {
                        "name": "api",
                        "paths": ["/api", "/api/*"],
                        "backend_address_pool": part("backendAddressPools", "api"),
                        "backend_http_settings": part("backendHttpSettingsCollection", "api"),
                    }
                ],
            }
        ],
        "redirect_configurations": [
            {"name": "to-shop", "redirect_type": "Found", "target_listener": part("httpListeners", "shop"), "include_path": True}
        ],
        "request_routing_rules": [
            rule,
            {"name": "any", "rule_type": "Basic", "priority": 200, "http_listener": part("httpListeners", "any"),
             "redirect_configuration": part("redirectConfigurations", "to-shop")},
        ],
    }


for name, body in [
    ("dangling", gateway(appgw_subnet, listener_port="p443")),
    ("no_priority", gateway(appgw_subnet, priority=None)),
]:
    refused(out, name, lambda: client.application_gateways.begin_create_or_update(rg, "py-agw", body).result())

# A NIC in the shared subnet: no gateway may go there.
nic(client, rg, "agw-nic", shared_subnet)
shared = gateway(shared_subnet)
refused(out, "shared_subnet", lambda: client.application_gateways.begin_create_or_update(rg, "py-agw", shared).result())

gw = client.application_gateways.begin_create_or_update(rg, "py-agw", gateway(appgw_subnet)).result()
out["state"] = gw.provisioning_state
out["listeners"] = [[l.name, l.host_names or []] for l in gw.http_listeners]
out["path_rule_ids"] = [r.id.rsplit("/", 3)[-3:] for m in gw.url_path_maps for r in m.path_rules]
out["redirect_target"] = gw.redirect_configurations[0].target_listener.id.rsplit("/", 1)[-1]
out["settings_path"] = [s.path for s in gw.backend_http_settings_collection]
out["pool_addresses"] = [[a.ip_address for a in (p.backend_addresses or [])] for p in gw.backend_address_pools]

refused(out, "subnet_in_use", lambda: client.subnets.begin_delete(rg, "agw-vnet", "appgw").result())

client.application_gateways.begin_delete(rg, "py-agw").result()
refused(out, "deleted", lambda: client.application_gateways.get(rg, "py-agw"), ResourceNotFoundError)

print(json.dumps(out))
