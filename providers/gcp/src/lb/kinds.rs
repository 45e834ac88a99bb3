//! The call shapes every load balancing kind shares, written once.
//!
//! Health checks, backend services and forwarding rules each come as a global and a regional
//! kind whose requests differ only in `set_region` (and the method name); the two target
//! proxy kinds differ only in their resource setter. [`scoped!`] makes one call on the kind of
//! a scope, [`scoped_list!`] lists it (every page, filtered), [`on_proxy!`] makes one call on
//! the HTTP or the HTTPS proxy kind. Each expands to the same `Caller::call`/`Caller::pages`
//! the methods would write by hand, so the calls (and their counts) are unchanged.

use crate::ops::Scope;

/// The region of a regional scope; None for a global one.
pub fn region_of(scope: &Scope) -> Option<&str> {
    match scope {
        Scope::Region(r) => Some(r.as_str()),
        _ => None,
    }
}

/// One call on a kind that is regional or global:
/// `scoped!(caller, region, project, REGION_METHOD => regional_client;
/// GLOBAL_METHOD => global_client; verb .setter(arg) ...)`, the result not yet `?`-ed.
macro_rules! scoped {
    ($caller:expr, $region:expr, $project:expr,
     $rm:expr => $rc:expr ; $gm:expr => $gc:expr ;
     $verb:ident $(. $set:ident ($arg:expr))*) => {
        match $region {
            Some(r) => {
                $caller
                    .call($rm, || {
                        $rc.$verb().set_project($project).set_region(r)$(.$set($arg))*.send()
                    })
                    .await
            }
            None => {
                $caller
                    .call($gm, || $gc.$verb().set_project($project)$(.$set($arg))*.send())
                    .await
            }
        }
    };
}

/// Every item of a list, all pages, in a `Vec`:
/// `list_items!(caller, METHOD, ListType, request)`; `?`-ed.
macro_rules! list_items {
    ($caller:expr, $m:expr, $list:ty, $req:expr) => {
        $caller
            .pages(
                $m,
                |t| $req.set_or_clear_page_token(t).send(),
                |x: &$list| x.next_page_token.as_deref(),
            )
            .await?
            .into_iter()
            .flat_map(|x| x.items)
            .collect::<Vec<_>>()
    };
}

/// [`list_items!`] of a kind that is regional or global, filtered:
/// `scoped_list!(caller, region, project, filter, REGION_METHOD => regional_client;
/// GLOBAL_METHOD => global_client; ListType)`.
macro_rules! scoped_list {
    ($caller:expr, $region:expr, $project:expr, $filter:expr,
     $rm:expr => $rc:expr ; $gm:expr => $gc:expr ; $list:ty) => {
        match $region {
            Some(r) => $crate::lb::kinds::list_items!(
                $caller,
                $rm,
                $list,
                $rc.list()
                    .set_project($project)
                    .set_region(r)
                    .set_filter($filter)
            ),
            None => $crate::lb::kinds::list_items!(
                $caller,
                $gm,
                $list,
                $gc.list().set_project($project).set_filter($filter)
            ),
        }
    };
}

/// One call on a target proxy, HTTPS or HTTP:
/// `on_proxy!(caller, clients, https, project, name, HTTPS_METHOD | HTTP_METHOD; verb
/// .setter(arg) ...)`, the result not yet `?`-ed.
macro_rules! on_proxy {
    ($caller:expr, $c:expr, $https:expr, $project:expr, $name:expr,
     $hm:expr , $m:expr ; $verb:ident $(. $set:ident ($arg:expr))*) => {
        if $https {
            $caller
                .call($hm, || {
                    $c.target_https_proxies
                        .$verb()
                        .set_project($project)
                        .set_target_https_proxy($name)
                        $(.$set($arg))*
                        .send()
                })
                .await
        } else {
            $caller
                .call($m, || {
                    $c.target_http_proxies
                        .$verb()
                        .set_project($project)
                        .set_target_http_proxy($name)
                        $(.$set($arg))*
                        .send()
                })
                .await
        }
    };
}

pub(crate) use {list_items, on_proxy, scoped, scoped_list};
