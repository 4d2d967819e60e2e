"""The words of drift (SPEC §4a): a setting of the QualityClouds app changed in Setup (or the app deleted), its
Repair / Re-create button, what became of it, and the private answers to a click on that button."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.messages.actions import ACTION_DRIFT_RECREATE, ACTION_DRIFT_REPAIR
from bot.messages.blocks import SlackMessage, button, context, escape_mrkdwn, header, plain, said, section, when

APP_SETTING = "App"
"""The drift of an app that is gone altogether (deleted in Setup)."""


@dataclass(frozen=True, kw_only=True)
class DriftNotice:
    org_name: str
    org_id: str
    app_name: str
    setting: str
    expected: str
    observed: str
    changed_by: str | None
    """Who last changed the app, as listMetadata names them (None when Salesforce does not say)."""
    changed_at: datetime | None
    alert_id: int

    @property
    def deleted(self) -> bool:
        return self.setting == APP_SETTING


def drift_alert(notice: DriftNotice, *, outcome: str | None = None, actionable: bool = True) -> SlackMessage:
    """The channel alert, with `outcome` (what became of it) below; its button only while `actionable`."""
    org = escape_mrkdwn(notice.org_name)
    app = escape_mrkdwn(notice.app_name)
    if notice.deleted:
        heading = f"🚨 The {notice.app_name} app was deleted from {notice.org_name}"
        change = f"*Change:* the {app} app is no longer in the org (it was {escape_mrkdwn(notice.expected)})"
        effect = "Quality Clouds can no longer sign in to this org, and the tokens the app issued stopped working."
        action = button(action_id=ACTION_DRIFT_RECREATE, text="Re-create", value=str(notice.alert_id),
                        style="primary")
        remedy = f"a workspace admin clicks *Re-create*: qc-bot sets {app} up again and proves it signs in."
    else:
        heading = f"⚠️ {notice.setting} of the {notice.app_name} app changed in {notice.org_name}"
        change = (f"*Setting:* {escape_mrkdwn(notice.setting)}\n*Was:* {escape_mrkdwn(notice.expected)}\n"
                  f"*Now:* {escape_mrkdwn(notice.observed)}")
        effect = "Quality Clouds' scans of this org may fail until the setting is back as Quality Clouds needs it."
        action = button(action_id=ACTION_DRIFT_REPAIR, text="Repair", value=str(notice.alert_id), style="primary")
        remedy = f"a workspace admin clicks *Repair*: qc-bot restores {app} as Quality Clouds needs it and proves it."
    who = escape_mrkdwn(notice.changed_by) if notice.changed_by else "not reported by Salesforce"
    at = when(notice.changed_at) if notice.changed_at else "not reported by Salesforce"
    body = (f"*Org:* *{org}* (`{notice.org_id}`)\n{change}\n*Changed by:* {who}, {at}\n"
            f"*What this means:* {effect}\n*What to do:* {remedy}")
    body_block = section(body, accessory=action) if actionable else section(body)
    blocks = [header(heading), body_block]
    if outcome:
        blocks.append(context(outcome))
    # The header block is plain text; the fallback is read as mrkdwn, so the org's name is made inert there.
    fallback = f"{escape_mrkdwn(heading)}. {plain(body)}" + (f" {plain(outcome)}" if outcome else "")
    return SlackMessage(text=fallback, blocks=blocks)


def drift_repairing(user_id: str) -> str:
    return f"🔧 <@{user_id}> started a repair; qc-bot is setting the app up again and proving it signs in."


def drift_repaired(user_id: str) -> str:
    return f"✅ Repaired by <@{user_id}>."


def drift_repair_failed(user_id: str) -> str:
    return (f"❌ The repair <@{user_id}> started did not fix this; the org's status message says why. "
            "Click *Repair* to try again.")


def drift_fixed_elsewhere() -> str:
    return "✅ Resolved: the app has this setting as Quality Clouds needs it again."


def drift_resolved(*, org_name: str, setting: str, app_name: str, repaired_by: str | None) -> SlackMessage:
    """The short note that a drift is gone."""
    what = f"the {app_name} app is back" if setting == APP_SETTING else f"{setting} of the {app_name} app is back"
    how = f" (repaired by <@{repaired_by}>)" if repaired_by else ""
    text = f"✅ Resolved in {escape_mrkdwn(org_name)}: {escape_mrkdwn(what)} as Quality Clouds needs it{how}."
    return SlackMessage(text=plain(text), blocks=[section(text)])


def repair_not_allowed() -> SlackMessage:
    return said("Sorry, only Slack workspace admins and owners (or people your qc-bot operator listed in "
                "QC_ADMIN_USERS) can repair the QualityClouds app. Nothing was changed; ask one of them to click "
                "Repair.")


def repair_started() -> SlackMessage:
    return said("Repairing the QualityClouds app: qc-bot sets it up again as Quality Clouds needs it and proves it "
                "signs in. The alert and the channel show the outcome.")


def repair_not_needed() -> SlackMessage:
    return said("There is nothing to repair any more: this drift was resolved, or a repair is already under way.")
