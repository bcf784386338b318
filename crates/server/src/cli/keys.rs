//! `ipintel keys`: accounts and keys in the store (create, add, list, show, revoke, update).

use std::io::Write;

use anyhow::{bail, Context};
use ipintel_core::accounts::{self, Plans};
use ipintel_core::store::RevokeTarget;

use super::KeysCommand;
use super::{open_store, EXIT_OK};
use crate::config::Config;
use crate::render::rfc3339;

fn print_key(
    new: &accounts::NewKey,
    json: bool,
    shell: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if shell {
        // Keys are [A-Za-z0-9_]: nothing to quote.
        writeln!(out, "ACCOUNT_ID={}\nKEY={}", new.account_id, new.key)?;
    } else if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"account_id": new.account_id, "key": new.key})
        )?;
    } else {
        writeln!(
            out,
            "account_id: {}\nkey:        {}\n(the key is shown only now; store it safely)",
            new.account_id, new.key
        )?;
    }
    Ok(())
}

fn parse_limit(value: &str, unlimited_word: &str) -> anyhow::Result<Option<u64>> {
    if value == unlimited_word {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .with_context(|| format!("expected a number or {unlimited_word:?}, got {value:?}"))
}

pub async fn keys(config: &Config, command: KeysCommand, create: bool) -> anyhow::Result<i32> {
    let store = open_store(config, create).await?;
    let plans: Plans = config.plans()?;
    let mut out = std::io::stdout().lock();
    match command {
        KeysCommand::Create {
            plan,
            credits,
            daily_quota,
            label,
            json,
            shell,
        } => {
            let new = accounts::create_account(&store, &plans, &plan, credits, daily_quota, &label)
                .await?;
            print_key(&new, json, shell, &mut out)?;
        }
        KeysCommand::Add { account, json } => {
            let new = accounts::add_key(&store, account).await?;
            print_key(&new, json, false, &mut out)?;
        }
        KeysCommand::List { json } => {
            let rows = store.accounts().await?;
            let keys = store.keys().await?;
            if json {
                let list: Vec<_> = rows
                    .iter()
                    .map(|a| {
                        let ks: Vec<_> = keys
                            .iter()
                            .filter(|k| k.account_id == a.id)
                            .map(|k| serde_json::json!({"prefix": k.key_prefix, "created_at": rfc3339(k.created_at), "revoked_at": k.revoked_at.map(rfc3339)}))
                            .collect();
                        serde_json::json!({
                            "account_id": a.id, "plan": a.plan, "label": a.label,
                            "created_at": rfc3339(a.created_at),
                            "credits_granted": a.credits_granted, "credits_used": a.credits_used,
                            "daily_quota": a.daily_quota, "keys": ks,
                        })
                    })
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
            } else {
                writeln!(
                    out,
                    "{:<8} {:<8} {:<16} {:<12} {:<21} label",
                    "account", "plan", "credits left", "daily_quota", "created"
                )?;
                for a in &rows {
                    let credits = a
                        .credits_granted
                        .map(|g| format!("{} of {}", g.saturating_sub(a.credits_used), g))
                        .unwrap_or_else(|| "unlimited".into());
                    let quota = a
                        .daily_quota
                        .map(|q| q.to_string())
                        .unwrap_or_else(|| "plan's".into());
                    writeln!(
                        out,
                        "{:<8} {:<8} {:<16} {:<12} {:<21} {}",
                        a.id,
                        a.plan,
                        credits,
                        quota,
                        rfc3339(a.created_at),
                        a.label
                    )?;
                    for k in keys.iter().filter(|k| k.account_id == a.id) {
                        let state = match k.revoked_at {
                            Some(t) => format!("revoked {}", rfc3339(t)),
                            None => "live".into(),
                        };
                        writeln!(
                            out,
                            "  key {:<16} created {}  {state}",
                            k.key_prefix,
                            rfc3339(k.created_at)
                        )?;
                    }
                }
            }
        }
        KeysCommand::Show { account, json } => {
            let row = store
                .accounts()
                .await?
                .into_iter()
                .find(|a| a.id == account)
                .with_context(|| format!("no account {account}"))?;
            let keys: Vec<_> = store
                .keys()
                .await?
                .into_iter()
                .filter(|k| k.account_id == account)
                .collect();
            let today = accounts::utc_day(std::time::SystemTime::now());
            let used_today = store
                .day_usage(today)
                .await?
                .into_iter()
                .find(|(id, _)| *id == account)
                .map(|(_, used)| used)
                .unwrap_or(0);
            let plan = plans.get(&row.plan);
            let quota = row.daily_quota.or(plan.and_then(|p| p.daily_quota));
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({
                        "account_id": row.id, "plan": row.plan, "label": row.label,
                        "credits_granted": row.credits_granted, "credits_used": row.credits_used,
                        "daily_quota": quota, "used_today": used_today,
                        "services": plan.map(|p| p.services.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
                        "keys": keys.iter().map(|k| serde_json::json!({"prefix": k.key_prefix, "revoked": k.revoked_at.is_some()})).collect::<Vec<_>>(),
                    })
                )?;
            } else {
                writeln!(
                    out,
                    "account:     {}\nplan:        {}\nlabel:       {}",
                    row.id, row.plan, row.label
                )?;
                match row.credits_granted {
                    Some(g) => writeln!(
                        out,
                        "credits:     {} left of {}",
                        g.saturating_sub(row.credits_used),
                        g
                    )?,
                    None => writeln!(out, "credits:     unlimited ({} used)", row.credits_used)?,
                }
                match quota {
                    Some(q) => writeln!(out, "daily quota: {used_today} of {q} used today (UTC)")?,
                    None => writeln!(out, "daily quota: unlimited ({used_today} used today)")?,
                }
                for k in keys {
                    writeln!(
                        out,
                        "key:         {}… {}",
                        k.key_prefix,
                        if k.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "live"
                        }
                    )?;
                }
            }
        }
        KeysCommand::Revoke { key, account } => {
            let n = match (key, account) {
                (_, Some(id)) => store.revoke(RevokeTarget::Account(id)).await?,
                (Some(key), None) => accounts::revoke_key(&store, &key).await?,
                (None, None) => bail!("give a key or --account"),
            };
            if n == 0 {
                bail!("no live key matched");
            }
            writeln!(out, "revoked {n} key(s)")?;
        }
        KeysCommand::Update {
            account,
            plan,
            credits,
            daily_quota,
        } => {
            if let Some(p) = &plan {
                if plans.get(p).is_none() {
                    bail!("unknown plan {p:?} (plans: {})", plans.names().join(", "));
                }
            }
            let credits = credits.map(|c| parse_limit(&c, "unlimited")).transpose()?;
            let quota = daily_quota.map(|q| parse_limit(&q, "plan")).transpose()?;
            store
                .update_account(account, plan.as_deref(), credits, quota)
                .await?;
            writeln!(out, "account {account} updated")?;
        }
    }
    Ok(EXIT_OK)
}
