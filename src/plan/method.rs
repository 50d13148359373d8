//! Which copy runs, and why (docs/online.md, docs/estimates.md): the online copy where the old
//! server can follow (logical WAL, a free slot and sender, a network the new container shares),
//! else the catch-up copy, else the whole copy inside the window. What the user asked for wins,
//! and what cannot be done as asked is a problem preflight names.

use crate::copy::Method;
use crate::facts::survey::Survey;
use crate::host::ServiceSettings;

/// The copy flags given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asked {
    pub full_copy: bool,
    pub catch_up: bool,
    /// `--online`: the online copy, with the one restart of the old service it may need.
    pub online: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyChoice {
    pub method: Method,
    /// Why this copy: what the plan prints.
    pub why: String,
    /// The old service is restarted once before the first copy (`wal_level = logical`).
    pub restart_old: bool,
}

impl CopyChoice {
    pub fn of(method: Method, why: impl Into<String>) -> CopyChoice {
        CopyChoice { method, why: why.into(), restart_old: false }
    }
}

/// The networks a service's container is on: its initial network (the default bridge when it
/// has none) and those it joins after (docs/networks.md).
pub fn networks(settings: &ServiceSettings) -> Vec<String> {
    let initial = if settings.initial_network.is_empty() { "bridge" } else { settings.initial_network.as_str() };
    let mut all = vec![initial.to_string()];
    for list in [&settings.post_create_network, &settings.post_start_network] {
        all.extend(list.split(',').map(str::trim).filter(|n| !n.is_empty()).map(String::from));
    }
    all
}

/// The copy for this upgrade, or the problem with what was asked.
pub fn choose(
    asked: Asked,
    survey: Option<&Survey>,
    old_major: Option<u32>,
    old: &ServiceSettings,
    new: &ServiceSettings,
) -> Result<CopyChoice, String> {
    if asked.full_copy {
        return Ok(CopyChoice::of(Method::Whole, "--full-copy was given"));
    }
    let whole = survey.and_then(|s| s.whole_copy_reason(false, old_major));
    let Some(survey) = survey else {
        return Ok(CopyChoice::of(Method::Whole, "the old database could not be read"));
    };
    // What keeps the online copy from running, the last word whether it was asked.
    let online_blocked = whole.clone().or_else(|| {
        let replication = survey.replication.as_ref()?;
        if let Some(blocked) = replication.blocked() {
            return Some(blocked);
        }
        let (theirs, ours) = (networks(old), networks(new));
        (!theirs.iter().any(|n| ours.contains(n))).then(|| {
            format!(
                "the new service's container would share no network with the old one's ({} / {}): it could not reach it",
                theirs.join(","),
                ours.join(",")
            )
        })
    });
    let logical = survey.replication.as_ref().is_some_and(|r| r.logical());
    if asked.online {
        return match online_blocked {
            Some(why) => Err(format!("--online cannot be done: {why}")),
            None if logical => Ok(CopyChoice::of(Method::Online, "--online was given; the old server writes logical WAL")),
            None => Ok(CopyChoice {
                method: Method::Online,
                why: "--online was given: the old service is restarted once with wal_level = logical before the first copy"
                    .into(),
                restart_old: true,
            }),
        };
    }
    if let Some(why) = whole {
        return Ok(CopyChoice::of(Method::Whole, why));
    }
    if asked.catch_up {
        return Ok(CopyChoice::of(Method::CatchUp, "--catch-up was given"));
    }
    match online_blocked {
        None if logical => Ok(CopyChoice::of(
            Method::Online,
            "the old server writes logical WAL: the new one follows it until the window",
        )),
        None => Ok(CopyChoice::of(
            Method::CatchUp,
            "the old server's wal_level is not logical: --online would restart it once, before the first copy, so that \
             the new server follows it and the window holds only what changed",
        )),
        Some(why) => Ok(CopyChoice::of(Method::CatchUp, format!("the online copy cannot run: {why}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::replication::Replication;

    fn survey(wal_level: &str) -> Survey {
        Survey {
            replication: Some(Replication {
                wal_level: wal_level.into(),
                slots_free: 10,
                senders_free: 10,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pick(asked: Asked, s: &Survey, major: u32) -> Result<CopyChoice, String> {
        choose(asked, Some(s), Some(major), &ServiceSettings::default(), &ServiceSettings::default())
    }

    #[test]
    fn a_logical_server_is_followed_and_another_one_caught_up_unless_online_is_asked() {
        assert_eq!(pick(Asked::default(), &survey("logical"), 1500).unwrap().method, Method::Online);
        let replica = pick(Asked::default(), &survey("replica"), 1500).unwrap();
        assert_eq!((replica.method, replica.restart_old), (Method::CatchUp, false));
        assert!(replica.why.contains("--online would restart it once"), "{}", replica.why);
        let online = pick(Asked { online: true, ..Asked::default() }, &survey("replica"), 1500).unwrap();
        assert_eq!((online.method, online.restart_old), (Method::Online, true));
        let asked = Asked { catch_up: true, ..Asked::default() };
        assert_eq!(pick(asked, &survey("logical"), 1500).unwrap().method, Method::CatchUp);
        let asked = Asked { full_copy: true, ..Asked::default() };
        assert_eq!(pick(asked, &survey("logical"), 1500).unwrap().method, Method::Whole);
    }

    #[test]
    fn what_keeps_the_online_copy_from_running_is_said_or_refused_when_asked() {
        let old = pick(Asked::default(), &survey("logical"), 1100).unwrap();
        assert_eq!(old.method, Method::Whole);
        let refused = pick(Asked { online: true, ..Asked::default() }, &survey("logical"), 1100).unwrap_err();
        assert!(refused.contains("--online cannot be done: the old server is older than PostgreSQL 12"), "{refused}");
        let mut full = survey("logical");
        full.replication.as_mut().unwrap().slots_free = 1;
        let caught_up = pick(Asked::default(), &full, 1500).unwrap();
        assert_eq!(caught_up.method, Method::CatchUp);
        assert!(caught_up.why.contains("max_replication_slots"), "{}", caught_up.why);
        let apart = ServiceSettings { initial_network: "backend".into(), ..Default::default() };
        let refused = choose(
            Asked { online: true, ..Asked::default() },
            Some(&survey("logical")),
            Some(1500),
            &apart,
            &ServiceSettings::default(),
        )
        .unwrap_err();
        assert!(refused.contains("share no network with the old one's (backend / bridge)"), "{refused}");
        let joined = ServiceSettings { post_create_network: "x, backend".into(), ..Default::default() };
        assert_eq!(networks(&joined), ["bridge", "x", "backend"]);
    }
}
