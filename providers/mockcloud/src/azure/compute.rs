//! Virtual machines and scale sets (Microsoft.Compute), as AKS nodes are: a VM names its NICs
//! (which then show it in `virtualMachine` and cannot be deleted); a scale set has
//! `sku.capacity` instances, each with the NICs of the set's network profile, addresses
//! drawn from the subnet and kept while the instance lives. A PUT of the set applies the
//! model to every instance (the `Automatic` upgrade policy). Instances and their NICs are
//! read through the scale set's paths (`virtualMachines/{i}/networkInterfaces/{nic}`).

use serde_json::{Value, json};

use super::resource::{
    check_busy, check_conditions, check_location, existing, page, render, unknown_path,
};
use super::{
    AzError, AzResult, AzureState, Call, Reply, kind_of, nic, ops, props, ref_id, same_id,
};

/// Instances per scale set.
pub const MAX_CAPACITY: u64 = 1000;

const INSTANCE_TYPE: &str = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines";

fn nic_refs(v: &Value) -> Vec<String> {
    v["properties"]["networkProfile"]["networkInterfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["id"].as_str().map(str::to_string))
        .collect()
}

pub(super) fn prepare_vm(
    s: &mut AzureState,
    id: &str,
    old: Option<&Value>,
    new: &mut Value,
) -> AzResult<()> {
    let nics = nic_refs(new);
    if nics.is_empty() {
        return Err(AzError::bad(
            "InvalidParameter",
            "At least one network interface is required in properties.networkProfile.networkInterfaces.",
        ));
    }
    for n in &nics {
        let Some(v) = s.lookup(n) else {
            return Err(AzError::invalid_reference(n, id));
        };
        if let Some(other) = ref_id(&v["properties"], "virtualMachine")
            && !same_id(other, id)
        {
            return Err(AzError::bad(
                "NicInUse",
                format!("Network interface {n} is already used by virtual machine {other}."),
            ));
        }
    }
    let vm_id = old
        .and_then(|o| o["properties"]["vmId"].as_str().map(str::to_string))
        .unwrap_or_else(|| s.guid());
    let name = new["name"].as_str().unwrap_or_default().to_string();
    let p = props(new);
    p.insert("vmId".into(), json!(vm_id));
    if p.get("osProfile")
        .and_then(|o| o.get("computerName"))
        .is_none()
    {
        let os = p.entry("osProfile").or_insert_with(|| json!({}));
        os["computerName"] = json!(name);
    }
    Ok(())
}

fn set_nic_vm(s: &mut AzureState, nic_id: &str, vm: Option<&str>) {
    if let Some(n) = s.resources.get_mut(&nic_id.to_lowercase()) {
        match vm {
            Some(vm) => {
                props(n).insert("virtualMachine".into(), json!({ "id": vm }));
            }
            None => {
                props(n).remove("virtualMachine");
            }
        }
    }
}

pub(super) fn after_vm_put(s: &mut AzureState, id: &str, old: Option<&Value>) {
    let now = s.lookup(id).map(nic_refs).unwrap_or_default();
    for gone in old.map(nic_refs).unwrap_or_default() {
        if !now.iter().any(|n| same_id(n, &gone)) {
            set_nic_vm(s, &gone, None);
        }
    }
    for n in now {
        set_nic_vm(s, &n, Some(id));
    }
}

pub(super) fn after_vm_delete(s: &mut AzureState, id: &str) {
    let attached: Vec<String> = s
        .nics()
        .filter(|n| ref_id(&n["properties"], "virtualMachine").is_some_and(|v| same_id(v, id)))
        .filter_map(|n| n["id"].as_str().map(str::to_string))
        .collect();
    for n in attached {
        set_nic_vm(s, &n, None);
    }
}

fn nic_configs(v: &Value) -> Vec<Value> {
    v["properties"]["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

pub(super) fn prepare_scale_set(s: &mut AzureState, id: &str, new: &mut Value) -> AzResult<()> {
    let capacity = new["sku"]["capacity"].as_u64().unwrap_or(0);
    if capacity > MAX_CAPACITY {
        return Err(AzError::bad(
            "InvalidParameter",
            format!(
                "The value {capacity} of sku.capacity is outside the allowed range 0-{MAX_CAPACITY}."
            ),
        ));
    }
    let configs = nic_configs(new);
    if configs.is_empty() {
        return Err(AzError::bad(
            "InvalidParameter",
            "At least one network interface configuration is required in virtualMachineProfile.networkProfile.networkInterfaceConfigurations.",
        ));
    }
    for c in &configs {
        for ip in c["properties"]["ipConfigurations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            match ref_id(&ip["properties"], "subnet") {
                Some(subnet) if s.lookup(subnet).is_some() => {}
                Some(subnet) => return Err(AzError::invalid_reference(subnet, id)),
                None => {
                    return Err(AzError::bad(
                        "InvalidParameter",
                        "Every ipConfiguration of a scale set's network profile needs a subnet.",
                    ));
                }
            }
        }
    }
    if new["properties"]["uniqueId"].is_null() {
        let g = s.guid();
        props(new).insert("uniqueId".into(), json!(g));
    }
    Ok(())
}

fn instance_keys(s: &AzureState, ss_key: &str) -> Vec<(u64, String)> {
    let prefix = format!("{ss_key}/virtualmachines/");
    let mut out: Vec<(u64, String)> = s
        .resources
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .filter(|(_, v)| v["type"] == INSTANCE_TYPE)
        .filter_map(|(k, v)| Some((v["instanceId"].as_str()?.parse().ok()?, k.clone())))
        .collect();
    out.sort();
    out
}

fn remove_prefix(s: &mut AzureState, prefix: &str) {
    let keys: Vec<String> = s
        .resources
        .range(prefix.to_string()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for k in keys {
        s.resources.remove(&k);
    }
}

/// Makes the instances match the set's capacity and network profile.
pub(super) fn sync_instances(s: &mut AzureState, ss_id: &str) -> AzResult<()> {
    let ss_key = ss_id.to_lowercase();
    let Some(ss) = s.resources.get(&ss_key).cloned() else {
        return Ok(());
    };
    let capacity = ss["sku"]["capacity"].as_u64().unwrap_or(0) as usize;
    let mut have = instance_keys(s, &ss_key);
    while have.len() > capacity {
        if let Some((_, key)) = have.pop() {
            remove_prefix(s, &format!("{key}/"));
            s.resources.remove(&key);
        }
    }
    let mut next = have.last().map_or(0, |(i, _)| i + 1);
    let mut ids: Vec<u64> = have.iter().map(|(i, _)| *i).collect();
    while ids.len() < capacity {
        ids.push(next);
        next += 1;
    }
    for i in ids {
        let inst_key = format!("{ss_key}/virtualmachines/{i}");
        let own = s
            .resources
            .get(&inst_key)
            .map(instance_model)
            .unwrap_or_default();
        let model = merged_model(&nic_configs(&ss), &own);
        if let Err(e) = sync_instance(s, &ss, ss_id, i, &model) {
            if let Some(v) = s.resources.get_mut(&ss_key) {
                props(v).insert("provisioningState".into(), json!("Failed"));
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Builds instance `i` and its NICs from `model` (its network interface configurations).
fn sync_instance(
    s: &mut AzureState,
    ss: &Value,
    ss_id: &str,
    i: u64,
    model: &[Value],
) -> AzResult<()> {
    let ss_name = ss["name"].as_str().unwrap_or_default();
    let inst_id = format!("{ss_id}/virtualMachines/{i}");
    let old_inst = s.resources.get(&inst_id.to_lowercase()).cloned();
    let prefix = ss["properties"]["virtualMachineProfile"]["osProfile"]["computerNamePrefix"]
        .as_str()
        .unwrap_or(ss_name)
        .to_string();
    let mut nic_list = Vec::new();
    for c in model {
        let cname = c["name"].as_str().unwrap_or("nic").to_string();
        let nic_id = format!("{inst_id}/networkInterfaces/{cname}");
        let old = s.resources.get(&nic_id.to_lowercase()).cloned();
        let mut cfgs = Vec::new();
        for ip in c["properties"]["ipConfigurations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = ip["name"].as_str().unwrap_or("ipconfig").to_string();
            let etag = s.etag();
            let mut cfg = ip.clone();
            cfg["id"] = json!(format!("{nic_id}/ipConfigurations/{name}"));
            cfg["type"] = json!("Microsoft.Network/networkInterfaces/ipConfigurations");
            cfg["etag"] = json!(etag);
            props(&mut cfg).insert("provisioningState".into(), json!("Succeeded"));
            cfgs.push(cfg);
        }
        let mut v = json!({
            "id": nic_id,
            "name": cname,
            "type": "Microsoft.Network/networkInterfaces",
            "location": s.location,
            "properties": {
                "primary": c["properties"]["primary"].as_bool().unwrap_or(true),
                "ipConfigurations": cfgs,
            },
        });
        nic::prepare(s, &nic_id, old.as_ref(), &mut v)?;
        let etag = s.etag();
        v["etag"] = json!(etag);
        let guid = old
            .as_ref()
            .and_then(|o| o["properties"]["resourceGuid"].as_str().map(str::to_string))
            .unwrap_or_else(|| s.guid());
        let p = props(&mut v);
        p.insert("virtualMachine".into(), json!({ "id": inst_id }));
        p.insert("provisioningState".into(), json!("Succeeded"));
        p.insert("resourceGuid".into(), json!(guid));
        s.resources.insert(nic_id.to_lowercase(), v);
        nic_list.push(json!({"id": nic_id, "properties": {"primary": c["properties"]["primary"].as_bool().unwrap_or(true)}}));
    }
    let vm_id = old_inst
        .as_ref()
        .and_then(|o| o["properties"]["vmId"].as_str().map(str::to_string))
        .unwrap_or_else(|| s.guid());
    let etag = s.etag();
    let inst = json!({
        "id": inst_id,
        "name": format!("{ss_name}_{i}"),
        "type": INSTANCE_TYPE,
        "location": s.location,
        "instanceId": i.to_string(),
        "sku": {"name": ss["sku"]["name"], "tier": "Standard"},
        "etag": etag,
        "properties": {
            "vmId": vm_id,
            "latestModelApplied": true,
            "provisioningState": "Succeeded",
            "osProfile": {"computerName": format!("{prefix}{i:06}")},
            "networkProfile": {"networkInterfaces": nic_list},
            "networkProfileConfiguration": {"networkInterfaceConfigurations": model},
        },
    });
    s.resources.insert(inst_id.to_lowercase(), inst);
    Ok(())
}

pub(super) fn after_scale_set_delete(s: &mut AzureState, id: &str) {
    remove_prefix(s, &format!("{}/", id.to_lowercase()));
}

/// `.../virtualMachineScaleSets/{ss}/...`: instances and their NICs, read-only.
pub(super) fn scale_set_paths(
    s: &mut AzureState,
    call: &Call,
    ss_id: &str,
    sub: &str,
    more: &[&str],
) -> AzResult<Reply> {
    let kind = kind_of("Microsoft.Compute", "virtualMachineScaleSets")
        .ok_or_else(|| unknown_path(call))?;
    existing(s, kind, ss_id)?;
    let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    if let [i] = more
        && is(sub, "virtualMachines")
        && call.method == "PUT"
    {
        return put_instance(s, call, ss_id, i);
    }
    if call.method != "GET" {
        return Err(AzError::new(
            405,
            "MethodNotAllowed",
            format!(
                "The requested resource does not support http method '{}'.",
                call.method
            ),
        ));
    }
    let ss_key = ss_id.to_lowercase();
    let under = |prefix: String, type_: &str| -> Vec<&Value> {
        s.resources
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, v)| v["type"] == type_)
            .map(|(_, v)| v)
            .collect()
    };
    match more {
        [] if is(sub, "virtualMachines") => {
            let items = under(format!("{ss_key}/virtualmachines/"), INSTANCE_TYPE);
            page(s, call, items)
        }
        [] if is(sub, "networkInterfaces") => {
            let items = under(
                format!("{ss_key}/virtualmachines/"),
                "Microsoft.Network/networkInterfaces",
            );
            page(s, call, items)
        }
        [i] if is(sub, "virtualMachines") => get_exact(s, &format!("{ss_id}/virtualMachines/{i}")),
        [i, n] if is(sub, "virtualMachines") && is(n, "networkInterfaces") => {
            get_exact(s, &format!("{ss_id}/virtualMachines/{i}"))?;
            let items = under(
                format!(
                    "{ss_key}/virtualmachines/{}/networkinterfaces/",
                    i.to_lowercase()
                ),
                "Microsoft.Network/networkInterfaces",
            );
            page(s, call, items)
        }
        [i, n, nic] if is(sub, "virtualMachines") && is(n, "networkInterfaces") => get_exact(
            s,
            &format!("{ss_id}/virtualMachines/{i}/networkInterfaces/{nic}"),
        ),
        [i, n, nic, c]
            if is(sub, "virtualMachines")
                && is(n, "networkInterfaces")
                && is(c, "ipConfigurations") =>
        {
            let v = get_exact(
                s,
                &format!("{ss_id}/virtualMachines/{i}/networkInterfaces/{nic}"),
            )?;
            let items = v.body.map(|b| b["properties"]["ipConfigurations"].clone());
            Ok(Reply::ok(json!({ "value": items.unwrap_or(json!([])) })))
        }
        [i, n, nic, c, name]
            if is(sub, "virtualMachines")
                && is(n, "networkInterfaces")
                && is(c, "ipConfigurations") =>
        {
            get_exact(
                s,
                &format!(
                    "{ss_id}/virtualMachines/{i}/networkInterfaces/{nic}/ipConfigurations/{name}"
                ),
            )
        }
        _ => Err(unknown_path(call)),
    }
}

fn get_exact(s: &AzureState, id: &str) -> AzResult<Reply> {
    s.lookup(id)
        .map(|v| Reply::ok(render(s, v)))
        .ok_or_else(|| AzError::child_not_found(id))
}

/// The instance's own network interface configurations (its per-instance model).
fn instance_model(inst: &Value) -> Vec<Value> {
    inst["properties"]["networkProfileConfiguration"]["networkInterfaceConfigurations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn name_eq(a: &Value, b: &Value) -> bool {
    match (a["name"].as_str(), b["name"].as_str()) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

fn ip_configs(c: &Value) -> Vec<Value> {
    c["properties"]["ipConfigurations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// What an instance runs after the set's model is applied to it (the `Automatic` upgrade):
/// the set's network interface configurations, each keeping the ipConfigurations the
/// instance's own model added under other names. The set's model decides the NICs and the
/// ipConfigurations it names; a per-instance addition survives a set update, as an
/// instance's per-instance changes do until it is reimaged.
fn merged_model(set: &[Value], own: &[Value]) -> Vec<Value> {
    set.iter()
        .map(|c| {
            let mut out = c.clone();
            let mine = own.iter().find(|o| name_eq(o, c));
            let mut cfgs = ip_configs(c);
            for extra in mine.map(ip_configs).unwrap_or_default() {
                if !cfgs.iter().any(|x| name_eq(x, &extra)) {
                    cfgs.push(extra);
                }
            }
            props(&mut out).insert("ipConfigurations".into(), Value::Array(cfgs));
            out
        })
        .collect()
}

/// Model ipConfiguration fields an instance's model does not take (addresses are dynamic,
/// chosen by the platform) or that are read-only.
const NOT_IN_MODEL: &[&str] = &[
    "privateIPAddress",
    "privateIPAllocationMethod",
    "provisioningState",
];

/// The network interface configurations of a per-instance PUT's body, checked against the
/// set's: the same NICs (by name), each with named ipConfigurations in a subnet that exists.
fn model_from_body(s: &AzureState, id: &str, ss: &Value, body: &Value) -> AzResult<Vec<Value>> {
    let Some(configs) =
        body["properties"]["networkProfileConfiguration"]["networkInterfaceConfigurations"]
            .as_array()
    else {
        return Err(AzError::bad(
            "InvalidParameter",
            "properties.networkProfileConfiguration.networkInterfaceConfigurations is required.",
        ));
    };
    let set = nic_configs(ss);
    let same_nics =
        configs.len() == set.len() && configs.iter().all(|c| set.iter().any(|x| name_eq(x, c)));
    if !same_nics {
        return Err(AzError::bad(
            "OperationNotAllowed",
            format!(
                "The network interface configurations of {id} must be the scale set's ({}); adding or removing a network interface of a scale-set instance is not allowed.",
                set.iter()
                    .filter_map(|c| c["name"].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let mut out = Vec::new();
    for c in configs {
        let mut c = c.clone();
        let mut seen = std::collections::BTreeSet::new();
        let mut cfgs = ip_configs(&c);
        for ip in &mut cfgs {
            let Some(name) = ip["name"].as_str().map(str::to_lowercase) else {
                return Err(AzError::bad(
                    "InvalidParameter",
                    "Every ipConfiguration of a network interface configuration needs a name.",
                ));
            };
            if !seen.insert(name.clone()) {
                return Err(AzError::bad(
                    "InvalidParameter",
                    format!("Duplicate ipConfiguration name '{name}' in {id}."),
                ));
            }
            match ref_id(&ip["properties"], "subnet") {
                Some(subnet) if s.lookup(subnet).is_some() => {}
                Some(subnet) => return Err(AzError::invalid_reference(subnet, id)),
                None => {
                    return Err(AzError::bad(
                        "InvalidParameter",
                        format!("ipConfiguration '{name}' of {id} needs a subnet."),
                    ));
                }
            }
            let p = props(ip);
            for k in NOT_IN_MODEL {
                p.remove(*k);
            }
            if let Some(o) = ip.as_object_mut() {
                o.retain(|k, _| k == "name" || k == "properties");
            }
        }
        props(&mut c).insert("ipConfigurations".into(), Value::Array(cfgs));
        if let Some(o) = c.as_object_mut() {
            o.retain(|k, _| k == "name" || k == "properties");
        }
        out.push(c);
    }
    Ok(out)
}

/// `PUT .../virtualMachineScaleSets/{ss}/virtualMachines/{i}`: a per-instance model update.
/// The instance's NICs take its network profile at once, under the NIC rules (addresses
/// unique in the VNet and inside their subnet, 256 ipConfigurations, exactly one primary);
/// a refused update changes nothing. ETag with `If-Match` (412), one operation at a time
/// (409), answered with the operation's polling headers like every ARM write.
fn put_instance(s: &mut AzureState, call: &Call, ss_id: &str, i: &str) -> AzResult<Reply> {
    let id = format!("{ss_id}/virtualMachines/{i}");
    let key = id.to_lowercase();
    let Some(old) = s.resources.get(&key).cloned() else {
        let ss_name = ss_id.rsplit('/').next().unwrap_or_default();
        return Err(AzError::new(
            404,
            "NotFound",
            format!(
                "The entity was not found: instance {i} of virtual machine scale set {ss_name}."
            ),
        ));
    };
    check_conditions(call, Some(&old), &id)?;
    check_busy(s, &key, &id)?;
    let ss_key = ss_id.to_lowercase();
    check_busy(s, &ss_key, ss_id)?;
    let body = call.body.clone().unwrap_or(Value::Null);
    if !body.is_object() {
        return Err(AzError::bad(
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: the body must be a JSON object.",
        ));
    }
    check_location(s, body.get("location"))?;
    let Some(ss) = s.resources.get(&ss_key).cloned() else {
        return Err(AzError::child_not_found(ss_id));
    };
    let model = model_from_body(s, &id, &ss, &body)?;
    let index: u64 = old["instanceId"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| AzError::child_not_found(&id))?;
    // All or nothing: the instance and its NICs come back as they were on a refusal.
    let prefix = format!("{key}/");
    let before: Vec<(String, Value)> = s
        .resources
        .range(key.clone()..)
        .take_while(|(k, _)| **k == key || k.starts_with(&prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Err(e) = sync_instance(s, &ss, ss_id, index, &model) {
        for (k, v) in before {
            s.resources.insert(k, v);
        }
        return Err(e);
    }
    let state = if call.running_ms > 0 {
        "Updating"
    } else {
        "Succeeded"
    };
    if let Some(v) = s.resources.get_mut(&key) {
        props(v).insert("provisioningState".into(), json!(state));
    }
    let op = ops::begin(s, call, "Microsoft.Compute", &key, &id, ops::OpKind::Put);
    let shown = s.lookup(&id).map(|v| render(s, v)).unwrap_or(Value::Null);
    Ok(Reply {
        status: 200,
        body: Some(shown),
        headers: ops::headers(s, &op, call),
    })
}
