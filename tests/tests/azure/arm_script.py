"""What the Azure SDK client scripts share: a NetworkManagementClient on the mock cloud's ARM
port (HTTPS verified against the mock's CA, a static bearer token whose `oid` the mock logs as
the caller), errors as one JSON-able dict, and the resources both scripts start from.

A script is run as `<script> <arm endpoint> <ca.pem> <subscription> <resource group> ...`.
"""

import base64
import json
import sys
import time

from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import NetworkManagementClient

LOC = "eastus"


def b64(obj):
    raw = json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class StaticCredential:
    """A TokenCredential that always answers the same token, for the caller `claims` name."""

    def __init__(self, claims):
        self.claims = claims

    def get_token(self, *scopes, **kwargs):
        token = "%s.%s.sig" % (b64({"alg": "none"}), b64(self.claims))
        return AccessToken(token, int(time.time()) + 3600)


def connect(claims, extra_args=0):
    """The client for the caller `claims`, from the command line: (client, endpoint,
    subscription, resource group, the `extra_args` arguments after those)."""
    endpoint, ca, sub, rg = sys.argv[1:5]
    extra = sys.argv[5 : 5 + extra_args]
    client = NetworkManagementClient(StaticCredential(claims), sub, base_url=endpoint, connection_verify=ca)
    return client, endpoint, sub, rg, extra


def err(e):
    """An SDK error as the tests compare it."""
    return {"status": e.status_code, "code": e.error.code if e.error else None, "message": str(e.message)}


def refused(out, key, call, errors=HttpResponseError):
    """Runs `call`; the error it raises goes into `out[key]` (nothing when it succeeds)."""
    try:
        call()
    except errors as e:
        out[key] = err(e)


def vnet(client, rg, name, cidr, subnets):
    """A VNet `name` over `cidr` with `subnets` ((name, prefix) pairs), through the poller."""
    body = {
        "location": LOC,
        "address_space": {"address_prefixes": [cidr]},
        "subnets": [{"name": n, "address_prefix": p} for n, p in subnets],
    }
    return client.virtual_networks.begin_create_or_update(rg, name, body).result()


def static_public_ip(client, rg, name):
    """A Standard static public IP `name`, through the poller."""
    body = {"location": LOC, "sku": {"name": "Standard"}, "public_ip_allocation_method": "Static"}
    return client.public_ip_addresses.begin_create_or_update(rg, name, body).result()


def nic(client, rg, name, subnet_id):
    """A NIC `name` with one dynamic ipConfiguration in `subnet_id`, through the poller."""
    body = {"location": LOC, "ip_configurations": [{"name": "p", "subnet": {"id": subnet_id}}]}
    return client.network_interfaces.begin_create_or_update(rg, name, body).result()
